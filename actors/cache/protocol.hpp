#pragma once
// Typed protocol of the cache subsystem: the counters ping-processor keeps
// in Redis/Dragonfly (layout in schema.hpp). The reader serves ping-gateway's
// counts; the writer serves ping-processor's window.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/common/atoms.hpp"
#include "actors/common/types.hpp"

namespace ping::cache {

// -- reads ------------------------------------------------------------------

/// The minute buckets of one asked range, if the cache holds them all.
struct range_view {
  bool covered = false;         // minute-aligned and at or above the floor
  std::vector<int64_t> buckets; // one per minute, oldest first

  friend bool operator==(const range_view&, const range_view&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, range_view& x) {
  return f(caf::meta::type_name("range_view"), x.covered, x.buckets);
}

/// The part of one summed range the cache counted: the pings of the minutes
/// [first_minute, end_minute) it holds (empty when equal), read from the
/// fewest day, hour and minute buckets (range_plan.hpp). The rest of the
/// range is for PostgreSQL.
///
/// `edge_pings`: the most pings the cache holds in one of the range's
/// partial edge minutes (edge_minutes(), which PostgreSQL counts from raw
/// rows), 0 when it has none, -1 when one lies outside the minutes the
/// cache holds completely. A hint for how PostgreSQL counts the edges,
/// never part of an answer.
struct range_sum {
  int64_t first_minute = 0;
  int64_t end_minute = 0;
  int64_t count = 0;
  int64_t edge_pings = -1;

  friend bool operator==(const range_sum&, const range_sum&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, range_sum& x) {
  return f(caf::meta::type_name("range_sum"), x.first_minute, x.end_minute, x.count, x.edge_pings);
}

/// One atomic snapshot of the cache. `usable` is true only when every
/// partition has its state and the checksum holds (`total` == sum of the
/// partitions' counts); then the counters hold exactly the pings with
/// relay_seq <= seqs[p] of each partition p, and the rest of the stream
/// (the tail) is in PostgreSQL.
struct snapshot {
  bool usable = false;
  std::string why;           // when not usable: cold, rebuilding, unreachable, ...
  std::vector<int64_t> seqs; // per partition: highest relay_seq applied
  int64_t total = 0;
  int64_t floor_minute = 0;
  std::vector<range_view> ranges; // one per range asked per minute
  std::vector<range_sum> sums;    // one per range asked summed

  friend bool operator==(const snapshot&, const snapshot&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, snapshot& x) {
  return f(caf::meta::type_name("snapshot"), x.usable, x.why, x.seqs, x.total, x.floor_minute,
           x.ranges, x.sums);
}

/// The cache reader: the handle ping-gateway's count reader holds.
using reader_actor = caf::typed_actor<
  // One snapshot with the minute buckets of each range asked (covered when
  // it is minute-aligned and wholly in the cache). Never replies with an
  // error, and answers within the reader's `timeout` plus a small slack;
  // anything that goes wrong is `usable == false`.
  caf::replies_to<snapshot_atom, std::vector<time_range>>::with<snapshot>,
  // The same, with ranges asked per minute (first) and ranges asked summed
  // (second: what the cache holds of each, a bounded number of buckets).
  caf::replies_to<snapshot_atom, std::vector<time_range>, std::vector<time_range>>::with<snapshot>>;

// -- writes -----------------------------------------------------------------

/// A partition's counter deltas for its relay sequences (from_seq, to_seq],
/// applied atomically with its new state, only if the cache still stands at
/// `from_seq`. `count` is the number of pings in the deltas.
struct write_request {
  int32_t partition = 0;
  int64_t from_seq = 0;
  int64_t to_seq = 0;
  int64_t next_offset = 0; // Kafka offset to read next (where a restart seeks)
  int64_t count = 0;
  std::vector<std::pair<int64_t, int64_t>> minutes; // (epoch minute, delta)
  // The identity of the ping at `to_seq` (schema::ident_of its id:
  // PostgreSQL must hold the same ping there); 0 when unknown. Stored as
  // `ident:<p>`.
  int64_t to_ident = 0;

  friend bool operator==(const write_request&, const write_request&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, write_request& x) {
  return f(caf::meta::type_name("write_request"), x.partition, x.from_seq, x.to_seq, x.next_offset,
           x.count, x.minutes, x.to_ident);
}

/// What became of a write (schema::write_outcome) and where the partition
/// stands in the cache afterwards.
struct write_result {
  int32_t outcome = 0;
  int64_t stored_seq = 0;

  friend bool operator==(const write_result&, const write_result&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, write_result& x) {
  return f(caf::meta::type_name("write_result"), x.outcome, x.stored_seq);
}

/// Where a partition stands in the cache.
struct partition_state {
  int32_t partition = 0;
  bool stored = false; // false: the cache has no state for it (cold or lost)
  int64_t next_offset = 0;
  int64_t seq = 0;
  int64_t ident = 0; // identity of the ping at `seq` (`ident:<p>`); 0 when unknown

  friend bool operator==(const partition_state&, const partition_state&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, partition_state& x) {
  return f(caf::meta::type_name("partition_state"), x.partition, x.stored, x.next_offset, x.seq,
           x.ident);
}

/// The cache writer (detached; owns its connection).
using writer_actor = caf::typed_actor<
  // Applies the deltas with the partition's new state (schema::write_lua).
  caf::replies_to<write_atom, write_request>::with<write_result>,
  // Reads where these partitions stand.
  caf::replies_to<load_atom, std::vector<int32_t>>::with<std::vector<partition_state>>,
  // Checks the checksum; resets the cache when it does not hold. Replies
  // true when it reset.
  caf::replies_to<verify_atom>::with<bool>,
  // Drops the counters and every partition's state in one command (admin:
  // rebuild the cache); every processor then recounts its partitions.
  caf::replies_to<reset_atom>::with<bool>>;

} // namespace ping::cache
