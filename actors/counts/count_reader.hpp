#pragma once
// The count reader (cooperative pool, never blocks): answers PingCount
// exactly, read-your-writes, from the cache plus the stream's tail.
//
// One read is: a snapshot of the cache (per partition the highest relay_seq
// it applied, the total, the asked minute buckets; actors/cache), then one
// query for the pings PostgreSQL holds above those sequences (an index range
// per partition, empty when the processor is caught up; actors/persistence).
// Their sum counts every ping committed when the query ran, which is after
// the request arrived. When the cache cannot answer (unreachable, cold,
// rebuilding, failing its checksum, or claiming more than PostgreSQL holds)
// or the range is not in minute buckets, PostgreSQL counts the range
// itself. The argument is in docs/counts.md.
//
// Concurrent requests share the work: requests that arrive while a read is
// in flight wait for the next read, which answers all of them; a read that
// starts after a request arrived may answer it without breaking
// read-your-writes. So one cache round trip and at most one tail query
// answer every request waiting at that moment, and PostgreSQL counts rows
// only when the cache really cannot help.
//
// A range is split (actors/cache/range_plan.hpp): the part the cache holds
// comes from the fewest day/hour/minute buckets plus the tail in those
// minutes; its partial edge minutes, and any part outside the cache's
// buckets, are counted in PostgreSQL.
//
// Bounds: at most `max_waiting` requests wait, for the next read or for
// their PostgreSQL parts (beyond: resource_exhausted at once); each step
// has its deadline; at most `max_fallbacks` PostgreSQL counts are
// outstanding, further ones wait in a queue (at most `fallback_timeout`,
// then unavailable); per-minute fallbacks beyond it are unavailable at once.

#include <chrono>

#include <caf/actor_system.hpp>

#include "actors/cache/protocol.hpp"
#include "actors/common/telemetry.hpp"
#include "actors/counts/protocol.hpp"
#include "actors/persistence/protocol.hpp"

namespace ping::counts {

struct settings {
  size_t max_waiting = 4096;
  // PostgreSQL counts outstanding at once. Persistence's count reader runs
  // one at a time and queues at most `postgres.max-reads-waiting` (32)
  // more, refusing beyond; at 32 our own queue holds the rest instead.
  size_t max_fallbacks = 32;
  // Distinct ranges one read asks of the cache (its buckets are fetched in
  // one HMGET); requests beyond them wait for the next read.
  size_t max_ranges_per_read = 128;
  caf::timespan snapshot_timeout = std::chrono::milliseconds(200); // the reader answers sooner
  caf::timespan tail_timeout = std::chrono::seconds(5);
  caf::timespan fallback_timeout = std::chrono::seconds(5);
};

counts_actor spawn_count_reader(caf::actor_system& sys, settings cfg,
                                cache::reader_actor cache,
                                persistence::persistence_actor persistence,
                                telemetry::registry& reg);

} // namespace ping::counts
