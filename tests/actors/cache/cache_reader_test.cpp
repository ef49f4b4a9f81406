// The cache reader's facade, deterministically (CAF's test coordinator),
// with a fake worker behind reader_actor (the `worker_factory` seam): its
// deadlines (the caller's at timeout + answer_slack, the worker's at
// stuck_after), the in-flight bound and the replacement of a silent worker.
// The real worker and Redis are tests/integration/cache_test.cpp's.
#define BOOST_TEST_MODULE cache_reader
#include <boost/test/unit_test.hpp>

#include <caf/all.hpp>

#include "actors/cache/cache_reader.hpp"
#include "actors/cache/metrics.hpp"
#include "tests/support/coordinator.hpp"

using namespace ping;
using namespace ping::cache;
using namespace std::chrono_literals;

namespace {

struct world {
  int spawned = 0;          // workers made
  bool hold = false;        // snapshots get no answer until `release`
  std::vector<int> read_by; // the worker of each read received
  std::vector<caf::typed_response_promise<snapshot>> held;
};

snapshot usable_snapshot(int worker) {
  snapshot s;
  s.usable = true;
  s.seqs = {1, 2, 3};
  s.total = 6;
  s.why = "worker " + std::to_string(worker);
  return s;
}

// Answers its held reads on resume_atom (a promise is delivered by its owner).
using fake_worker_actor = reader_actor::extend<caf::reacts_to<resume_atom>>;

fake_worker_actor::behavior_type fake_worker(fake_worker_actor::pointer self,
                                             std::shared_ptr<world> w, int id) {
  auto serve = [=]() -> caf::result<snapshot> {
    w->read_by.push_back(id);
    if (w->hold) {
      auto rp = self->make_response_promise<snapshot>();
      w->held.push_back(rp);
      return rp;
    }
    return usable_snapshot(id);
  };
  return {
    [=](snapshot_atom, const std::vector<time_range>&, const std::vector<time_range>&) {
      return serve();
    },
    [=](snapshot_atom, const std::vector<time_range>&) { return serve(); },
    [=](resume_atom) {
      auto held = std::move(w->held);
      w->held.clear();
      for (auto& rp : held)
        rp.deliver(usable_snapshot(0));
    },
  };
}

struct fixture : test::coordinator_fixture {
  telemetry::registry reg;
  std::shared_ptr<world> w = std::make_shared<world>();
  reader_actor reader;
  std::vector<fake_worker_actor> workers; // every worker made, in order

  static settings defaults() {
    settings s;
    s.timeout = 50ms;
    s.answer_slack = 20ms; // the caller's deadline: 70 ms
    s.stuck_after = 1s;
    s.backoff_min = 100ms;
    s.backoff_max = 1s;
    return s;
  }

  void start(settings s) {
    reader = spawn_cache_reader(*sys, s, reg, [this](caf::actor_system& sys, const settings&) {
      auto worker = sys.spawn(fake_worker, w, ++w->spawned);
      workers.push_back(worker);
      return caf::actor_cast<reader_actor>(worker);
    });
    drain();
  }

  // The current worker answers every read it holds.
  void release() {
    (*self)->send(workers.back(), resume_atom::value);
    drain();
  }

  ~fixture() {
    w->held.clear(); // held promises would keep the fakes alive
    caf::anon_send_exit(reader, caf::exit_reason::user_shutdown);
    drain();
  }

  using handle = decltype(std::declval<caf::scoped_actor&>()->request(
    std::declval<reader_actor&>(), caf::infinite, snapshot_atom::value, std::vector<time_range>{},
    std::vector<time_range>{}));

  handle ask() {
    return (*self)->request(reader, caf::infinite, snapshot_atom::value, std::vector<time_range>{},
                            std::vector<time_range>{});
  }

  // The answer, if one is in the test's mailbox now.
  std::optional<snapshot> answered(handle& h) {
    std::optional<snapshot> out;
    if (!has_answer())
      return out;
    h.receive([&](snapshot& s) { out = std::move(s); },
              [&](caf::error& e) {
                BOOST_FAIL("the reader answers errors as snapshots: " + to_string(e));
              });
    return out;
  }

  bool has_answer() { return !(*self)->mailbox().empty(); }

