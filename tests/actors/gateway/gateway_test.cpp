// The gateway actor's logic against fake persistence, publisher and count
// reader actors (a unit test of one actor), deterministically: CAF's test
// coordinator runs every message and timer as an explicit step (see
// tests/support/coordinator.hpp), so "not answered yet", "answered at the
// sweep" and "the nudge held back arrives" are ordinary test steps, with no
// threads, sleeps or wall-clock bounds.
//
// Deadlines: the gateway compares reply deadlines with the steady clock when
// its sweep timer fires. The tests choose deadlines that have certainly
// passed (now, or a zero store timeout) or certainly not (a minute away),
// and fire the sweep with trigger_timeouts().
#define BOOST_TEST_MODULE gateway_actor
#include <boost/test/unit_test.hpp>

#include <limits>
#include <memory>
#include <optional>
#include <vector>

#include <caf/all.hpp>

#include "actors/common/errors.hpp"
#include "actors/common/ids.hpp"
#include "actors/gateway/gateway.hpp"
#include "tests/support/coordinator.hpp"

using namespace ping;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

enum class mode { answer, hold, fail };

// What the fakes saw (everything runs on the test's thread).
struct observed {
  std::vector<ping_row> rows;
  std::vector<time_range> ranges;
  int nudges = 0;
  std::vector<caf::typed_response_promise<int64_t>> held; // commits not answered yet
  // Batch stores (store_atom, rows): how many came, and their rows not
  // committed yet, each with its batch's answer (sent when its last row
  // is committed, as the facade does).
  struct held_batch {
    caf::typed_response_promise<std::vector<caf::error>> rp;
    size_t size = 0;
    size_t left = 0;
  };
  int batches = 0;
  std::vector<std::shared_ptr<held_batch>> held_rows;
  // The count reader's requests: single ranges, and batches of ranges
  // (each answered once); with hold_counts, batches are answered on
  // resume_atom.
  int count_requests = 0;
  int count_batches = 0;
  int rounds = 0; // rounds asked for the count board (count_atom alone)
  bool hold_counts = false;
  std::vector<std::pair<caf::typed_response_promise<std::vector<counts::count_outcome>>,
                        std::vector<counts::count_outcome>>>
    held_counts;

  size_t holding() const { return held.size() + held_rows.size(); }
};

// The fake store answers held commits one at a time on resume_atom (from
// inside the actor: a promise is delivered by its actor).
using fake_store_actor = persistence::persistence_actor::extend<caf::reacts_to<resume_atom>>;

fake_store_actor::behavior_type fake_store(fake_store_actor::pointer self, mode m,
                                           std::shared_ptr<observed> obs) {
  return {
    [=](resume_atom) {
      if (!obs->held.empty()) {
        auto rp = obs->held.front();
        obs->held.erase(obs->held.begin());
        rp.deliver(int64_t{1});
        return;
      }
      if (obs->held_rows.empty())
        return;
      auto b = obs->held_rows.front();
      obs->held_rows.erase(obs->held_rows.begin());
      if (--b->left == 0)
        b->rp.deliver(std::vector<caf::error>(b->size)); // all committed
    },
    [=](store_atom, ping_row& row) -> caf::result<int64_t> {
      obs->rows.push_back(row);
      if (m == mode::fail)
        return caf::make_error(ping_errc::unavailable, "PostgreSQL is unavailable");
      if (m == mode::hold) {
        auto rp = self->make_response_promise<int64_t>();
        obs->held.push_back(rp);
        return rp;
      }
      return int64_t{1};
    },
    [=](store_atom, std::vector<ping_row>& rows) -> caf::result<std::vector<caf::error>> {
      obs->batches++;
      for (auto& r : rows)
        obs->rows.push_back(r);
      if (m == mode::fail)
        return std::vector<caf::error>(rows.size(), caf::make_error(ping_errc::unavailable,
                                                                    "PostgreSQL is unavailable"));
      if (m == mode::hold) {
        auto b = std::make_shared<observed::held_batch>();
        b->rp = self->make_response_promise<std::vector<caf::error>>();
        b->size = b->left = rows.size();
        for (size_t i = 0; i < rows.size(); ++i)
          obs->held_rows.push_back(b);
        return b->rp;
      }
      return std::vector<caf::error>(rows.size());
    },
    [=](count_atom, time_range r) -> caf::result<int64_t> {
      obs->ranges.push_back(r);
      return int64_t{42};
    },
    [](minutes_atom, int64_t, int32_t n) { // not used by the gateway actor
      return std::vector<int64_t>(static_cast<size_t>(n), 0);
    },
    [](tail_atom, std::vector<int64_t>, bool) { // not used by the gateway actor
      return persistence::tail_counts{};
    },
    [](tail_atom, std::vector<int64_t>, bool, std::vector<time_range>, int64_t) { // not used either
      return persistence::read_counts{};
    },
    [](heads_atom) { // not used by the gateway actor
      return std::vector<persistence::outbox_position>{};
    },
  };
}

