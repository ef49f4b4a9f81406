// The count reader, deterministically (CAF's test coordinator), against a
// fake cache reader and a fake persistence facade behind their typed
// interfaces: exact sums of snapshot and tail, the fallbacks, and how
// concurrent requests share one read.
#define BOOST_TEST_MODULE count_reader
#include <boost/test/unit_test.hpp>

#include <optional>

#include <caf/all.hpp>

#include "actors/common/errors.hpp"
#include "actors/counts/count_reader.hpp"
#include "tests/support/coordinator.hpp"

using namespace ping;
using namespace std::chrono_literals;

namespace {

constexpr int64_t minute_ms = 60'000;

struct world {
  cache::snapshot snap;          // what the cache answers (ranges filled per ask)
  std::map<int64_t, int64_t> buckets; // minute -> count in the cache
  persistence::tail_counts tail; // what the tail query answers
  int64_t pg_count = 0;          // what count(*) answers
  bool hold_snapshots = false;
  int snapshots = 0, tails = 0, pg_counts = 0, pg_minutes = 0;
  std::vector<std::vector<time_range>> asked;
  std::vector<std::vector<int64_t>> tail_seqs;
  std::vector<caf::typed_response_promise<cache::snapshot>> held;
  std::vector<cache::snapshot> held_values;
};

using fake_cache_actor = cache::reader_actor::extend<caf::reacts_to<resume_atom>>;

cache::snapshot answer(world& w, const std::vector<time_range>& ranges) {
  auto s = w.snap;
  s.ranges.clear();
  for (auto& r : ranges) {
    cache::range_view v;
    if (s.usable && r.start_ms % minute_ms == 0 && r.end_ms % minute_ms == 0
        && r.start_ms / minute_ms >= s.floor_minute) {
      v.covered = true;
      for (auto m = r.start_ms / minute_ms; m < r.end_ms / minute_ms; ++m)
        v.buckets.push_back(w.buckets.count(m) ? w.buckets[m] : 0);
    }
    s.ranges.push_back(v);
  }
  return s;
}

fake_cache_actor::behavior_type fake_cache(fake_cache_actor::pointer self,
                                           std::shared_ptr<world> w) {
  return {
    [=](snapshot_atom, const std::vector<time_range>& ranges) -> caf::result<cache::snapshot> {
      w->snapshots++;
      w->asked.push_back(ranges);
      if (w->hold_snapshots) {
        auto rp = self->make_response_promise<cache::snapshot>();
        w->held.push_back(rp);
        w->held_values.push_back(answer(*w, ranges));
        return rp;
      }
      return answer(*w, ranges);
    },
    [=](resume_atom) {
      for (size_t i = 0; i < w->held.size(); ++i)
        w->held[i].deliver(w->held_values[i]);
      w->held.clear();
      w->held_values.clear();
    },
  };
}

persistence::persistence_actor::behavior_type fake_store(std::shared_ptr<world> w) {
  return {
    [=](store_atom, ping_row&) { return int64_t{1}; },
    [=](count_atom, time_range) {
      w->pg_counts++;
      return w->pg_count;
    },
    [=](tail_atom, std::vector<int64_t> seqs, bool) {
      w->tails++;
      w->tail_seqs.push_back(seqs);
      return w->tail;
    },
    [=](minutes_atom, int64_t, int32_t n) {
      w->pg_minutes++;
      return std::vector<int64_t>(static_cast<size_t>(n), 1);
    },
    [](heads_atom) { // not used by the count reader
      return std::vector<persistence::outbox_position>{};
    },
  };
}

struct fixture : test::coordinator_fixture {
  telemetry::registry reg;
  std::shared_ptr<world> w = std::make_shared<world>();
  caf::actor cache;
  counts::counts_actor counts;

  fixture() {
    auto c = sys->spawn(fake_cache, w);
    cache = caf::actor_cast<caf::actor>(c);
    auto store = sys->spawn(fake_store, w);
    counts::settings s;
    s.max_waiting = 16;
    counts = counts::spawn_count_reader(*sys, s, caf::actor_cast<cache::reader_actor>(c),
                                        store, reg);
    // A caught-up, usable cache by default.
    w->snap.usable = true;
    w->snap.seqs = {10, 20, 30};
    w->snap.total = 60;
    w->snap.floor_minute = 0;
  }

  ~fixture() {
    caf::anon_send_exit(counts, caf::exit_reason::user_shutdown);
    drain();
  }

  using count_handle = decltype(std::declval<caf::scoped_actor&>()->request(
    std::declval<counts::counts_actor&>(), caf::infinite, count_atom::value, time_range{}));

  count_handle ask(time_range r) {
    return (*self)->request(counts, caf::infinite, count_atom::value, r);
  }

  caf::expected<count_result> result(count_handle& h) {
    caf::expected<count_result> out{caf::make_error(caf::sec::request_timeout)};
    h.receive([&](count_result& r) { out = r; }, [&](caf::error& e) { out = e; });
    return out;
  }

