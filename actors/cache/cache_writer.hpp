#pragma once
// The cache writer: a detached actor owning one connection to Dragonfly
// (redis-server locally), serving ping-processor's window. Every write is
// one Lua script from schema.hpp, so a partition's deltas and its new state
// change together, on top of the state they were computed from, or not at
// all.
//
// Bounds and failures: one command at a time, each with the deadline
// `timeout`; an I/O failure or an error reply answers `unavailable` (the
// window retries or resyncs); the connection is made again on the next
// command.

#include <chrono>
#include <string>

#include <caf/actor_system.hpp>

#include "actors/cache/protocol.hpp"
#include "actors/common/telemetry.hpp"

namespace ping::cache {

struct writer_settings {
  std::string address = "127.0.0.1:6379"; // host:port or [v6]:port
  std::string password;                   // secret; empty = no AUTH
  caf::timespan timeout = std::chrono::seconds(1);
  caf::timespan retention = std::chrono::hours(24 * 7); // minute buckets kept
  caf::timespan future = std::chrono::hours(24 * 7);    // buckets kept ahead of now
  // Its place in the supervision tree (admin console, metrics).
  std::string actor_name = "windowing.cache-writer";
  std::string actor_parent = "windowing";
};

writer_actor spawn_cache_writer(caf::actor_system& sys, writer_settings cfg,
                                telemetry::registry& reg);

} // namespace ping::cache
