// The count reader, deterministically (CAF's test coordinator), against a
// fake cache reader and a fake persistence facade behind their typed
// interfaces: exact sums of snapshot and tail, the fallbacks, and how
// concurrent requests share one read.
#define BOOST_TEST_MODULE count_reader
#include <boost/test/unit_test.hpp>

#include <limits>
#include <optional>
#include <set>

#include <caf/all.hpp>
#include <caf/detail/scope_guard.hpp>

#include "actors/cache/range_plan.hpp"
#include "actors/common/errors.hpp"
#include "actors/counts/board.hpp"
#include "actors/counts/count_reader.hpp"
#include "tests/support/coordinator.hpp"

using namespace ping;
using namespace std::chrono_literals;

namespace {

constexpr int64_t minute_ms = 60'000;

struct world {
  cache::snapshot snap;                        // what the cache answers (ranges filled per ask)
  std::map<int64_t, int64_t> buckets;          // minute -> count in the cache
  persistence::tail_counts tail;               // what the tail query answers
  int64_t pg_count = 0;                        // what count(*) answers (unless pg_rows)
  std::optional<std::vector<int64_t>> pg_rows; // timestamps PostgreSQL holds
  int64_t limit = std::numeric_limits<int64_t>::max(); // the cache's ceiling + 1
  bool hold_counts = false;
  std::vector<time_range> pg_ranges; // asked of count(*)
  std::vector<std::pair<caf::typed_response_promise<int64_t>, int64_t>> held_counts;
  bool hold_snapshots = false;
  // When set, read n's tail (the n-th tail query) holds n pings in minute
  // 100 and 100 * n pings in all: every read answers its own value, so a
  // test can tell which read answered a request.
  bool tail_per_read = false;
  int snapshots = 0, tails = 0, pg_counts = 0, pg_minutes = 0;
  // Shared reads (one statement: the tail and the ranges PostgreSQL
  // counts); `pg_counts` and `pg_ranges` count the ranges they held.
  int statements = 0;
  std::vector<int64_t> edge_hints; // the edge hint of each shared read
  bool hold_reads = false;
  std::vector<std::pair<std::vector<int64_t>, std::vector<time_range>>> reads; // seqs, ranges
  std::vector<
    std::pair<caf::typed_response_promise<persistence::read_counts>, persistence::read_counts>>
    held_reads;
  std::vector<std::vector<time_range>> asked; // summed
  std::vector<std::vector<time_range>> asked_minutes;
  std::vector<std::vector<int64_t>> tail_seqs;
  std::vector<caf::typed_response_promise<cache::snapshot>> held;
  std::vector<cache::snapshot> held_values;
};

using fake_cache_actor = cache::reader_actor::extend<caf::reacts_to<resume_atom>>;

cache::snapshot answer(world& w, const std::vector<time_range>& ranges,
                       const std::vector<time_range>& sums = {}) {
  auto s = w.snap;
  s.ranges.clear();
  s.sums.clear();
  for (auto& r : sums) {
    cache::range_sum v;
    if (s.usable) {
      auto span = cache::cached_span(r, {s.floor_minute, w.limit, true}, 32 * 1440);
      v.first_minute = span.lo;
      v.end_minute = span.hi;
      for (auto m = span.lo; m < span.hi; ++m)
        v.count += w.buckets.count(m) ? w.buckets[m] : 0;
      // As the cache reader: the most pings of an edge minute it holds.
      v.edge_pings = 0;
      for (auto m : cache::edge_minutes(r))
        v.edge_pings = v.edge_pings < 0 || m < s.floor_minute || m + 1 > w.limit
                         ? -1
                         : std::max(v.edge_pings, w.buckets.count(m) ? w.buckets[m] : 0);
    }
    s.sums.push_back(v);
  }
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
    [=](snapshot_atom, const std::vector<time_range>& ranges,
        const std::vector<time_range>& sums) -> caf::result<cache::snapshot> {
      w->snapshots++;
      w->asked.push_back(sums);
      w->asked_minutes.push_back(ranges);
      if (w->hold_snapshots) {
        auto rp = self->make_response_promise<cache::snapshot>();
        w->held.push_back(rp);
        w->held_values.push_back(answer(*w, ranges, sums));
        return rp;
      }
      return answer(*w, ranges, sums);
    },
    [=](snapshot_atom, const std::vector<time_range>&) -> caf::result<cache::snapshot> {
      BOOST_FAIL("the count reader asks summed ranges too");
      return cache::snapshot{};
    },
    [=](resume_atom) {
      for (size_t i = 0; i < w->held.size(); ++i)
        w->held[i].deliver(w->held_values[i]);
      w->held.clear();
      w->held_values.clear();
    },
  };
}

using fake_store_actor = persistence::persistence_actor::extend<caf::reacts_to<resume_atom>>;

fake_store_actor::behavior_type fake_store(fake_store_actor::pointer self,
                                           std::shared_ptr<world> w) {
  return {
    [=](store_atom, ping_row&) { return int64_t{1}; },
    [=](store_atom, std::vector<ping_row>& rows) { return std::vector<caf::error>(rows.size()); },
    [=](count_atom, time_range r) -> caf::result<int64_t> {
      w->pg_counts++;
      w->pg_ranges.push_back(r);
      auto n = w->pg_count;
      if (w->pg_rows) {
        n = 0;
        for (auto t : *w->pg_rows)
          n += r.bounded ? (t >= r.start_ms && t < r.end_ms) : 1;
      }
      if (w->hold_counts) {
        auto rp = self->make_response_promise<int64_t>();
        w->held_counts.emplace_back(rp, n);
        return rp;
      }
      return n;
    },
    [=](tail_atom, std::vector<int64_t> seqs, bool) {
      w->tails++;
      w->tail_seqs.push_back(seqs);
      if (w->tail_per_read) {
        persistence::tail_counts t;
        int64_t n = w->tails;
        t.total = 100 * n;
        t.minutes = {{100, n}, {5000, 100 * n - n}};
        return t;
      }
      return w->tail;
    },
    [=](tail_atom, std::vector<int64_t> seqs, bool, std::vector<time_range> ranges,
        int64_t edge_pings) -> caf::result<persistence::read_counts> {
      w->statements++;
      w->edge_hints.push_back(edge_pings);
      w->reads.emplace_back(seqs, ranges);
      persistence::read_counts rc;
      if (!seqs.empty()) {
        w->tails++;
        w->tail_seqs.push_back(seqs);
        rc.tail = w->tail;
        if (w->tail_per_read) {
          int64_t n = w->tails;
          rc.tail.total = 100 * n;
          rc.tail.minutes = {{100, n}, {5000, 100 * n - n}};
        }
      }
      for (auto& r : ranges) {
        w->pg_counts++;
        w->pg_ranges.push_back(r);
        auto n = w->pg_count;
        if (w->pg_rows) {
          n = 0;
          for (auto t : *w->pg_rows)
            n += r.bounded ? (t >= r.start_ms && t < r.end_ms) : 1;
        }
        rc.ranges.push_back(n);
      }
      if (w->hold_reads) {
        auto rp = self->make_response_promise<persistence::read_counts>();
        w->held_reads.emplace_back(rp, rc);
        return rp;
      }
      return rc;
    },
    [=](minutes_atom, int64_t, int32_t n) {
      w->pg_minutes++;
      return std::vector<int64_t>(static_cast<size_t>(n), 1);
    },
    [](heads_atom) { // not used by the count reader
      return std::vector<persistence::outbox_position>{};
    },
    [=](resume_atom) {
      auto held = std::move(w->held_counts);
      w->held_counts.clear();
      for (auto& [rp, n] : held)
        rp.deliver(n);
      auto reads = std::move(w->held_reads);
      w->held_reads.clear();
      for (auto& [rp, rc] : reads)
        rp.deliver(rc);
    },
  };
}

