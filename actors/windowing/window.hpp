#pragma once
// The window actor (cooperative pool): counts the consumed records of every
// assigned partition into `total` and per-minute deltas, and flushes them to
// the cache through the cache writer — at `max_records` records or
// `max_delay` after the first unflushed one, whichever comes first (a timer
// drives the second, so a lone ping is visible within about a second).
//
// Bounds: while more than `max_unflushed` records are held, or a partition
// of the batch is being recounted, the reply to the consumer's batch is held
// back, which pauses consumption. Loss of the cache (a flush finds no offset
// for its partition; idle partitions are checked every `heartbeat`) starts a
// recount of the partition from PostgreSQL through the rebuilder.

#include <chrono>

#include <caf/actor_system.hpp>

#include "actors/common/telemetry.hpp"
#include "actors/windowing/cache_writer.hpp"
#include "actors/windowing/protocol.hpp"
#include "actors/windowing/rebuilder.hpp"

namespace ping::windowing {

struct window_settings {
  size_t max_records = 1000;
  caf::timespan max_delay = std::chrono::seconds(1);
  size_t max_unflushed = 50000;
  caf::timespan tick = std::chrono::milliseconds(50);
  caf::timespan heartbeat = std::chrono::seconds(1);
  caf::timespan prune_interval = std::chrono::minutes(1);
  caf::timespan writer_timeout = std::chrono::seconds(5);
  caf::timespan rebuild_timeout = std::chrono::seconds(120);
  caf::timespan backoff = std::chrono::milliseconds(500);
};

/// Spawns the window with its cache writer and rebuilder, which it
/// supervises: either one that fails is restarted with backoff (requests to
/// it meanwhile fail and are retried).
window_actor spawn_window(caf::actor_system& sys, window_settings cfg,
                          cache_settings cache, rebuild_settings rebuild,
                          telemetry::registry& reg);

} // namespace ping::windowing
