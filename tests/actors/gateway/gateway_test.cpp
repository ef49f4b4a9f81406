// The gateway actor's logic against fake persistence, publisher and count
// reader actors (a unit test of one actor).
#define BOOST_TEST_MODULE gateway_actor
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <limits>
#include <mutex>

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

  gateway::gateway_actor make(mode m, size_t max_in_flight = 100) {
    gateway::settings s;
    s.max_in_flight = max_in_flight;
    s.store_timeout = 2s;
    auto store = sys.spawn(fake_store, m, obs);
    auto pub = sys.spawn(fake_publisher, obs);
    auto counts = sys.spawn(fake_counts, obs);
    auto gw = gateway::spawn_gateway(sys, s, store, pub, counts, reg);
    for (auto a : {caf::actor_cast<caf::actor>(store), caf::actor_cast<caf::actor>(pub),
                   caf::actor_cast<caf::actor>(counts), caf::actor_cast<caf::actor>(gw)})
      spawned.push_back(a);
    return gw;
  }

  // Sends a ping; returns the ack or the error.
  caf::expected<gateway::ping_ack> ping(const gateway::gateway_actor& gw, int64_t ts,
                                        caf::timespan timeout = 3s) {
    caf::expected<gateway::ping_ack> out{caf::make_error(caf::sec::request_timeout)};
    self->request(gw, timeout, ping_atom::value, ts)
      .receive([&](gateway::ping_ack& ack) { out = std::move(ack); },
               [&](caf::error& err) { out = std::move(err); });
    return out;
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
    self->send(gw, ping_atom::value, int64_t{0});
  BOOST_REQUIRE(
    [&] {
      for (int i = 0; i < 200; ++i) {
        {
          std::lock_guard<std::mutex> guard{obs->mtx};
          if (obs->rows.size() == 3u)
            return true;
        }
        std::this_thread::sleep_for(10ms);
      }
      return false;
    }());
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
  self->request(gw, 2s, count_atom::value, time_range{true, 60'000, 120'000})
    .receive(
      [](count_result& r) {
        BOOST_TEST(r.count == 7);
        BOOST_TEST(r.source == "cache");
      },
      [](caf::error& err) { BOOST_FAIL(caf::to_string(err)); });
  self->request(gw, 2s, count_atom::value, time_range{true, 5, 1})
    .receive([](count_result&) { BOOST_FAIL("bad range accepted"); },
             [](caf::error& err) { BOOST_TEST((err == ping_errc::invalid_argument)); });
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
                 time_range{true, 0, std::numeric_limits<int64_t>::max()}})
    self->request(gw, 2s, count_atom::value, r)
      .receive([](count_result&) { BOOST_FAIL("range past 9999 accepted"); },
               [](caf::error& err) { BOOST_TEST((err == ping_errc::invalid_argument)); });
  // The last millisecond of 9999 is still countable (end is exclusive).
  self->request(gw, 2s, count_atom::value, time_range{true, 0, max_timestamp_ms + 1})
    .receive([](count_result& r) { BOOST_TEST(r.count == 7); },
             [](caf::error& err) { BOOST_FAIL(caf::to_string(err)); });
  std::lock_guard<std::mutex> guard{obs->mtx};
  BOOST_TEST(obs->ranges.size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
