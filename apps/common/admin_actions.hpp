#pragma once
// The admin hooks both binaries share: answering a responder from an actor
// error, and the per-minute counts read through a cache reader.

#include <cstdint>
#include <functional>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/error.hpp>
#include <connectrpc/server.hpp>

#include "actors/cache/protocol.hpp"

namespace ping::apps {

/// Fails the call with the status the error maps to (the gateways' table).
void fail_with(const connectrpc::responder& done, const caf::error& err);

/// Reads `n` per-minute counts from `first_minute` on, oldest first.
using minutes_source = std::function<void(int64_t first_minute, int32_t n,
                                          std::function<void(std::vector<int64_t>)> ok,
                                          std::function<void(caf::error)> fail)>;

/// GetMinuteCounts: the last `minutes` epoch minutes, current one included,
/// from one snapshot of the cache, else from `fallback` (PostgreSQL on the
/// gateway); `unavailable` when neither can answer.
void minute_counts(caf::actor_system& sys, const cache::cache_actor& counts,
                   minutes_source fallback, int32_t minutes, connectrpc::responder done);

} // namespace ping::apps
