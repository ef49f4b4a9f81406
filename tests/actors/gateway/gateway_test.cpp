// The gateway actor's logic against fake persistence, publisher and count
// reader actors (a unit test of one actor).
#define BOOST_TEST_MODULE gateway_actor
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <limits>
#include <future>
#include <mutex>
#include <thread>

#include <caf/all.hpp>

#include "actors/common/errors.hpp"
#include "actors/common/ids.hpp"
#include "actors/gateway/gateway.hpp"

using namespace ping;
using namespace std::chrono_literals;

namespace {

enum class mode { answer, hold, fail };

// What the fakes saw; shared with the test thread.
struct observed {
  std::mutex mtx;
  std::vector<ping_row> rows;
  std::vector<time_range> ranges;
  std::atomic<int> nudges{0};
};

struct fake_store_state {
  std::vector<caf::typed_response_promise<int64_t>> held;
};

persistence::persistence_actor::behavior_type
fake_store(persistence::persistence_actor::stateful_pointer<fake_store_state> self,
           mode m, std::shared_ptr<observed> obs) {
  return {
    [=](store_atom, ping_row& row) -> caf::result<int64_t> {
      {
        std::lock_guard<std::mutex> guard{obs->mtx};
        obs->rows.push_back(row);
      }
      if (m == mode::fail)
        return caf::make_error(ping_errc::unavailable, "PostgreSQL is unavailable");
      if (m == mode::hold) {
        auto rp = self->make_response_promise<int64_t>();
        self->state.held.push_back(rp);
        return rp;
      }
      return int64_t{1};
    },
    [=](count_atom, time_range r) -> caf::result<int64_t> {
      std::lock_guard<std::mutex> guard{obs->mtx};
      obs->ranges.push_back(r);
      return int64_t{42};
    },
    [](minutes_atom, int64_t, int32_t n) { // not used by the gateway actor
      return std::vector<int64_t>(static_cast<size_t>(n), 0);
    },
    [](tail_atom, std::vector<int64_t>, bool) { // not used by the gateway actor
      return persistence::tail_counts{};
    },
    [](heads_atom) { // not used by the gateway actor
      return std::vector<persistence::outbox_position>{};
    },
  };
}

publisher::publisher_actor::behavior_type
fake_publisher(std::shared_ptr<observed> obs) {
  return {
    [=](publish_atom) { obs->nudges++; },
    [=](drain_atom, caf::timespan) { return true; },
  };
}

// A count reader that answers 7 from "cache" and records the ranges.
counts::counts_actor::behavior_type fake_counts(std::shared_ptr<observed> obs) {
  return {
    [=](count_atom, time_range r) {
      std::lock_guard<std::mutex> guard{obs->mtx};
      obs->ranges.push_back(r);
      return count_result{7, "cache"};
    },
    [](minutes_atom, int64_t, int32_t n) {
      return counts::minute_counts{std::vector<int64_t>(static_cast<size_t>(n), 0), "cache"};
    },
  };
}

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  telemetry::registry reg;
  std::shared_ptr<observed> obs = std::make_shared<observed>();
  std::vector<caf::actor> spawned;

  ~fixture() {
    for (auto& a : spawned)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }

  gateway::gateway_actor make(mode m, size_t max_in_flight = 100,
                              caf::timespan store_timeout = 2s) {
    gateway::settings s;
    s.max_in_flight = max_in_flight;
    s.store_timeout = store_timeout;
    auto store = sys.spawn(fake_store, m, obs);
    auto pub = sys.spawn(fake_publisher, obs);
    auto counts = sys.spawn(fake_counts, obs);
    auto gw = gateway::spawn_gateway(sys, s, store, pub, counts, reg);
    for (auto a : {caf::actor_cast<caf::actor>(store), caf::actor_cast<caf::actor>(pub),
                   caf::actor_cast<caf::actor>(counts), caf::actor_cast<caf::actor>(gw)})
      spawned.push_back(a);
    return gw;
  }

  // Sends a call with a reply and waits for its one answer (the test's own
  // wait is longer than the call's deadline: the gateway must answer).
  template <class T, class... Ts>
  caf::expected<T> call(const gateway::gateway_actor& gw, caf::timespan deadline, Ts... xs) {
    auto answers = std::make_shared<std::atomic<int>>(0);
    auto out = std::make_shared<std::promise<caf::expected<T>>>();
    auto fut = out->get_future();
    caf::anon_send(gw, xs...,
                   reply<T>{[=](T& v) { if (answers->fetch_add(1) == 0) out->set_value(std::move(v)); },
                            [=](caf::error& e) { if (answers->fetch_add(1) == 0) out->set_value(std::move(e)); },
                            std::chrono::steady_clock::now() + deadline});
    BOOST_REQUIRE(fut.wait_for(deadline + 5s) == std::future_status::ready);
    return fut.get();
  }