  caf::expected<count_result> count(time_range r) {
    auto h = ask(r);
    drain();
    return result(h);
  }
};

time_range minutes(int64_t a, int64_t b) {
  return {true, a * minute_ms, b * minute_ms};
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(count_reader_suite, fixture)

BOOST_AUTO_TEST_CASE(total_is_the_cache_plus_the_tail) {
  w->tail.total = 7;
  auto r = count({});
  BOOST_REQUIRE(r);
  BOOST_TEST(r->count == 67);
  BOOST_TEST(r->source == "cache");
  // The tail is asked above exactly the snapshot's sequences.
  BOOST_REQUIRE(w->tail_seqs.size() == 1u);
  BOOST_TEST((w->tail_seqs[0] == std::vector<int64_t>{10, 20, 30}));
  BOOST_TEST(w->pg_counts == 0);
}

BOOST_AUTO_TEST_CASE(aligned_ranges_add_the_tail_minute_by_minute) {
  w->buckets = {{100, 5}, {101, 6}, {102, 7}};
  w->tail.total = 4;
  w->tail.minutes = {{101, 1}, {102, 2}, {250, 1}}; // one outside the range
  auto r = count(minutes(100, 103));
  BOOST_REQUIRE(r);
  BOOST_TEST(r->count == 5 + 6 + 7 + 1 + 2);
  BOOST_TEST(w->pg_counts == 0);
  // And per minute, for the console.
  auto h = (*self)->request(counts, caf::infinite, minutes_atom::value, int64_t{100}, 3);
  drain();
  h.receive(
    [](counts::minute_counts& m) {
      BOOST_TEST((m.counts == std::vector<int64_t>{5, 7, 9}));
      BOOST_TEST(m.source == "cache");
    },
    [](caf::error& e) { BOOST_FAIL(caf::to_string(e)); });
}

BOOST_AUTO_TEST_CASE(an_unusable_cache_falls_back_to_postgres) {
  w->snap.usable = false;
  w->snap.why = "partition 1 has no state";
  w->pg_count = 99;
  auto r = count({});
  BOOST_REQUIRE(r);
  BOOST_TEST(r->count == 99);
  BOOST_TEST(r->source == "postgres");
  BOOST_TEST(w->tails == 0);
  BOOST_TEST(reg.counter_at("counts_answered_total", {{"source", "postgres"}}).load() == 1u);
}

// A cache that claims sequences PostgreSQL does not hold (say, after a
// PostgreSQL failover that lost commits) cannot be made exact.
BOOST_AUTO_TEST_CASE(a_cache_ahead_of_postgres_falls_back) {
  w->tail.consistent = false;
  w->pg_count = 50;
  auto r = count({});
  BOOST_REQUIRE(r);
  BOOST_TEST(r->count == 50);
  BOOST_TEST(r->source == "postgres");
}

BOOST_AUTO_TEST_CASE(ranges_not_in_buckets_are_counted_in_postgres_alone) {
  w->pg_count = 3;
  w->snap.floor_minute = 200;
  auto unaligned = count({true, 100 * minute_ms + 1, 101 * minute_ms});
  auto below_floor = count(minutes(100, 101));
  BOOST_REQUIRE(unaligned);
  BOOST_REQUIRE(below_floor);
  BOOST_TEST(unaligned->count == 3);
  BOOST_TEST(below_floor->source == "postgres");
  BOOST_TEST(w->pg_counts == 2);
}

BOOST_AUTO_TEST_CASE(empty_ranges_need_no_read) {
  auto r = count({true, 5, 5});
  BOOST_REQUIRE(r);
  BOOST_TEST(r->count == 0);
  BOOST_TEST(w->snapshots == 0);
}

// Concurrent requests share the work: while one read is in flight, every
// request that arrives waits for the next read, which answers all of them.
BOOST_AUTO_TEST_CASE(concurrent_counts_share_one_read) {
  w->hold_snapshots = true;
  auto first = ask({});
  drain(); // the first read is in flight, its snapshot held
  BOOST_REQUIRE(w->snapshots == 1);
  std::vector<count_handle> later;
  for (int i = 0; i < 10; ++i)
    later.push_back(ask(i % 2 ? time_range{} : minutes(100, 101)));
  drain();
  BOOST_TEST(w->snapshots == 1); // they wait; nothing else was read
  w->hold_snapshots = false;
  (*self)->send(cache, resume_atom::value);
  drain();
  BOOST_TEST(result(first)->count == 60);
  for (auto& h : later)
    BOOST_TEST(static_cast<bool>(result(h)));
  BOOST_TEST(w->snapshots == 2); // one more read for all ten
  BOOST_TEST(w->tails == 2);
  BOOST_TEST(w->asked[1].size() == 1u); // the range, asked once
  BOOST_TEST(w->pg_counts == 0);
}

BOOST_AUTO_TEST_CASE(waiting_requests_are_bounded) {
  w->hold_snapshots = true;
  auto first = ask({});
  drain();
  std::vector<count_handle> later;
  for (int i = 0; i < 16; ++i)
    later.push_back(ask({}));
  drain();
  auto refused = count({});
  BOOST_REQUIRE(!refused);
  BOOST_TEST((refused.error() == ping_errc::resource_exhausted));
  w->hold_snapshots = false;
  (*self)->send(cache, resume_atom::value);
  drain();
  BOOST_TEST(static_cast<bool>(result(first)));
  for (auto& h : later)
    BOOST_TEST(static_cast<bool>(result(h)));
}

BOOST_AUTO_TEST_SUITE_END()
