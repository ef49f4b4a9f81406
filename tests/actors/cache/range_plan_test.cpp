// The range planner (actors/cache/range_plan.hpp), as pure functions: how a
// range splits into PostgreSQL edges and a cached span, the fewest buckets
// covering a span, and the bound on the buckets any range needs.
#define BOOST_TEST_MODULE range_plan
#include <boost/test/unit_test.hpp>

#include <random>

#include "actors/cache/range_plan.hpp"

using namespace ping;
using namespace ping::cache;

namespace {

constexpr int64_t minute_ms = 60'000;
constexpr int64_t day = minutes_per_day;

time_range ms(int64_t a, int64_t b) {
  return {true, a, b};
}

time_range minutes(int64_t a, int64_t b) {
  return {true, a * minute_ms, b * minute_ms};
}

// Every minute of the span once, in order, by the buckets.
bool covers_exactly(const std::vector<bucket_ref>& buckets, const minute_span& s) {
  auto m = s.lo;
  for (auto& b : buckets) {
    if (b.first_minute() != m)
      return false;
    m += b.minutes();
  }
  return m == (s.empty() ? s.lo : s.hi);
}

const bucket_bounds everything{0, std::numeric_limits<int64_t>::max(), true};

} // namespace

BOOST_AUTO_TEST_CASE(a_span_is_covered_by_the_fewest_buckets) {
  // 3 days + 2 h + 5 min, starting 10 minutes before an hour boundary that is
  // 2 hours before a day boundary.
  auto lo = 100 * day - 2 * 60 - 10;
  minute_span s{lo, 103 * day + 2 * 60 + 5};
  auto c = cover(s, true);
  BOOST_TEST(covers_exactly(c, s));
  size_t minutes = 0, hours = 0, days = 0;
  for (auto& b : c)
    (b.g == grain::minute ? minutes : b.g == grain::hour ? hours : days)++;
  BOOST_TEST(minutes == 10u + 5u);
  BOOST_TEST(hours == 2u + 2u);
  BOOST_TEST(days == 3u);
  BOOST_TEST(c.front().field() == "minute:" + std::to_string(lo));
  BOOST_TEST(c.back().field() == "minute:" + std::to_string(s.hi - 1));
  // Without coarse buckets (a cache of the older layout): minutes only.
  auto fine = cover(s, false);
  BOOST_TEST(fine.size() == static_cast<size_t>(s.hi - s.lo));
  BOOST_TEST(covers_exactly(fine, s));
}

BOOST_AUTO_TEST_CASE(short_and_unaligned_spans_use_what_fits) {
  BOOST_TEST(cover({}, true).empty());
  minute_span within_hour{61, 119};
  BOOST_TEST(cover(within_hour, true).size() == 58u);
  minute_span one_hour{120, 180};
  auto c = cover(one_hour, true);
  BOOST_REQUIRE(c.size() == 1u);
  BOOST_TEST(c[0].field() == "hour:2");
  minute_span one_day{5 * day, 6 * day};
  c = cover(one_day, true);
  BOOST_REQUIRE(c.size() == 1u);
  BOOST_TEST(c[0].field() == "day:5");
  // Crossing a day boundary with less than a day: hours on both sides.
  minute_span across{5 * day - 120, 5 * day + 180};
  c = cover(across, true);
  BOOST_TEST(covers_exactly(c, across));
  BOOST_TEST(c.size() == 5u);
}

// Item 6 of issue 17: the buckets of any range are bounded; a 400-day range
// does not read 576 k minutes.
BOOST_AUTO_TEST_CASE(no_range_needs_more_than_a_fixed_number_of_buckets) {
  constexpr int64_t max_span = 32 * day;
  const size_t bound = 2 * 59 + 2 * 23 + static_cast<size_t>(max_span / day) + 1;
  std::mt19937_64 rng{17};
  for (int i = 0; i < 2000; ++i) {
    auto start = static_cast<int64_t>(rng() % (30'000'000ull * minute_ms));
    auto len = static_cast<int64_t>(rng() % (400ull * day * minute_ms)) + 1;
    auto r = ms(start, start + len);
    auto s = cached_span(r, everything, max_span);
    auto c = cover(s, true);
    BOOST_TEST(c.size() <= bound);
    BOOST_TEST(covers_exactly(c, s));
    // The span and the parts outside it make up the range, in order.
    auto out = outside(r, s);
    int64_t covered = s.empty() ? 0 : (s.hi - s.lo) * minute_ms;
    for (auto& o : out)
      covered += o.end_ms - o.start_ms;
    BOOST_TEST(covered == len);
    if (!s.empty()) {
      BOOST_TEST(out.size() <= 2u);
      if (!out.empty() && out.front().start_ms == r.start_ms
          && out.front().end_ms <= s.lo * minute_ms)
        BOOST_TEST(out.front().end_ms == s.lo * minute_ms);
    }
  }
  auto r400 = minutes(10 * day, 410 * day);
  auto s = cached_span(r400, everything, max_span);
  BOOST_TEST(s.hi - s.lo == max_span); // the rest is PostgreSQL's
  BOOST_TEST(cover(s, true).size() == 32u);
}