publisher::publisher_actor::behavior_type fake_publisher(std::shared_ptr<observed> obs) {
  return {
    [=](publish_atom) { obs->nudges++; },
    [=](drain_atom, caf::timespan) { return true; },
  };
}

// The fake count reader's answer to a range, from read 5: a range ending
// below 1000 ms counts its end (so each call can be told its own), one
// starting at 13 fails (unavailable), any other counts 7.
counts::count_outcome fake_count(const time_range& r) {
  counts::count_outcome o;
  if (r.bounded && r.start_ms == 13)
    o.err = caf::make_error(ping_errc::unavailable, "the cache cannot answer");
  else
    o.result = count_result{r.bounded && r.end_ms < 1000 ? r.end_ms : 7, "cache", 5};
  return o;
}

using fake_counts_actor = counts::counts_actor::extend<caf::reacts_to<resume_atom>>;

// A count reader that answers as fake_count says and records the ranges.
fake_counts_actor::behavior_type fake_counts(fake_counts_actor::pointer self,
                                             std::shared_ptr<observed> obs) {
  return {
    [=](count_atom, time_range r) -> caf::result<count_result> {
      obs->count_requests++;
      obs->ranges.push_back(r);
      auto o = fake_count(r);
      if (o.err)
        return o.err;
      return o.result;
    },
    [=](count_atom,
        const std::vector<time_range>& rs) -> caf::result<std::vector<counts::count_outcome>> {
      obs->count_batches++;
      std::vector<counts::count_outcome> out;
      for (auto& r : rs) {
        obs->ranges.push_back(r);
        out.push_back(fake_count(r));
      }
      if (obs->hold_counts) {
        auto rp = self->make_response_promise<std::vector<counts::count_outcome>>();
        obs->held_counts.emplace_back(rp, std::move(out));
        return rp;
      }
      return out;
    },
    [=](resume_atom) {
      auto held = std::move(obs->held_counts);
      obs->held_counts.clear();
      for (auto& [rp, out] : held)
        rp.deliver(out);
    },
    [](minutes_atom, int64_t, int32_t n) {
      return counts::minute_counts{std::vector<int64_t>(static_cast<size_t>(n), 0), "cache"};
    },
    [=](count_atom) { obs->rounds++; },
  };
}

// One call's answers: how many came (the contract is exactly one), and the
// first.
template <class T>
struct answers {
  int times = 0;
  std::optional<caf::expected<T>> first;

  bool answered() const { return first.has_value(); }
  bool failed_with(ping_errc e) const { return first && !*first && first->error() == e; }
};

struct fixture : test::coordinator_fixture {
  telemetry::registry reg;
  std::shared_ptr<observed> obs = std::make_shared<observed>();
  std::vector<caf::actor> spawned;
  caf::actor store;  // the last fake store spawned
  caf::actor counts; // the last fake count reader spawned

  ~fixture() {
    for (auto& a : spawned)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    drain();
  }

  gateway::gateway_actor make(mode m, gateway::settings s = {}) {
    auto store = sys->spawn(fake_store, m, obs);
    auto pub = sys->spawn(fake_publisher, obs);
    auto counts = sys->spawn(fake_counts, obs);
    this->store = caf::actor_cast<caf::actor>(store);
    this->counts = caf::actor_cast<caf::actor>(counts);
    auto gw = gateway::spawn_gateway(*sys, s,
                                     caf::actor_cast<persistence::persistence_actor>(store), pub,
                                     caf::actor_cast<counts::counts_actor>(counts), reg);
    for (auto a : {caf::actor_cast<caf::actor>(store), caf::actor_cast<caf::actor>(pub),
                   caf::actor_cast<caf::actor>(counts), caf::actor_cast<caf::actor>(gw)})
      spawned.push_back(a);
    drain();
    return gw;
  }

  static gateway::settings with(size_t max_in_flight, caf::timespan store_timeout = 60s) {
    gateway::settings s;
    s.max_in_flight = max_in_flight;
    s.store_timeout = store_timeout;
    return s;
  }

  // Sends a call with a reply and runs every message it causes (no timers).
  template <class T, class... Ts>
  std::shared_ptr<answers<T>> call(const gateway::gateway_actor& gw,
                                   clock_type::time_point deadline, Ts... xs) {
    auto a = std::make_shared<answers<T>>();
    caf::anon_send(gw, xs...,
                   reply<T>{[a](T& v) {
                              if (a->times++ == 0)
                                a->first = std::move(v);
                            },
                            [a](caf::error& e) {
                              if (a->times++ == 0)
                                a->first = caf::expected<T>{std::move(e)};
                            },
                            deadline});
    drain();
    return a;
  }