struct fixture : test::coordinator_fixture {
  telemetry::registry reg;
  std::shared_ptr<world> w = std::make_shared<world>();
  caf::actor cache;
  caf::actor store;
  counts::counts_actor counts;
  // Where rounds are published (PingCount {} on a front-end's thread), and
  // how often it woke its listener.
  std::shared_ptr<counts::count_board> board = std::make_shared<counts::count_board>();
  int wakes = 0;

  fixture() {
    auto c = sys->spawn(fake_cache, w);
    cache = caf::actor_cast<caf::actor>(c);
    auto st = sys->spawn(fake_store, w);
    store = caf::actor_cast<caf::actor>(st);
    counts::settings s;
    s.max_waiting = 16;
    s.max_fallbacks = 4;
    s.max_ranges_per_read = 8;
    s.max_reads = 1;            // the cases below are one read at a time; two: the last cases
    s.totals_snapshot_age = 0s; // a snapshot per read; taking the last one: its own cases
    s.round_gap = 0s;           // rounds at once; the gap: its own cases
    s.board = board;
    board->listen([this] { ++wakes; });
    counts = counts::spawn_count_reader(*sys, s, caf::actor_cast<cache::reader_actor>(c),
                                        caf::actor_cast<persistence::persistence_actor>(st), reg);
    // A caught-up, usable cache by default.
    w->snap.usable = true;
    w->snap.seqs = {10, 20, 30};
    w->snap.total = 60;
    w->snap.floor_minute = 0;
  }

  ~fixture() {
    caf::anon_send_exit(counts, caf::exit_reason::user_shutdown);
    drain();
    // Promises still held would keep the fakes (their owners) alive.
    w->held.clear();
    w->held_reads.clear();
    w->held_counts.clear();
  }

