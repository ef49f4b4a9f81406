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

int64_t minute_delta(const write_request& req, int64_t minute) {
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
  BOOST_TEST(minute_of(-1) == -1);
}

BOOST_AUTO_TEST_CASE(counts_by_event_minute_including_late_events) {
  window_state w{1, 1000, 1s};
  w.reset(10, 100);
  auto now = clock_type::now();
  auto added = w.add(batch({{10, 101, 120'000}, {11, 102, 60'500}, {12, 103, 120'001}}), now);
  BOOST_TEST(added.counted == 3u);
  BOOST_TEST(!added.gap);
  auto req = w.begin_flush();
  BOOST_TEST(req.partition == 1);
  BOOST_TEST(req.from_seq == 100);
  BOOST_TEST(req.to_seq == 103);
  BOOST_TEST(req.count == 3);
  BOOST_TEST(req.next_offset == 13);
  BOOST_TEST(minute_delta(req, 2) == 2);
  BOOST_TEST(minute_delta(req, 1) == 1);
}

BOOST_AUTO_TEST_CASE(resends_and_replays_are_skipped_by_sequence_not_offset) {
  window_state w{1, 1000, 1s};
  w.reset(0, 5);
  auto now = clock_type::now();
  // A re-send (seq 4) after the watermark, then the next sequence; an offset
  // below the position (a Kafka offset reset to earliest) is still counted
  // when its sequence is the next one.
  auto added = w.add(batch({{7, 4, 0}, {8, 6, 0}}), now);
  BOOST_TEST(added.counted == 1u);
  BOOST_TEST(added.skipped == 1u);
  added = w.add(batch({{2, 7, 0}}), now);
  BOOST_TEST(added.counted == 1u);
  auto req = w.begin_flush();
  BOOST_TEST(req.from_seq == 5);
  BOOST_TEST(req.to_seq == 7);
  BOOST_TEST(req.count == 2);
  BOOST_TEST(req.count == req.to_seq - req.from_seq);
}

BOOST_AUTO_TEST_CASE(a_missing_sequence_stops_counting_at_the_gap) {
  window_state w{1, 1000, 1s};
  w.reset(0, 10);
  auto added = w.add(batch({{0, 11, 0}, {1, 13, 0}, {2, 14, 0}}), clock_type::now());
  BOOST_TEST(added.counted == 1u);
  BOOST_TEST(added.gap);
  BOOST_TEST(added.gap_seq == 13);
  BOOST_TEST(w.seq() == 11);
  BOOST_TEST(w.next_offset() == 3); // the resync covers the rest of the batch
}

BOOST_AUTO_TEST_CASE(flush_is_due_at_max_records_or_max_delay) {
  window_state w{1, 3, 1s};
  w.reset(0, 0);
  auto t0 = clock_type::now();
  w.add(batch({{0, 1, 0}, {1, 2, 0}}), t0);
  BOOST_TEST(!w.due(t0));
  BOOST_TEST(!w.due(t0 + 999ms));
  BOOST_TEST(w.due(t0 + 1s));
  w.add(batch({{2, 3, 0}}), t0);
  BOOST_TEST(w.due(t0));
}

BOOST_AUTO_TEST_CASE(one_flush_in_flight_and_a_failed_one_is_merged_back) {
  window_state w{1, 1000, 1s};
  w.reset(0, 0);
  auto t0 = clock_type::now();
  w.add(batch({{0, 1, 0}, {1, 2, 60'000}}), t0);
  auto first = w.begin_flush();
  BOOST_TEST(w.in_flight());
  BOOST_TEST(!w.due(t0 + 10s));
  w.add(batch({{2, 3, 60'000}}), t0);
  w.flush_failed();
  BOOST_TEST(!w.in_flight());
  BOOST_TEST(w.due(t0));
  auto retry = w.begin_flush();
  BOOST_TEST(retry.from_seq == first.from_seq);
  BOOST_TEST(retry.to_seq == 3);
  BOOST_TEST(retry.count == 3);
  BOOST_TEST(minute_delta(retry, 1) == 2);
  BOOST_TEST(minute_delta(retry, 0) == 1);
  w.flush_done();
  BOOST_TEST(!w.dirty());
}

BOOST_AUTO_TEST_CASE(an_idle_partition_flushes_an_empty_write) {
  window_state w{1, 1000, 1s};
  w.reset(40, 9);
  BOOST_TEST(!w.dirty());
  auto req = w.begin_flush();
  BOOST_TEST(req.from_seq == 9);
  BOOST_TEST(req.to_seq == 9);
  BOOST_TEST(req.count == 0);
  BOOST_TEST(req.next_offset == 40);
}

BOOST_AUTO_TEST_CASE(drop_all_forgets_every_delta) {
  window_state w{1, 1000, 1s};
  w.reset(0, 0);
  w.add(batch({{0, 1, 0}}), clock_type::now());
  w.begin_flush();
  w.add(batch({{1, 2, 0}}), clock_type::now());
  w.drop_all();
  BOOST_TEST(!w.in_flight());
  BOOST_TEST(w.pending_records() == 0u);
}
