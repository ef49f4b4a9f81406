#pragma once
// The admin hooks both binaries share: answering a responder from an actor
// error, and the per-minute counts.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/error.hpp>
#include <connectrpc/server.hpp>

namespace ping::apps {

/// Fails the call with the status the error maps to (the gateways' table).
void fail_with(const connectrpc::responder& done, const caf::error& err);

/// Reads `n` per-minute counts from `first_minute` on, oldest first, and
/// says where they came from ("cache", "postgres").
using minutes_source = std::function<void(
  int64_t first_minute, int32_t n,
  std::function<void(std::vector<int64_t> counts, std::string source)> ok,
  std::function<void(caf::error)> fail)>;

/// GetMinuteCounts: the last `minutes` epoch minutes, current one included.
void minute_counts(const minutes_source& source, int32_t minutes,
                   connectrpc::responder done);

} // namespace ping::apps
