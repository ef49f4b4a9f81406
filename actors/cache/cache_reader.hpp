#pragma once
// The cache reader: answers PingCount from the counters ping-processor keeps
// in Redis/Dragonfly, or says "not found" fast so the caller asks PostgreSQL.
//
// Cache layout (written by ping-processor):
//   hash ping:counters  field `total`, fields `minute:<N>` (N = ts_ms / 60000)
//   hash ping:offsets   fields `offset:<p>`, `seq:<p>` per partition p, and
//                       `retention_ms` (minute buckets kept by the processor)
// The cache is complete only when `offset:<p>` is present for every
// partition; otherwise it is cold or rebuilding and is never used.
//
// `spawn_cache_reader` starts a facade (cooperative pool, never blocks) that
// supervises one detached worker owning a hiredis connection. Each read is
// one pipelined MULTI/EXEC round trip, so offsets and counters come from the
// same snapshot.
//
// Bounds and failure behaviour:
// - Every caller gets an answer within `timeout + answer_slack`, never an
//   error: timeouts, I/O errors, error replies, a busy or restarting worker
//   all answer `found = false`.
// - At most `max_in_flight` reads are handed to the worker at once; the
//   others are answered `found = false` at once (no queue behind a stuck
//   worker). A slot is freed only when the worker actually replies.
// - After a timeout or I/O error the worker drops its connection and
//   reconnects lazily on a later read, after an exponential backoff
//   (`backoff_min`..`backoff_max`); during the backoff it answers
//   `found = false` without touching the network.
// - A worker that crashes, or has not replied within `stuck_after`, is
//   replaced (link + exit handler, restart with backoff).
//
// Telemetry: counters `cache_hits_total`, `cache_misses_total`, latency
// `cache_read_seconds`; actor stats "cache" (pool) and "cache.reader"
// (detached; `up` is false while disconnected).

#include <chrono>
#include <string>

#include <caf/actor_system.hpp>

#include "actors/cache/protocol.hpp"
#include "actors/common/telemetry.hpp"

namespace ping::cache {

struct settings {
  std::string address = "127.0.0.1:6379"; // host:port ([v6]:port)
  std::string password;                   // secret; empty = no AUTH
  int32_t partitions = 3;                 // Kafka partitions of ping-events
  caf::timespan timeout = std::chrono::milliseconds(50); // connect and each socket op
  caf::timespan answer_slack = std::chrono::milliseconds(20); // caller deadline = timeout + slack
  // A worker silent this long is replaced; keep it well above the worker's
  // worst case per read (connect + AUTH + one round trip: about 3 x timeout).
  caf::timespan stuck_after = std::chrono::seconds(1);
  caf::timespan backoff_min = std::chrono::milliseconds(100);
  caf::timespan backoff_max = std::chrono::seconds(2);
  int64_t retention_ms = 7LL * 24 * 3600 * 1000; // when the cache does not say
  size_t max_in_flight = 1; // reads handed to the worker at once
};

cache_actor spawn_cache_reader(caf::actor_system& sys, settings cfg,
                               telemetry::registry& reg);

} // namespace ping::cache