  std::shared_ptr<answers<gateway::ping_ack>> ping(const gateway::gateway_actor& gw, int64_t ts,
                                                   clock_type::time_point deadline) {
    return call<gateway::ping_ack>(gw, deadline, ping_atom::value, ts);
  }

  std::shared_ptr<answers<gateway::ping_ack>> ping(const gateway::gateway_actor& gw,
                                                   int64_t ts = 0) {
    return ping(gw, ts, clock_type::now() + 60s);
  }

  std::shared_ptr<answers<count_result>> count(const gateway::gateway_actor& gw, time_range r) {
    return call<count_result>(gw, clock_type::now() + 60s, count_atom::value, r);
  }

  // Fires every timer due in simulated time (the deadline sweep, a held
  // nudge) and runs what they cause.
  void fire_timers() {
    sched->trigger_timeouts();
    drain();
  }

  // Answers the oldest held commit.
  void commit_one() {
    BOOST_REQUIRE(obs->holding() > 0);
    caf::anon_send(store, resume_atom::value);
    drain();
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(gateway_actor, fixture)

BOOST_AUTO_TEST_CASE(ack_comes_after_store_then_publisher_is_nudged) {
  auto gw = make(mode::hold);
  auto before = now_ms();
  auto a = ping(gw);
  // Stored, not yet committed: no answer, no nudge.
  BOOST_REQUIRE(obs->rows.size() == 1u);
  BOOST_TEST(!a->answered());
  BOOST_TEST(obs->nudges == 0);
  commit_one();
  BOOST_REQUIRE(a->answered());
  BOOST_REQUIRE(*a->first);
  auto& ack = **a->first;
  BOOST_TEST(a->times == 1);
  BOOST_TEST(ack.pinged_at_ms >= before);
  BOOST_TEST(ack.pinged_at_ms <= now_ms());
  BOOST_TEST(obs->rows[0].id == ack.id);
  BOOST_TEST(obs->rows[0].partition == partition_of(ack.id, 3));
  BOOST_TEST(obs->rows[0].pinged_at_ms == ack.pinged_at_ms);
  BOOST_TEST(obs->nudges == 1);
}

BOOST_AUTO_TEST_CASE(client_timestamp_is_kept) {
  auto gw = make(mode::answer);
  auto a = ping(gw, 1'728'926'331'000);
  BOOST_REQUIRE(a->answered());
  BOOST_REQUIRE(*a->first);
  BOOST_TEST((*a->first)->pinged_at_ms == 1'728'926'331'000);
}

BOOST_AUTO_TEST_CASE(invalid_pings_never_reach_persistence) {
  auto gw = make(mode::answer);
  auto a = ping(gw, -5);
  BOOST_TEST(a->failed_with(ping_errc::invalid_argument));
  BOOST_TEST(obs->rows.empty());
  BOOST_TEST(obs->nudges == 0);
}

// Issue 19 item 13: a keyed ping's row carries its key and how long
// PostgreSQL keeps it; an unkeyed one carries none; a malformed key never
// reaches persistence.
BOOST_AUTO_TEST_CASE(idempotency_keys_travel_with_the_row) {
  auto s = with(100);
  s.idempotency_ttl = 90s;
  auto gw = make(mode::answer, s);
  auto keyed = call<gateway::ping_ack>(gw, clock_type::now() + 60s, ping_atom::value, int64_t{0},
                                       std::string{"0190a1b2-retry:1"});
  BOOST_REQUIRE(keyed->answered());
  BOOST_TEST(static_cast<bool>(*keyed->first));
  auto plain = ping(gw);
  BOOST_REQUIRE(obs->rows.size() == 2u);
  BOOST_TEST(obs->rows[0].key == "0190a1b2-retry:1");
  BOOST_TEST(obs->rows[0].key_ttl_ms == 90'000);
  BOOST_TEST(obs->rows[1].key == "");
  for (auto bad : {std::string{"has space"}, std::string{"quote\""}, std::string(129, 'k')}) {
    auto a = call<gateway::ping_ack>(gw, clock_type::now() + 60s, ping_atom::value, int64_t{0},
                                     bad);
    BOOST_TEST(a->failed_with(ping_errc::invalid_argument), bad);
  }
  BOOST_TEST(obs->rows.size() == 2u);
  // The front-ends' choice between field and header.
  std::string header = "h";
  BOOST_TEST(*gateway::idempotency_key("", &header) == "h");
  BOOST_TEST(*gateway::idempotency_key("f", nullptr) == "f");
  BOOST_TEST(*gateway::idempotency_key("same", &(header = "same")) == "same");
  BOOST_TEST(!gateway::idempotency_key("f", &(header = "other")));
  BOOST_TEST(*gateway::idempotency_key("", nullptr) == "");
}

BOOST_AUTO_TEST_CASE(persistence_errors_are_passed_on_without_nudge) {
  auto gw = make(mode::fail);
  auto a = ping(gw);
  BOOST_TEST(a->failed_with(ping_errc::unavailable));
  BOOST_TEST(obs->rows.size() == 1u);
  BOOST_TEST(obs->nudges == 0);
}

BOOST_AUTO_TEST_CASE(in_flight_work_is_bounded) {
  auto gw = make(mode::hold, with(3));
  // Three pings wait for a commit that has not come...
  std::vector<std::shared_ptr<answers<gateway::ping_ack>>> waiting;
  for (int i = 0; i < 3; ++i)
    waiting.push_back(ping(gw));
  BOOST_REQUIRE(obs->rows.size() == 3u);
  // ...so the fourth is refused at once (no timer ran) instead of queueing,
  // and never reaches persistence.
  auto fourth = ping(gw);
  BOOST_TEST(fourth->failed_with(ping_errc::resource_exhausted));
  BOOST_TEST(obs->rows.size() == 3u);
  for (auto& w : waiting)
    BOOST_TEST(!w->answered());
  // One commit frees one slot.
  commit_one();
  BOOST_TEST(waiting[0]->answered());
  auto fifth = ping(gw);
  BOOST_TEST(!fifth->answered());
  BOOST_TEST(obs->rows.size() == 4u);
}

BOOST_AUTO_TEST_CASE(draining_refuses_new_pings) {
  auto gw = make(mode::answer);
  caf::anon_send(gw, drain_atom::value);
  drain();
  auto a = ping(gw);
  BOOST_TEST(a->failed_with(ping_errc::shutting_down));
  BOOST_TEST(obs->rows.empty());
  // Counts are still answered while draining.
  auto c = count(gw, time_range{});
  BOOST_REQUIRE(c->answered());
  BOOST_TEST(static_cast<bool>(*c->first));
}

BOOST_AUTO_TEST_CASE(counts_validate_and_forward_the_range) {
  auto gw = make(mode::answer);
  auto r = count(gw, time_range{true, 60'000, 120'000});
  BOOST_REQUIRE(r->answered());
  BOOST_REQUIRE(*r->first);
  BOOST_TEST((*r->first)->count == 7);
  BOOST_TEST((*r->first)->source == "cache");
  auto bad = count(gw, time_range{true, 5, 1});
  BOOST_TEST(bad->failed_with(ping_errc::invalid_argument));
  BOOST_REQUIRE(obs->ranges.size() == 1u);
  BOOST_TEST((obs->ranges[0] == time_range{true, 60'000, 120'000}));
}

// Defect 7 of the exactness issue: an end past year 9999 reached PostgreSQL
// (SQLSTATE 22008, `internal`). It is invalid_argument, like Ping's check.
BOOST_AUTO_TEST_CASE(ranges_past_year_9999_are_invalid_arguments) {
  auto gw = make(mode::answer);
  for (auto r : {time_range{true, 0, max_timestamp_ms + 2},
                 time_range{true, max_timestamp_ms + 2, max_timestamp_ms + 3},
                 time_range{true, 0, std::numeric_limits<int64_t>::max()}}) {
    auto res = count(gw, r);
    BOOST_TEST(res->failed_with(ping_errc::invalid_argument));
  }
  // The last millisecond of 9999 is still countable (end is exclusive).
  auto last = count(gw, time_range{true, 0, max_timestamp_ms + 1});
  BOOST_REQUIRE(last->answered());
  BOOST_REQUIRE(*last->first);
  BOOST_TEST((*last->first)->count == 7);
  BOOST_TEST(obs->ranges.size() == 1u);
}

// Persistence never answers: the sweep answers deadline_exceeded once the
// caller's deadline has passed (not before), frees the in-flight slot, and
// the late commit is ignored (one answer per call).
BOOST_AUTO_TEST_CASE(a_call_is_answered_at_its_deadline) {
  auto gw = make(mode::hold, with(1));
  auto due = ping(gw, 0, clock_type::now()); // its deadline has passed by the sweep
  BOOST_REQUIRE(obs->rows.size() == 1u);
  BOOST_TEST(!due->answered()); // nothing answers it before the sweep
  fire_timers();
  BOOST_TEST(due->failed_with(ping_errc::deadline_exceeded));
  BOOST_TEST(reg.counter_at("gateway_calls_deadline_exceeded_total").load() == 1u);
  // The slot is free again: the next ping reaches persistence instead of
  // resource_exhausted, and a sweep before its deadline leaves it waiting.
  auto next = ping(gw);
  BOOST_TEST(obs->rows.size() == 2u);
  fire_timers();
  BOOST_TEST(!next->answered());
  // The late commit of the first ping finds no call: still one answer.
  commit_one();
  BOOST_TEST(due->times == 1);
  BOOST_TEST(due->failed_with(ping_errc::deadline_exceeded));
  // ...and the second ping's commit answers the second ping.
  commit_one();
  BOOST_REQUIRE(next->answered());
  BOOST_TEST(static_cast<bool>(*next->first));
  BOOST_TEST(next->times == 1);
}

// A gateway that stops with calls in flight still answers them (the reply
// left unanswered says so when it goes away): no caller waits forever.
BOOST_AUTO_TEST_CASE(calls_in_flight_are_answered_when_the_gateway_stops) {
  auto gw = make(mode::hold, with(10));
  auto a = ping(gw);
  BOOST_REQUIRE(obs->rows.size() == 1u);
  BOOST_REQUIRE(!a->answered());
  caf::anon_send_exit(gw, caf::exit_reason::user_shutdown);
  drain();
  BOOST_TEST(a->failed_with(ping_errc::unavailable));
  BOOST_TEST(a->times == 1);
}

// The gateway's store_timeout caps a caller's longer deadline: with a zero
// store timeout, a caller's minute-long deadline is answered at the first
// sweep; with a minute-long one, the same call still waits.
BOOST_AUTO_TEST_CASE(store_timeout_caps_the_callers_deadline) {
  auto capped = make(mode::hold, with(10, caf::timespan{0}));
  auto a = ping(capped);
  fire_timers();
  BOOST_TEST(a->failed_with(ping_errc::deadline_exceeded));
  auto uncapped = make(mode::hold, with(10, 60s));
  auto b = ping(uncapped);
  fire_timers();
  BOOST_TEST(!b->answered());
}

// The deadline heap is rebuilt when answered calls pile up behind a waiting
// one; the rebuilt entry keeps the gateway's cap, not the caller's deadline.
BOOST_AUTO_TEST_CASE(a_capped_deadline_survives_the_heap_rebuild) {
  auto gw = make(mode::hold, with(10, caf::timespan{0}));
  auto held = ping(gw); // the caller allows a minute, the cap none
  // Counts answered one after the other leave their deadlines behind the
  // held ping's until the heap is rebuilt (beyond 2 x live + 1024).
  for (int i = 0; i < 1100; ++i) {
    auto c = count(gw, time_range{});
    BOOST_REQUIRE(c->answered());
  }
  BOOST_TEST(!held->answered());
  fire_timers();
  BOOST_TEST(held->failed_with(ping_errc::deadline_exceeded)); // the cap, not the minute
}

// A burst of acks nudges the publisher at most once per nudge_interval,
// and the last ack of the burst is always followed by a nudge. The interval
// is an hour, so the held-back nudge comes only from its timer.
BOOST_AUTO_TEST_CASE(nudges_are_coalesced_but_never_lost) {
  auto s = with(100);
  s.nudge_interval = 1h;
  auto gw = make(mode::answer, s);
  for (int i = 0; i < 200; ++i) {
    auto a = ping(gw);
    BOOST_REQUIRE(a->answered());
  }
  // Coalesced: the first ack's nudge went out, the other 199 wait for one
  // held-back nudge (every nudge sent would make this 200).
  BOOST_TEST(obs->nudges == 1);
  // Never lost: when the interval ends, the held nudge is sent.
  fire_timers();
  BOOST_TEST(obs->nudges == 2);
  // One more ack right after: held again, then sent by its timer.
  BOOST_REQUIRE(ping(gw)->answered());
  BOOST_TEST(obs->nudges == 2);
  fire_timers();
  BOOST_TEST(obs->nudges == 3);
  // No ack, no nudge.
  fire_timers();
  BOOST_TEST(obs->nudges == 3);
}

// By default every commit's acks nudge the publisher at once (issue 18):
// the publisher coalesces nudges itself (one pass at a time, one more if
// nudged meanwhile), and a held-back nudge would cost a timer, a wake-up
// of CAF's clock thread per commit under load. No timer fired here.
BOOST_AUTO_TEST_CASE(by_default_each_commit_nudges_without_a_timer) {
  auto gw = make(mode::answer, with(100));
  for (int i = 0; i < 5; ++i)
    BOOST_REQUIRE(ping(gw)->answered());
  BOOST_TEST(obs->nudges == 5);
}

// What a batch's front-end got: each hand-over's answers, in order.
struct handovers {
  std::vector<std::vector<gateway::answer>> got;

  // The answers to call i (the contract is exactly one).
  std::vector<gateway::answer> to(uint32_t i) const {
    std::vector<gateway::answer> r;
    for (auto& h : got)
      for (auto& a : h)
        if (a.index == i)
          r.push_back(a);
    return r;
  }
  bool failed_with(uint32_t i, ping_errc e) const {
    auto r = to(i);
    return r.size() == 1 && r[0].err == e;
  }
  bool ok(uint32_t i) const {
    auto r = to(i);
    return r.size() == 1 && !r[0].err;
  }
};

gateway::call ping_call(int64_t ts, clock_type::time_point deadline) {
  gateway::call c;
  c.timestamp_ms = ts;
  c.deadline = deadline;
  return c;
}

gateway::call count_call(clock_type::time_point deadline, time_range range = {}) {
  gateway::call c;
  c.count = true;
  c.deadline = deadline;
  c.range = range;
  return c;
}

std::shared_ptr<handovers> send_batch(const gateway::gateway_actor& gw,
                                      std::vector<gateway::call> calls) {
  auto h = std::make_shared<handovers>();
  auto n = calls.size();
  caf::anon_send(gw, batch_atom::value,
                 gateway::call_batch{std::move(calls), std::make_shared<gateway::batch_reply>(
                                                         n, [h](std::vector<gateway::answer>& as) {
                                                           h->got.push_back(as);
                                                         })});
  return h;
}

// Issue 18: a front-end hands over the calls of one turn as one message.
// Each call of the batch gets the outcome it would get alone, exactly once:
// invalid (at once), busy (at once: max_in_flight reached by the calls
// before it in the same batch), ok (after its commit), deadline_exceeded
// (at the sweep; its late commit is ignored), and a count. The answers known
// in one turn go back in one hand-over.
BOOST_AUTO_TEST_CASE(a_batch_gets_each_calls_outcome_once) {
  auto gw = make(mode::hold, with(2));
  auto later = clock_type::now() + 60s;
  auto h = send_batch(gw, {ping_call(-5, later),            // 0: invalid
                           ping_call(0, later),             // 1: ok, after its commit
                           ping_call(0, clock_type::now()), // 2: deadline passes
                           ping_call(0, later),             // 3: busy (2 in flight)
                           count_call(later)});             // 4: the count reader's 7
  drain();
  BOOST_TEST(obs->rows.size() == 2u); // neither the invalid nor the busy one is stored
  BOOST_TEST(h->failed_with(0, ping_errc::invalid_argument));
  BOOST_TEST(h->failed_with(3, ping_errc::resource_exhausted));
  // Refusals went back together, at the end of the batch's turn.
  BOOST_TEST(h->got.size() == 2u);
  BOOST_REQUIRE(h->got.size() >= 1u);
  BOOST_TEST(h->got[0].size() == 2u);
  BOOST_REQUIRE(h->to(4).size() == 1u);
  BOOST_TEST(h->to(4)[0].count.count == 7);
  BOOST_TEST(h->to(1).empty());
  BOOST_TEST(h->to(2).empty());
  // The sweep answers the call whose deadline passed, not the other.
  fire_timers();
  BOOST_TEST(h->failed_with(2, ping_errc::deadline_exceeded));
  BOOST_TEST(h->to(1).empty());
  // The batch's pings went to persistence as one request, answered when
  // both rows are committed: that answers call 1; the late commit of call
  // 2 changes nothing.
  BOOST_TEST(obs->batches == 1);
  commit_one();
  BOOST_TEST(h->to(1).empty()); // its batch's other row is not committed yet
  commit_one();
  BOOST_REQUIRE(h->ok(1));
  BOOST_TEST(h->to(1)[0].ack.id == obs->rows[0].id);
  for (uint32_t i = 0; i < 5; ++i)
    BOOST_TEST(h->to(i).size() == 1u, "call " << i);
}

// Issue 18: the pings of a batch cross to persistence as one message (not
// a store request per row), and their outcomes come back as one: each call
// gets its own row's outcome.
BOOST_AUTO_TEST_CASE(a_batch_is_stored_with_one_request) {
  auto gw = make(mode::answer, with(10));
  auto later = clock_type::now() + 60s;
  auto h = send_batch(gw, {ping_call(0, later), count_call(later), ping_call(0, later),
                           ping_call(0, later)});
  drain();
  BOOST_TEST(obs->batches == 1);
  BOOST_TEST(obs->rows.size() == 3u);
  for (uint32_t i = 0; i < 4; ++i)
    BOOST_TEST(h->ok(i), "call " << i);
  BOOST_TEST(h->to(2)[0].ack.id == obs->rows[1].id);
  BOOST_TEST(h->to(3)[0].ack.id == obs->rows[2].id);
}

// A batch store that fails answers every ping of the batch with the error,
// once, and nudges nobody.
BOOST_AUTO_TEST_CASE(a_failed_batch_store_answers_each_ping) {
  auto gw = make(mode::fail, with(10));
  auto later = clock_type::now() + 60s;
  auto h = send_batch(gw, {ping_call(0, later), ping_call(0, later)});
  drain();
  BOOST_TEST(obs->batches == 1);
  BOOST_TEST(h->failed_with(0, ping_errc::unavailable));
  BOOST_TEST(h->failed_with(1, ping_errc::unavailable));
  BOOST_TEST(obs->nudges == 0);
}

// Issue 18: the gateway's store request carries no timeout of its own (no
// timer per request): a batch whose store never answers is still answered
// deadline_exceeded by the sweep at its deadline, once, and the late
// commit changes nothing.
BOOST_AUTO_TEST_CASE(a_batch_whose_store_never_answers_meets_its_deadline) {
  auto gw = make(mode::hold, with(10));
  auto h = send_batch(gw, {ping_call(0, clock_type::now()), ping_call(0, clock_type::now())});
  drain();
  BOOST_REQUIRE(obs->holding() == 2u);
  // The one timer pending is the gateway's sweep: no request timeout.
  BOOST_TEST(sched->clock().schedule().size() == 1u);
  BOOST_TEST(h->to(0).empty());
  fire_timers();
  BOOST_TEST(h->failed_with(0, ping_errc::deadline_exceeded));
  BOOST_TEST(h->failed_with(1, ping_errc::deadline_exceeded));
  commit_one();
  commit_one();
  BOOST_TEST(h->to(0).size() == 1u);
  BOOST_TEST(h->to(1).size() == 1u);
}

// The acks of one commit go back to their batch in one hand-over, and a
// single nudge follows them.
BOOST_AUTO_TEST_CASE(acks_of_one_commit_go_back_together) {
  auto gw = make(mode::hold, with(10));
  auto later = clock_type::now() + 60s;
  auto h = send_batch(gw, {ping_call(0, later), ping_call(0, later), ping_call(0, later)});
  drain();
  BOOST_REQUIRE(obs->holding() == 3u);
  BOOST_TEST(h->got.empty());
  // The store answers all three before the gateway runs (one commit).
  for (int i = 0; i < 3; ++i)
    caf::anon_send(store, resume_atom::value);
  drain();
  BOOST_REQUIRE(h->got.size() == 1u);
  BOOST_TEST(h->got[0].size() == 3u);
  for (uint32_t i = 0; i < 3; ++i)
    BOOST_TEST(h->ok(i));
  BOOST_TEST(obs->nudges == 1);
}

// A gateway that stops with batched calls in flight: the batch's reply,
// dropped, answers them unavailable; no caller waits forever.
BOOST_AUTO_TEST_CASE(batched_calls_in_flight_are_answered_when_the_gateway_stops) {
  auto gw = make(mode::hold, with(10));
  auto later = clock_type::now() + 60s;
  auto h = send_batch(gw, {ping_call(-1, later), ping_call(0, later)});
  drain();
  BOOST_TEST(h->failed_with(0, ping_errc::invalid_argument));
  BOOST_TEST(h->to(1).empty());
  caf::anon_send_exit(gw, caf::exit_reason::user_shutdown);
  drain();
  BOOST_TEST(h->failed_with(1, ping_errc::unavailable));
  BOOST_TEST(h->to(0).size() == 1u);
}

// Issue 20: the client's trace id travels with the row; a trace started at
// the front-end (no valid traceparent) lends the ping its id, and the row
// then stores no trace id.
BOOST_AUTO_TEST_CASE(the_calls_trace_reaches_the_row) {
  auto gw = make(mode::answer);
  trace::context client;
  BOOST_REQUIRE(trace::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", client));
  auto a = call<gateway::ping_ack>(gw, clock_type::now() + 60s, ping_atom::value, int64_t{0},
                                   std::string{}, client);
  BOOST_REQUIRE(a->answered());
  BOOST_REQUIRE(*a->first);
  BOOST_REQUIRE(obs->rows.size() == 1u);
  BOOST_TEST(obs->rows[0].trace_hi == 0x4bf92f3577b34da6ull);
  BOOST_TEST(obs->rows[0].trace_lo == 0xa3ce929d0e0e4736ull);
  BOOST_TEST(obs->rows[0].id != "4bf92f35-77b3-4da6-a3ce-929d0e0e4736");

  auto started = trace::start(nullptr, now_ms());
  auto b = call<gateway::ping_ack>(gw, clock_type::now() + 60s, ping_atom::value, int64_t{0},
                                   std::string{"retry-1"}, started);
  BOOST_REQUIRE(b->answered());
  BOOST_REQUIRE(*b->first);
  BOOST_REQUIRE(obs->rows.size() == 2u);
  BOOST_TEST(obs->rows[1].id == trace::uuid_text(started));
  BOOST_TEST((*b->first)->id == trace::uuid_text(started));
  BOOST_TEST(obs->rows[1].trace_hi == 0u);
  BOOST_TEST(obs->rows[1].trace_lo == 0u);
  BOOST_TEST(obs->rows[1].key == "retry-1");
}

// Issue 18: the PingCounts of a batch cross to the count reader as one
// request and come back as one answer (not a request and an answer per
// call); each call gets its own range's count, with the read that answered
// it, and the batch's answers go back in one hand-over.
BOOST_AUTO_TEST_CASE(a_batch_of_counts_is_one_request_and_one_answer) {
  auto gw = make(mode::answer, with(10));
  auto later = clock_type::now() + 60s;
  auto h = send_batch(gw, {count_call(later, {true, 0, 100}), count_call(later),
                           count_call(later, {true, 50, 300}), count_call(later, {true, 0, 400})});
  drain();
  BOOST_TEST(obs->count_requests == 0);
  BOOST_TEST(obs->count_batches == 1);
  BOOST_TEST(obs->ranges.size() == 4u);
  for (uint32_t i = 0; i < 4; ++i)
    BOOST_TEST(h->ok(i), "call " << i);
  BOOST_REQUIRE(h->ok(0) && h->ok(1) && h->ok(2) && h->ok(3));
  BOOST_TEST(h->to(0)[0].count.count == 100);
  BOOST_TEST(h->to(1)[0].count.count == 7);
  BOOST_TEST(h->to(2)[0].count.count == 300);
  BOOST_TEST(h->to(3)[0].count.count == 400);
  BOOST_TEST(h->to(3)[0].count.read == 5u); // the read id reaches the call
  BOOST_TEST(h->got.size() == 1u);          // one hand-over back
}

// A bad range fails only its call: an invalid one (start after end) at the
// gateway, never asked; one the count reader fails with that call's error;
// the others get their counts.
BOOST_AUTO_TEST_CASE(a_bad_range_in_a_batch_fails_only_that_call) {
  auto gw = make(mode::answer, with(10));
  auto later = clock_type::now() + 60s;
  auto h = send_batch(gw, {count_call(later, {true, 0, 100}), count_call(later, {true, 9, 3}),
                           count_call(later, {true, 13, 20}), count_call(later, {true, 0, 200})});
  drain();
  BOOST_TEST(obs->count_batches == 1);
  BOOST_TEST(obs->count_requests == 0);
  BOOST_TEST(obs->ranges.size() == 3u); // not the invalid one
  BOOST_TEST(h->failed_with(1, ping_errc::invalid_argument));
  BOOST_TEST(h->failed_with(2, ping_errc::unavailable));
  BOOST_REQUIRE(h->ok(0) && h->ok(3));
  BOOST_TEST(h->to(0)[0].count.count == 100);
  BOOST_TEST(h->to(3)[0].count.count == 200);
}

// A batch of counts whose answer never comes is answered at its deadline by
// the sweep (the request carries no timer), once; the late answer changes
// nothing.
BOOST_AUTO_TEST_CASE(a_batch_of_counts_never_answered_meets_its_deadline) {
  obs->hold_counts = true;
  auto gw = make(mode::answer, with(10));
  auto h = send_batch(gw, {count_call(clock_type::now()), count_call(clock_type::now())});
  drain();
  BOOST_REQUIRE(obs->held_counts.size() == 1u);
  BOOST_TEST(sched->clock().schedule().size() == 1u); // the sweep alone
  BOOST_TEST(h->to(0).empty());
  fire_timers();
  BOOST_TEST(h->failed_with(0, ping_errc::deadline_exceeded));
  BOOST_TEST(h->failed_with(1, ping_errc::deadline_exceeded));
  caf::anon_send(counts, resume_atom::value);
  drain();
  BOOST_TEST(h->to(0).size() == 1u);
  BOOST_TEST(h->to(1).size() == 1u);
}

// The Connect front-end's count board: a round asked is one message to the
// count reader; a parked call's deadline is the gateway's timer, which
// wakes the board's front-ends (they answer deadline_exceeded).
BOOST_AUTO_TEST_CASE(a_count_round_is_forwarded_and_its_deadline_wakes_the_board) {
  auto s = with(10);
  s.board = std::make_shared<counts::count_board>();
  int wakes = 0;
  s.board->listen([&wakes] { ++wakes; });
  auto gw = make(mode::answer, s);
  caf::anon_send(gw, count_atom::value, gateway::count_round{true, std::nullopt});
  drain();
  BOOST_TEST(obs->rounds == 1);
  BOOST_TEST(wakes == 0);
  caf::anon_send(gw, count_atom::value,
                 gateway::count_round{false, std::chrono::steady_clock::now() + 1s});
  drain();
  BOOST_TEST(obs->rounds == 1);
  advance(500ms);
  BOOST_TEST(wakes == 0);
  advance(600ms);
  BOOST_TEST(wakes == 1);
}

BOOST_AUTO_TEST_SUITE_END()
