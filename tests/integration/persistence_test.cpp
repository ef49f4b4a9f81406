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
#include "actors/persistence/sql.hpp"
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

namespace {

// Partitions whose stored positions are not dense (1..count, no gap, no
// repeat).
constexpr const char* position_gaps
  = "SELECT count(*) FROM (SELECT kafka_partition FROM pings GROUP BY 1"
    " HAVING min(relay_seq) <> 1 OR max(relay_seq) <> count(*)) gaps";

// Sends n stores at once to a persistence actor with two writers (writer 0
// owns partitions 0 and 2, writer 1 partition 1), collects every reply, and
// checks that each was committed and that stores arriving together shared
// a commit. Leaves the actor running for the caller's checks (`reg`
// outlives it).
persistence::persistence_actor store_concurrently(caf::actor_system& sys, telemetry::registry& reg,
                                                  const std::string& dsn, int n) {
  persistence::settings s;
  s.dsn = dsn;
  s.writers = 2;
  auto store = persistence::spawn_persistence(sys, s, reg);
  caf::scoped_actor self{sys};
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
  return store;
}

// Every grain's buckets against the stored rows: per (partition, bucket)
// no difference, and `total` pings in all.
void check_buckets_match_rows(const std::string& dsn, int64_t total) {
  for (int grain : {1, 60, 1440}) {
    BOOST_TEST_CONTEXT("grain " << grain) {
      auto g = std::to_string(grain);
      std::string diff = "SELECT count(*) FROM (SELECT kafka_partition, bucket_of(ms_to_minute("
                         "timestamptz_to_ms(pinged_at)), ";
      diff += g;
      diff += ") AS first_minute, count(*) AS n FROM pings GROUP BY 1, 2) r "
              "FULL JOIN (SELECT * FROM ping_buckets WHERE grain = ";
      diff += g;
      diff += ") b USING (kafka_partition, first_minute) WHERE r.n IS DISTINCT FROM b.n";
      BOOST_TEST(test::query_int(dsn, diff) == 0);
      BOOST_TEST(test::query_int(dsn, "SELECT sum(n) FROM ping_buckets WHERE grain = " + g)
                 == total);
    }
  }
  // And per second, in the minutes that keep seconds (migration 0019).
  BOOST_TEST(test::query_int(dsn, test::seconds_mismatches) == 0);
}

} // namespace

