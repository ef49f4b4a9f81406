// History at scale on a real PostgreSQL: every count statement the code
// runs keeps an index plan on a million rows under
// plan_cache_mode = force_generic_plan, the mode every session of the
// service is opened with (EXPLAIN of the statements taken from
// sql::count_statements(), never copies), and such a session plans each
// form of the shared read once; counts from the buckets equal
// counts of the rows for every kind of range; dropping raw ranges
// (retention) changes no answer; an edge minute is probed only in the raw
// ranges whose recorded pinged_at span can hold it (migration 0015).
#define BOOST_TEST_MODULE history
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <optional>
#include <random>
#include <regex>
#include <string>

#include <pqxx/pqxx>

#include "actors/common/dsn.hpp"
#include "actors/persistence/migrations.hpp"
#include "actors/persistence/retention.hpp"
#include "actors/persistence/sql.hpp"
#include "tests/support/harness.hpp"

using namespace ping;

namespace {

constexpr int64_t day_ms = 86'400'000;

// `rows` pings received over `days` days ending at `end_ms`, spread over 3
// Kafka partitions with gapless relay sequences in arrival order, stored in
// one INSERT ... SELECT (so whatever the schema derives from an insert is
// derived here too), relayed (cursor at the head) and analyzed.
void generate_history(pqxx::connection& c, int64_t rows, int64_t days, int64_t end_ms) {
  auto start_ms = end_ms - days * day_ms;
  auto step = std::to_string(days * day_ms / rows);
  pqxx::nontransaction txn{c};
  // The raw ranges the rows need (insert_pings() attaches them ahead of
  // the head as it goes).
  txn.exec("SELECT ensure_pings_ranges(p::int2, " + std::to_string(rows / 3 + 1)
           + ") FROM generate_series(0, 2) p");
  txn.exec("INSERT INTO pings (id, pinged_at, received_at, kafka_partition, relay_seq) "
           "SELECT gen_random_uuid(), ms_to_timestamptz(g.ms - (g.i * 7919) % 5000), "
           "ms_to_timestamptz(g.ms), (g.i % 3)::int2, g.i / 3 + 1 FROM ("
           "SELECT i, "
           + std::to_string(start_ms) + " + i * " + step
           + " AS ms "
             "FROM generate_series(0::int8, "
           + std::to_string(rows - 1) + ") i) g");
  txn.exec("INSERT INTO outbox_head (kafka_partition, next_seq) "
           "SELECT kafka_partition, max(relay_seq) + 1 FROM pings GROUP BY 1 "
           "ON CONFLICT (kafka_partition) DO UPDATE SET next_seq = excluded.next_seq");
  txn.exec("INSERT INTO outbox_cursor (kafka_partition, acked_seq) "
           "SELECT kafka_partition, next_seq - 1 FROM outbox_head "
           "ON CONFLICT (kafka_partition) DO UPDATE SET acked_seq = excluded.acked_seq");
  // The ranges filled are sealed: their pinged_at spans, as insert_pings()
  // records them when it attaches the next range.
  txn.exec("SELECT seal_pings_ranges(p::int2) FROM generate_series(0, 2) p");
  txn.exec("ANALYZE");
}

std::string explain(pqxx::connection& c, const persistence::sql::statement& s) {
  // libpqxx 6 prepares on first use: prepare the code's text here, the
  // way libpq does (parameter types inferred).
  std::string call = "EXPLAIN EXECUTE " + std::string{s.name};
  if (!s.example_args.empty()) {
    call += "(";
    for (size_t i = 0; i < s.example_args.size(); ++i)
      call += (i ? ", " : "") + s.example_args[i];
    call += ")";
  }
  pqxx::nontransaction txn{c};
  txn.exec("PREPARE " + std::string{s.name} + " AS " + s.sql);
  std::string plan;
  for (const auto& row : txn.exec(call))
    plan += row[0].as<std::string>() + "\n";
  return plan;
}

} // namespace