  std::shared_ptr<telemetry::actor_stats> worker_stats() {
    return reader_metrics::registered_in(reg).worker;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(cache_reader_suite, fixture)

BOOST_AUTO_TEST_CASE(a_read_is_answered_by_the_worker) {
  start(defaults());
  auto h = ask();
  drain();
  auto s = answered(h);
  BOOST_REQUIRE(s);
  BOOST_TEST(s->usable);
  BOOST_TEST(s->total == 6);
  BOOST_TEST(reg.counter_at("cache_hits_total").load() == 1u);
}

// A worker that goes silent: its caller is answered `usable = false` at its
// deadline (timeout + slack, 70 ms), no sooner; reads meanwhile are
// refused at once (no queue behind it); at stuck_after (1 s) the worker is
// replaced, and after the backoff (100 ms) a new one serves. Its late
// answer changes nothing.
BOOST_AUTO_TEST_CASE(a_silent_worker_fails_its_caller_at_the_deadline_and_is_replaced) {
  start(defaults());
  w->hold = true;
  auto first = ask();
  drain();
  BOOST_REQUIRE(w->read_by.size() == 1u);
  advance(60ms, 10ms);
  BOOST_TEST(!has_answer()); // 60 ms: still waiting
  advance(10ms, 10ms);
  BOOST_REQUIRE(has_answer()); // 70 ms: the caller's deadline
  auto s = answered(first);
  BOOST_REQUIRE(s);
  BOOST_TEST(!s->usable);
  BOOST_TEST(s->why == "cache read timed out");
  BOOST_TEST(reg.counter_at("cache_misses_total").load() == 1u);
  // The worker's slot is still taken: others are refused at once.
  auto other = ask();
  drain();
  auto o = answered(other);
  BOOST_REQUIRE(o);
  BOOST_TEST(o->why == "cache reader busy or restarting");
  BOOST_TEST(w->read_by.size() == 1u);
  advance(900ms, 10ms); // 970 ms
  BOOST_TEST(worker_stats()->restarts.load() == 0u);
  advance(40ms, 10ms); // 1,010 ms: past stuck_after
  BOOST_TEST(worker_stats()->restarts.load() == 1u);
  BOOST_TEST(w->spawned == 1); // the new one after the backoff
  advance(100ms, 10ms);
  BOOST_TEST(w->spawned == 2);
  w->hold = false;
  auto next = ask();
  drain();
  auto n = answered(next);
  BOOST_REQUIRE(n);
  BOOST_TEST(n->usable);
  BOOST_TEST(n->why == "worker 2");
  BOOST_TEST(worker_stats()->restarts.load() == 1u);
  w->held.clear(); // the old worker is gone (a fake exits at once)
}

// A worker that answers after its caller's deadline: the caller got its
// one answer (timed out); the late answer only frees the slot.
BOOST_AUTO_TEST_CASE(a_late_answer_frees_the_slot_and_answers_nobody_twice) {
  start(defaults());
  w->hold = true;
  auto first = ask();
  drain();
  advance(100ms, 10ms);
  auto s = answered(first);
  BOOST_REQUIRE(s);
  BOOST_TEST(s->why == "cache read timed out");
  release();
  BOOST_TEST(!has_answer());
  w->hold = false;
  auto next = ask();
  drain();
  auto n = answered(next);
  BOOST_REQUIRE(n);
  BOOST_TEST(n->usable);
  BOOST_TEST(n->why == "worker 1"); // the same worker: nothing replaced
  advance(2s, 100ms);
  BOOST_TEST(worker_stats()->restarts.load() == 0u);
  BOOST_TEST(!has_answer());
}

// Issue 18: reads carry no timer each. Before, every read armed two (the
// caller's deadline and the worker's request timeout), and neither is
// cancelled in CAF 0.17 when the answer comes: each fires later, waking
// the clock thread and sending the facade a message it drops. Eight reads
// out at once: one timer.
BOOST_AUTO_TEST_CASE(concurrent_reads_arm_one_timer) {
  auto s = defaults();
  s.max_in_flight = 8;
  start(s);
  w->hold = true;
  std::vector<handle> hs;
  for (int i = 0; i < 8; ++i)
    hs.push_back(ask());
  drain();
  BOOST_REQUIRE(w->read_by.size() == 8u);
  auto t = pending_timers();
  BOOST_TEST(t.request_timeouts == 0u);
  BOOST_TEST(t.all == 1u);
  release();
  for (auto& h : hs) {
    auto r = answered(h);
    BOOST_REQUIRE(r);
    BOOST_TEST(r->usable);
  }
  // Later reads, answered at once, arm nothing more.
  w->hold = false;
  for (int i = 0; i < 8; ++i) {
    auto h = ask();
    drain();
    BOOST_TEST(static_cast<bool>(answered(h)));
  }
  BOOST_TEST(pending_timers().all <= 1u);
  // And the deadlines still hold afterwards: a silent read is answered at 70 ms.
  advance(200ms, 10ms);
  w->hold = true;
  auto late = ask();
  drain();
  advance(60ms, 10ms);
  BOOST_TEST(!has_answer());
  advance(10ms, 10ms);
  auto l = answered(late);
  BOOST_REQUIRE(l);
  BOOST_TEST(l->why == "cache read timed out");
}

BOOST_AUTO_TEST_SUITE_END()
