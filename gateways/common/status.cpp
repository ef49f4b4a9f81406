#include "gateways/common/status.hpp"

#include <caf/message.hpp>
#include <caf/sec.hpp>

#include "actors/common/errors.hpp"

namespace ping::gateways {

namespace {

// The error's context message, when an actor attached one.
std::string context_text(const caf::error& err, const char* fallback) {
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return fallback;
}

} // namespace

rpc_status to_rpc_status(const caf::error& err) {
  if (!err)
    return {rpc_code::ok, ""};
  if (err.category() == caf::atom("ping")) {
    switch (static_cast<ping_errc>(err.code())) {
      case ping_errc::none:
        return {rpc_code::ok, ""};
      case ping_errc::invalid_argument:
        return {rpc_code::invalid_argument, context_text(err, "invalid argument")};
      case ping_errc::unavailable:
        return {rpc_code::unavailable, context_text(err, "service unavailable")};
      case ping_errc::resource_exhausted:
        return {rpc_code::resource_exhausted, context_text(err, "overloaded")};
      case ping_errc::deadline_exceeded:
        return {rpc_code::deadline_exceeded, context_text(err, "deadline exceeded")};
      case ping_errc::shutting_down:
        return {rpc_code::unavailable, context_text(err, "server is shutting down")};
      case ping_errc::internal:
        return {rpc_code::internal, context_text(err, "internal error")};
    }
    return {rpc_code::internal, "internal error"};
  }
  // Issue 19 item 10: infrastructure faults are retryable. An actor that
  // stopped while the call waited on it (restart, crash, shutdown: its exit
  // reason is the error), or one whose handler threw (the supervisor
  // restarts it): unavailable. What remains internal is a
  // broken invariant: a message or response nobody expected.
  if (err.category() == caf::atom("exit"))
    return {rpc_code::unavailable, "service unavailable (a subsystem stopped)"};
  if (err.category() == caf::atom("system")) {
    switch (static_cast<caf::sec>(err.code())) {
      case caf::sec::request_timeout:
        return {rpc_code::deadline_exceeded, "deadline exceeded"};
      case caf::sec::request_receiver_down:
      case caf::sec::runtime_error:
      case caf::sec::cannot_forward_to_invalid_actor:
        return {rpc_code::unavailable, "service unavailable"};
      default:
        break;
    }
  }
  return {rpc_code::internal, "internal error"};
}

} // namespace ping::gateways