BOOST_AUTO_TEST_CASE(every_count_statement_keeps_an_index_plan_on_a_million_rows) {
  auto dsn = test::fresh_database("explain");
  persistence::migrate(dsn);
  // A session as the code opens its own (with_timeouts(): no JIT, ...).
  pqxx::connection c{with_timeouts(dsn, std::chrono::seconds(5), std::chrono::minutes(5))};
  // The outbox rows of 3 partitions, as a writer makes them.
  persistence::sql::prepare_writer_statements(c, 3);
  generate_history(c, 1'000'000, 60, 1'790'000'000'000);
  {
    // Half an hour of dense minutes too (about 2,140 pings a minute, 714
    // a partition): their seconds are kept (migration 0019), so the
    // planner sees ping_seconds as the history it becomes.
    pqxx::nontransaction txn{c};
    txn.exec("SELECT insert_pings(array_agg(gen_random_uuid()), array_agg(1789998960000 - 1800000"
             " + i * 28), array_agg(1790000000000::int8), array_agg((i % 3)::int2))"
             " FROM generate_series(0, 62999) i");
    txn.exec("ANALYZE");
    BOOST_TEST(test::query_int(dsn, "SELECT count(*) FROM ping_seconds") >= 4000);
  }
  {
    pqxx::nontransaction txn{c};
    // The generic plans examined below are the ones the service runs: its
    // sessions are opened with force_generic_plan (with_timeouts()).
    BOOST_TEST(txn.exec("SHOW plan_cache_mode")[0][0].as<std::string>() == "force_generic_plan");
    // JIT's threshold scaled to this table (the default 100,000 is passed
    // by the relay's generic plan at 20 M rows, a twentieth at 1 M).
    txn.exec("SET jit_above_cost = 5000");
  }
  // A sequential scan of pings (any of its ranges) or of the buckets (minutes or seconds) is a
  // failure, unless the range scanned holds no row at all: the range
  // insert_pings() keeps ready ahead of the head, which PostgreSQL rightly
  // scans rather than index while it is empty. pings_ranges is not
  // history: one row per raw range (4 M pings), read whole per edge probe.
  const std::regex history_scan{R"(Seq Scan on ((pings(?!_ranges)|ping_buckets|ping_seconds)\w*))"};
  auto scans_rows = [&](const std::string& plan) {
    for (std::sregex_iterator it{plan.begin(), plan.end(), history_scan}, end; it != end; ++it) {
      pqxx::nontransaction txn{c};
      if (txn.exec("SELECT EXISTS (SELECT 1 FROM " + txn.quote_name((*it)[1].str()) + ")")[0][0]
            .as<bool>())
        return true;
    }
    return false;
  };
  auto statements = persistence::sql::count_statements();
  BOOST_TEST(!statements.empty());
  // The relay's read runs every pass, with or without new pings.
  for (auto& s : persistence::sql::relay_statements())
    statements.push_back(s);
  for (auto& s : statements) {
    auto plan = explain(c, s);
    BOOST_TEST_MESSAGE(s.name << ":\n" << plan);
    BOOST_TEST(!scans_rows(plan), "statement " << s.name << " scans the history:\n" << plan);
    // No JIT (the code turns it off for its sessions): compiling a generic
    // plan took 60-300 ms a count on an empty table, and 1-5 s for each of
    // the relay's reads at 20 M rows.
    BOOST_TEST(plan.find("JIT:") == std::string::npos,
               "statement " << s.name << " is JIT-compiled");
    // No bitmap scan in the shared read: each rescan of a bitmap heap scan
    // asks the kernel for the table's size (an lseek), once per bucket
    // range of every range of the read.
    const std::string name{s.name};
    if (name.rfind("read_counts", 0) == 0)
      BOOST_TEST(plan.find("Bitmap Heap Scan") == std::string::npos, name << " scans by bitmap:\n"
                                                                          << plan);
    // An edge probe reads the entries of its interval in its raw range and
    // no others: pinged_at and the range's relay_seq bounds are conditions
    // of one index (migration 0016), so no plan can read a whole leaf's
    // key (a BitmapAnd with the primary key's relay_seq range did, 811 ms
    // a range at 20 M rows).
    if (name == "read_counts" || name == "read_counts_sparse" || name == "count_range") {
      const std::regex probe{
        R"(Scan using \w*pinged_at\w* on pings_p\w+[^\n]*\n\s*Index Cond: ([^\n]*))"};
      int probes = 0;
      for (std::sregex_iterator it{plan.begin(), plan.end(), probe}, end; it != end; ++it) {
        ++probes;
        BOOST_TEST((*it)[1].str().find("relay_seq") != std::string::npos,
                   s.name << " probes a raw range by pinged_at alone: " << (*it)[0].str());
      }
      BOOST_TEST(probes > 0, s.name << " has no edge probe by pinged_at:\n" << plan);
      BOOST_TEST(plan.find("BitmapAnd") == std::string::npos, s.name << " combines indexes:\n"
                                                                     << plan);
    }
  }
  // A dense minute's seconds are read per partition by the primary key
  // (kafka_partition, second): no index of ping_seconds starts with
  // `second`, so no plan can read a range of seconds with the other
  // partitions' rows filtered out (migration 0019's index on `second`
  // allowed it, and the planner took it: 180 rows read per edge and
  // partition instead of 60; migration 0020 dropped it).
  BOOST_TEST(test::query_int(dsn, "SELECT count(*) FROM pg_index i JOIN pg_attribute a"
                                  " ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
                                  " WHERE i.indrelid = 'ping_seconds'::regclass"
                                  " AND a.attname = 'second'")
             == 0);
  // An edge minute whose part inside the range is most of the minute: the
  // shared read counts the rest of the minute (1 s here) and subtracts it
  // from the minute's bucket, so its probes read a fraction of the
  // minute's rows, not all of them (no raw row was dropped).
  const int64_t minute = (1'790'000'000'000 - 30 * day_ms) / 60'000;
  const int64_t lo = minute * 60'000 + 1'000, hi = (minute + 1) * 60'000;
  pqxx::nontransaction txn{c};
  auto in_minute = txn
                     .exec("SELECT count(*) FROM pings WHERE pinged_at >= ms_to_timestamptz("
                           + std::to_string(minute * 60'000)
                           + ") AND pinged_at < ms_to_timestamptz(" + std::to_string(hi)
                           + ")")[0][0]
                     .as<int64_t>();
  BOOST_TEST(in_minute >= 8);
  std::string plan;
  for (const auto& row : txn.exec(
         "EXPLAIN (ANALYZE, TIMING OFF) EXECUTE read_counts('{}', '{}', false, '{}', '{}', '{}', "
         "'{}', '{0}', '{"
         + std::to_string(minute) + "}', '{" + std::to_string(lo) + "}', '{" + std::to_string(hi)
         + "}', 9223372036854775807)"))
    plan += row[0].as<std::string>() + "\n";
  const std::regex probe{
    R"(Index (?:Only )?Scan using pings\w*_pinged_at\w*_idx[^\n]*actual rows=(\d+) loops=(\d+))"};
  int64_t probed = 0;
  for (std::sregex_iterator it{plan.begin(), plan.end(), probe}, end; it != end; ++it)
    probed += std::stoll((*it)[1].str()) * std::stoll((*it)[2].str());
  BOOST_TEST(probed * 2 < in_minute, "the edge probes read " << probed << " of the minute's "
                                                             << in_minute << " rows:\n"
                                                             << plan);
  // And the answer is the count of the rows.
  pqxx::connection r{with_timeouts(dsn, std::chrono::seconds(5), std::chrono::minutes(5))};
  persistence::sql::prepare_count_statements(r);
  pqxx::nontransaction read_txn{r};
  auto rc = persistence::sql::read(read_txn, {}, false, {time_range{true, lo, hi}});
  BOOST_TEST(rc.ranges.at(0)
             == in_minute
                  - txn
                      .exec("SELECT count(*) FROM pings WHERE pinged_at >= "
                            "ms_to_timestamptz("
                            + std::to_string(minute * 60'000)
                            + ") AND pinged_at < ms_to_timestamptz(" + std::to_string(lo)
                            + ")")[0][0]
                      .as<int64_t>());
}

namespace {

// count(*) of the rows, on its own connection.
int64_t rows_in(pqxx::connection& raw, int64_t start_ms, int64_t end_ms) {
  pqxx::nontransaction txn{raw};
  return txn
    .exec("SELECT count(*) FROM pings WHERE pinged_at >= ms_to_timestamptz("
          + std::to_string(start_ms) + ") AND pinged_at < ms_to_timestamptz("
          + std::to_string(end_ms) + ")")[0][0]
    .as<int64_t>();
}

std::optional<int64_t> count(pqxx::connection& c, const time_range& r) {
  pqxx::read_transaction txn{c};
  return persistence::sql::count(txn, r);
}

// Ranges of every kind over [from_ms, to_ms): aligned on minutes, hours and
// days, unaligned, inside one minute, across a minute boundary, 1 minute to
// 400 days, some reaching past either end of the history.
std::vector<time_range> many_ranges(int64_t from_ms, int64_t to_ms, int n, uint32_t seed) {
  std::mt19937_64 rng{seed};
  std::vector<time_range> out;
  const int64_t lengths[] = {1,         59'999,     60'000,     61'000,           3'600'000,
                             3'599'999, 86'400'000, 7 * day_ms, 30 * day_ms + 17, 400 * day_ms};
  for (int i = 0; i < n; ++i) {
    auto len = lengths[static_cast<size_t>(i) % std::size(lengths)];
    auto start = from_ms - day_ms
                 + static_cast<int64_t>(rng() % static_cast<uint64_t>(to_ms - from_ms + day_ms));
    switch (i % 4) {
      case 0:
        start -= start % 60'000;
        break; // minute-aligned start
      case 1:
        start -= start % 3'600'000;
        break; // hour-aligned start
      case 2:
        start -= start % day_ms;
        break; // day-aligned start
      default:
        break; // unaligned
    }
    out.push_back(time_range{true, start, start + len});
  }
  return out;
}

// A migrated database whose raw ranges hold `range_rows` sequences each
// (small, so that a short history spans many of them); its DSN.
std::string database_with_ranges(const std::string& name, int64_t range_rows) {
  auto dsn = test::fresh_database(name);
  persistence::migrate(dsn);
  pqxx::connection c{dsn};
  pqxx::nontransaction txn{c};
  txn.exec("UPDATE pings_layout SET range_rows = " + std::to_string(range_rows));
  return dsn;
}

// How often this session executed a prepared statement (either plan; 0
// before its first execution: libpqxx prepares a statement when first used).
int64_t executions(pqxx::transaction_base& txn, const char* name) {
  return txn
    .exec("SELECT coalesce(sum(generic_plans + custom_plans), 0)::int8"
          " FROM pg_prepared_statements WHERE name = "
          + txn.quote(name))[0][0]
    .as<int64_t>();
}

} // namespace

BOOST_AUTO_TEST_CASE(counts_from_buckets_equal_counts_of_rows) {
  auto dsn = database_with_ranges("buckets", 5000);
  pqxx::connection c{dsn};
  persistence::sql::prepare_writer_statements(c, 3);
  const int64_t end_ms = 1'790'000'000'000, days = 60;
  generate_history(c, 90'000, days, end_ms);
  pqxx::connection raw{dsn};
  // And some through insert_pings(), as the writers store them: the buckets
  // are derived in the same transaction.
  {
    pqxx::nontransaction txn{c};
    txn.exec("SELECT insert_pings(array_agg(gen_random_uuid()), array_agg(" + std::to_string(end_ms)
             + " - i * 7777), array_agg(" + std::to_string(end_ms)
             + "::int8), array_agg((i % 3)::int2)) "
               "FROM generate_series(1, 3000) i");
  }
  BOOST_TEST(*count(c, time_range{}) == 93'000);
  BOOST_TEST(test::query_int(dsn, "SELECT count(*) FROM pings") == 93'000);
  int checked = 0;
  for (auto& r : many_ranges(end_ms - days * day_ms, end_ms, 400, 17)) {
    auto n = count(c, r);
    BOOST_REQUIRE(n.has_value());
    BOOST_TEST(*n == rows_in(raw, r.start_ms, r.end_ms),
               "range [" << r.start_ms << ", " << r.end_ms << ")");
    ++checked;
  }
  BOOST_TEST(checked == 400);
  // The count reader's shared read: the same 400 ranges and the total in
  // one statement answer the same, and the tail above a snapshot comes per
  // minute from the same snapshot.
  {
    auto ranges = many_ranges(end_ms - days * day_ms, end_ms, 400, 17);
    ranges.push_back(time_range{});
    std::vector<int64_t> expected;
    for (auto& r : ranges)
      expected.push_back(*count(c, r));
    // The same ranges on whole minutes.
    std::vector<time_range> whole;
    std::vector<int64_t> whole_expected;
    for (auto& r : ranges)
      if (r.bounded) {
        whole.push_back({true, r.start_ms - r.start_ms % 60'000, r.end_ms - r.end_ms % 60'000});
        whole_expected.push_back(*count(c, whole.back()));
      }
    pqxx::nontransaction txn{c};
    auto rc = persistence::sql::read(txn, {30'500, 30'990, 31'000}, true, ranges);
    BOOST_TEST(rc.tail.consistent);
    BOOST_TEST(rc.tail.total == 510);
    int64_t in_minutes = 0;
    for (auto& [m, k] : rc.tail.minutes) {
      in_minutes += k;
      BOOST_TEST(k
                 == test::query_int(dsn, "SELECT count(*) FROM pings WHERE ((kafka_partition = 0"
                                         " AND relay_seq > 30500) OR (kafka_partition = 1 AND"
                                         " relay_seq > 30990)) AND pinged_at >= ms_to_timestamptz("
                                           + std::to_string(m * 60'000)
                                           + ") AND pinged_at <"
                                             " ms_to_timestamptz("
                                           + std::to_string(m * 60'000 + 60'000) + ")"));
    }
    BOOST_TEST(in_minutes == 510);
    BOOST_REQUIRE(rc.ranges.size() == ranges.size());
    for (size_t i = 0; i < ranges.size(); ++i)
      BOOST_TEST(rc.ranges[i] == expected[i],
                 "range [" << ranges[i].start_ms << ", " << ranges[i].end_ms << ")");
    // The same read with the hint that its edges are sparse (no minute
    // here passes 600 pings in a partition): the edges from their raw rows
    // alone, the same answers; and ranges on whole minutes, which have no
    // edge, by the statement without them.
    auto runs = [&](const char* name) { return executions(txn, name); };
    // Without a hint (-1) it is taken the same way; with one above 600
    // pings, by read_counts at once.
    for (int64_t hint : {0, -1, 601}) {
      auto sparse_runs = runs("read_counts_sparse"), any_runs = runs("read_counts");
      auto sparse = persistence::sql::read(txn, {30'500, 30'990, 31'000}, true, ranges, hint);
      BOOST_TEST(runs("read_counts_sparse") == sparse_runs + (hint <= 600 ? 1 : 0), hint);
      BOOST_TEST(runs("read_counts") == any_runs + (hint <= 600 ? 0 : 1), hint);
      BOOST_TEST(sparse.tail.total == rc.tail.total);
      BOOST_TEST(sparse.tail.minutes == rc.tail.minutes);
      BOOST_TEST(sparse.ranges == rc.ranges);
    }
    auto whole_runs = runs("read_counts_whole");
    auto aligned = persistence::sql::read(txn, {30'500, 30'990, 31'000}, true, whole);
    BOOST_TEST(runs("read_counts_whole") == whole_runs + 1);
    BOOST_TEST(aligned.tail.minutes == rc.tail.minutes);
    BOOST_REQUIRE(aligned.ranges.size() == whole.size());
    for (size_t i = 0; i < whole.size(); ++i)
      BOOST_TEST(aligned.ranges[i] == whole_expected[i],
                 "range [" << whole[i].start_ms << ", " << whole[i].end_ms << ")");
    // Totals only: the heads alone (read_heads), the tail head - seq.
    auto totals = persistence::sql::read(txn, {30'000, 31'000, 31'000}, false, {});
    BOOST_TEST(totals.tail.consistent);
    BOOST_TEST(totals.tail.total == 1'000);
    BOOST_TEST(totals.tail.minutes.empty());
    // No snapshot: the tail is every ping.
    BOOST_TEST(persistence::sql::read(txn, {}, false, {}).tail.total == 93'000);
    // A snapshot ahead of a head, or missing a partition that holds pings,
    // cannot be made exact.
    BOOST_TEST(!persistence::sql::read(txn, {31'001, 31'000, 31'000}, false, {}).tail.consistent);
    BOOST_TEST(!persistence::sql::read(txn, {31'000, 31'000}, true, {}).tail.consistent);
  }
  // One shared read fetches each bucket row once (sql::plan_read): a
  // 30-day range that starts on a day and ends where a 60-day range ends
  // reads no bucket the 60-day range does not read already (heap rows of
  // ping_buckets fetched by the statement, from pg_stat_xact_user_tables).
  {
    auto end = end_ms - 12'345;
    time_range wide{true, end - days * day_ms + 1, end};
    time_range inner{true, (end / day_ms - 30) * day_ms, end};
    auto fetched = [&](const std::vector<time_range>& rs) {
      pqxx::work txn{c};
      auto rows = [&] {
        return txn
          .exec(
            "SELECT idx_tup_fetch FROM pg_stat_xact_user_tables WHERE relname = 'ping_buckets'")[0]
                                                                                                [0]
          .as<int64_t>();
      };
      auto before = rows();
      auto rc = persistence::sql::read(txn, {}, false, rs);
      BOOST_TEST(rc.ranges.size() == rs.size());
      return rows() - before;
    };
    auto alone = fetched({wide});
    BOOST_TEST(alone > 0);
    BOOST_TEST(fetched({wide, inner}) == alone);
    // A few seconds inside one minute that holds pings: no bucket, one
    // short edge counted from its rows; its minute's bucket is not read
    // (only a flipped edge, or dropped raw rows, use it; a sparse minute
    // has no seconds, migration 0019).
    auto minute = (end_ms - 3 * day_ms) / 60'000;
    BOOST_REQUIRE(rows_in(raw, minute * 60'000, minute * 60'000 + 60'000) > 0);
    BOOST_TEST(fetched({time_range{true, minute * 60'000 + 1'000, minute * 60'000 + 9'000}}) == 0);
  }
  // The console's minutes, and a resync from scratch and from a sequence.
  {
    pqxx::read_transaction txn{c};
    auto first = (end_ms - 3'600'000) / 60'000;
    auto minutes = persistence::sql::per_minute(txn, first, 60);
    for (int i = 0; i < 60; ++i)
      BOOST_TEST(minutes[static_cast<size_t>(i)]
                 == rows_in(raw, (first + i) * 60'000, (first + i + 1) * 60'000));
    auto all = persistence::sql::count_sequences(txn, 1, 0, first);
    auto some = persistence::sql::count_sequences(txn, 1, 20'000, first);
    BOOST_TEST(all.head == 31'000);
    BOOST_TEST(all.count == 31'000);
    BOOST_TEST(some.count == 11'000);
    int64_t in_minutes = 0;
    for (auto& [m, k] : all.minutes)
      in_minutes += k;
    BOOST_TEST(in_minutes
               == test::query_int(dsn, "SELECT count(*) FROM pings WHERE kafka_partition = 1 "
                                       "AND pinged_at >= ms_to_timestamptz("
                                         + std::to_string(first * 60'000) + ")"));
  }
}

// A session opened as the service opens its own plans each form of the
// shared read once, the generic plan the EXPLAIN test proves, and reuses it:
// no execution gets a custom plan. Left to plan_cache_mode = auto, the first
// five executions of each are custom plans, and PostgreSQL went on planning
// read_counts afresh on every call (1.2 ms each, against 0.16-0.26 ms to
// run it).
BOOST_AUTO_TEST_CASE(a_session_of_ours_plans_each_form_of_the_read_once) {
  auto dsn = database_with_ranges("plans", 2000);
  pqxx::connection c{with_timeouts(dsn, std::chrono::seconds(5), std::chrono::minutes(5))};
  persistence::sql::prepare_writer_statements(c, 3);
  const int64_t end_ms = 1'790'000'000'000;
  generate_history(c, 20'000, 3, end_ms);
  auto ranges = many_ranges(end_ms - 3 * day_ms, end_ms, 12, 7);
  std::vector<time_range> whole;
  for (auto& r : ranges)
    whole.push_back({true, r.start_ms - r.start_ms % 60'000, r.end_ms - r.end_ms % 60'000});
  pqxx::nontransaction txn{c};
  for (int i = 0; i < 8; ++i) {
    auto sparse = persistence::sql::read(txn, {10, 10, 10}, true, ranges, 0);
    auto full = persistence::sql::read(txn, {10, 10, 10}, true, ranges, 601);
    BOOST_TEST(sparse.ranges == full.ranges);
    BOOST_TEST(persistence::sql::read(txn, {10, 10, 10}, true, whole).ranges.size()
               == whole.size());
  }
  for (const char* name : {"read_counts", "read_counts_sparse", "read_counts_whole"}) {
    auto plans = txn.exec("SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                          " WHERE name = "
                          + txn.quote(name));
    BOOST_REQUIRE_MESSAGE(plans.size() == 1, name);
    BOOST_TEST(plans[0][0].as<int64_t>() >= 8, name);
    BOOST_TEST(plans[0][1].as<int64_t>() == 0, name);
  }
}

// Two dense minutes (about 600 and 200 pings a second): an edge reads its
// whole seconds from ping_seconds and only its partial seconds from the raw
// rows (migration 0019), and every range stays exact. The seconds are kept
// by every way rows are stored: a writer's batch within one second, a batch
// across seconds, a batch over several partitions (store_pings()), and a
// plain INSERT (the trigger). After retention dropped raw rows, an edge
// reads its partial seconds whole and compares them with their counts:
// refused where rows are gone, answered as before where they are not.
BOOST_AUTO_TEST_CASE(an_edge_in_a_dense_minute_reads_under_two_seconds_of_rows) {
  auto dsn = database_with_ranges("dense", 2000);
  pqxx::connection c{with_timeouts(dsn, std::chrono::seconds(5), std::chrono::minutes(5))};
  persistence::sql::prepare_writer_statements(c, 3);
  const int64_t minute = 1'790'000'000'000 / 60'000 - 10, m0 = minute * 60'000;
  const int64_t next = m0 + 60'000;
  auto m = [&](const std::string& ms) { return "ms_to_timestamptz(" + ms + ")"; };
  {
    pqxx::nontransaction txn{c};
    // A plain INSERT: the trigger derives buckets and seconds. These rows
    // arrived ten days before their timestamps: each partition's first raw
    // range, which retention drops below.
    txn.exec("SELECT ensure_pings_ranges(p::int2, 2000) FROM generate_series(0, 2) p");
    txn.exec("INSERT INTO pings (id, pinged_at, received_at, kafka_partition, relay_seq) "
             "SELECT gen_random_uuid(), "
             + m(std::to_string(m0) + " + (i * 37) % 60000") + ", "
             + m(std::to_string(m0 - 10 * day_ms))
             + ", (i % 3)::int2, i / 3 + 1 FROM generate_series(0, 5999) i");
    txn.exec("INSERT INTO outbox_head (kafka_partition, next_seq) SELECT p, 2001"
             " FROM generate_series(0, 2) p ON CONFLICT (kafka_partition)"
             " DO UPDATE SET next_seq = excluded.next_seq");
    // store_pings(): 60 batches, each in one second of one partition ...
    auto batch = [&](const std::string& pinged, const std::string& part, int n) {
      txn.exec("SELECT insert_pings(array_agg(gen_random_uuid()), array_agg(" + pinged
               + "), array_agg(" + std::to_string(next) + "::int8), array_agg(" + part
               + ")) FROM generate_series(0, " + std::to_string(n - 1) + ") i");
    };
    for (int b = 0; b < 60; ++b)
      batch(std::to_string(m0 + b * 1'000) + " + (i * 7) % 1000", std::to_string(b % 3) + "::int2",
            400);
    // ... 20 across three seconds each, one over every partition that
    // starts 5 s before the minute and ends 4 s into the next, and the
    // next minute, a second a batch.
    for (int b = 0; b < 20; ++b)
      batch(std::to_string(m0 + b * 2'900) + " + i * 29", std::to_string(b % 3) + "::int2", 100);
    batch(std::to_string(m0 - 5'000) + " + i * 23", "(i % 3)::int2", 3'000);
    for (int b = 0; b < 60; ++b)
      batch(std::to_string(next + b * 1'000) + " + (i * 13) % 1000",
            std::to_string(b % 3) + "::int2", 200);
    txn.exec("ANALYZE");
  }
  // The seconds equal the rows, partition by partition, in every minute
  // that keeps them: those above 600 pings in a partition, and only those.
  BOOST_TEST(test::query_int(dsn, test::seconds_mismatches) == 0);
  BOOST_TEST(test::query_int(dsn, "SELECT count(*) FROM ping_buckets WHERE grain = 1 AND "
                                  "seconds <> (n > 600)")
             == 0);
  BOOST_TEST(test::query_int(dsn, "SELECT count(*) FROM ping_buckets WHERE grain = 1 AND seconds")
             == 6);
  BOOST_TEST(test::query_int(dsn, "SELECT count(*) FROM ping_buckets WHERE grain = 1 AND NOT "
                                  "seconds")
             >= 3);
  BOOST_TEST(
    test::query_int(dsn, "SELECT sum(n) FROM ping_seconds")
    == test::query_int(dsn, "SELECT sum(n) FROM ping_buckets WHERE grain = 1 AND seconds"));
  pqxx::connection raw{dsn};
  // Every kind of range with an end in or around the two minutes: the
  // shared read equals count(*) of the rows, in one read and each on its
  // own.
  std::vector<time_range> ranges;
  std::vector<int64_t> answers;
  {
    std::mt19937_64 rng{29};
    const int64_t lengths[] = {1,      999,    1'000,  1'001,  4'321, 29'999,
                               30'001, 45'000, 59'999, 61'000, 90'000};
    for (int i = 0; i < 300; ++i) {
      auto start = m0 - 70'000 + static_cast<int64_t>(rng() % 200'000);
      if (i % 5 == 0)
        start -= start % 1'000; // on a second
      ranges.push_back(time_range{true, start, start + lengths[static_cast<size_t>(i) % 11]});
    }
    ranges.push_back(time_range{true, m0 + 1'000, m0 + 60'000});
    ranges.push_back(time_range{true, m0, m0 + 59'000});
    pqxx::nontransaction txn{c};
    auto together = persistence::sql::read(txn, {}, false, ranges);
    BOOST_REQUIRE(together.ranges.size() == ranges.size());
    for (size_t i = 0; i < ranges.size(); ++i) {
      answers.push_back(rows_in(raw, ranges[i].start_ms, ranges[i].end_ms));
      BOOST_TEST(together.ranges[i] == answers[i],
                 "range [" << ranges[i].start_ms << ", " << ranges[i].end_ms << ")");
      if (i % 10 == 0)
        BOOST_TEST(persistence::sql::read(txn, {}, false, {ranges[i]}).ranges.at(0) == answers[i]);
    }
    // A wrong hint (these minutes are dense): the sparse form finds more
    // raw rows than a sparse minute holds, and the read is taken again by
    // read_counts, with the same answers.
    auto runs = [&](const char* name) { return executions(txn, name); };
    auto sparse_runs = runs("read_counts_sparse"), any_runs = runs("read_counts");
    BOOST_TEST(persistence::sql::read(txn, {}, false, ranges, 0).ranges == answers);
    BOOST_TEST(runs("read_counts_sparse") == sparse_runs + 1);
    BOOST_TEST(runs("read_counts") == any_runs + 1);
  }
  // The raw rows an edge's probes read, from EXPLAIN (ANALYZE) of the
  // generic plan (its rows are per loop, rounded: a few either way).
  pqxx::connection x{with_timeouts(dsn, std::chrono::seconds(5), std::chrono::minutes(5))};
  {
    pqxx::nontransaction txn{x};
    txn.exec("SET plan_cache_mode = force_generic_plan");
    for (auto& s : persistence::sql::count_statements())
      if (std::string{s.name} == "read_counts")
        txn.exec("PREPARE read_counts AS " + std::string{s.sql});
  }
  auto probed = [&](int64_t lo, int64_t hi) {
    pqxx::nontransaction txn{x};
    std::string plan;
    for (const auto& row :
         txn.exec("EXPLAIN (ANALYZE, TIMING OFF) EXECUTE read_counts('{}', '{}', false, '{}', "
                  "'{}', '{}', '{}', '{0}', '{"
                  + std::to_string(lo / 60'000) + "}', '{" + std::to_string(lo) + "}', '{"
                  + std::to_string(hi) + "}', 9223372036854775807)"))
      plan += row[0].as<std::string>() + "\n";
    const std::regex probe{
      R"(Index (?:Only )?Scan using pings\w*_pinged_at\w*_idx[^\n]*actual rows=(\d+) loops=(\d+))"};
    int64_t n = 0;
    for (std::sregex_iterator it{plan.begin(), plan.end(), probe}, end; it != end; ++it)
      n += std::stoll((*it)[1].str()) * std::stoll((*it)[2].str());
    BOOST_TEST_MESSAGE(plan);
    return n;
  };
  auto reads_about = [&](int64_t lo, int64_t hi, int64_t rows) {
    auto n = probed(lo, hi);
    BOOST_TEST(n <= rows + 6, "[" << lo << ", " << hi << "): " << n << " rows, not " << rows);
    BOOST_TEST(n + 6 >= rows, "[" << lo << ", " << hi << "): " << n << " rows, not " << rows);
  };
  // Inside the minute on both sides: 20.5 s, of which 750 ms at each end
  // are partial seconds.
  auto partial = rows_in(raw, m0 + 10'250, m0 + 11'000) + rows_in(raw, m0 + 30'000, m0 + 30'750);
  BOOST_TEST(partial > 0);
  BOOST_TEST(rows_in(raw, m0 + 10'250, m0 + 30'750) > 10 * partial);
  reads_about(m0 + 10'250, m0 + 30'750, partial);
  // Most of the minute (flipped): the rest, [m0, m0 + 29.5 s), is 29 whole
  // seconds and 500 ms of rows, subtracted from the minute's bucket.
  partial = rows_in(raw, m0 + 29'000, m0 + 29'500);
  BOOST_TEST(rows_in(raw, m0, m0 + 29'500) > 20 * partial);
  reads_about(m0 + 29'500, m0 + 60'000, partial);

  // Retention drops each partition's first raw range (the rows that
  // arrived early, spread over every second of the first minute).
  {
    pqxx::nontransaction txn{c};
    txn.exec("INSERT INTO outbox_cursor (kafka_partition, acked_seq) "
             "SELECT kafka_partition, next_seq - 1 FROM outbox_head "
             "ON CONFLICT (kafka_partition) DO UPDATE SET acked_seq = excluded.acked_seq");
    BOOST_TEST(
      txn.exec("SELECT drop_old_pings(" + m(std::to_string(m0 - 5 * day_ms)) + ")")[0][0].as<int>()
      == 3);
  }
  BOOST_TEST(test::query_int(dsn, "SELECT min(raw_from) FROM outbox_head") == 2'001);
  {
    pqxx::nontransaction txn{c};
    auto after = persistence::sql::read(txn, {}, false, ranges);
    BOOST_REQUIRE(after.ranges.size() == ranges.size());
    // A wrong hint now: the raw rows of the first minute's edges are gone,
    // so the sparse form refuses them and the read is taken again by
    // read_counts (both run), with the same answers.
    auto runs = [&](const char* name) { return executions(txn, name); };
    auto sparse_runs = runs("read_counts_sparse"), any_runs = runs("read_counts");
    BOOST_TEST(persistence::sql::read(txn, {}, false, ranges, 0).ranges == after.ranges);
    BOOST_TEST(runs("read_counts_sparse") == sparse_runs + 1);
    BOOST_TEST(runs("read_counts") == any_runs + 1);
    int kept = 0, refused = 0;
    for (size_t i = 0; i < ranges.size(); ++i) {
      if (after.ranges[i] < 0) {
        ++refused;
        continue;
      }
      BOOST_TEST(after.ranges[i] == answers[i],
                 "range [" << ranges[i].start_ms << ", " << ranges[i].end_ms << ")");
      ++kept;
    }
    BOOST_TEST_MESSAGE(kept << " ranges answered as before, " << refused << " refused");
    BOOST_TEST(kept > 50);
    BOOST_TEST(refused > 50);
    BOOST_TEST(persistence::sql::read(txn, {}, false, {time_range{true, m0 + 10'250, m0 + 30'750}})
                 .ranges.at(0)
               == -1);
    BOOST_TEST(
      persistence::sql::read(txn, {}, false, {time_range{true, next + 10'250, next + 30'750}})
        .ranges.at(0)
      == rows_in(raw, next + 10'250, next + 30'750));
  }
  // The next minute kept its rows: its edges read their two partial
  // seconds whole, and no more.
  auto whole = rows_in(raw, next + 10'000, next + 11'000)
               + rows_in(raw, next + 30'000, next + 31'000);
  BOOST_TEST(rows_in(raw, next + 10'250, next + 30'750) > 5 * whole);
  reads_about(next + 10'250, next + 30'750, whole);
  reads_about(next + 29'500, next + 60'000, rows_in(raw, next + 29'000, next + 30'000));
}

BOOST_AUTO_TEST_CASE(dropping_raw_ranges_changes_no_answer) {
  auto dsn = database_with_ranges("retention", 5000);
  pqxx::connection c{dsn};
  persistence::sql::prepare_writer_statements(c, 3);
  // 60 days of history ending now, so that retention has something to drop.
  const int64_t days = 60;
  auto end_ms = test::query_int(dsn, "SELECT timestamptz_to_ms(now())");
  generate_history(c, 120'000, days, end_ms);
  pqxx::connection raw{dsn};
  auto ranges = many_ranges(end_ms - days * day_ms, end_ms, 600, 29);
  // Whole minutes at the raw/dropped boundary and deep inside dropped data.
  std::vector<std::optional<int64_t>> before;
  std::vector<std::pair<int64_t, int64_t>> edges_before; // raw rows in each edge minute
  auto edge_rows = [&](const time_range& r) {
    auto cv = persistence::sql::cover_range(r.start_ms, r.end_ms);
    int64_t sum = 0, n = 0;
    for (auto m : cv.edge_minute) {
      sum += rows_in(raw, m * 60'000, (m + 1) * 60'000);
      ++n;
    }
    return std::make_pair(sum, n);
  };
  for (auto& r : ranges) {
    before.push_back(count(c, r));
    edges_before.push_back(edge_rows(r));
  }
  auto total = *count(c, time_range{});
  std::vector<int64_t> seqs{0, 0, 0};
  persistence::sql::sequence_counts resync_before;
  {
    pqxx::read_transaction txn{c};
    resync_before = persistence::sql::count_sequences(txn, 2, 0, (end_ms - 7 * day_ms) / 60'000);
  }
  auto rows_before = test::query_int(dsn, "SELECT count(*) FROM pings");
  // At a fixed moment (the history's end), not now(): a row must not leave
  // the window while the test runs.
  const std::string recent = "SELECT count(*) FROM pings WHERE received_at > ms_to_timestamptz("
                             + std::to_string(end_ms) + ") - interval '29 days'";
  auto recent_before = test::query_int(dsn, recent);

  auto dropped = persistence::drop_old_ranges(c, 30);
  BOOST_TEST(dropped > 0);
  auto rows_after = test::query_int(dsn, "SELECT count(*) FROM pings");
  BOOST_TEST(rows_after < rows_before);
  BOOST_TEST_MESSAGE("dropped " << dropped << " ranges, " << rows_before - rows_after << " rows");
  // Nothing that arrived within the 30 days went.
  BOOST_TEST(test::query_int(dsn, recent) == recent_before);

  BOOST_TEST(*count(c, time_range{}) == total);
  int same = 0, refused = 0;
  for (size_t i = 0; i < ranges.size(); ++i) {
    auto after = count(c, ranges[i]);
    auto edges_after = edge_rows(ranges[i]);
    if (edges_after == edges_before[i]) {
      // Every edge minute still has its raw rows: the same exact answer.
      BOOST_TEST(after.has_value());
      if (after)
        BOOST_TEST(*after == *before[i],
                   "range [" << ranges[i].start_ms << ", " << ranges[i].end_ms << ")");
      ++same;
    } else {
      // An edge inside dropped raw rows: refused, never a wrong number.
      BOOST_TEST(!after.has_value(),
                 "range [" << ranges[i].start_ms << ", " << ranges[i].end_ms << ")");
      ++refused;
    }
  }
  {
    // The shared read agrees range by range where count() answers; where
    // count() refuses (an edge minute lost rows) the shared read, which
    // checks only its edges' partial seconds (migration 0019), may answer:
    // then as before the drop, never another number (-1: refused).
    std::vector<std::optional<int64_t>> ones;
    for (auto& r : ranges)
      ones.push_back(count(c, r));
    pqxx::nontransaction txn{c};
    auto rc = persistence::sql::read(txn, {}, false, ranges);
    BOOST_TEST(rc.tail.total == total);
    BOOST_REQUIRE(rc.ranges.size() == ranges.size());
    int answered_more = 0;
    for (size_t i = 0; i < ranges.size(); ++i) {
      auto& one = ones[i];
      if (one)
        BOOST_TEST(rc.ranges[i] == *one,
                   "range [" << ranges[i].start_ms << ", " << ranges[i].end_ms << ")");
      else if (rc.ranges[i] >= 0) {
        BOOST_TEST(rc.ranges[i] == *before[i],
                   "range [" << ranges[i].start_ms << ", " << ranges[i].end_ms << ")");
        ++answered_more;
      }
    }
    BOOST_TEST_MESSAGE(answered_more << " ranges refused by count() answered by the shared read");
    // With the sparse hint: an edge in dropped raw rows sends the read
    // back to read_counts, so every answer is the same.
    BOOST_TEST(persistence::sql::read(txn, {}, false, ranges, 0).ranges == rc.ranges);
  }
  BOOST_TEST_MESSAGE(same << " ranges answered as before, " << refused << " refused");
  BOOST_TEST(same > 300);
  BOOST_TEST(refused > 20);
  {
    pqxx::read_transaction txn{c};
    auto resync = persistence::sql::count_sequences(txn, 2, 0, (end_ms - 7 * day_ms) / 60'000);
    BOOST_TEST(resync.count == resync_before.count);
    BOOST_TEST(resync.minutes == resync_before.minutes);
    // A cache standing below the raw rows kept cannot be topped up from
    // rows: the tail says so, and the rebuilder refuses.
    BOOST_CHECK_THROW(persistence::sql::count_sequences(txn, 2, 10, 0),
                      persistence::sql::raw_rows_dropped);
    BOOST_TEST(!persistence::sql::tail(txn, seqs, true).consistent);
    BOOST_TEST(persistence::sql::tail(txn, seqs, false).total == total);
    BOOST_TEST(!persistence::sql::read(txn, seqs, true, {}).tail.consistent);
    BOOST_TEST(persistence::sql::read(txn, seqs, false, {}).tail.total == total);
  }
}

// An edge minute is probed only in the raw ranges that can hold its pings
// (issue 17: the work per range never depends on the rows stored): a sealed
// range whose recorded pinged_at span does not cover the minute is never
// executed; the open range is always probed, so a late ping (an old
// pinged_at arriving into it) is counted. Answers equal count(*) for edges
// in every raw range, before and after retention drops ranges.
BOOST_AUTO_TEST_CASE(edge_probes_visit_only_the_ranges_that_hold_the_minute) {
  auto dsn = database_with_ranges("spans", 20000);
  pqxx::connection c{with_timeouts(dsn, std::chrono::seconds(5), std::chrono::minutes(5))};
  persistence::sql::prepare_writer_statements(c, 3);
  const int64_t end_ms = 1'790'000'000'000, days = 10;
  generate_history(c, 300'000, days, end_ms);
  // A late ping: dated 8 days back, it arrives into partition 0's open range.
  const int64_t late_ms = end_ms - 8 * day_ms + 30'123;
  {
    pqxx::nontransaction txn{c};
    txn.exec("SELECT insert_pings(ARRAY[gen_random_uuid()], ARRAY[" + std::to_string(late_ms)
             + "::int8], ARRAY[" + std::to_string(end_ms) + "::int8], ARRAY[0::int2])");
    txn.exec("SET plan_cache_mode = force_generic_plan");
    for (auto& s : persistence::sql::count_statements())
      if (std::string{s.name} == "read_counts")
        txn.exec("PREPARE read_counts AS " + std::string{s.sql});
  }
  BOOST_TEST(test::query_int(dsn, "SELECT count(*) FROM pings_ranges WHERE first_at IS NOT NULL")
             == 15);
  // The EXPLAIN (ANALYZE) of one edge, and every leaf its probes executed.
  auto probed_leaves = [&](int64_t minute, int64_t lo, int64_t hi) {
    pqxx::nontransaction txn{c};
    std::string plan;
    for (const auto& row :
         txn.exec("EXPLAIN (ANALYZE, TIMING OFF) EXECUTE read_counts('{}', '{}', false, '{}', "
                  "'{}', '{}', '{}', '{0}', '{"
                  + std::to_string(minute) + "}', '{" + std::to_string(lo) + "}', '{"
                  + std::to_string(hi) + "}', 9223372036854775807)"))
      plan += row[0].as<std::string>() + "\n";
    const std::regex scan{
      R"((Seq Scan|Scan using \w+) on (pings_p\d+_\d+)[^\n]*\(actual rows=\d+ loops=(\d+)\))"};
    std::vector<std::pair<std::string, bool>> leaves; // (leaf, scanned sequentially)
    for (std::sregex_iterator it{plan.begin(), plan.end(), scan}, end; it != end; ++it)
      if (std::stoll((*it)[3].str()) > 0)
        leaves.emplace_back((*it)[2].str(), (*it)[1].str() == "Seq Scan");
    BOOST_TEST_MESSAGE(plan);
    return leaves;
  };
  // Edges in an old minute of every sealed range: no leaf whose span does
  // not cover the minute is probed, and only one or two sealed leaves per
  // partition are.
  pqxx::connection raw{dsn};
  std::vector<int64_t> minutes;
  {
    pqxx::nontransaction txn{raw};
    for (const auto& row :
         txn.exec("SELECT (timestamptz_to_ms(first_at) + timestamptz_to_ms(last_at)) / 2 / 60000 "
                  "FROM pings_ranges WHERE kafka_partition = 0 AND first_at IS NOT NULL"))
      minutes.push_back(row[0].as<int64_t>());
  }
  minutes.push_back(late_ms / 60'000);
  BOOST_TEST(minutes.size() == 6U);
  for (auto minute : minutes) {
    const int64_t m0 = minute * 60'000;
    int sealed = 0;
    // (the rest of the minute, [m0, m0 + 1.234 s), is its first second's
    // bucket and 234 ms of raw rows: those probe the leaves)
    for (auto& [leaf, seq_scan] : probed_leaves(minute, m0 + 1'234, m0 + 60'000)) {
      pqxx::nontransaction txn{raw};
      // (leaf is \w+, from the plan)
      std::string q = "SELECT first_at IS NOT NULL, coalesce(first_at < ms_to_timestamptz(";
      q += std::to_string(m0 + 60'000) + ") AND last_at >= ms_to_timestamptz(";
      q += std::to_string(m0) + "), true), lo <= (SELECT next_seq - 1 FROM outbox_head h";
      q += " WHERE h.kafka_partition = g.kafka_partition) FROM pings_ranges g";
      q += " WHERE format('pings_p%s_%s', kafka_partition, lo) = '" + leaf + "'";
      auto r = txn.exec(q);
      BOOST_REQUIRE(r.size() == 1U);
      // A range kept ready above the head holds nothing: never probed.
      BOOST_TEST(r[0][2].as<bool>(), "minute " << minute << ": probed " << leaf
                                               << ", a range above the partition's head");
      sealed += r[0][0].as<bool>() ? 1 : 0;
      // (a range not yet sealed may be scanned: the planner rightly does
      // when it holds almost nothing, as the open range here)
      BOOST_TEST(!(seq_scan && r[0][0].as<bool>()), "sequential scan of " << leaf);
      BOOST_TEST(r[0][1].as<bool>(),
                 "minute " << minute << ": probed " << leaf << ", whose span does not cover it");
    }
    BOOST_TEST(sealed >= 1);
    BOOST_TEST(sealed <= 3, "minute " << minute << ": probed " << sealed << " sealed ranges");
  }
  // The tail's raw ranges are pruned when the executor starts: only the
  // ranges above the snapshot's lowest sequence ($12) are opened, whatever
  // the number of ranges stored (here 15 sealed ones).
  {
    pqxx::nontransaction txn{c};
    auto heads = txn.exec("SELECT string_agg((next_seq - 1)::text, ',' ORDER BY kafka_partition),"
                          " min(next_seq - 1) FROM outbox_head")[0];
    auto lowest = heads[1].as<int64_t>();
    std::string plan;
    for (const auto& row :
         txn.exec("EXPLAIN EXECUTE read_counts('{0,1,2}', '{" + heads[0].as<std::string>()
                  + "}', true, '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', "
                  + std::to_string(lowest) + ")"))
      plan += row[0].as<std::string>() + "\n";
    const std::regex tail_scan{R"(Scan using pings_p(\d+)_(\d+)_pkey)"};
    int opened = 0;
    for (std::sregex_iterator it{plan.begin(), plan.end(), tail_scan}, end; it != end; ++it) {
      ++opened;
      auto hi = test::query_int(dsn, "SELECT hi FROM pings_ranges WHERE kafka_partition = "
                                       + (*it)[1].str() + " AND lo = " + (*it)[2].str());
      BOOST_TEST(hi > lowest, "the tail opens pings_p" << (*it)[1].str() << "_" << (*it)[2].str()
                                                       << ", all below " << lowest << ":\n"
                                                       << plan);
    }
    BOOST_TEST(opened >= 3);
    BOOST_TEST(plan.find("Subplans Removed") != std::string::npos, plan);
  }
  // Exact for edges in every raw range, the late ping's minute included,
  // flipped (most of the minute) or not, before and after retention.
  pqxx::connection r{with_timeouts(dsn, std::chrono::seconds(5), std::chrono::minutes(5))};
  persistence::sql::prepare_count_statements(r);
  auto check = [&](bool after_retention) {
    int answered = 0;
    for (auto minute : minutes) {
      const int64_t m0 = minute * 60'000;
      for (auto [lo, hi] : {std::pair{m0 + 1'000, m0 + 60'000}, std::pair{m0 + 500, m0 + 20'000},
                            std::pair{m0 + 30'123, m0 + 30'124}, std::pair{m0, m0 + 59'000}}) {
        pqxx::nontransaction txn{r};
        auto rc = persistence::sql::read(txn, {}, false, {time_range{true, lo, hi}});
        if (after_retention && rc.ranges.at(0) < 0)
          continue; // the minute's raw rows are gone: refused, not wrong
        BOOST_TEST(rc.ranges.at(0) == rows_in(raw, lo, hi),
                   "[" << lo << ", " << hi << ") after retention " << after_retention);
        ++answered;
      }
    }
    return answered;
  };
  BOOST_TEST(check(false) == 24);
  BOOST_TEST(rows_in(raw, late_ms, late_ms + 1) == 1);
  {
    pqxx::nontransaction txn{c};
    BOOST_TEST(txn
                 .exec("SELECT drop_old_pings(ms_to_timestamptz("
                       + std::to_string(end_ms - 6 * day_ms) + "))")[0][0]
                 .as<int>()
               > 0);
  }
  BOOST_TEST(check(true) > 4);
}

// The writers record a raw range's pinged_at span once the range is sealed
// (insert_pings() seals while it attaches a later range), never the span of
// a range a sequence can still enter; each span is the min and max of the
// range's rows, late pings included.
BOOST_AUTO_TEST_CASE(writers_record_the_span_of_each_sealed_range) {
  auto dsn = database_with_ranges("seal", 1000);
  pqxx::connection c{dsn};
  persistence::sql::prepare_writer_statements(c, 1);
  const int64_t end_ms = 1'790'000'000'000;
  for (int batch = 0; batch < 6; ++batch) {
    // 700 pings a batch, one of them a day late.
    pqxx::nontransaction txn{c};
    txn.exec("SELECT insert_pings(array_agg(gen_random_uuid()), array_agg(CASE WHEN i = 350 THEN "
             + std::to_string(end_ms - day_ms) + " ELSE " + std::to_string(end_ms + batch * 100'000)
             + " + i END), array_agg(" + std::to_string(end_ms)
             + "::int8), array_agg(0::int2)) FROM generate_series(1, 700) i");
  }
  BOOST_TEST(test::query_int(dsn, "SELECT count(*) FROM pings_ranges WHERE first_at IS NOT NULL")
             == 3);
  BOOST_TEST(test::query_int(dsn, "SELECT count(*) FROM pings_ranges r WHERE first_at IS NOT NULL"
                                  " AND NOT EXISTS (SELECT 1 FROM (SELECT min(pinged_at) AS a,"
                                  " max(pinged_at) AS z FROM pings p WHERE p.kafka_partition = 0"
                                  " AND p.relay_seq >= r.lo AND p.relay_seq < r.hi) m"
                                  " WHERE m.a = r.first_at AND m.z = r.last_at)")
             == 0);
  BOOST_TEST(test::query_int(dsn, "SELECT count(*) FROM pings_ranges r JOIN outbox_head h"
                                  " USING (kafka_partition) WHERE r.first_at IS NOT NULL"
                                  " AND r.hi > h.next_seq")
             == 0);
  BOOST_TEST(test::query_int(dsn, "SELECT count(*) FROM pings_ranges WHERE first_at"
                                  " = ms_to_timestamptz("
                                    + std::to_string(end_ms - day_ms) + ")")
             == 3);
}
