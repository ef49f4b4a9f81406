#pragma once
// The cache reader: one atomic snapshot of the counters ping-processor keeps
// in Redis/Dragonfly (layout and invariants in schema.hpp): every
// partition's applied sequence, the total, and the minute buckets of the
// asked ranges. The count reader (actors/counts) adds the stream's tail from
// PostgreSQL to make an exact count out of it.
//
// `spawn_cache_reader` starts a facade (cooperative pool, never blocks) that
// supervises one detached worker owning a connection. Each snapshot is one
// pipelined MULTI/EXEC round trip.
//
// A snapshot is `usable` only when every partition has its state and the
// checksum holds. A range asked per minute is `covered` only when it is
// minute-aligned and within the minutes whose buckets are complete
// ([floor_minute, min(ceiling_minute + 1, gap_minute)), read from the cache
// in the same snapshot, never from this process's clock). Of a range asked
// summed, the reader counts the part in those minutes from the fewest day,
// hour and minute buckets (range_plan.hpp): a bounded number of fields per
// range and per read, whatever the range's length.
//
// Bounds and failure behaviour:
// - Every caller gets an answer within `timeout + answer_slack`, never an
//   error: timeouts, I/O errors, error replies, a busy or restarting worker
//   all answer `usable = false` with the reason.
// - At most `max_in_flight` reads are handed to the worker at once; the
//   others are answered `usable = false` at once (no queue behind a stuck
//   worker). A slot is freed only when the worker actually replies.
// - After a timeout or I/O error the worker drops its connection and
//   reconnects lazily on a later read, after an exponential backoff
//   (`backoff_min`..`backoff_max`); during the backoff it answers
//   `usable = false` without touching the network.
// - A worker that crashes, or has not replied within `stuck_after`, is
//   replaced (link + exit handler, restart with backoff).
// - The callers' deadlines and the worker's share one watchdog timer,
//   armed for the earliest (actors/common/watchdog.hpp), not two timers a
//   read.
//
// Telemetry: counters `cache_hits_total`, `cache_misses_total`, latency
// `cache_read_seconds`; actor stats "cache" (pool) and "cache.reader"
// (detached; `up` is false while disconnected).

#include <chrono>
#include <functional>
#include <string>

#include <caf/actor_system.hpp>

#include "actors/cache/protocol.hpp"
#include "actors/common/telemetry.hpp"

namespace ping::cache {

struct settings {
  std::string address = "127.0.0.1:6379";                     // host:port ([v6]:port)
  std::string password;                                       // secret; empty = no AUTH
  int32_t partitions = 3;                                     // Kafka partitions of ping-events
  caf::timespan timeout = std::chrono::milliseconds(50);      // connect and each socket op
  caf::timespan answer_slack = std::chrono::milliseconds(20); // caller deadline = timeout + slack
  // A worker silent this long is replaced; keep it well above the worker's
  // worst case per read (connect + AUTH + one round trip: about 3 x timeout).
  caf::timespan stuck_after = std::chrono::seconds(1);
  caf::timespan backoff_min = std::chrono::milliseconds(100);
  caf::timespan backoff_max = std::chrono::seconds(2);
  int64_t max_minutes = int64_t{7} * 24 * 60; // longest range read per minute
  // Of a range asked summed, the longest part counted from buckets (the
  // rest goes to PostgreSQL): at most 2 x 59 minute, 2 x 23 hour and
  // max_span_minutes / 1440 + 1 day buckets per range.
  int64_t max_span_minutes = int64_t{32} * 24 * 60;
  // Distinct buckets one read fetches, whatever the number of ranges
  // (requests sharing a read mostly share buckets too); ranges beyond it
  // go to PostgreSQL.
  size_t max_fields = 65536;
  size_t max_in_flight = 1; // reads handed to the worker at once
};

/// Spawns the worker; the seam in front of the blocking worker, so tests
/// drive the facade's deadlines and replacements with a fake on the test
/// coordinator.
using worker_factory = std::function<reader_actor(caf::actor_system&, const settings&)>;

/// `make` empty: the real worker (detached, one connection).
reader_actor spawn_cache_reader(caf::actor_system& sys, settings cfg, telemetry::registry& reg,
                                worker_factory make = {});

} // namespace ping::cache