  caf::expected<gateway::ping_ack> ping(const gateway::gateway_actor& gw, int64_t ts,
                                        caf::timespan deadline = 3s) {
    return call<gateway::ping_ack>(gw, deadline, ping_atom::value, ts);
  }

  caf::expected<count_result> count(const gateway::gateway_actor& gw, time_range r,
                                    caf::timespan deadline = 2s) {
    return call<count_result>(gw, deadline, count_atom::value, r);
  }

  // A ping whose answer nobody waits for.
  void send_ping(const gateway::gateway_actor& gw, caf::timespan deadline = 10s) {
    caf::anon_send(gw, ping_atom::value, int64_t{0},
                   gateway::ping_reply{[](gateway::ping_ack&) {}, [](caf::error&) {},
                                       std::chrono::steady_clock::now() + deadline});
  }

  bool rows_reach(size_t n) {
    for (int i = 0; i < 300; ++i) {
      {
        std::lock_guard<std::mutex> guard{obs->mtx};
        if (obs->rows.size() >= n)
          return true;
      }
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(gateway_actor, fixture)

BOOST_AUTO_TEST_CASE(ack_comes_after_store_then_publisher_is_nudged) {
  auto gw = make(mode::answer);
  auto before = now_ms();
  auto ack = ping(gw, 0);
  BOOST_REQUIRE(ack);
  BOOST_TEST(ack->pinged_at_ms >= before);
  BOOST_TEST(ack->pinged_at_ms <= now_ms());
  std::lock_guard<std::mutex> guard{obs->mtx};
  BOOST_REQUIRE(obs->rows.size() == 1u);
  BOOST_TEST(obs->rows[0].id == ack->id);
  BOOST_TEST(obs->rows[0].partition == partition_of(ack->id, 3));
  BOOST_TEST(obs->rows[0].pinged_at_ms == ack->pinged_at_ms);
  BOOST_TEST(obs->nudges.load() == 1);
}

BOOST_AUTO_TEST_CASE(client_timestamp_is_kept) {
  auto gw = make(mode::answer);
  auto ack = ping(gw, 1'728'926'331'000);
  BOOST_REQUIRE(ack);
  BOOST_TEST(ack->pinged_at_ms == 1'728'926'331'000);
}

BOOST_AUTO_TEST_CASE(invalid_pings_never_reach_persistence) {
  auto gw = make(mode::answer);
  auto res = ping(gw, -5);
  BOOST_REQUIRE(!res);
  BOOST_TEST((res.error() == ping_errc::invalid_argument));
  std::lock_guard<std::mutex> guard{obs->mtx};
  BOOST_TEST(obs->rows.empty());
  BOOST_TEST(obs->nudges.load() == 0);
}

BOOST_AUTO_TEST_CASE(persistence_errors_are_passed_on_without_nudge) {
  auto gw = make(mode::fail);
  auto res = ping(gw, 0);
  BOOST_REQUIRE(!res);
  BOOST_TEST((res.error() == ping_errc::unavailable));
  BOOST_TEST(obs->nudges.load() == 0);
}

BOOST_AUTO_TEST_CASE(in_flight_work_is_bounded) {
  auto gw = make(mode::hold, 3);
  // Three pings wait for a commit that never comes...
  for (int i = 0; i < 3; ++i)
    send_ping(gw);
  BOOST_REQUIRE(rows_reach(3));
  // ...so the fourth is refused at once instead of queueing.
  auto start = std::chrono::steady_clock::now();
  auto res = ping(gw, 0, 1s);
  BOOST_REQUIRE(!res);
  BOOST_TEST((res.error() == ping_errc::resource_exhausted));
  BOOST_TEST((std::chrono::steady_clock::now() - start < 500ms));
}

BOOST_AUTO_TEST_CASE(draining_refuses_new_pings) {
  auto gw = make(mode::answer);
  self->send(gw, drain_atom::value);
  auto res = ping(gw, 0);
  BOOST_REQUIRE(!res);
  BOOST_TEST((res.error() == ping_errc::shutting_down));
}

BOOST_AUTO_TEST_CASE(counts_validate_and_forward_the_range) {
  auto gw = make(mode::answer);
  auto r = count(gw, time_range{true, 60'000, 120'000});
  BOOST_REQUIRE(r);
  BOOST_TEST(r->count == 7);
  BOOST_TEST(r->source == "cache");
  auto bad = count(gw, time_range{true, 5, 1});
  BOOST_REQUIRE(!bad);
  BOOST_TEST((bad.error() == ping_errc::invalid_argument));
  std::lock_guard<std::mutex> guard{obs->mtx};
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
    BOOST_REQUIRE(!res);
    BOOST_TEST((res.error() == ping_errc::invalid_argument));
  }
  // The last millisecond of 9999 is still countable (end is exclusive).
  auto last = count(gw, time_range{true, 0, max_timestamp_ms + 1});
  BOOST_REQUIRE(last);
  BOOST_TEST(last->count == 7);
  std::lock_guard<std::mutex> guard{obs->mtx};
  BOOST_TEST(obs->ranges.size() == 1u);
}

// Persistence never answers: the gateway answers deadline_exceeded at the
// caller's deadline, frees the in-flight slot, and ignores the late commit.
BOOST_AUTO_TEST_CASE(a_call_is_answered_at_its_deadline) {
  auto gw = make(mode::hold, 1);
  auto t0 = std::chrono::steady_clock::now();
  auto res = ping(gw, 0, 300ms);
  auto took = std::chrono::steady_clock::now() - t0;
  BOOST_REQUIRE(!res);
  BOOST_TEST((res.error() == ping_errc::deadline_exceeded));
  BOOST_TEST((took >= 300ms));
  BOOST_TEST((took < 2s));
  // The slot is free again: the next ping reaches persistence (and times
  // out too) instead of resource_exhausted.
  auto again = ping(gw, 0, 100ms);
  BOOST_REQUIRE(!again);
  BOOST_TEST((again.error() == ping_errc::deadline_exceeded));
  BOOST_TEST(reg.counter_at("gateway_calls_deadline_exceeded_total").load() == 2u);
}

// A gateway that stops with calls in flight still answers them (the reply
// left unanswered says so when it goes away): no caller waits forever.
BOOST_AUTO_TEST_CASE(calls_in_flight_are_answered_when_the_gateway_stops) {
  auto gw = make(mode::hold, 10);
  auto answer = std::make_shared<std::promise<caf::error>>();
  auto fut = answer->get_future();
  caf::anon_send(gw, ping_atom::value, int64_t{0},
                 gateway::ping_reply{[=](gateway::ping_ack&) { answer->set_value(caf::error{}); },
                                     [=](caf::error& e) { answer->set_value(e); },
                                     std::chrono::steady_clock::now() + 30s});
  BOOST_REQUIRE(rows_reach(1)); // it waits for a commit that never comes
  caf::anon_send_exit(gw, caf::exit_reason::user_shutdown);
  BOOST_REQUIRE(fut.wait_for(5s) == std::future_status::ready);
  BOOST_TEST((fut.get() == ping_errc::unavailable));
}

// The gateway's store_timeout caps a caller's longer deadline.
BOOST_AUTO_TEST_CASE(store_timeout_caps_the_callers_deadline) {
  auto gw = make(mode::hold, 10, 200ms);
  auto t0 = std::chrono::steady_clock::now();
  auto res = ping(gw, 0, 10s);
  BOOST_REQUIRE(!res);
  BOOST_TEST((res.error() == ping_errc::deadline_exceeded));
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < 3s));
}

