#pragma once
// The cache writer: a detached actor owning one hiredis connection to
// Dragonfly (redis-server locally). Every write is one Lua script with all
// keys declared (Dragonfly rejects undeclared keys), so the counter deltas
// and the partition's offset and watermark change together or not at all.
//
// Keys: hash `ping:counters` (total, minute:<epoch minute>) and hash
// `ping:offsets` (offset:<p>, seq:<p>, retention_ms).

#include <chrono>
#include <string>

#include <caf/actor_system.hpp>

#include "actors/common/telemetry.hpp"
#include "actors/windowing/protocol.hpp"

namespace ping::windowing {

struct cache_settings {
  std::string address = "127.0.0.1:6379";
  std::string password; // secret; empty = no AUTH
  caf::timespan timeout = std::chrono::seconds(1);
  caf::timespan retention = std::chrono::hours(24 * 7);
};

/// Spawns the writer (detached). Connects lazily, reconnects after errors.
cache_writer_actor spawn_cache_writer(caf::actor_system& sys, cache_settings cfg,
                                      telemetry::registry& reg);

} // namespace ping::windowing
