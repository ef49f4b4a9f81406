// The counting logic of one partition with a hand-driven clock.
#define BOOST_TEST_MODULE window_state
#include <boost/test/unit_test.hpp>

#include "actors/windowing/window_state.hpp"

using namespace ping::windowing;
using namespace std::chrono_literals;
using clock_type = window_state::clock;

namespace {

record_batch batch(std::vector<record> rs) {
  record_batch b;
  b.partition = 1;
  b.next_offset = rs.empty() ? 0 : rs.back().offset + 1;
  b.records = std::move(rs);
  return b;
}

int64_t minute_delta(const flush_request& req, int64_t minute) {
  for (auto& [m, d] : req.minutes)
    if (m == minute)
      return d;
  return 0;
}

} // namespace

BOOST_AUTO_TEST_CASE(minutes_are_floor_of_epoch_ms) {
  BOOST_TEST(minute_of(0) == 0);
  BOOST_TEST(minute_of(59'999) == 0);
  BOOST_TEST(minute_of(60'000) == 1);
  BOOST_TEST(minute_of(1'728'926'331'000) == 28'815'438);
  BOOST_TEST(minute_of(1'728'926'339'999) == 28'815'438);
  BOOST_TEST(minute_of(1'728'926'340'000) == 28'815'439);
}

BOOST_AUTO_TEST_CASE(counts_by_event_minute_including_late_events) {
  window_state w{1, 1000, 1s};
  w.reset(0, 0);
  auto t0 = clock_type::now();
  w.add(batch({{0, 1, 119'999}, {1, 2, 120'000}, {2, 3, 60'000}, {3, 4, 120'001}}), t0);
  auto req = w.begin_flush();
  BOOST_TEST(req.total == 4);
  BOOST_TEST(minute_delta(req, 1) == 2); // 60'000 and the late 119'999
  BOOST_TEST(minute_delta(req, 2) == 2);
  BOOST_TEST(req.from_offset == 0);
  BOOST_TEST(req.to_offset == 4);
  BOOST_TEST(req.watermark == 4);
}

BOOST_AUTO_TEST_CASE(resends_at_or_below_the_watermark_are_skipped) {
  window_state w{1, 1000, 1s};
  w.reset(10, 5); // stored: next offset 10, relay_seq 5 applied
  auto t0 = clock_type::now();
  auto counted = w.add(batch({{10, 4, 0}, {11, 5, 0}, {12, 6, 0}, {13, 5, 0}, {14, 7, 0}}), t0);
  BOOST_TEST(counted == 2u); // 6 and 7
  auto req = w.begin_flush();
  BOOST_TEST(req.total == 2);
  BOOST_TEST(req.to_offset == 15); // skipped records still advance the offset
  BOOST_TEST(req.watermark == 7);
}

BOOST_AUTO_TEST_CASE(replays_before_the_stored_offset_are_ignored) {
  window_state w{1, 1000, 1s};
  w.reset(100, 50);
  BOOST_TEST(w.add(batch({{98, 60, 0}, {99, 61, 0}}), clock_type::now()) == 0u);
  BOOST_TEST(w.next_offset() == 100);
}

BOOST_AUTO_TEST_CASE(flush_is_due_at_1000_records) {
  window_state w{1, 1000, 1s};
  w.reset(0, 0);
  auto t0 = clock_type::now();
  std::vector<record> rs;
  for (int i = 0; i < 999; ++i)
    rs.push_back({i, i + 1, 0});
  w.add(batch(rs), t0);
  BOOST_TEST(!w.due(t0));
  w.add(batch({{999, 1000, 0}}), t0);
  BOOST_TEST(w.due(t0)); // the 1000th record, no time has passed
}

BOOST_AUTO_TEST_CASE(flush_is_due_one_second_after_a_lone_record) {
  window_state w{1, 1000, 1s};
  w.reset(0, 0);
  auto t0 = clock_type::now();
  BOOST_TEST(!w.due(t0)); // nothing to flush
  w.add(batch({{0, 1, 0}}), t0);
  BOOST_TEST(!w.due(t0 + 999ms));
  BOOST_TEST(w.due(t0 + 1s)); // no further input needed
}

BOOST_AUTO_TEST_CASE(one_flush_in_flight_and_failed_flushes_merge_back) {
  window_state w{1, 1000, 1s};
  w.reset(0, 0);
  auto t0 = clock_type::now();
  w.add(batch({{0, 1, 60'000}}), t0);
  auto first = w.begin_flush();
  BOOST_TEST(w.in_flight());
  BOOST_TEST(!w.due(t0 + 5s)); // never two flushes at once
  w.add(batch({{1, 2, 60'000}}), t0);
  w.flush_failed();
  BOOST_TEST(w.due(t0)); // retried at once
  auto retry = w.begin_flush();
  BOOST_TEST(retry.from_offset == first.from_offset);
  BOOST_TEST(retry.to_offset == 2);
  BOOST_TEST(retry.total == 2);
  BOOST_TEST(minute_delta(retry, 1) == 2);
  w.flush_done();
  BOOST_TEST(!w.dirty());
}

BOOST_AUTO_TEST_CASE(drop_all_forgets_deltas_for_a_recount) {
  window_state w{1, 1000, 1s};
  w.reset(0, 0);
  w.add(batch({{0, 1, 0}, {1, 2, 0}}), clock_type::now());
  w.drop_all();
  w.reset(2, 2);
  BOOST_TEST(!w.dirty());
  BOOST_TEST(w.watermark() == 2);
}