  // Another count reader on the same fakes, with settings of its own.
  counts::counts_actor spawn_reader(const counts::settings& s) {
    return counts::spawn_count_reader(*sys, s, caf::actor_cast<cache::reader_actor>(cache),
                                      caf::actor_cast<persistence::persistence_actor>(store), reg);
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

  using batch_handle = decltype(std::declval<caf::scoped_actor&>()->request(
    std::declval<counts::counts_actor&>(), caf::infinite, count_atom::value,
    std::vector<time_range>{}));

  batch_handle ask_all(std::vector<time_range> rs) {
    return (*self)->request(counts, caf::infinite, count_atom::value, std::move(rs));
  }

  // The one answer to a batch (none: empty, and the test fails).
  std::vector<counts::count_outcome> outcomes(batch_handle& h) {
    std::vector<counts::count_outcome> out;
    h.receive([&](std::vector<counts::count_outcome>& xs) { out = std::move(xs); },
              [&](caf::error& e) { BOOST_FAIL(caf::to_string(e)); });
    return out;
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
  // The console's minutes cost the minutes shown: no PostgreSQL GROUP BY.
  BOOST_TEST(w->pg_minutes == 0);
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
// Each read answers its own value (read n: a tail of 100 * n pings, n of
// them in minute 100), so the answers say which read they came from: a
// request that arrived during read 1 must not get read 1's (older) answer.
BOOST_AUTO_TEST_CASE(concurrent_counts_share_one_read) {
  w->tail_per_read = true;
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
  auto first_answer = result(first);
  BOOST_REQUIRE(first_answer);
  BOOST_TEST(first_answer->count == 60 + 100); // read 1
  for (int i = 0; i < 10; ++i) {
    auto r = result(later[static_cast<size_t>(i)]);
    BOOST_REQUIRE(r);
    if (i % 2)
      BOOST_TEST(r->count == 60 + 200, "request " << i << " total"); // read 2's total
    else
      BOOST_TEST(r->count == 0 + 2, "request " << i << " minute 100"); // read 2's minute 100
  }
  BOOST_TEST(w->snapshots == 2); // one more read for all ten
  BOOST_TEST(w->tails == 2);
  BOOST_TEST(w->asked[1].size() == 1u); // the range, asked once
  BOOST_TEST(w->pg_counts == 0);
}

BOOST_AUTO_TEST_CASE(waiting_requests_are_bounded) {
  w->tail_per_read = true;
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
  auto first_answer = result(first);
  BOOST_REQUIRE(first_answer);
  BOOST_TEST(first_answer->count == 60 + 100); // read 1
  for (auto& h : later) {
    auto r = result(h);
    BOOST_REQUIRE(r);
    BOOST_TEST(r->count == 60 + 200); // all sixteen from read 2
  }
  BOOST_TEST(w->snapshots == 2);
  BOOST_TEST(w->tails == 2);
}

// Issue 17, items 2 and 6: an unaligned range is its cached span (buckets
// plus the tail in the span) and its two partial edge minutes, counted in
// PostgreSQL over their sub-minute intervals only. Before, PostgreSQL
// counted the whole range.
BOOST_AUTO_TEST_CASE(unaligned_ranges_count_only_their_edge_minutes_in_postgres) {
  w->buckets = {{100, 5}, {101, 6}, {102, 7}};
  w->tail.minutes = {{99, 4}, {100, 1}, {102, 2}, {103, 8}}; // 99 and 103: edges
  w->tail.total = 15;
  // PostgreSQL holds, in the edge minutes, rows inside and outside the range.
  w->pg_rows = std::vector<int64_t>{99 * minute_ms + 10'000, 99 * minute_ms + 40'000,
                                    99 * minute_ms + 50'000, 103 * minute_ms + 5'000,
                                    103 * minute_ms + 20'000};
  time_range r{true, 99 * minute_ms + 30'000, 103 * minute_ms + 15'000};
  auto got = count(r);
  BOOST_REQUIRE(got);
  BOOST_TEST(got->count == (5 + 6 + 7) + (1 + 2) + 2 + 1);
  BOOST_TEST(got->source == "cache");
  BOOST_REQUIRE(w->pg_ranges.size() == 2u);
  BOOST_TEST((w->pg_ranges[0] == time_range{true, r.start_ms, 100 * minute_ms}));
  BOOST_TEST((w->pg_ranges[1] == time_range{true, 103 * minute_ms, r.end_ms}));
  BOOST_TEST(w->tails == 1);
}

// PostgreSQL is told the most pings the cache holds in an edge minute of
// the read (how to count the edges, sql::read), -1 when an edge minute is
// not in the cache; ranges on whole minutes have none.
BOOST_AUTO_TEST_CASE(a_read_tells_postgres_how_full_its_edge_minutes_are) {
  w->snap.floor_minute = 90;
  w->buckets = {{95, 700}, {96, 3}, {100, 40}, {101, 6}};
  auto read_hint = [&](std::vector<time_range> ranges) {
    w->hold_snapshots = true;
    std::vector<count_handle> hs;
    for (auto& r : ranges)
      hs.push_back(ask(r));
    drain();
    w->hold_snapshots = false;
    (*self)->send(cache, resume_atom::value);
    drain();
    for (auto& h : hs)
      BOOST_REQUIRE(result(h));
    BOOST_REQUIRE(!w->edge_hints.empty());
    return w->edge_hints.back();
  };
  BOOST_TEST(read_hint({minutes(96, 101)}) == 0);
  BOOST_TEST(read_hint({{true, 100 * minute_ms + 5, 101 * minute_ms + 5}}) == 40);
  BOOST_TEST(read_hint({{true, 100 * minute_ms + 5, 101 * minute_ms + 5},
                        {true, 94 * minute_ms, 95 * minute_ms + 1}})
             == 700);
  BOOST_TEST(read_hint({{true, 100 * minute_ms + 5, 101 * minute_ms + 5},
                        {true, 80 * minute_ms + 1, 96 * minute_ms}})
             == -1); // minute 80 is below the floor
}

// A range that starts below the cache's floor: that part (with its edge)
// is PostgreSQL's, the rest comes from the buckets.
BOOST_AUTO_TEST_CASE(the_part_below_the_floor_goes_to_postgres) {
  w->snap.floor_minute = 101;
  w->buckets = {{100, 50}, {101, 6}, {102, 7}};
  w->pg_rows = std::vector<int64_t>{90 * minute_ms, 100 * minute_ms + 1, 101 * minute_ms};
  auto got = count(minutes(95, 103));
  BOOST_REQUIRE(got);
  BOOST_TEST(got->count == 1 + 6 + 7); // 90 is before the range
  BOOST_REQUIRE(w->pg_ranges.size() == 1u);
  BOOST_TEST((w->pg_ranges[0] == minutes(95, 101)));
}

// Issue 17, item 7: buckets past the cache's ceiling are incomplete; the
// part of a range beyond it goes to PostgreSQL, the part before it is
// still served by the cache.
BOOST_AUTO_TEST_CASE(the_part_past_the_ceiling_goes_to_postgres) {
  w->limit = 102;
  w->buckets = {{100, 5}, {101, 6}, {102, 1000}};
  w->pg_rows = std::vector<int64_t>{102 * minute_ms + 1, 500 * minute_ms};
  auto got = count(minutes(100, 1000));
  BOOST_REQUIRE(got);
  BOOST_TEST(got->count == 5 + 6 + 2);
  BOOST_REQUIRE(w->pg_ranges.size() == 1u);
  BOOST_TEST((w->pg_ranges[0] == minutes(102, 1000)));
}

// Shared reads: the edge minutes of every range of a read are counted by
// one statement, the same one that reads the tail. Before, each part was
// its own count (6 ranges: 12 counts, at most 4 in flight; the edge test
// that asserted it, edge_counts_queue_for_a_bounded_number_of_postgres_slots,
// measured pg_counts == 12 and two reads).
BOOST_AUTO_TEST_CASE(n_concurrent_counts_cost_one_statement) {
  w->buckets = {{100, 1}, {101, 1}};
  w->tail.minutes = {{100, 1}};
  w->tail.total = 1;
  w->pg_rows = std::vector<int64_t>{};
  for (int i = 0; i < 6; ++i)
    w->pg_rows->push_back(99 * minute_ms + 59'000 - i); // left edges
  // A read in flight; N requests arrive meanwhile.
  w->hold_snapshots = true;
  auto first = ask({});
  drain();
  std::vector<count_handle> hs;
  for (int i = 0; i < 6; ++i)
    hs.push_back(ask({true, 99 * minute_ms + 59'000 - i, 102 * minute_ms + 1}));
  for (int i = 0; i < 6; ++i)
    hs.push_back(ask({})); // totals share it too
  drain();
  w->hold_snapshots = false;
  (*self)->send(cache, resume_atom::value);
  drain();
  BOOST_TEST(static_cast<bool>(result(first)));
  for (int i = 0; i < 6; ++i) {
    auto r = result(hs[static_cast<size_t>(i)]);
    BOOST_REQUIRE(r);
    BOOST_TEST(r->count == 2 + 1 + (i + 1)); // buckets, tail, left edge (right edge: none)
    BOOST_TEST(r->source == "cache");
  }
  for (int i = 6; i < 12; ++i) {
    auto r = result(hs[static_cast<size_t>(i)]);
    BOOST_REQUIRE(r);
    BOOST_TEST(r->count == 60 + 1);
  }
  BOOST_TEST(w->snapshots == 2);
  BOOST_TEST(w->statements == 2); // the first read's, and one for all N
  // The edges (6 left, one right shared by all) came with the tail, above
  // the snapshot's sequences: one PostgreSQL snapshot for every part.
  BOOST_REQUIRE(w->reads.size() == 2u);
  BOOST_TEST((w->reads[1].first == std::vector<int64_t>{10, 20, 30}));
  BOOST_TEST(w->reads[1].second.size() == 7u);
}

// Read-your-writes: a request that arrives while a read's statement is in
// flight is not answered from it (that statement's snapshot may predate the
// request's acknowledged pings); it waits for the next read, whose snapshot
// and statement start after it arrived.
BOOST_AUTO_TEST_CASE(a_request_arriving_during_the_statement_waits_for_the_next) {
  w->tail_per_read = true;
  w->hold_reads = true;
  auto first = ask({});
  drain(); // snapshot answered, statement held
  BOOST_REQUIRE(w->snapshots == 1);
  BOOST_REQUIRE(w->held_reads.size() == 1u);
  std::vector<count_handle> later;
  for (int i = 0; i < 5; ++i)
    later.push_back(ask({}));
  later.push_back(ask({true, 100 * minute_ms + 5, 101 * minute_ms}));
  drain();
  BOOST_TEST(w->snapshots == 1); // nothing else was read meanwhile
  BOOST_TEST(w->statements == 1);
  w->hold_reads = false;
  (*self)->send(store, resume_atom::value);
  drain();
  auto first_answer = result(first);
  BOOST_REQUIRE(first_answer);
  BOOST_TEST(first_answer->count == 60 + 100); // read 1
  for (size_t i = 0; i < 5; ++i) {
    auto r = result(later[i]);
    BOOST_REQUIRE(r);
    BOOST_TEST(r->count == 60 + 200, "request " << i); // read 2, not read 1
  }
  BOOST_TEST(static_cast<bool>(result(later[5])));
  BOOST_TEST(w->snapshots == 2);
  BOOST_TEST(w->statements == 2); // one more for all six
  BOOST_REQUIRE(w->reads.size() == 2u);
  BOOST_TEST(w->reads[0].second.empty());
  BOOST_TEST(w->reads[1].second.size() == 1u); // the unaligned range, with read 2's tail
}

// A part PostgreSQL cannot count exactly (an edge minute whose raw rows
// retention dropped) answers failed_precondition, never a wrong number.
BOOST_AUTO_TEST_CASE(an_edge_in_dropped_raw_rows_is_a_failed_precondition) {
  w->pg_count = -1;
  auto r = count({true, 100 * minute_ms + 5, 102 * minute_ms});
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error() == ping_errc::failed_precondition));
  auto total = count({}); // the total is unaffected
  BOOST_REQUIRE(total);
}

// The cache cannot answer: every range and the total of the read are
// counted by one statement with no snapshot sequences.
BOOST_AUTO_TEST_CASE(a_fallback_read_is_one_statement_too) {
  w->snap.usable = false;
  w->snap.why = "cold";
  w->pg_count = 9;
  w->hold_snapshots = true;
  auto first = ask({});
  drain();
  std::vector<count_handle> hs;
  for (int i = 0; i < 4; ++i)
    hs.push_back(ask(i % 2 ? time_range{} : minutes(100 + i, 200)));
  drain();
  w->hold_snapshots = false;
  (*self)->send(cache, resume_atom::value);
  drain();
  BOOST_TEST(static_cast<bool>(result(first)));
  for (auto& h : hs) {
    auto r = result(h);
    BOOST_REQUIRE(r);
    BOOST_TEST(r->count == 9);
    BOOST_TEST(r->source == "postgres");
  }
  BOOST_TEST(w->statements == 2); // the first read's, and one for the other four
  BOOST_REQUIRE(w->reads.size() == 2u);
  BOOST_TEST(w->reads[1].first.empty());
  BOOST_TEST(w->reads[1].second.size() == 3u); // two ranges and the total, each once
}

// Item 6: many concurrent long ranges share reads; each read asks the cache
// for at most max_ranges_per_read (8 here) distinct ranges, each once, so
// the buckets one read fetches stay bounded; the others wait for the next.
BOOST_AUTO_TEST_CASE(week_long_ranges_share_reads_of_a_bounded_size) {
  w->hold_snapshots = true;
  auto first = ask({});
  drain();
  std::vector<count_handle> hs;
  // The fixture allows 16 waiting; the shared read is what matters here.
  for (int i = 0; i < 15; ++i)
    hs.push_back(ask(minutes(1000 + i * 37, 1000 + i * 37 + 7 * 1440)));
  drain();
  w->hold_snapshots = false;
  (*self)->send(cache, resume_atom::value);
  drain();
  BOOST_TEST(static_cast<bool>(result(first)));
  for (auto& h : hs) {
    auto r = result(h);
    BOOST_REQUIRE(r);
    BOOST_TEST(r->source == "cache");
  }
  BOOST_TEST(w->snapshots == 3);
  BOOST_TEST(w->tails == 3);
  BOOST_REQUIRE(w->asked.size() == 3u);
  BOOST_TEST(w->asked[1].size() == 8u);
  BOOST_TEST(w->asked[2].size() == 7u);
  BOOST_TEST(w->pg_counts == 0);
}

// A cache that never answers: the read gives up on it at snapshot_timeout
// (200 ms), no sooner, and PostgreSQL counts the read alone.
BOOST_AUTO_TEST_CASE(a_silent_cache_is_given_up_at_its_deadline) {
  w->hold_snapshots = true;
  w->pg_count = 9;
  auto h = ask({});
  drain();
  BOOST_REQUIRE(w->snapshots == 1);
  advance(150ms, 10ms);
  BOOST_TEST(w->statements == 0); // still waiting for the cache
  advance(50ms, 10ms);
  BOOST_REQUIRE(w->statements == 1); // 200 ms: PostgreSQL counts it
  BOOST_TEST(w->reads[0].first.empty());
  auto r = result(h);
  BOOST_REQUIRE(r);
  BOOST_TEST(r->count == 9);
  BOOST_TEST(r->source == "postgres");
  BOOST_TEST(reg.counter_at("counts_answered_total", {{"source", "postgres"}}).load() == 1u);
  // The cache answers again: so does the next read, from the cache.
  w->hold_snapshots = false;
  auto next = count({});
  BOOST_REQUIRE(next);
  BOOST_TEST(next->source == "cache");
}

// A wedged store: the tail statement gets no answer, so at tail_timeout
// (5 s) the read falls back to one counting statement; that one gets none
// either, and at fallback_timeout (5 s more) the callers get the timeout.
// Requests waiting meanwhile are answered by the next read.
BOOST_AUTO_TEST_CASE(a_wedged_store_fails_the_read_at_its_deadlines) {
  w->hold_reads = true;
  auto h = ask({});
  drain();
  BOOST_REQUIRE(w->statements == 1); // the tail, held
  auto later = ask({});
  drain();
  advance(4900ms, 100ms);
  BOOST_TEST(w->statements == 1);
  advance(100ms, 100ms);
  BOOST_REQUIRE(w->statements == 2); // 5 s: the fallback statement, held too
  BOOST_TEST(w->reads[1].first.empty());
  advance(4900ms, 100ms);
  BOOST_TEST(w->statements == 2);
  advance(100ms, 100ms);
  auto r = result(h);
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error() == caf::sec::request_timeout));
  // The next read (for `later`) started at once; the store answers again.
  BOOST_REQUIRE(w->statements == 3);
  w->hold_reads = false;
  (*self)->send(store, resume_atom::value);
  drain();
  auto l = result(later);
  BOOST_REQUIRE(l);
  BOOST_TEST(l->source == "cache");
}

// Issue 18: the count path's requests carry no CAF timeout each (in CAF
// 0.17 each one posts a timer to the clock thread and its answer posts the
// cancellation, both waking that thread). Ten reads one after the other,
// each with its snapshot and its statement out for a while: one timer,
// armed by the first read for its earliest deadline, covers them all.
BOOST_AUTO_TEST_CASE(reads_arm_one_timer_not_one_per_request) {
  w->tail_per_read = true;
  size_t request_timeouts = 0; // the most pending at once
  std::set<caf::actor_clock::time_point> dues;
  auto sample = [&] {
    auto t = pending_timers();
    request_timeouts = std::max(request_timeouts, t.request_timeouts);
    dues.insert(t.dues.begin(), t.dues.end());
  };
  for (int i = 1; i <= 10; ++i) {
    w->hold_snapshots = true;
    w->hold_reads = true;
    auto h = ask({});
    drain();
    sample(); // the snapshot out
    w->hold_snapshots = false;
    (*self)->send(cache, resume_atom::value);
    drain();
    sample(); // the statement out
    w->hold_reads = false;
    (*self)->send(store, resume_atom::value);
    drain();
    auto r = result(h);
    BOOST_REQUIRE(r);
    BOOST_TEST(r->count == 60 + 100 * i);
    advance(1ms, 1ms);
  }
  BOOST_TEST(request_timeouts == 0u);
  BOOST_TEST(dues.size() == 1u); // timers armed in all
  BOOST_TEST(pending_timers().all <= 1u);
}

// Issue 18: a batch of ranges (one front-end batch through the gateway) is
// one request and one answer: every range's outcome in order, from one
// shared read; an empty range is answered without it.
BOOST_AUTO_TEST_CASE(a_batch_of_ranges_is_answered_once_from_one_read) {
  w->buckets = {{100, 5}, {101, 6}, {102, 7}};
  w->tail.total = 7;
  w->tail.minutes = {{101, 1}};
  auto h
    = ask_all({{}, minutes(100, 103), {true, 5 * minute_ms, 5 * minute_ms}, minutes(100, 103)});
  drain();
  auto out = outcomes(h);
  BOOST_REQUIRE(out.size() == 4u);
  for (auto& o : out)
    BOOST_TEST(!o.err);
  BOOST_TEST(out[0].result.count == 67);
  BOOST_TEST(out[1].result.count == 5 + 6 + 7 + 1);
  BOOST_TEST(out[2].result.count == 0);
  BOOST_TEST(out[3].result.count == 5 + 6 + 7 + 1);
  // One read answered them all: one snapshot, one statement, one read id.
  BOOST_TEST(w->snapshots == 1);
  BOOST_TEST(w->statements == 1);
  BOOST_TEST(w->asked[0].size() == 1u); // the range asked once
  BOOST_TEST(out[0].result.read != 0u);
  BOOST_TEST(out[1].result.read == out[0].result.read);
  BOOST_TEST(out[3].result.read == out[0].result.read);
}

// The bound holds per range: the ranges of a batch beyond max_waiting are
// refused (resource_exhausted), in its one answer; the others are counted
// by the read that starts after the batch arrived (read-your-writes).
BOOST_AUTO_TEST_CASE(a_batch_beyond_the_bound_refuses_only_its_excess) {
  w->tail_per_read = true;
  w->hold_snapshots = true;
  auto first = ask({}); // read 1, in flight
  drain();
  auto h = ask_all(std::vector<time_range>(20, time_range{}));
  drain();
  w->hold_snapshots = false;
  (*self)->send(cache, resume_atom::value);
  drain();
  auto first_answer = result(first);
  BOOST_REQUIRE(first_answer);
  BOOST_TEST(first_answer->count == 60 + 100); // read 1
  auto out = outcomes(h);
  BOOST_REQUIRE(out.size() == 20u);
  for (size_t i = 0; i < 16; ++i) {
    BOOST_TEST(!out[i].err, "range " << i);
    BOOST_TEST(out[i].result.count == 60 + 200, "range " << i); // read 2, after the batch
  }
  for (size_t i = 16; i < 20; ++i)
    BOOST_TEST((out[i].err == ping_errc::resource_exhausted), "range " << i);
  BOOST_TEST(w->snapshots == 2);
}

// Rounds: PingCount {} parked on a front-end (count_parking, here with an
// int for the call) and answered from the count board.

using parking = counts::count_parking<int>;
using steady = std::chrono::steady_clock;

// Parks call `id` now (deadline in 5 s) and, as the front-end does through
// the gateway, asks the count reader for a round when the board says so.
parking::parked park(fixture& f, parking& p, int id, steady::time_point now = steady::now()) {
  auto r = p.park(id, now + 5s, now);
  if (r.ask)
    caf::anon_send(f.counts, count_atom::value);
  return r;
}

// A call that arrives while a round's statement runs is not answered by
// that round (its heads may predate the call's acknowledged pings), but
// by the next: the round's number is taken before its snapshot.
BOOST_AUTO_TEST_CASE(a_call_arriving_during_a_round_waits_for_the_next) {
  w->tail_per_read = true;
  w->hold_reads = true;
  parking p{board, 16};
  auto a = park(*this, p, 1);
  BOOST_TEST(a.ask);
  drain(); // round 1: snapshot answered, statement held
  BOOST_REQUIRE(w->held_reads.size() == 1u);
  BOOST_TEST(board->started() == 1u);
  auto b = park(*this, p, 2); // arrives during round 1
  BOOST_TEST(!b.ask);         // the reader starts round 2 itself after round 1
  drain();
  BOOST_TEST(w->statements == 1); // one read in flight
  (*self)->send(store, resume_atom::value);
  drain(); // round 1 published; round 2 starts (its statement held)
  BOOST_TEST(wakes == 1);
  auto due = p.take(steady::now());
  BOOST_REQUIRE(due.answered.size() == 1u); // a only: round 1 started before b arrived
  BOOST_TEST(due.answered[0].call == 1);
  BOOST_REQUIRE(due.answered[0].result);
  BOOST_TEST(due.answered[0].result->count == 60 + 100); // read 1
  BOOST_TEST(p.size() == 1u);
  w->hold_reads = false;
  (*self)->send(store, resume_atom::value);
  drain();
  BOOST_TEST(wakes == 2);
  due = p.take(steady::now());
  BOOST_REQUIRE(due.answered.size() == 1u);
  BOOST_TEST(due.answered[0].call == 2);
  BOOST_REQUIRE(due.answered[0].result);
  BOOST_TEST(due.answered[0].result->count == 60 + 200); // read 2, not read 1
  BOOST_TEST(due.answered[0].result->read == 2u);
  BOOST_TEST(w->statements == 2);
}

// Every call parked before a round started is answered by it: one ask,
// one snapshot, one statement, one wake-up for all of them.
BOOST_AUTO_TEST_CASE(one_round_answers_every_call_parked_before_it) {
  w->tail.total = 7;
  parking p{board, 16};
  int asks = 0;
  for (int i = 0; i < 5; ++i)
    asks += park(*this, p, i).ask;
  BOOST_TEST(asks == 1);
  drain();
  BOOST_TEST(w->snapshots == 1);
  BOOST_TEST(w->statements == 1);
  BOOST_TEST(wakes == 1);
  auto due = p.take(steady::now());
  BOOST_REQUIRE(due.answered.size() == 5u);
  for (auto& d : due.answered) {
    BOOST_REQUIRE(d.result);
    BOOST_TEST(d.result->count == 67);
    BOOST_TEST(d.result->source == "cache");
  }
  BOOST_TEST(p.size() == 0u);
  // Asks while a round is in flight are one waiting round.
  w->hold_reads = true;
  caf::anon_send(counts, count_atom::value);
  drain(); // round 2 in flight
  caf::anon_send(counts, count_atom::value);
  caf::anon_send(counts, count_atom::value);
  drain();
  w->hold_reads = false;
  (*self)->send(store, resume_atom::value);
  drain();
  BOOST_TEST(w->statements == 3); // round 2, then one round for both asks
}

// The parked calls are bounded; beyond, the front-end answers
// resource_exhausted at once.
BOOST_AUTO_TEST_CASE(parked_calls_are_bounded) {
  parking p{board, 2};
  BOOST_TEST(!park(*this, p, 1).busy);
  BOOST_TEST(!park(*this, p, 2).busy);
  BOOST_TEST(park(*this, p, 3).busy);
  BOOST_TEST(p.size() == 2u);
  drain();
  BOOST_TEST(p.take(steady::now()).answered.size() == 2u);
  BOOST_TEST(!park(*this, p, 4).busy); // room again
}

// A parked call that no round answers by its deadline is answered
// deadline_exceeded; the earliest deadline asks for a timer once.
BOOST_AUTO_TEST_CASE(a_parked_call_meets_its_deadline) {
  w->hold_snapshots = true; // the round never ends
  parking p{board, 16};
  auto now = steady::now();
  auto a = p.park(1, now + 100ms, now);
  BOOST_REQUIRE(a.wake_at);
  BOOST_TEST((*a.wake_at == now + 100ms));
  auto b = p.park(2, now + 200ms, now);
  BOOST_TEST(!b.wake_at); // a timer is already due earlier
  caf::anon_send(counts, count_atom::value);
  drain();
  BOOST_TEST(p.take(now + 50ms).answered.empty());
  auto due = p.take(now + 100ms);
  BOOST_REQUIRE(due.answered.size() == 1u);
  BOOST_TEST(due.answered[0].call == 1);
  BOOST_TEST(
    (!due.answered[0].result && due.answered[0].result.error() == ping_errc::deadline_exceeded));
  BOOST_TEST(!due.ask);       // the round in flight is not overdue
  BOOST_REQUIRE(due.wake_at); // the next timer: call 2's deadline
  BOOST_TEST((*due.wake_at == now + 200ms));
  due = p.take(now + 200ms);
  BOOST_REQUIRE(due.answered.size() == 1u);
  BOOST_TEST(due.answered[0].call == 2);
  BOOST_TEST(!due.wake_at);
}

// Cache down: the round is PostgreSQL's exact count; PostgreSQL down too:
// the round's error is the one a count request gets.
BOOST_AUTO_TEST_CASE(a_round_falls_back_and_fails_as_a_request_does) {
  w->snap.usable = false;
  w->snap.why = "cache unreachable";
  w->pg_count = 99;
  parking p{board, 16};
  park(*this, p, 1);
  drain();
  auto due = p.take(steady::now());
  BOOST_REQUIRE(due.answered.size() == 1u);
  BOOST_REQUIRE(due.answered[0].result);
  BOOST_TEST(due.answered[0].result->count == 99);
  BOOST_TEST(due.answered[0].result->source == "postgres");
  caf::anon_send_exit(store, caf::exit_reason::kill);
  drain();
  auto single = count({});
  BOOST_REQUIRE(!single);
  park(*this, p, 2);
  drain();
  due = p.take(steady::now());
  BOOST_REQUIRE(due.answered.size() == 1u);
  BOOST_REQUIRE(!due.answered[0].result);
  BOOST_TEST((due.answered[0].result.error() == single.error()));
}

// An ask that never reaches a round (the message lost, the count reader
// restarted) does not wedge the board: once it has been outstanding for
// the board's `ask_again_after` without a round starting, the next
// arrival asks again (duplicate asks are one waiting round).
BOOST_AUTO_TEST_CASE(a_lost_ask_is_asked_again) {
  parking p{board, 16};
  auto now = steady::now();
  auto a = p.park(1, now + 5s, now);
  BOOST_REQUIRE(a.ask); // ...and the ask is lost: nothing sent
  auto b = p.park(2, now + 5s, now + 10ms);
  BOOST_TEST(!b.ask); // within the bound: one ask is enough
  auto c = p.park(3, now + 5s, now + 1s);
  BOOST_REQUIRE(c.ask); // outstanding too long: asked again
  caf::anon_send(counts, count_atom::value);
  drain();
  auto due = p.take(steady::now());
  BOOST_TEST(due.answered.size() == 3u);
}

// The same without any later arrival: the parked call's timer comes when
// the ask is overdue (not at its deadline), and asks again.
BOOST_AUTO_TEST_CASE(a_lost_ask_is_asked_again_by_the_timer) {
  parking p{board, 16};
  auto now = steady::now();
  auto a = p.park(1, now + 5s, now);
  BOOST_REQUIRE(a.ask); // ...and lost
  BOOST_REQUIRE(a.wake_at);
  BOOST_TEST((*a.wake_at == now + board->ask_again_after())); // well before the deadline
  auto due = p.take(*a.wake_at);
  BOOST_TEST(due.answered.empty());
  BOOST_REQUIRE(due.ask); // asked again
  BOOST_REQUIRE(due.wake_at);
  BOOST_TEST((*due.wake_at == *a.wake_at + board->ask_again_after()));
  caf::anon_send(counts, count_atom::value);
  drain();
  BOOST_TEST(wakes == 1);
  due = p.take(steady::now());
  BOOST_REQUIRE(due.answered.size() == 1u);
  BOOST_TEST(static_cast<bool>(due.answered[0].result));
  BOOST_TEST(!due.wake_at);
}

// The count reader gone: every parked call is answered unavailable at
// once (not at its deadline), as a count request to it would fail.
BOOST_AUTO_TEST_CASE(a_dead_count_reader_fails_the_parked_calls_at_once) {
  w->hold_snapshots = true; // a round in flight when the reader dies
  parking p{board, 16};
  auto now = steady::now();
  park(*this, p, 1, now);
  drain();
  BOOST_REQUIRE(w->held.size() == 1u);
  park(*this, p, 2, now); // waits for the next round
  caf::anon_send_exit(counts, caf::exit_reason::kill);
  drain();
  BOOST_TEST(wakes == 1);
  auto due = p.take(now);
  BOOST_REQUIRE(due.answered.size() == 2u);
  for (auto& d : due.answered)
    BOOST_TEST((!d.result && d.result.error() == ping_errc::unavailable));
  auto c = p.park(3, now + 5s, now); // refused at once
  BOOST_TEST((c.err == ping_errc::unavailable));
  BOOST_TEST(p.size() == 0u);
}

// With a round gap, a round asked soon after the last one started waits
// for the gap (one timer), then answers every call parked meanwhile.
BOOST_AUTO_TEST_CASE(a_round_gap_gathers_the_calls_of_the_gap) {
  auto gapped = std::make_shared<counts::count_board>();
  int gapped_wakes = 0;
  gapped->listen([&gapped_wakes] { ++gapped_wakes; });
  counts::settings s;
  s.board = gapped;
  s.round_gap = 10min;
  auto reader = spawn_reader(s);
  parking p{gapped, 16};
  auto now = steady::now();
  BOOST_REQUIRE(p.park(1, now + 5s, now).ask);
  caf::anon_send(reader, count_atom::value);
  drain(); // round 1 at once: the board was idle
  BOOST_TEST(w->statements == 1);
  BOOST_TEST(p.take(steady::now()).answered.size() == 1u);
  for (int i = 2; i <= 4; ++i)
    if (p.park(i, now + 5s, now).ask)
      caf::anon_send(reader, count_atom::value);
  drain();
  BOOST_TEST(w->statements == 1); // within the gap: no round yet
  advance(11min, 1min);
  BOOST_TEST(w->statements == 2); // one round for the three
  auto due = p.take(steady::now());
  BOOST_TEST(due.answered.size() == 3u);
  BOOST_TEST(gapped_wakes == 2);
  caf::anon_send_exit(reader, caf::exit_reason::user_shutdown);
  drain();
}

// With a front-end that keeps timers (the Connect front-end's event loop),
// the gap ends there: the reader arms no timer of the actor system's (whose
// clock thread wakes twice per timer), the board tells the front-end once
// when the gap ends, and the front-end's ask then starts the round for
// every call parked meanwhile.
BOOST_AUTO_TEST_CASE(a_front_end_that_keeps_timers_ends_the_gap) {
  auto timed = std::make_shared<counts::count_board>();
  int timed_wakes = 0;
  timed->listen([&timed_wakes] { ++timed_wakes; }, true);
  counts::settings s;
  s.board = timed;
  s.round_gap = 10min;
  auto reader = spawn_reader(s);
  // Stopped however the case ends (the actor system waits for it).
  auto stop = caf::detail::make_scope_guard([&] {
    caf::anon_send_exit(reader, caf::exit_reason::user_shutdown);
    drain();
  });
  parking p{timed, 16};
  auto now = steady::now();
  auto first_round = sched->clock().now(); // the test clock moves only when told
  BOOST_REQUIRE(p.park(1, now + 5s, now).ask);
  caf::anon_send(reader, count_atom::value);
  drain(); // round 1 at once: the board was idle
  BOOST_TEST(w->statements == 1);
  BOOST_TEST(p.take(steady::now()).answered.size() == 1u);
  BOOST_TEST(!timed->take_ask_at()); // nothing to time yet
  auto wakes_before = timed_wakes;
  for (int i = 2; i <= 4; ++i)
    if (p.park(i, now + 5s, now).ask)
      caf::anon_send(reader, count_atom::value);
  drain();
  BOOST_TEST(w->statements == 1);              // within the gap: no round yet
  BOOST_TEST(timed_wakes == wakes_before + 1); // the front-end hears of the gap's end
  auto at = timed->take_ask_at();
  BOOST_REQUIRE(at.has_value());
  BOOST_TEST((*at == first_round + 10min));
  BOOST_TEST(!timed->take_ask_at()); // one front-end keeps it
  BOOST_TEST(pending_timers().dues.count(first_round + 10min) == 0u);
  caf::anon_send(reader, count_atom::value); // an ask before the gap's end: still one timer
  drain();
  BOOST_TEST(!timed->take_ask_at());
  advance(11min, 1min);
  BOOST_TEST(w->statements == 1);            // no timer of the reader's ended the gap
  caf::anon_send(reader, count_atom::value); // the front-end's timer
  drain();
  BOOST_TEST(w->statements == 2); // one round for the three
  BOOST_TEST(p.take(steady::now()).answered.size() == 3u);
}

// Two reads in flight (counts.max-reads = 2): requests that arrive while
// the first read's statement runs start a second read at once, on a tail
// reader of its own; only requests arriving while both run wait, for the
// next read. Each answer comes from a read that started after it arrived.
BOOST_AUTO_TEST_CASE(a_second_read_runs_beside_the_first) {
  counts::settings s;
  s.max_reads = 2;
  s.totals_snapshot_age = 0s;
  auto reader = spawn_reader(s);
  w->tail_per_read = true;
  w->hold_reads = true;
  auto ask_reader = [&](time_range r) {
    return (*self)->request(reader, caf::infinite, count_atom::value, r);
  };
  auto first = ask_reader({});
  drain(); // read 1: snapshot answered, statement held
  BOOST_REQUIRE(w->statements == 1);
  auto second = ask_reader({});
  drain(); // read 2, at once
  BOOST_TEST(w->snapshots == 2);
  BOOST_TEST(w->statements == 2);
  auto third = ask_reader({true, 100 * minute_ms + 5, 101 * minute_ms});
  auto fourth = ask_reader({});
  drain();
  BOOST_TEST(w->statements == 2); // both reads in flight: they wait
  w->hold_reads = false;
  (*self)->send(store, resume_atom::value);
  drain();
  BOOST_TEST(w->statements == 3); // read 3, for both
  auto answer_of = [](auto& h) {
    caf::expected<count_result> out{caf::make_error(caf::sec::request_timeout)};
    h.receive([&](count_result& r) { out = r; }, [&](caf::error& e) { out = e; });
    return out;
  };
  auto a = answer_of(first);
  auto b = answer_of(second);
  auto c = answer_of(third);
  auto d = answer_of(fourth);
  BOOST_REQUIRE((a && b && c && d));
  BOOST_TEST(a->count == 60 + 100); // read 1
  BOOST_TEST(a->read == 1u);
  BOOST_TEST(b->count == 60 + 200); // read 2
  BOOST_TEST(b->read == 2u);
  BOOST_TEST(c->read == 3u);
  BOOST_TEST(d->count == 60 + 300); // read 3, after they arrived
  BOOST_TEST(d->read == 3u);
  BOOST_REQUIRE(w->reads.size() == 3u);
  BOOST_TEST(w->reads[2].second.size() == 1u); // the third's edge minute, with read 3's tail
  caf::anon_send_exit(reader, caf::exit_reason::user_shutdown);
  drain();
}

// A second read starts beside one in flight only once as many requests
// wait as the last read started with: a read costs PostgreSQL about the
// same however few requests it answers, so a second read must not split
// one read's worth of requests into two statements.
BOOST_AUTO_TEST_CASE(a_second_read_waits_for_a_reads_worth_of_requests) {
  counts::settings s;
  s.max_reads = 2;
  auto reader = spawn_reader(s);
  w->hold_reads = true;
  std::vector<decltype((*self)->request(reader, caf::infinite, count_atom::value, time_range{}))>
    hs;
  auto ask_reader = [&] {
    hs.push_back((*self)->request(reader, caf::infinite, count_atom::value, time_range{}));
    drain();
  };
  ask_reader(); // read 1 (one request)
  ask_reader(); // read 2 beside it: one waits, as many as read 1 started with
  BOOST_REQUIRE(w->statements == 2);
  for (int i = 0; i < 3; ++i)
    ask_reader(); // both in flight: they wait
  BOOST_REQUIRE(w->statements == 2);
  (*self)->send(store, resume_atom::value);
  drain(); // reads 1 and 2 end; read 3 takes the three (held)
  BOOST_REQUIRE(w->statements == 3);
  ask_reader();
  ask_reader();
  BOOST_TEST(w->statements == 3); // two wait: fewer than read 3's three
  ask_reader();
  BOOST_TEST(w->statements == 4); // three wait: read 4 beside read 3
  w->hold_reads = false;
  (*self)->send(store, resume_atom::value);
  drain();
  for (auto& h : hs)
    h.receive([](count_result&) {}, [](caf::error& e) { BOOST_FAIL(caf::to_string(e)); });
  BOOST_TEST(w->statements == 4);
  caf::anon_send_exit(reader, caf::exit_reason::user_shutdown);
  drain();
}

// Beside other reads, rounds stay one at a time: the board numbers one
// round in flight, so a round asked while one runs waits for its publish,
// while counts still start a read of their own.
BOOST_AUTO_TEST_CASE(rounds_stay_one_at_a_time_beside_other_reads) {
  auto rounds = std::make_shared<counts::count_board>();
  counts::settings s;
  s.max_reads = 2;
  s.board = rounds;
  s.round_gap = 0s; // round 2 at once after round 1
  auto reader = spawn_reader(s);
  w->hold_reads = true;
  caf::anon_send(reader, count_atom::value);
  drain(); // round 1 in flight
  BOOST_REQUIRE(rounds->started() == 1u);
  caf::anon_send(reader, count_atom::value); // a round asked during round 1
  auto h = (*self)->request(reader, caf::infinite, count_atom::value, time_range{});
  drain();
  BOOST_TEST(rounds->started() == 1u); // the asked round waits
  BOOST_TEST(w->statements == 2);      // round 1, and the count's own read
  w->hold_reads = false;
  (*self)->send(store, resume_atom::value);
  drain();
  BOOST_TEST(rounds->started() == 2u); // after round 1 was published
  BOOST_TEST(w->statements == 3);
  BOOST_REQUIRE(rounds->latest());
  BOOST_TEST(rounds->latest()->round == 2u);
  h.receive([](count_result&) {}, [](caf::error& e) { BOOST_FAIL(caf::to_string(e)); });
  caf::anon_send_exit(reader, caf::exit_reason::user_shutdown);
  drain();
}

// A statement beside the snapshot (settings::guess_ahead). The range's
// first partial minute is in PostgreSQL (5 pings), its whole minutes in the
// cache (2 a minute), and read n's tail holds n pings in minute 100, inside
// the cached span: an answer tells which statement it came from.
struct guessing {
  time_range range{true, 99 * minute_ms + 7, 200 * minute_ms - 3};
  int64_t cached = 99 * 2, parts = 2 * 5;

  explicit guessing(world& w) {
    for (int64_t m = 99; m < 200; ++m)
      w.buckets[m] = 2;
    w.pg_count = 5;
    w.tail_per_read = true;
  }
};

BOOST_AUTO_TEST_CASE(a_still_cache_lets_the_statement_go_beside_the_snapshot) {
  guessing g{*w};
  auto first = count(g.range);
  auto second = count(g.range);
  BOOST_REQUIRE(first);
  BOOST_REQUIRE(second);
  BOOST_TEST(first->count == g.cached + g.parts + 1);
  BOOST_TEST(second->count == g.cached + g.parts + 2);
  BOOST_TEST(w->statements == 2); // each after its snapshot: nothing to guess from yet
  // The last two snapshots had the same sequences: the third read asks its
  // statement while its snapshot is still out.
  w->hold_snapshots = true;
  auto h = ask(g.range);
  drain();
  BOOST_TEST(w->snapshots == 3);
  BOOST_TEST(w->statements == 3);
  BOOST_TEST(w->reads.back().first == w->snap.seqs);
  BOOST_TEST(w->reads.back().second == w->reads[1].second); // the same parts
  (*self)->send(cache, resume_atom::value);
  drain();
  auto third = result(h);
  BOOST_REQUIRE(third);
  BOOST_TEST(third->count == g.cached + g.parts + 3); // read 3's statement answered
  BOOST_TEST(w->statements == 3);                     // and no other was asked
}

BOOST_AUTO_TEST_CASE(a_moved_cache_asks_the_statement_again_after_its_snapshot) {
  guessing g{*w};
  BOOST_REQUIRE(count(g.range));
  BOOST_REQUIRE(count(g.range));
  // The processor applied 7 pings of partition 0 (minute 150) before the
  // third read's snapshot: its statement, asked with the old sequences,
  // counted a tail the snapshot already holds.
  w->snap.seqs = {17, 20, 30};
  w->snap.total = 67;
  w->buckets[150] += 7;
  w->hold_snapshots = true;
  auto h = ask(g.range);
  drain();
  BOOST_TEST(w->statements == 3);
  BOOST_TEST((w->reads.back().first == std::vector<int64_t>{10, 20, 30}));
  (*self)->send(cache, resume_atom::value);
  drain();
  auto third = result(h);
  BOOST_REQUIRE(third);
  BOOST_TEST(w->statements == 4); // asked again, after the snapshot, with its sequences
  BOOST_TEST((w->reads.back().first == std::vector<int64_t>{17, 20, 30}));
  BOOST_TEST(third->count == g.cached + 7 + g.parts + 4); // from statement 4, not 3
  // The sequences moved: the next read does not guess.
  auto fourth = ask(g.range);
  drain();
  BOOST_TEST(w->snapshots == 4);
  BOOST_TEST(w->statements == 4);
  (*self)->send(cache, resume_atom::value);
  drain();
  BOOST_TEST(static_cast<bool>(result(fourth)));
  BOOST_TEST(w->statements == 5);
}

BOOST_AUTO_TEST_CASE(a_range_never_summed_waits_for_its_snapshot) {
  guessing g{*w};
  BOOST_REQUIRE(count(g.range));
  BOOST_REQUIRE(count(g.range));
  w->hold_snapshots = true;
  auto other = time_range{true, 120 * minute_ms + 1, 130 * minute_ms};
  auto h = ask(other);
  drain();
  BOOST_TEST(w->snapshots == 3);
  BOOST_TEST(w->statements == 2); // its cached span is not known before its snapshot
  (*self)->send(cache, resume_atom::value);
  drain();
  auto r = result(h);
  BOOST_REQUIRE(r);
  BOOST_TEST(r->count == 9 * 2 + 5); // minutes 121-129 cached, the first partial one counted
  BOOST_TEST(w->statements == 3);
}

BOOST_AUTO_TEST_CASE(no_guess_when_it_is_turned_off) {
  guessing g{*w};
  counts::settings s;
  s.guess_ahead = false;
  auto reader = spawn_reader(s);
  auto once = [&] {
    auto h = (*self)->request(reader, caf::infinite, count_atom::value, g.range);
    drain();
    return h;
  };
  once();
  once();
  w->hold_snapshots = true;
  once();
  BOOST_TEST(w->snapshots == 3);
  BOOST_TEST(w->statements == 2);
  (*self)->send(cache, resume_atom::value);
  drain();
  BOOST_TEST(w->statements == 3);
  caf::anon_send_exit(reader, caf::exit_reason::user_shutdown);
}

// Reads of totals alone (settings::totals_snapshot_age) take the last
// snapshot's sequences and total while it is young: PostgreSQL is asked
// for the heads above those sequences, which stay exact however far the
// cache moved since.
struct totals_reuse {
  fixture& f;
  counts::counts_actor reader;

  explicit totals_reuse(fixture& fx, caf::timespan age = 1s) : f(fx) {
    counts::settings s;
    s.totals_snapshot_age = age;
    reader = f.spawn_reader(s);
  }
  ~totals_reuse() { caf::anon_send_exit(reader, caf::exit_reason::user_shutdown); }

  caf::expected<count_result> count(time_range r) {
    auto h = (*f.self)->request(reader, caf::infinite, count_atom::value, r);
    f.drain();
    return f.result(h);
  }
  uint64_t reused() { return f.reg.counter_at("counts_snapshots_reused_total", {}).load(); }
};

BOOST_AUTO_TEST_CASE(a_read_of_totals_takes_the_last_snapshot_while_it_is_young) {
  totals_reuse t{*this};
  w->tail.total = 7;
  auto r = t.count({});
  BOOST_REQUIRE(r);
  BOOST_TEST(r->count == 60 + 7);
  BOOST_TEST(w->snapshots == 1);
  // The cache moves on (three more pings applied); the heads are now 9
  // above the kept sequences, 6 above the cache's.
  w->snap.seqs = {11, 21, 31};
  w->snap.total = 63;
  w->tail.total = 9; // what the fake answers above whatever sequences
  r = t.count({});
  BOOST_REQUIRE(r);
  BOOST_TEST(r->count == 60 + 9); // the kept total plus the heads above its sequences
  BOOST_TEST(r->source == "cache");
  BOOST_TEST(w->snapshots == 1);
  BOOST_TEST(w->statements == 2);
  BOOST_REQUIRE(w->tail_seqs.size() == 2u);
  BOOST_TEST((w->tail_seqs[1] == std::vector<int64_t>{10, 20, 30}));
  BOOST_TEST(t.reused() == 1u);
  // Once it is as old as the setting, the next read takes a snapshot.
  advance(1s, 100ms);
  w->tail.total = 6;
  r = t.count({});
  BOOST_REQUIRE(r);
  BOOST_TEST(r->count == 63 + 6);
  BOOST_TEST(w->snapshots == 2);
  BOOST_TEST((w->tail_seqs.back() == std::vector<int64_t>{11, 21, 31}));
  BOOST_TEST(t.reused() == 1u);
}

BOOST_AUTO_TEST_CASE(a_read_with_a_range_always_takes_a_snapshot) {
  totals_reuse t{*this};
  w->buckets = {{100, 5}};
  BOOST_REQUIRE(t.count({}));
  auto r = t.count(minutes(100, 101));
  BOOST_REQUIRE(r);
  BOOST_TEST(r->count == 5);
  BOOST_TEST(w->snapshots == 2);
  BOOST_TEST(t.reused() == 0u);
}

// A read that fell back (here: the cache claims sequences PostgreSQL does
// not hold) forgets the kept snapshot: the next read takes a new one.
BOOST_AUTO_TEST_CASE(a_read_that_fell_back_forgets_the_kept_snapshot) {
  totals_reuse t{*this};
  BOOST_REQUIRE(t.count({}));
  w->tail.consistent = false;
  w->pg_count = 50;
  auto r = t.count({});
  BOOST_REQUIRE(r);
  BOOST_TEST(r->source == "postgres");
  BOOST_TEST(t.reused() == 1u); // it took the kept one, and PostgreSQL refused it
  w->tail.consistent = true;
  w->tail.total = 1;
  r = t.count({});
  BOOST_REQUIRE(r);
  BOOST_TEST(r->count == 60 + 1);
  BOOST_TEST(w->snapshots == 2);
  BOOST_TEST(t.reused() == 1u);
}

BOOST_AUTO_TEST_CASE(every_read_takes_a_snapshot_at_age_zero) {
  totals_reuse t{*this, 0s};
  BOOST_REQUIRE(t.count({}));
  BOOST_REQUIRE(t.count({}));
  BOOST_TEST(w->snapshots == 2);
  BOOST_TEST(t.reused() == 0u);
}

// Rounds for the board are reads of totals: round 2 takes round 1's
// snapshot, and is still answered only by a statement started after its
// calls arrived.
BOOST_AUTO_TEST_CASE(a_round_takes_the_last_rounds_snapshot) {
  auto b = std::make_shared<counts::count_board>();
  counts::settings s;
  s.board = b;
  auto reader = spawn_reader(s);
  w->tail_per_read = true;
  parking p{b, 16};
  auto now = steady::now();
  BOOST_REQUIRE(p.park(1, now + 5s, now).ask);
  caf::anon_send(reader, count_atom::value);
  drain();
  auto due = p.take(steady::now());
  BOOST_REQUIRE(due.answered.size() == 1u);
  BOOST_TEST(due.answered[0].result->count == 60 + 100);
  BOOST_REQUIRE(p.park(2, now + 5s, now).ask);
  caf::anon_send(reader, count_atom::value);
  drain();
  BOOST_TEST(w->statements == 1); // within the default round gap
  advance(1ms, 1ms);
  due = p.take(steady::now());
  BOOST_REQUIRE(due.answered.size() == 1u);
  BOOST_REQUIRE(due.answered[0].result);
  BOOST_TEST(due.answered[0].result->count == 60 + 200); // round 2's own statement
  BOOST_TEST(w->snapshots == 1);
  BOOST_TEST(w->statements == 2);
  caf::anon_send_exit(reader, caf::exit_reason::user_shutdown);
  drain();
}

BOOST_AUTO_TEST_SUITE_END()