// A range that starts below the floor leaves PostgreSQL a part that ends
// on a day boundary (one day bucket per partition), not on the floor's
// minute (up to 23 hour and 59 minute buckets per partition).
BOOST_AUTO_TEST_CASE(a_range_below_the_floor_is_split_on_a_day_or_hour_boundary) {
  const int64_t floor = 100 * day + 7 * 60 + 13; // 07:13 on day 100
  bucket_bounds b{floor, 200 * day, true};
  auto r = minutes(10 * day, 150 * day);
  auto s = cached_span(r, b, 1'000'000);
  BOOST_TEST((s == minute_span{101 * day, 150 * day}));
  auto out = outside(r, s);
  BOOST_REQUIRE(out.size() == 1u);
  BOOST_TEST((out[0] == ms(r.start_ms, 101 * day * minute_ms)));
  // Ending before the next day: the next hour boundary.
  auto to_noon = minutes(10 * day, 100 * day + 12 * 60);
  BOOST_TEST(
    (cached_span(to_noon, b, 1'000'000) == minute_span{100 * day + 8 * 60, 100 * day + 12 * 60}));
  // Ending before the next hour: the floor itself.
  auto to_half_past = minutes(10 * day, 100 * day + 7 * 60 + 30);
  BOOST_TEST((cached_span(to_half_past, b, 1'000'000) == minute_span{floor, floor + 17}));
  // Starting at or above the floor: not moved.
  auto above = minutes(floor + 5, 120 * day);
  BOOST_TEST((cached_span(above, b, 1'000'000) == minute_span{floor + 5, 120 * day}));
}

BOOST_AUTO_TEST_CASE(edges_are_the_partial_minutes) {
  bucket_bounds b{0, 1'000'000, true};
  // 10:00:30 .. 12:00:15 -> edges [10:00:30, 10:01) and [12:00, 12:00:15).
  auto r = ms(600 * minute_ms + 30'000, 720 * minute_ms + 15'000);
  auto s = cached_span(r, b, 1'000'000);
  BOOST_TEST((s == minute_span{601, 720}));
  auto out = outside(r, s);
  BOOST_REQUIRE(out.size() == 2u);
  BOOST_TEST((out[0] == ms(r.start_ms, 601 * minute_ms)));
  BOOST_TEST((out[1] == ms(720 * minute_ms, r.end_ms)));
  // Aligned: no edges.
  BOOST_TEST(outside(minutes(600, 720), cached_span(minutes(600, 720), b, 1'000'000)).empty());
  // Inside one minute, or across one boundary without a whole minute: no
  // span; PostgreSQL counts it all (at most two minutes of rows).
  auto tiny = ms(600 * minute_ms + 1, 600 * minute_ms + 2);
  BOOST_TEST(cached_span(tiny, b, 1'000'000).empty());
  BOOST_TEST((outside(tiny, {}) == std::vector<time_range>{tiny}));
  auto across = ms(600 * minute_ms + 30'000, 601 * minute_ms + 30'000);
  BOOST_TEST(cached_span(across, b, 1'000'000).empty());
  // The partial minutes themselves, once each, before the epoch too.
  BOOST_TEST((edge_minutes(r) == std::vector<int64_t>{600, 720}));
  BOOST_TEST(edge_minutes(minutes(600, 720)).empty());
  BOOST_TEST((edge_minutes(tiny) == std::vector<int64_t>{600}));
  BOOST_TEST((edge_minutes(across) == std::vector<int64_t>{600, 601}));
  BOOST_TEST((edge_minutes(ms(600 * minute_ms, 601 * minute_ms + 1)) == std::vector<int64_t>{601}));
  BOOST_TEST((edge_minutes(ms(-90'000, -30'000)) == std::vector<int64_t>{-2, -1}));
  BOOST_TEST(edge_minutes(ms(5, 5)).empty());
}

BOOST_AUTO_TEST_CASE(the_span_stays_within_the_bounds) {
  bucket_bounds b{1000, 2000, true};
  // Below the floor: that part is PostgreSQL's, with the edge minute, up
  // to the first day boundary above the floor (minute 1440).
  auto r = ms(900 * minute_ms + 7, 1500 * minute_ms);
  auto s = cached_span(r, b, 1'000'000);
  BOOST_TEST((s == minute_span{1440, 1500}));
  BOOST_TEST((outside(r, s) == std::vector<time_range>{ms(r.start_ms, 1440 * minute_ms)}));
  // Past the limit (ceiling + 1, or the gap).
  s = cached_span(minutes(1500, 2500), b, 1'000'000);
  BOOST_TEST((s == minute_span{1500, 2000}));
  // Wholly outside.
  BOOST_TEST(cached_span(minutes(10, 20), b, 1'000'000).empty());
  BOOST_TEST(cached_span(minutes(2000, 2100), b, 1'000'000).empty());
  // No floor known: nothing is cached.
  BOOST_TEST(cached_span(minutes(10, 20), bucket_bounds{}, 1'000'000).empty());
  // Unbounded and empty ranges have no span.
  BOOST_TEST(cached_span(time_range{}, b, 1'000'000).empty());
  BOOST_TEST(cached_span(minutes(1500, 1500), b, 1'000'000).empty());
  BOOST_TEST(within(minute_span{1000, 2000}, b));
  BOOST_TEST(!within(minute_span{999, 2000}, b));
  BOOST_TEST(!within(minute_span{1000, 2001}, b));
}

BOOST_AUTO_TEST_CASE(division_floors_for_negatives) {
  BOOST_TEST(floor_div(-1, 60) == -1);
  BOOST_TEST(floor_div(-60, 60) == -1);
  BOOST_TEST(floor_div(59, 60) == 0);
  BOOST_TEST(ceil_div(1, 60) == 1);
  BOOST_TEST(ceil_div(-59, 60) == 0);
  BOOST_TEST(ceil_div(120, 60) == 2);
}