// The deadline heap is rebuilt when answered calls pile up behind a waiting
// one; the rebuilt entry keeps the gateway's cap, not the caller's deadline.
BOOST_AUTO_TEST_CASE(a_capped_deadline_survives_the_heap_rebuild) {
  auto gw = make(mode::hold, 10, 2s);
  auto answer = std::make_shared<std::promise<caf::error>>();
  auto fut = answer->get_future();
  auto t0 = std::chrono::steady_clock::now();
  caf::anon_send(gw, ping_atom::value, int64_t{0},
                 gateway::ping_reply{[=](gateway::ping_ack&) { answer->set_value(caf::error{}); },
                                     [=](caf::error& e) { answer->set_value(e); },
                                     t0 + 60s});
  // Counts answered one after the other leave their (later) deadlines
  // behind the held ping's until the heap is rebuilt.
  for (int i = 0; i < 1100; ++i)
    BOOST_REQUIRE(count(gw, time_range{}, 10s));
  BOOST_REQUIRE(fut.wait_for(10s) == std::future_status::ready);
  BOOST_TEST((fut.get() == ping_errc::deadline_exceeded));
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < 5s)); // the 2 s cap, not 60 s
}

// A burst of acks nudges the publisher at most once per nudge_interval,
// and the last ack of the burst is always followed by a nudge.
BOOST_AUTO_TEST_CASE(nudges_are_coalesced_but_never_lost) {
  auto gw = make(mode::answer);
  for (int i = 0; i < 200; ++i)
    BOOST_REQUIRE(ping(gw, 0));
  auto after_burst = obs->nudges.load();
  BOOST_TEST(after_burst >= 1);
  // One more ack right after the burst: its nudge may be held back, but it
  // arrives within the interval (1 ms) plus scheduling.
  BOOST_REQUIRE(ping(gw, 0));
  auto deadline = std::chrono::steady_clock::now() + 2s;
  while (obs->nudges.load() == after_burst && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  BOOST_TEST(obs->nudges.load() > after_burst);
}

BOOST_AUTO_TEST_SUITE_END()
