#pragma once
// How one `time_range` is split between the cache and PostgreSQL (pure
// functions; docs/counts.md "Any range: a bounded plan"). The cache keeps
// day, hour and minute buckets (schema.hpp); a range is answered as
//
//   [start, lo)        PostgreSQL: the partial first minute, and any part
//                      below the cache's floor (up to the first day or
//                      hour boundary at or above it);
//   [lo, hi) minutes   the cache: the fewest day/hour/minute buckets that
//                      cover it, plus the unapplied tail in those minutes;
//   [hi, end)          PostgreSQL: the partial last minute, and any part at
//                      or past the cache's limit (ceiling or gap).
//
// `cached_span` picks [lo, hi): the minute-aligned interior of the range,
// within the minutes the cache holds completely, at most `max_minutes`
// long. `cover` needs at most 2 x 59 minute, 2 x 23 hour and
// max_minutes / 1440 + 1 day buckets, whatever the range: no request reads
// more than a fixed number of fields.

#include <algorithm>
#include <compare>
#include <cstdint>
#include <string>
#include <vector>

#include "actors/common/types.hpp"

namespace ping::cache {

inline constexpr int64_t minutes_per_hour = 60;
inline constexpr int64_t minutes_per_day = int64_t{24} * 60;

/// Floor and ceiling division (exact for negatives).
constexpr int64_t floor_div(int64_t a, int64_t b) {
  auto q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}
constexpr int64_t ceil_div(int64_t a, int64_t b) {
  return -floor_div(-a, b);
}

enum class grain : int8_t { minute = 0, hour = 1, day = 2 };

/// One bucket of ping:counters: `minute:<m>`, `hour:<h>` (the minutes
/// [60h, 60h + 60)) or `day:<d>` (the minutes [1440d, 1440d + 1440), UTC).
struct bucket_ref {
  grain g = grain::minute;
  int64_t index = 0;

  friend auto operator<=>(const bucket_ref&, const bucket_ref&) = default;

  int64_t minutes() const {
    return g == grain::day ? minutes_per_day : g == grain::hour ? minutes_per_hour : 1;
  }
  int64_t first_minute() const { return index * minutes(); }
  std::string field() const {
    const char* prefix = g == grain::day ? "day:" : g == grain::hour ? "hour:" : "minute:";
    return prefix + std::to_string(index);
  }
};

/// The minutes [floor, limit) whose buckets are complete in a snapshot;
/// `coarse` when its hour and day buckets may be used too.
struct bucket_bounds {
  int64_t floor = 0;
  int64_t limit = 0;
  bool coarse = false;

  friend bool operator==(const bucket_bounds&, const bucket_bounds&) = default;
};

/// Minutes [lo, hi); empty when lo >= hi.
struct minute_span {
  int64_t lo = 0;
  int64_t hi = 0;

  bool empty() const { return lo >= hi; }
  friend bool operator==(const minute_span&, const minute_span&) = default;
};

/// The minute-aligned interior of a bounded range: [ceil(start), floor(end)).
inline minute_span interior(const time_range& r) {
  return {ceil_div(r.start_ms, ms_per_minute), floor_div(r.end_ms, ms_per_minute)};
}

/// The part of the range the cache counts (empty if none). A range that
/// starts below the floor is split on the first day boundary at or above
/// the floor, or else its first hour boundary, when the cache's part stays
/// non-empty: PostgreSQL's part then ends on a whole day (or hour) bucket,
/// one row per partition, instead of the hours and minutes between that
/// boundary and the floor (up to 23 + 59 bucket rows per partition, and as
/// many fields in the cache).
inline minute_span cached_span(const time_range& r, const bucket_bounds& b, int64_t max_minutes) {
  if (!r.bounded || r.start_ms >= r.end_ms)
    return {};
  auto in = interior(r);
  minute_span s{std::max(in.lo, b.floor), std::min(in.hi, b.limit)};
  if (s.empty())
    return {};
  if (in.lo < b.floor) {
    for (auto size : {minutes_per_day, minutes_per_hour}) {
      auto boundary = ceil_div(b.floor, size) * size;
      if (boundary < s.hi) {
        s.lo = boundary;
        break;
      }
    }
  }
  s.hi = std::min(s.hi, s.lo + std::max<int64_t>(0, max_minutes));
  return s.empty() ? minute_span{} : s;
}

/// The partial minutes at the ends of a bounded range (none, one or two,
/// ascending): the minutes PostgreSQL counts from raw rows.
inline std::vector<int64_t> edge_minutes(const time_range& r) {
  std::vector<int64_t> out;
  if (!r.bounded || r.start_ms >= r.end_ms)
    return out;
  if (r.start_ms % ms_per_minute != 0)
    out.push_back(floor_div(r.start_ms, ms_per_minute));
  auto last = floor_div(r.end_ms, ms_per_minute);
  if (r.end_ms % ms_per_minute != 0 && (out.empty() || out.back() != last))
    out.push_back(last);
  return out;
}

/// True when `s` lies within the bounds (so its buckets are complete).
inline bool within(const minute_span& s, const bucket_bounds& b) {
  return s.empty() || (s.lo >= b.floor && s.hi <= b.limit);
}

/// The fewest buckets covering the span exactly: minutes up to the first
/// hour boundary, hours up to the first day boundary, days, then hours and
/// minutes again. Minutes only unless `coarse`.
inline std::vector<bucket_ref> cover(const minute_span& s, bool coarse) {
  std::vector<bucket_ref> out;
  if (s.empty())
    return out;
  auto m = s.lo;
  auto take = [&](grain g, int64_t size) {
    while (m % size == 0 && m + size <= s.hi) {
      out.push_back({g, m / size});
      m += size;
    }
  };
  auto minutes_until = [&](int64_t boundary) {
    for (; m < s.hi && m < boundary; ++m)
      out.push_back({grain::minute, m});
  };
  if (!coarse) {
    minutes_until(s.hi);
    return out;
  }
  // Up to an hour boundary (or the end).
  minutes_until(std::min(s.hi, ceil_div(m, minutes_per_hour) * minutes_per_hour));
  // Hours up to a day boundary, if a whole hour fits.
  auto day_start = ceil_div(m, minutes_per_day) * minutes_per_day;
  while (m < s.hi && m < day_start && m + minutes_per_hour <= s.hi) {
    out.push_back({grain::hour, floor_div(m, minutes_per_hour)});
    m += minutes_per_hour;
  }
  take(grain::day, minutes_per_day);
  take(grain::hour, minutes_per_hour);
  minutes_until(s.hi);
  return out;
}

/// The parts of the range outside the span, in milliseconds: the whole
/// range when the span is empty, else up to two intervals (each the partial
/// edge minute, plus whatever lies outside the cache's bounds on that side).
inline std::vector<time_range> outside(const time_range& r, const minute_span& s) {
  if (s.empty())
    return {r};
  std::vector<time_range> out;
  if (r.start_ms < s.lo * ms_per_minute)
    out.push_back({true, r.start_ms, s.lo * ms_per_minute});
  if (s.hi * ms_per_minute < r.end_ms)
    out.push_back({true, s.hi * ms_per_minute, r.end_ms});
  return out;
}

} // namespace ping::cache
