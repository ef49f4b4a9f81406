#pragma once
// The window actor (cooperative pool): counts the consumed records of every
// assigned partition into per-minute deltas, and flushes them to the cache
// through the cache writer: at `max_records` records or `max_delay` after
// the first unflushed one, whichever comes first (a timer drives the second,
// so a lone ping is visible within about a second).
//
// Self-healing (docs/counts.md): any disagreement between a partition's
// window and the cache (a write that finds the cache lost the partition or
// standing elsewhere, a gap in the partition's sequences, a checksum that
// fails) resyncs the partition: its deltas are dropped, and the rebuilder
// counts in PostgreSQL everything from the sequence the cache stands at up to
// the committed head, which the writer applies on top of that sequence.
// Idle partitions write an empty flush every `heartbeat` (250 ms), and the
// cache's checksum is verified every `verify_interval`, so a disagreement
// is found within a quarter of a second (a second for the checksum). Each resync is logged once and
// counted in `processor_repairs_total{reason}`.
//
// At the processor's start the consumer hands it every partition's end
// offset (`heal_atom`): partitions without state in the cache are counted
// from PostgreSQL and written from sequence 0 at once, before the group
// assigns them (docs/windowing.md, *Before the group forms*).
//
// Every `check_interval` (and right after an assignment) the window asks
// the rebuilder where PostgreSQL stands on its partitions (issue 19, items
// 3 and 12): a committed head above the window's sequence with nothing
// counted for `stall_after` is a stall (the stream lost events the window
// cannot see as a gap: a restarted broker with an empty log): the
// partition is resynced. A ping at the window's sequence that PostgreSQL
// does not hold, or holds with another id, means PostgreSQL lost commits
// the cache counted (a forced promote, a point-in-time restore): the
// cache is dropped and every partition recounted, as RebuildCache does.
//
// Bounds: while more than `max_unflushed` records are held, or a partition
// of the batch is resyncing, the reply to the consumer's batch is held
// back, which pauses consumption. Replies that belong to an earlier
// assignment or resync of a partition (told apart by a generation number)
// are ignored.
//
// Supervises the cache writer and the rebuilder (actors/common/supervision).

#include <chrono>

#include <caf/actor_system.hpp>

#include "actors/cache/cache_writer.hpp"
#include "actors/common/telemetry.hpp"
#include "actors/windowing/protocol.hpp"
#include "actors/windowing/rebuilder.hpp"

namespace ping::windowing {

struct window_settings {
  size_t max_records = 1000;
  caf::timespan max_delay = std::chrono::seconds(1);
  size_t max_unflushed = 50000;
  caf::timespan tick = std::chrono::milliseconds(50);
  // An empty write on idle partitions: how soon a cache that lost the
  // partition, or stands elsewhere (an older snapshot), is found.
  caf::timespan heartbeat = std::chrono::milliseconds(250);
  caf::timespan verify_interval = std::chrono::seconds(1);
  caf::timespan writer_timeout = std::chrono::seconds(5);
  // How long a revoke waits for the partitions' deltas to reach the cache
  // (a write may time out once and be retried); below the consumer's
  // window_timeout.
  caf::timespan revoke_timeout = std::chrono::seconds(15);
  caf::timespan rebuild_timeout = std::chrono::seconds(120);
  caf::timespan backoff = std::chrono::milliseconds(500);
  caf::timespan backoff_max = std::chrono::seconds(10);
  // How often the window asks PostgreSQL where its partitions stand (and
  // at once after an assignment): a partition whose committed head stays
  // above the window's sequence for `stall_after` without the window
  // counting anything is resynced (a stream that lost events: a restarted
  // broker, a recreated topic); a partition whose ping at the window's
  // sequence is not PostgreSQL's (or that PostgreSQL does not hold) means
  // PostgreSQL lost commits the cache counted: the cache is recounted.
  caf::timespan check_interval = std::chrono::seconds(2);
  caf::timespan stall_after = std::chrono::seconds(5);
};

/// Where the window's children come from: the real ones, or fakes in tests.
struct window_children {
  std::function<cache::writer_actor()> writer;
  std::function<rebuilder_actor()> rebuilder;
};

/// Spawns the window with its cache writer and rebuilder.
window_actor spawn_window(caf::actor_system& sys, window_settings cfg, cache::writer_settings cache,
                          rebuild_settings rebuild, telemetry::registry& reg);

/// Spawns the window with children made by `children` (tests).
window_actor spawn_window(caf::actor_system& sys, window_settings cfg, window_children children,
                          telemetry::registry& reg);

} // namespace ping::windowing
