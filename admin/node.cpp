#include "admin/node.hpp"

#include "gateways/common/status.hpp"

namespace ping::admin {

failure failure::of(const caf::error& err) {
  auto st = gateways::to_rpc_status(err);
  return {static_cast<connectrpc::code>(static_cast<int>(st.code)), st.message};
}

std::string_view method_of(command c) {
  switch (c) {
    case command::flush:
      return "Flush";
    case command::pause:
      return "PauseConsumption";
    case command::resume:
      return "ResumeConsumption";
    case command::rebuild_cache:
      return "RebuildCache";
  }
  return "?";
}

bool node::live() const {
  return true;
}

bool node::paused() const {
  return false;
}

std::vector<repair> node::repairs() const {
  return {};
}

std::vector<partition_lag> node::lag() const {
  return {};
}

std::vector<rebalance> node::rebalances() const {
  return {};
}

void node::exactness(reply<exactness_report> done) {
  done(failure{connectrpc::code::unimplemented,
               "GetExactness is not available on " + info().binary
                 + " (it reads PostgreSQL and the cache: ask a ping-gateway)"});
}

std::vector<command> node::commands() const {
  return {};
}

failure node::unimplemented(command c) const {
  return {connectrpc::code::unimplemented,
          std::string{method_of(c)} + " is not available on " + info().binary
            + " (it acts on the consumer and the cache: use ping-processor)"};
}

failure node::unimplemented_minute_counts() const {
  return {connectrpc::code::unimplemented, "GetMinuteCounts is not available on " + info().binary};
}

void node::minute_counts(int64_t, int32_t, reply<minute_series> done) {
  done(unimplemented_minute_counts());
}

void node::flush(reply<int32_t> done) {
  done(unimplemented(command::flush));
}

void node::pause(reply<int32_t> done) {
  done(unimplemented(command::pause));
}

void node::resume(reply<int32_t> done) {
  done(unimplemented(command::resume));
}

void node::rebuild_cache(reply<int32_t> done) {
  done(unimplemented(command::rebuild_cache));
}

} // namespace ping::admin
