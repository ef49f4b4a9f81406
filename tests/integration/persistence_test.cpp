// The persistence subsystem on a real PostgreSQL: migrations under the
// advisory lock, group commit, exact counts.
#define BOOST_TEST_MODULE persistence
#include <boost/test/unit_test.hpp>

#include <thread>

#include <caf/all.hpp>
#include <pqxx/pqxx>

#include "actors/common/ids.hpp"
#include "actors/persistence/migrations.hpp"
#include "actors/persistence/persistence.hpp"
#include "tests/support/harness.hpp"

using namespace ping;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_CASE(migrations_are_safe_to_run_concurrently_and_twice) {
  auto dsn = test::fresh_database("migrate");
  std::vector<std::thread> replicas;
  std::atomic<int> applied{0}, failed{0};
  for (int i = 0; i < 3; ++i)
    replicas.emplace_back([&] {
      try {
        applied += persistence::migrate(dsn);
      } catch (const std::exception& e) {
        failed++;
        BOOST_TEST_MESSAGE(e.what());
      }
    });
  for (auto& t : replicas)
    t.join();
  BOOST_TEST(failed.load() == 0);
  auto total = static_cast<int>(persistence::migrations().size());
  BOOST_TEST(applied.load() == total); // each migration applied exactly once
  BOOST_TEST(persistence::migrate(dsn) == 0);
  BOOST_TEST(test::query_int(dsn, "SELECT count(*) FROM schema_migrations") == total);
}

// Migration 0012 made the millisecond conversions inlinable (issue 18):
// they must still be the conversions of 0001, exactly, and the planner must
// inline them (an IMMUTABLE SQL function with a STABLE operator inside is
// run by the SQL function executor instead, ~6.5 us a call).
BOOST_AUTO_TEST_CASE(millisecond_conversions_are_exact_and_inlined) {
  auto dsn = test::fresh_database("conversions");
  persistence::migrate(dsn);
  pqxx::connection c{dsn};
  pqxx::nontransaction txn{c};
  // Either side of 1970, around now, at the years 1 and 9999, in a session
  // time zone other than UTC.
  txn.exec("SET timezone = 'America/New_York'");
  auto wrong = txn
                 .exec(
                   "SELECT count(*) FROM generate_series(-100000, 100000) g,"
                   " LATERAL (VALUES (g * 7919::int8), (1796000000000 + g * 7), (-62135596800000 + "
                   "g + 100000),"
                   "                 (253402300799999 - g - 100000), (g::int8)) AS x(v)"
                   " WHERE ms_to_timestamptz(v)"
                   "         IS DISTINCT FROM to_timestamp(div(v, 1000)) + mod(v, 1000) * interval "
                   "'1 millisecond'"
                   "    OR timestamptz_to_ms(ms_to_timestamptz(v)) <> v"
                   "    OR timestamptz_to_ms(ms_to_timestamptz(v))"
                   "         <> (extract(epoch FROM ms_to_timestamptz(v)) * 1000)::bigint")[0][0]
                 .as<int64_t>();
  BOOST_TEST(wrong == 0);
  std::string plan;
  for (const auto& row : txn.exec("EXPLAIN VERBOSE SELECT timestamptz_to_ms(ms_to_timestamptz(v))"
                                  " FROM generate_series(1, 3) AS v"))
    plan += row[0].as<std::string>() + "\n";
  BOOST_TEST_INFO(plan);
  BOOST_TEST(plan.find("ms_to_timestamptz(") == std::string::npos);
  BOOST_TEST(plan.find("timestamptz_to_ms(") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(concurrent_pings_share_commits) {
  auto dsn = test::fresh_database("groupcommit");
  persistence::migrate(dsn);
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  telemetry::registry reg;
  persistence::settings s;
  s.dsn = dsn;
  s.writers = 2;
  auto store = persistence::spawn_persistence(sys, s, reg);
  caf::scoped_actor self{sys};
  constexpr int n = 3000;
  // Fire all stores at once, then collect every reply.
  for (int i = 0; i < n; ++i) {
    auto id = make_uuid_v7(now_ms());
    self->send(store, store_atom::value, ping_row{id, 60'000 + i, now_ms(), partition_of(id, 3)});
  }
  int ok = 0;
  int64_t largest_batch = 0;
  for (int i = 0; i < n; ++i)
    self->receive(
      [&](int64_t batch) {
        ok++;
        largest_batch = std::max(largest_batch, batch);
      },
      [&](caf::error& err) { BOOST_TEST_MESSAGE(to_string(err)); }, caf::after(10s) >> [] {});
  BOOST_TEST(ok == n);
  BOOST_TEST(largest_batch > 1); // stores that arrived together shared a commit
  BOOST_TEST(test::query_int(dsn, "SELECT count(*) FROM pings") == n);
  BOOST_TEST(test::query_int(dsn, test::outbox_backlog) == n); // nothing relays here
  BOOST_TEST(test::query_int(dsn, "SELECT count(DISTINCT (kafka_partition, relay_seq)) FROM pings")
             == n);
  // Positions are dense per partition: 1..count, no gaps, no repeats.
  BOOST_TEST(test::query_int(dsn, "SELECT count(*) FROM (SELECT kafka_partition FROM pings "
                                  "GROUP BY 1 HAVING min(relay_seq) <> 1 "
                                  "OR max(relay_seq) <> count(*)) gaps")
             == 0);
  // Exact, half-open counts.
  auto count = [&](time_range r) {
    int64_t out = -1;
    self->request(store, 5s, count_atom::value, r)
      .receive([&](int64_t c) { out = c; }, [](caf::error&) {});
    return out;
  };
  BOOST_TEST(count({}) == n);
  BOOST_TEST(count({true, 60'000, 60'000 + 100}) == 100);
  BOOST_TEST(count({true, 60'100, 60'101}) == 1);
  BOOST_TEST(count({true, 60'000 + n, 1'000'000}) == 0);
  caf::anon_send_exit(store, caf::exit_reason::user_shutdown);
}
