#pragma once
// The cache schema: the one place that spells the Redis/Dragonfly layout
// that ping-processor writes and ping-gateway reads (docs/counts.md).
//
//   hash ping:counters  `total`, and per epoch minute m (m = timestamp_ms
//                       / 60000, event time) its bucket `minute:<m>`, with
//                       the coarse buckets `hour:<m div 60>` and
//                       `day:<m div 1440>` (UTC days) beside it
//   hash ping:offsets   per partition p: `seq:<p>` (highest relay_seq
//                       applied), `count:<p>` (pings applied), `offset:<p>`
//                       (next Kafka offset to read), `ident:<p>` (the
//                       identity of the ping at `seq:<p>`, ident_of its id,
//                       when known: checked against PostgreSQL; valid while
//                       `identseq:<p>` equals `seq:<p>`); `floor_minute`
//                       (buckets starting at or above it are complete),
//                       `ceiling_minute` (buckets ending at or below it are
//                       complete), `future_minute` (the lowest minute held in
//                       ping:future; absent when none), `gap_minute` (the
//                       lowest far minute ping:future had no room for:
//                       buckets from it on are incomplete; absent when there
//                       is none) and `layout` (2: coarse buckets are kept)
//   hash ping:future    pings dated past the ceiling, per minute (at most
//                       `future_max` minutes); moved into their buckets by
//                       the write that raises the ceiling past them
//
// Invariants, kept by every script below (each runs atomically, all keys
// declared, as Dragonfly requires):
//   * a partition's contribution is exactly its pings with relay_seq <=
//     seq:<p>; a write applies only on top of the `seq:<p>` it was computed
//     from (compare-and-set on the sequence, never on the Kafka offset);
//   * `total` == sum of `count:<p>`: the checksum that shows a script that
//     failed halfway, or counters and offsets that were lost separately;
//   * every bucket whose minutes lie in [`floor_minute`, min(`ceiling_minute`
//     + 1, `gap_minute`)) holds every applied ping of its minutes; buckets
//     starting below the floor are deleted (and never written again), and
//     no bucket is kept beyond the ceiling (now + the future window, by the
//     writers' clocks; it only rises): later pings wait in ping:future, so
//     the hashes stay bounded whatever timestamps clients send.

#include <cstdint>
#include <string>
#include <string_view>

#include "actors/common/types.hpp"

namespace ping::cache::schema {

inline constexpr const char* counters_key = "ping:counters";
inline constexpr const char* offsets_key = "ping:offsets";
inline constexpr const char* total_field = "total";
inline constexpr const char* floor_field = "floor_minute";
inline constexpr const char* gap_field = "gap_minute";
inline constexpr const char* future_key = "ping:future";
inline constexpr const char* ceiling_field = "ceiling_minute";
inline constexpr const char* layout_field = "layout";
inline constexpr const char* layout_version = "2"; // minute, hour and day buckets
/// Distinct far-future minutes ping:future holds; pings of further minutes
/// set `gap_minute` instead (spelled in write_lua too).
inline constexpr int64_t future_max = 1024;

using ping::minute_of;
using ping::ms_per_minute;

inline std::string minute_field(int64_t minute) {
  return "minute:" + std::to_string(minute);
}
inline std::string hour_field(int64_t hour) {
  return "hour:" + std::to_string(hour);
}
inline std::string day_field(int64_t day) {
  return "day:" + std::to_string(day);
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
inline std::string ident_field(int32_t p) {
  return "ident:" + std::to_string(p);
}
/// The sequence `ident:<p>` was written for: the identity holds only while
/// it equals `seq:<p>` (a writer of an older version moves `seq:<p>` alone).
inline std::string ident_seq_field(int32_t p) {
  return "identseq:" + std::to_string(p);
}

/// A ping's identity as the cache keeps it (`ident:<p>`): FNV-1a of its id
/// (the canonical UUID text, the Kafka record's key), in 63 bits and never 0
/// (0 means unknown). An integer, so ping:offsets stays a hash of integers.
inline int64_t ident_of(std::string_view id) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : id) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return static_cast<int64_t>((h & 0x7fffffffffffffffull) | 1);
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
/// KEYS: counters, offsets, future. ARGV: partition, from, to, next_offset, count,
/// cutoff_minute (the floor), ceiling_minute, then minute/delta pairs, then
/// optionally the identity of the ping at `to` (an odd count of trailing
/// arguments: stored as `ident:<p>`; without it a write that moves the
/// sequence deletes `ident:<p>`). Replies {outcome, stored seq}.
/// A partition with no state is adopted only by a write from 0, and only
/// into a self-consistent cache (else the cache is cleared first: its
/// counters cannot be trusted without their offsets). A cache written by
/// an older layout (no `layout` field: no coarse buckets) is cleared too,
/// so every partition is recounted once.
extern const char* const write_lua;

/// Checks `total` == sum of `count:<p>`; if not, deletes the three hashes,
/// so every processor recounts its partitions. KEYS: counters, offsets,
/// future.
/// Replies 1 when it reset the cache, 0 when the cache was consistent.
extern const char* const verify_lua;

} // namespace ping::cache::schema
