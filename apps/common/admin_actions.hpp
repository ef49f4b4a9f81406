#pragma once
// The admin hooks both binaries share: answering a responder from an actor
// error, and the per-minute counts read through a cache reader.

#include <caf/actor_system.hpp>
#include <caf/error.hpp>
#include <connectrpc/server.hpp>

#include "actors/cache/protocol.hpp"

namespace ping::apps {

/// Fails the call with the status the error maps to (the gateways' table).
void fail_with(const connectrpc::responder& done, const caf::error& err);

/// GetMinuteCounts from the cache: the last `minutes` epoch minutes, current
/// one included, from one snapshot of the cache; `unavailable` when the
/// cache cannot answer (cold, rebuilding, unreachable).
void minute_counts_from_cache(caf::actor_system& sys, const cache::cache_actor& counts,
                              int32_t minutes, connectrpc::responder done);

} // namespace ping::apps