BOOST_AUTO_TEST_CASE(concurrent_pings_share_commits) {
  auto dsn = test::fresh_database("groupcommit");
  persistence::migrate(dsn);
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  telemetry::registry reg;
  constexpr int n = 3000;
  auto store = store_concurrently(sys, reg, dsn, n);
  BOOST_TEST(test::query_int(dsn, "SELECT count(*) FROM pings") == n);
  BOOST_TEST(test::query_int(dsn, test::outbox_backlog) == n); // nothing relays here
  BOOST_TEST(test::query_int(dsn, "SELECT count(DISTINCT (kafka_partition, relay_seq)) FROM pings")
             == n);
  // Positions are dense per partition: 1..count, no gaps, no repeats.
  BOOST_TEST(test::query_int(dsn, position_gaps) == 0);
  // Exact, half-open counts.
  caf::scoped_actor self{sys};
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
  // The count reader's shared read, counted by the statements it ran:
  // whole minutes; an edge read from its raw rows (100 of them, whatever
  // the hint says of its minute, all 3,000 pings lying in minute 1); an
  // edge whose side holds more than a sparse minute can (2,500 rows, about
  // 830 a partition), handed to the full form; the full form at once when
  // the hint says dense; the heads alone for the total.
  auto shared = [&](std::vector<time_range> rs, int64_t hint) {
    std::vector<int64_t> out;
    self->request(store, 5s, tail_atom::value, std::vector<int64_t>{}, false, rs, hint)
      .receive([&](persistence::read_counts& rc) { out = rc.ranges; },
               [](caf::error& err) { BOOST_TEST_MESSAGE(to_string(err)); });
    return out;
  };
  auto reads = [&](const char* form) {
    return reg.counter_at("persistence_shared_reads_total", {{"form", form}}).load();
  };
  BOOST_TEST((shared({{true, 0, 120'000}}, -1) == std::vector<int64_t>{n}));
  BOOST_TEST(reads("whole") == 1u);
  BOOST_TEST((shared({{true, 60'000, 60'100}}, 0) == std::vector<int64_t>{100}));
  BOOST_TEST(reads("sparse") == 1u);
  BOOST_TEST((shared({{true, 60'000, 62'500}}, -1) == std::vector<int64_t>{2'500}));
  BOOST_TEST(reads("sparse_then_any") == 1u);
  BOOST_TEST((shared({{true, 60'000, 60'100}}, n) == std::vector<int64_t>{100}));
  BOOST_TEST(reads("any") == 1u);
  BOOST_TEST((shared({time_range{}}, -1) == std::vector<int64_t>{n}));
  BOOST_TEST(reads("heads") == 1u);
  BOOST_TEST(reads("sparse") == 1u);
  caf::anon_send_exit(store, caf::exit_reason::user_shutdown);
}

// Migration 0013 (the relay's fast path): the writer learns each ping's
// outbox position from its insert, and it is the position PostgreSQL
// stored; a ping whose idempotency key is held gets none. The previous
// release's functions, which a gateway not yet upgraded calls during a
// rollout, still store and number the same way.
BOOST_AUTO_TEST_CASE(stored_positions_are_the_positions_postgres_gave) {
  auto dsn = test::fresh_database("positions");
  persistence::migrate(dsn);
  pqxx::connection c{dsn};
  persistence::sql::prepare_writer_statements(c, 3);
  auto row_at = [&](int32_t part, int64_t seq) {
    pqxx::nontransaction txn{c};
    auto r = txn.exec_params("SELECT id::text FROM pings WHERE kafka_partition = $1 AND "
                             "relay_seq = $2",
                             part, seq);
    return r.empty() ? std::string{} : r[0][0].as<std::string>();
  };
  auto make = [](int i) {
    auto id = make_uuid_v7(now_ms());
    ping_row r{id, 60'000 + i, now_ms(), partition_of(id, 3)};
    if (i % 4 == 0) {
      r.trace_hi = 0x4bf92f3577b34da6ull + static_cast<uint64_t>(i);
      r.trace_lo = 0xa3ce929d0e0e4736ull;
    }
    return r;
  };
  auto check = [&](const std::vector<ping_row>& rows, const persistence::sql::stored_batch& s) {
    BOOST_REQUIRE_EQUAL(s.seqs.size(), rows.size());
    int64_t stored = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      if (s.seqs[i] == 0)
        continue;
      ++stored;
      BOOST_TEST(row_at(rows[i].partition, s.seqs[i]) == rows[i].id);
    }
    BOOST_TEST(stored == s.stored);
  };
  std::vector<ping_row> plain;
  for (int i = 0; i < 25; ++i)
    plain.push_back(make(i));
  auto first = persistence::sql::store_batch(c, plain);
  BOOST_TEST(first.stored == 25);
  check(plain, first);
  // Keys: the 2nd ping repeats the 1st's key in the batch, the 3rd one a
  // key stored before: neither is stored, and neither gets a position.
  std::vector<ping_row> keyed;
  for (int i = 0; i < 10; ++i) {
    auto r = make(100 + i);
    if (i < 6)
      r.key = "k" + std::to_string(i);
    r.key_ttl_ms = 60'000;
    keyed.push_back(r);
  }
  keyed[1].key = keyed[0].key;
  auto held = make(200);
  held.key = "held";
  held.key_ttl_ms = 60'000;
  BOOST_TEST(persistence::sql::store_batch(c, {held}).stored == 1);
  keyed[2].key = "held";
  auto second = persistence::sql::store_batch(c, keyed);
  BOOST_TEST(second.stored == 8);
  BOOST_TEST(second.seqs[1] == 0);
  BOOST_TEST(second.seqs[2] == 0);
  check(keyed, second);
  // The previous release's entry points: the number stored, as before.
  {
    pqxx::nontransaction txn{c};
    auto id = [] { return make_uuid_v7(now_ms()); };
    auto a = id(), b = id(), d = id(), e = id();
    BOOST_TEST(txn
                 .exec("SELECT insert_pings('{" + a + "," + b
                       + "}'::uuid[], '{1,2}', '{3,4}', '{0,2}'::int2[])")[0][0]
                 .as<int64_t>()
               == 2);
    BOOST_TEST(txn
                 .exec("SELECT insert_pings('{" + d
                       + "}'::uuid[], '{1}', '{3}', '{1}'::int2[], "
                         "'{4bf92f35-77b3-4da6-a3ce-929d0e0e4736}'::uuid[])")[0][0]
                 .as<int64_t>()
               == 1);
    BOOST_TEST(txn
                 .exec("SELECT insert_keyed_pings('{" + e + "," + id()
                       + "}'::uuid[], '{1,2}', '{3,4}', '{1,1}'::int2[], '{old,held}', "
                         "'{60000,60000}')")[0][0]
                 .as<int64_t>()
               == 1);
  }
  // And the new writer numbers after them.
  std::vector<ping_row> last{make(300), make(301)};
  auto third = persistence::sql::store_batch(c, last);
  BOOST_TEST(third.stored == 2);
  check(last, third);
  // Dense per partition across all of it: 1..count, no gap, no repeat.
  BOOST_TEST(test::query_int(dsn, position_gaps) == 0);
  BOOST_TEST(test::query_int(dsn, "SELECT count(*) FROM pings") == 25 + 1 + 8 + 4 + 2);
  int64_t lower = 0;
  auto xs = persistence::sql::parse_int8_array("[2:3]={5,NULL}", lower);
  BOOST_TEST(lower == 2);
  BOOST_REQUIRE_EQUAL(xs.size(), 2u);
  BOOST_TEST(*xs[0] == 5);
  BOOST_TEST(!xs[1].has_value());
  BOOST_TEST(persistence::sql::parse_int8_array("{}", lower).empty());
  BOOST_CHECK_THROW(persistence::sql::parse_int8_array("{1,x}", lower), std::invalid_argument);
}

// Issue 18, third round (migration 0014): every ping of a commit goes to
// one Kafka partition, the writer's partitions in turn, so a commit locks
// and moves one outbox head and one bucket per grain and minute. The rows
// of one commit share their xmin.
BOOST_AUTO_TEST_CASE(a_commit_stores_its_pings_in_one_partition) {
  auto dsn = test::fresh_database("onepartition");
  persistence::migrate(dsn);
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  telemetry::registry reg;
  constexpr int n = 3000;
  auto store = store_concurrently(sys, reg, dsn, n);
  BOOST_TEST(test::query_int(dsn, "SELECT count(*) FROM (SELECT xmin::text FROM pings GROUP BY 1"
                                  " HAVING count(DISTINCT kafka_partition) > 1) mixed")
             == 0);
  BOOST_TEST(test::query_int(dsn, "SELECT count(DISTINCT kafka_partition) FROM pings") == 3);
  BOOST_TEST(test::query_int(dsn, position_gaps) == 0);
  caf::anon_send_exit(store, caf::exit_reason::user_shutdown);
}

// Migration 0014: store_pings() adds its batch to ping_buckets itself and
// the statement trigger skips its insert; every other insert into pings
// (the history generator, a hand-written INSERT, one in the same
// transaction right after store_pings()) still goes through the trigger.
// Either way the buckets of every grain hold exactly the rows' counts.
BOOST_AUTO_TEST_CASE(buckets_count_every_insert_exactly_once) {
  auto dsn = test::fresh_database("rollups");
  persistence::migrate(dsn);
  pqxx::connection c{dsn};
  persistence::sql::prepare_writer_statements(c, 3);
  int64_t t = 1'790'000'000'000;
  auto batch = [&](int n, std::optional<int32_t> part, bool keyed) {
    std::vector<ping_row> rows;
    for (int i = 0; i < n; ++i) {
      auto id = make_uuid_v7(now_ms());
      t += 7'777; // across minutes, hours and a day boundary over the batches
      rows.push_back({id, t, now_ms(), part ? *part : partition_of(id, 3)});
      if (keyed && i % 2 == 0) {
        rows.back().key = "key-" + std::to_string(i % 4); // half of them held
        rows.back().key_ttl_ms = 60'000;
      }
    }
    return rows;
  };
  BOOST_TEST(persistence::sql::store_batch(c, batch(40, 1, false)).stored == 40);
  BOOST_TEST(persistence::sql::store_batch(c, batch(40, std::nullopt, false)).stored == 40);
  BOOST_TEST(persistence::sql::store_batch(c, batch(40, 2, true)).stored == 22); // 2 keys claimed
  BOOST_TEST(persistence::sql::store_batch(c, batch(1, 0, false)).stored == 1);
  {
    pqxx::work txn{c};
    txn.exec("SELECT store_pings(array_agg(gen_random_uuid()), array_agg(-7000000000 + i * "
             "13001), array_agg(0::int8), array_agg(0::int2), '{}') FROM generate_series(1, 50) i");
    BOOST_TEST(txn.exec("SELECT current_setting('ping.rolled_up', true)")[0][0].c_str()
               != std::string{"on"});
    txn.exec("SELECT ensure_pings_ranges(0::int2, 1000)");
    txn.exec("INSERT INTO pings (id, pinged_at, received_at, kafka_partition, relay_seq) "
             "SELECT gen_random_uuid(), ms_to_timestamptz(-7000000000 + i * 17003), now(), 0, "
             "900 + i FROM generate_series(1, 20) i");
    txn.commit();
  }
  {
    pqxx::nontransaction txn{c};
    txn.exec("INSERT INTO pings (id, pinged_at, received_at, kafka_partition, relay_seq) "
             "SELECT gen_random_uuid(), ms_to_timestamptz(1790000000000 + i * 11003), now(), "
             "1, 900 + i FROM generate_series(1, 20) i");
  }
  BOOST_TEST(test::query_int(dsn, "SELECT count(*) FROM pings") == 40 + 40 + 22 + 1 + 50 + 20 + 20);
  check_buckets_match_rows(dsn, 40 + 40 + 22 + 1 + 50 + 20 + 20);
}

// store_pings() adds a batch within one minute to its three buckets directly
// (migration 0018); every other batch takes the general statement. Batches
// at both edges of a minute, one ms across, negative epochs (floor), and a
// day boundary: the buckets equal count(*) of the rows at every grain.
BOOST_AUTO_TEST_CASE(one_minute_batches_fill_their_buckets_exactly) {
  auto dsn = test::fresh_database("oneminute");
  persistence::migrate(dsn);
  pqxx::connection c{dsn};
  persistence::sql::prepare_writer_statements(c, 3);
  auto batch = [&](std::vector<int64_t> pinged, int32_t part) {
    std::vector<ping_row> rows;
    for (auto t : pinged)
      rows.push_back({make_uuid_v7(now_ms()), t, now_ms(), part});
    return persistence::sql::store_batch(c, rows).stored;
  };
  const int64_t day = 1'790'035'200'000; // a UTC midnight (a multiple of 86,400,000)
  std::vector<std::vector<int64_t>> batches = {
    {day, day + 59'999, day + 30'000},                // one minute, both edges
    {day - 1, day, day + 1},                          // across minute, hour and day
    {day + 59'999},                                   // one ping
    {day + 60'000, day + 60'000, day + 119'999},      // the next minute
    {-60'000, -1, -30'000},                           // the minute before the epoch
    {-1, 0},                                          // across the epoch
    {-7'000'000'000, -7'000'000'001, -6'999'999'999}, // across a negative minute's start
  };
  int64_t total = 0;
  int32_t part = 0;
  for (const auto& b : batches) {
    BOOST_TEST(batch(b, part) == static_cast<int64_t>(b.size()));
    total += static_cast<int64_t>(b.size());
    part = (part + 1) % 3;
  }
  check_buckets_match_rows(dsn, total);
}

// store_pings() counts a one-minute batch as cardinality(parts) (migration
// 0018), so ids, pinged_ms and received_ms longer than parts must fail and
// store nothing, as the general bucket statement made them fail before;
// shorter traces still mean NULL trace ids. The buckets stay exact.
BOOST_AUTO_TEST_CASE(store_pings_refuses_arrays_of_different_lengths) {
  auto dsn = test::fresh_database("arraylengths");
  persistence::migrate(dsn);
  pqxx::connection c{dsn};
  persistence::sql::prepare_writer_statements(c, 3);
  auto call = [&](const std::string& args) {
    pqxx::nontransaction txn{c};
    txn.exec("SELECT store_pings(" + args + ")");
  };
  const std::string ids3 = "ARRAY[gen_random_uuid(), gen_random_uuid(), gen_random_uuid()]";
  const std::string ms2 = "'{1790000000000,1790000000001}'::int8[]";
  const std::string ms3 = "'{1790000000000,1790000000001,1790000000002}'::int8[]";
  BOOST_CHECK_THROW(call(ids3 + ", " + ms3 + ", " + ms3 + ", '{1,1}'::int2[], '{}'::uuid[]"),
                    pqxx::sql_error);
  BOOST_CHECK_THROW(call(ids3 + ", " + ms2 + ", " + ms3 + ", '{1,1,1}'::int2[], '{}'::uuid[]"),
                    pqxx::sql_error);
  call(ids3 + ", " + ms3 + ", " + ms3 + ", '{1,1,1}'::int2[], ARRAY[gen_random_uuid()]");
  BOOST_TEST(test::query_int(dsn, "SELECT count(*) FROM pings") == 3);
  BOOST_TEST(test::query_int(dsn, "SELECT count(trace_id) FROM pings") == 1);
  // The partition still takes batches, at the positions its head gives.
  std::vector<ping_row> rows;
  for (int i = 0; i < 4; ++i)
    rows.push_back({make_uuid_v7(now_ms()), 1'790'000'000'000 + i, now_ms(), 1});
  BOOST_TEST(persistence::sql::store_batch(c, rows).stored == 4);
  BOOST_TEST(test::query_int(dsn, "SELECT count(*) FROM pings") == 7);
  BOOST_TEST(test::query_int(dsn, "SELECT next_seq - 1 FROM outbox_head WHERE kafka_partition = 1")
             == 7);
  for (int grain : {1, 60, 1440})
    BOOST_TEST(
      test::query_int(dsn, "SELECT sum(n) FROM ping_buckets WHERE grain = " + std::to_string(grain))
      == 7);
}
