#pragma once
// The cache schema: the one place that spells the Redis/Dragonfly layout
// that ping-processor writes and ping-gateway reads (docs/counts.md).
//
//   hash ping:counters  `total`, and `minute:<m>` per epoch minute m
//                       (m = timestamp_ms / 60000, event time)
//   hash ping:offsets   per partition p: `seq:<p>` (highest relay_seq
//                       applied), `count:<p>` (pings applied), `offset:<p>`
//                       (next Kafka offset to read); `floor_minute`
//                       (minute buckets at or above it are complete) and
//                       `gap_minute` (the lowest minute too far in the
//                       future to keep a bucket for: buckets from it on are
//                       incomplete; absent when there is none)
//
// Invariants, kept by every script below (each runs atomically, all keys
// declared, as Dragonfly requires):
//   * a partition's contribution is exactly its pings with relay_seq <=
//     seq:<p>; a write applies only on top of the `seq:<p>` it was computed
//     from (compare-and-set on the sequence, never on the Kafka offset);
//   * `total` == sum of `count:<p>`: the checksum that shows a script that
//     failed halfway, or counters and offsets that were lost separately;
//   * every bucket at or above `floor_minute` and below `gap_minute` holds
//     every applied ping of its minute; buckets below the floor are
//     deleted, and no bucket is kept beyond `ceiling` (now + the future
//     window), so the hash stays bounded whatever timestamps clients send.

#include <cstdint>
#include <string>

#include "actors/common/types.hpp"

namespace ping::cache::schema {

inline constexpr const char* counters_key = "ping:counters";
inline constexpr const char* offsets_key = "ping:offsets";
inline constexpr const char* total_field = "total";
inline constexpr const char* floor_field = "floor_minute";
inline constexpr const char* gap_field = "gap_minute";

using ping::minute_of;
using ping::ms_per_minute;

inline std::string minute_field(int64_t minute) {
  return "minute:" + std::to_string(minute);
}
inline std::string seq_field(int32_t p) {
  return "seq:" + std::to_string(p);
}
inline std::string count_field(int32_t p) {
  return "count:" + std::to_string(p);
}
inline std::string offset_field(int32_t p) {
  return "offset:" + std::to_string(p);
}

/// The one definition of "a partition has state in the cache", shared by
/// the processor's loader (cache_writer load), the write script and the
/// gateway's reader: `seq:<p>` is present. The fields beside it are
/// auxiliary: a missing `count:<p>` reads as 0 (the checksum `total` ==
/// sum of counts then decides whether the cache is usable), and a missing
/// `offset:<p>` as `unknown_offset` (the consumer starts from the group's
/// committed offset, else the earliest; records at or below `seq:<p>` are
/// skipped, and a gap is recounted from PostgreSQL). So a partition is
/// never both "cold" to one reader and "stored" to another, and a resync
/// never starts from 0 under a sequence the write script keeps.
inline bool has_state(bool seq_present) {
  return seq_present;
}
inline constexpr int64_t unknown_offset = -1;

/// What a write script answers (first element of its reply array).
enum class write_outcome : int32_t {
  applied = 0,   // written; the partition now stands at the write's `to`
  duplicate = 1, // the cache already stands at `to`: this write landed before
  lost = 2,      // the cache has no state for the partition: recount from 0
  conflict = 3,  // the cache stands elsewhere (second element: its seq)
};

/// Applies one partition's deltas for the sequences (from, to].
/// KEYS: counters, offsets. ARGV: partition, from, to, next_offset, count,
/// cutoff_minute (the floor), ceiling_minute, then minute/delta pairs.
/// Replies {outcome, stored seq}.
/// A partition with no state is adopted only by a write from 0, and only
/// into a self-consistent cache (else the cache is cleared first: its
/// counters cannot be trusted without their offsets).
extern const char* const write_lua;

/// Checks `total` == sum of `count:<p>`; if not, deletes both hashes, so
/// every processor recounts its partitions. KEYS: counters, offsets.
/// Replies 1 when it reset the cache, 0 when the cache was consistent.
extern const char* const verify_lua;

} // namespace ping::cache::schema
