#pragma once
// Typed protocol of the windowing subsystem (ping-processor): consumer ->
// window -> cache writer, plus the rebuilder that recounts a partition from
// PostgreSQL when the cache lost it.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/common/atoms.hpp"

namespace ping::windowing {

/// One consumed ping event, reduced to what counting needs.
struct record {
  int64_t offset;       // Kafka offset
  int64_t relay_seq;    // outbox position (de-duplication)
  int64_t timestamp_ms; // event time
  friend bool operator==(const record&, const record&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record& x) {
  return f(caf::meta::type_name("record"), x.offset, x.relay_seq, x.timestamp_ms);
}

/// Consecutive records of one partition; `next_offset` is the offset after
/// the last record consumed (records that failed to decode are skipped but
/// still advance it).
struct record_batch {
  int32_t partition = 0;
  int64_t next_offset = 0;
  std::vector<record> records;
  friend bool operator==(const record_batch&, const record_batch&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record_batch& x) {
  return f(caf::meta::type_name("record_batch"), x.partition, x.next_offset, x.records);
}

/// Where a partition stands in the cache.
struct partition_state {
  int32_t partition = 0;
  bool stored = false;   // false: the cache has no offset for it (cold or lost)
  int64_t next_offset = 0;
  int64_t watermark = 0; // highest relay_seq applied
  friend bool operator==(const partition_state&, const partition_state&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, partition_state& x) {
  return f(caf::meta::type_name("partition_state"), x.partition, x.stored,
           x.next_offset, x.watermark);
}

/// Counter deltas of one partition for the offsets [from_offset, to_offset).
/// Applied atomically with the new offset and watermark, only if the cache
/// still holds `from_offset` for the partition.
struct flush_request {
  int32_t partition = 0;
  int64_t from_offset = 0;
  int64_t to_offset = 0;
  int64_t watermark = 0;
  int64_t total = 0;                               // delta of `total`
  std::vector<std::pair<int64_t, int64_t>> minutes; // (epoch minute, delta)
  friend bool operator==(const flush_request&, const flush_request&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, flush_request& x) {
  return f(caf::meta::type_name("flush_request"), x.partition, x.from_offset,
           x.to_offset, x.watermark, x.total, x.minutes);
}

/// What became of a flush.
enum class flush_outcome : int32_t {
  applied = 0,   // written
  duplicate = 1, // already written (a retry after a lost reply): nothing done
  lost = 2,      // the cache has no offset for the partition: rebuild needed
  conflict = 3,  // another processor moved the partition on: drop ours
};

/// A partition's counts recounted from PostgreSQL in one snapshot.
struct recount {
  int32_t partition = 0;
  int64_t watermark = 0; // max relay_seq of the partition in the snapshot
  int64_t total = 0;
  std::vector<std::pair<int64_t, int64_t>> minutes; // retained buckets only
  friend bool operator==(const recount&, const recount&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, recount& x) {
  return f(caf::meta::type_name("recount"), x.partition, x.watermark, x.total,
           x.minutes);
}

/// The cache writer: owns the Redis/Dragonfly connection (detached).
using cache_writer_actor = caf::typed_actor<
  // Applies the deltas with the offsets (Lua script, keys declared).
  caf::replies_to<flush_atom, flush_request>::with<int32_t /*flush_outcome*/>,
  // Reads the stored offsets and watermarks of these partitions.
  caf::replies_to<load_atom, std::vector<int32_t>>::with<std::vector<partition_state>>,
  // Installs a recount as the partition's contribution, with its offset, only
  // if the cache still has no offset for it.
  caf::replies_to<rebuild_atom, recount, int64_t /*next_offset*/>::with<bool>,
  // Drops minute buckets older than the retention.
  caf::replies_to<prune_atom>::with<int64_t>,
  // Drops the counters and every partition's offset (admin: rebuild the
  // cache); every processor then recounts its partitions.
  caf::replies_to<reset_atom>::with<bool>>;

/// The rebuilder: recounts one partition from PostgreSQL (detached).
using rebuilder_actor = caf::typed_actor<
  caf::replies_to<rebuild_atom, int32_t>::with<recount>>;

/// The window actor: aggregates and flushes (cooperative).
using window_actor = caf::typed_actor<
  // Consumed records, one batch per partition; the reply (unflushed
  // records held) comes once the window has room again, which is how the
  // consumer is paced. Records before a partition's position are ignored,
  // so handing the same batch over twice is harmless.
  caf::replies_to<records_atom, std::vector<record_batch>>::with<int64_t>,
  // Partitions assigned; the reply is where to start consuming each one.
  caf::replies_to<assign_atom, std::vector<int32_t>>::with<std::vector<partition_state>>,
  // A partition without a stored offset starts at this offset: recount it
  // from PostgreSQL first (asynchronously; its records wait meanwhile).
  caf::replies_to<rebuild_atom, int32_t, int64_t>::with<bool>,
  // Partitions revoked: flush their deltas, then forget them.
  caf::replies_to<revoke_atom, std::vector<int32_t>>::with<bool>,
  // Flush everything now (admin, shutdown); replies with the number of
  // partitions flushed, or an error when the cache did not take everything
  // in time.
  caf::replies_to<flush_atom>::with<int32_t>,
  // Drop the cache's counters and offsets and recount the assigned
  // partitions from PostgreSQL (admin); replies with the number of
  // partitions recounted once all of them are.
  caf::replies_to<reset_atom>::with<int32_t>>;

} // namespace ping::windowing
