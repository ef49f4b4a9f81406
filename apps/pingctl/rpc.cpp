#include "apps/pingctl/rpc.hpp"

#include <array>

namespace ping::pingctl {

namespace {

// Indexed by gRPC status code; Connect spells CANCELLED "canceled".
constexpr std::array<std::string_view, 17> code_names = {
  "",                    // 0 OK
  "canceled",            // 1
  "unknown",             // 2
  "invalid_argument",    // 3
  "deadline_exceeded",   // 4
  "not_found",           // 5
  "already_exists",      // 6
  "permission_denied",   // 7
  "resource_exhausted",  // 8
  "failed_precondition", // 9
  "aborted",             // 10
  "out_of_range",        // 11
  "unimplemented",       // 12
  "internal",            // 13
  "unavailable",         // 14
  "data_loss",           // 15
  "unauthenticated",     // 16
};

} // namespace

std::string code_name_of_grpc(int grpc_code) {
  if (grpc_code < 0 || grpc_code >= static_cast<int>(code_names.size()))
    return "unknown";
  return std::string{code_names[static_cast<size_t>(grpc_code)]};
}

bool is_known_code(std::string_view name) {
  for (size_t i = 1; i < code_names.size(); ++i)
    if (code_names[i] == name)
      return true;
  return false;
}

std::string code_from_http_status(unsigned http_status) {
  switch (http_status) {
    case 400:
      return "internal";
    case 401:
      return "unauthenticated";
    case 403:
      return "permission_denied";
    case 404:
      return "unimplemented";
    case 429:
    case 502:
    case 503:
    case 504:
      return "unavailable";
    default:
      return "unknown";
  }
}

client_factory make_client_factory(const client_settings& cfg) {
  if (cfg.protocol == wire_protocol::grpc)
    return make_grpc_client_factory(cfg);
  return [cfg] { return make_connect_client(cfg); };
}

} // namespace ping::pingctl
