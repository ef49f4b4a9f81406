// Exact counts under the faults of the exactness issue, on real services
// (PostgreSQL, redis-server, the dev broker, ping-gateway, ping-processor):
// read-your-writes while the pipeline stands still, and counters that heal
// themselves, with no restart, after a frozen cache, a cache restored from an
// older snapshot, and a Kafka offset reset. Each test has its own database,
// broker and redis-server.
#define BOOST_TEST_MODULE exactness
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <thread>

#include "actors/common/ids.hpp"
#include "tests/support/harness.hpp"

using namespace ping;
using namespace ping::test;

namespace {

struct fixture {
  temp_dir dir;
  std::string dsn = fresh_database("exactness");
  test::devbroker broker{dir.path};
  redis_server redis;
  gateway gw{dir.path, dsn, broker.bootstrap(), {"--cache.address=" + redis.address()}};
  std::unique_ptr<v1::PingService::Stub> stub = gw.stub();
  int64_t next_ts = (now_ms() / 60'000 - 30) * 60'000; // unique timestamps, 30 min ago on

  std::unique_ptr<processor> start_processor(const std::string& name,
                                             std::vector<std::string> extra = {}) {
    return std::make_unique<processor>(dir.path, name, dsn, broker.bootstrap(), redis.address(),
                                       std::move(extra));
  }

  // PingCount {} over Connect (answered on the front-end's I/O thread from
  // the count board's rounds); -1 on error.
  int64_t connect_count() {
    auto out = shell_output("curl -s -m 10 -X POST -H 'Content-Type: application/json' -d '{}' "
                            "http://127.0.0.1:"
                            + std::to_string(gw.connect_port()) + "/ping.v1.PingService/PingCount");
    auto at = out.find("\"pingCount\":\"");
    if (at == std::string::npos)
      return out.find('{') == 0 && out.find("code") == std::string::npos ? 0 : -1;
    return std::stoll(out.substr(at + 13));
  }

  int64_t sql(const std::string& where = "true") {
    return query_int(dsn, "SELECT count(*) FROM pings WHERE " + where);
  }

  int64_t sql_range(int64_t a, int64_t b) {
    return sql("pinged_at >= ms_to_timestamptz(" + std::to_string(a)
               + ") AND pinged_at < ms_to_timestamptz(" + std::to_string(b) + ")");
  }

  // The cache's counters equal PostgreSQL's, bucket by bucket.
  bool exact() {
    auto cache = redis.hgetall("ping:counters");
    auto want = counts_in_postgres(dsn);
    return cache_complete(redis) && cache == want;
  }

  void require_exact(clock::duration timeout) {
    auto ok = wait_until([&] { return exact(); }, timeout);
    if (!ok)
      BOOST_TEST_MESSAGE("cache total " << redis.hgetall("ping:counters")["total"] << ", postgres "
                                        << sql());
    BOOST_REQUIRE(ok);
  }

  // One ping with the next unique timestamp; true when acknowledged.
  bool ping() { return send_ping(*stub, next_ts++).ok(); }
};

// Pings from a background thread with unique timestamps; every answer to a
// PingCount it makes between pings is checked against what it knows: at
// least the pings acknowledged before the call, at most the rows stored
// when it returned.
class checked_stream {
public:
  checked_stream(fixture& f, int limit) : f_(f), stub_(f.gw.stub()), limit_(limit) {
    thread_ = std::thread([this] {
      for (int i = 0; i < limit_ && !stop_; ++i) {
        if (send_ping(*stub_, ts_++).ok())
          acked_++;
        if (i % 20 == 0) {
          auto before = acked_.load();
          auto n = count_pings(*stub_);
          if (n >= 0) {
            checks_++;
            if (n < before)
              under_++;
            if (n > f_.sql())
              over_++;
          }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(3));
      }
    });
  }
  ~checked_stream() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable())
      thread_.join();
  }
  int acked() const { return acked_; }
  int checks() const { return checks_; }
  int under() const { return under_; }
  int over() const { return over_; }

private:
  fixture& f_;
  std::unique_ptr<v1::PingService::Stub> stub_;
  int limit_;
  int64_t ts_ = now_ms() - 3'600'000;
  std::atomic<bool> stop_{false};
  std::atomic<int> acked_{0}, checks_{0}, under_{0}, over_{0};
  std::thread thread_;
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(exactness, fixture)

// Read your writes with the broker down and the processor frozen: each
// acknowledged ping is in the very next PingCount, total and ranges.
BOOST_AUTO_TEST_CASE(read_your_writes_while_the_pipeline_stands_still) {
  auto proc = start_processor("processor");
  BOOST_REQUIRE(wait_until([&] { return cache_complete(redis); }, 30s));
  for (int i = 0; i < 10; ++i)
    BOOST_REQUIRE(ping());
  require_exact(30s);
  BOOST_TEST(broker.control("down all").rfind("ok", 0) == 0u);
  proc->proc().signal(SIGSTOP);
  auto minute = next_ts / 60'000 * 60'000;
  for (int i = 1; i <= 50; ++i) {
    BOOST_REQUIRE(ping());
    BOOST_TEST(count_pings(*stub) == 10 + i, "after ping " << i);
    BOOST_TEST(connect_count() == 10 + i, "Connect, after ping " << i);
    if (i % 10 == 0) {
      BOOST_TEST(count_pings(*stub, minute, minute + 60'000) == sql_range(minute, minute + 60'000));
      BOOST_TEST(count_pings(*stub, minute + 1, minute + 60'000)
                 == sql_range(minute + 1, minute + 60'000));
    }
  }
  // And the answers came from the cache plus the tail: PostgreSQL counted
  // only the five unaligned ranges, which minute buckets cannot answer.
  auto metrics
    = shell_output("curl -s http://127.0.0.1:" + std::to_string(gw.admin_port()) + "/metrics");
  BOOST_TEST(metrics.find("\nping_counts_answered_total{source=\"postgres\"} 5\n")
             != std::string::npos);
  proc->proc().signal(SIGCONT);
  BOOST_TEST(broker.control("up all").rfind("ok", 0) == 0u);
  require_exact(60s);
  BOOST_TEST(count_pings(*stub) == 60);
}

// Defect 1 as an operator met it: the cache stalls for longer than every
// cache timeout. A write lands while the processor has given up on it; it
// used to conflict forever, until the processors were restarted.
BOOST_AUTO_TEST_CASE(a_frozen_cache_heals_without_a_restart) {
  auto proc = start_processor("processor",
                              {"--cache.timeout=300ms", "--window.writer-timeout=500ms"});
  BOOST_REQUIRE(wait_until([&] { return cache_complete(redis); }, 30s));
  checked_stream stream{*this, 4000};
  BOOST_REQUIRE(wait_until([&] { return redis.hgetall("ping:counters")["total"] > 300; }, 30s));
  for (int freeze = 0; freeze < 2; ++freeze) {
    redis.signal(SIGSTOP);
    std::this_thread::sleep_for(3s); // the fault itself: longer than every timeout
    redis.signal(SIGCONT);
    auto before = redis.hgetall("ping:counters")["total"];
    BOOST_REQUIRE(
      wait_until([&] { return redis.hgetall("ping:counters")["total"] > before; }, 30s));
  }
  stream.stop();
  require_exact(60s);
  BOOST_TEST(proc->proc().alive());
  BOOST_TEST(stream.checks() > 10);
  BOOST_TEST(stream.under() == 0);
  BOOST_TEST(stream.over() == 0);
  BOOST_TEST(count_pings(*stub) == sql());
}

// Defect 5: the cache comes back from an older, self-consistent snapshot
// (a replica promoted, a backup restored).
BOOST_AUTO_TEST_CASE(a_cache_restored_from_an_older_snapshot_heals) {
  auto proc = start_processor("processor");
  BOOST_REQUIRE(wait_until([&] { return cache_complete(redis); }, 30s));
  for (int i = 0; i < 100; ++i)
    BOOST_REQUIRE(ping());
  require_exact(30s);
  BOOST_REQUIRE(redis.cli("SAVE").find("OK") != std::string::npos);
  auto dump = redis.dir() + "/dump.rdb";
  std::filesystem::copy_file(dump, dump + ".old");
  for (int i = 0; i < 100; ++i)
    BOOST_REQUIRE(ping());
  require_exact(30s);
  // The processor frozen while the snapshot is put back, so the old state
  // can be seen before it is found (within a heartbeat, 250 ms).
  proc->proc().signal(SIGSTOP);
  redis.stop();
  std::filesystem::copy_file(dump + ".old", dump,
                             std::filesystem::copy_options::overwrite_existing);
  redis.start();
  BOOST_TEST(redis.hgetall("ping:counters")["total"] == 100); // the old state
  BOOST_TEST(count_pings(*stub) == 200);                      // never wrong meanwhile
  proc->proc().signal(SIGCONT);
  require_exact(30s);
  BOOST_TEST(proc->proc().log().find("reason=conflict") != std::string::npos);
}

// Defect 4: the stored Kafka offsets point somewhere else (topic recreated,
// a broker restarted empty, offsets reset): counting goes by relay
// sequence, so records read again are skipped and missing ones are filled.
BOOST_AUTO_TEST_CASE(a_kafka_offset_reset_keeps_counts_exact) {
  auto proc = start_processor("processor");
  BOOST_REQUIRE(wait_until([&] { return cache_complete(redis); }, 30s));
  for (int i = 0; i < 60; ++i)
    BOOST_REQUIRE(ping());
  require_exact(30s);
  proc->proc().signal(SIGKILL);
  BOOST_REQUIRE(proc->proc().wait(10s));
  // Partition 0 far beyond the log's end, partition 1 at its start.
  redis.cli("HSET ping:offsets offset:0 99999999 offset:1 0");
  proc = start_processor("processor-2");
  for (int i = 0; i < 60; ++i)
    BOOST_REQUIRE(ping());
  require_exact(60s);
  BOOST_TEST(count_pings(*stub) == 120);
}

// Issue 17, item 3: a processor starting on a cold cache used to count
// its partitions only once the consumer group assigned them, 3 s after its
// first join on the dev broker (as Kafka's group.initial.rebalance.delay.ms).
// Now it counts every partition without state at start, from PostgreSQL,
// at the end offsets it asked the broker: the cache is exact before the
// group forms, and the assignment finds the state.
BOOST_AUTO_TEST_CASE(a_cold_cache_is_counted_before_the_group_forms) {
  for (int i = 0; i < 60; ++i)
    BOOST_REQUIRE(ping());
  auto proc = start_processor("processor");
  auto assigned = [&] {
    return proc->proc().log().find("partitions assigned") != std::string::npos;
  };
  BOOST_REQUIRE(wait_until([&] { return exact() || assigned(); }, 30s));
  BOOST_TEST(exact(), "the cache was not exact when the partitions were assigned");
  BOOST_TEST(!assigned(), "the cache was exact only after the partitions were assigned");
  // The group forms on the counted state: no partition is counted again.
  BOOST_REQUIRE(wait_until(assigned, 30s));
  for (int i = 0; i < 30; ++i)
    BOOST_REQUIRE(ping());
  require_exact(30s);
  BOOST_TEST(proc->proc().log().find("reason=cold") == std::string::npos);
  BOOST_TEST(count_pings(*stub) == 90);
}

// Issue 17, items 2, 6 and 7, end to end: ranges from a minute to 400
// days, aligned or not, inside and before the cache's retention, and past
// its ceiling, are exact; the part of a range in the cache is read from
// its buckets. A ping dated a month ahead waits past the ceiling; when the
// ceiling reaches it (here: a processor with a longer --cache.future
// stands for time passing) its minute is served from the cache, with no
// RebuildCache.
BOOST_AUTO_TEST_CASE(ranges_of_any_length_are_exact_and_far_pings_heal) {
  auto proc = start_processor("processor");
  BOOST_REQUIRE(wait_until([&] { return cache_complete(redis); }, 30s));
  auto now = now_ms();
  constexpr int64_t minute = 60'000, day = 1440 * minute;
  for (int k = 0; k < 120; ++k)
    BOOST_REQUIRE(send_ping(*stub, now - k * 61 * minute - k * 1000).ok()); // ~5 days
  for (int k = 0; k < 3; ++k)
    BOOST_REQUIRE(send_ping(*stub, now - 10 * day - k * 1000).ok()); // before the floor
  auto far = (now + 30 * day) / minute * minute + 7'000;
  BOOST_REQUIRE(send_ping(*stub, far).ok());
  BOOST_REQUIRE(wait_until([&] { return redis.hgetall("ping:counters")["total"] == sql(); }, 30s));
  auto postgres_counts = [&] {
    auto metrics
      = shell_output("curl -s http://127.0.0.1:" + std::to_string(gw.admin_port()) + "/metrics");
    const std::string name = "\nping_counts_answered_total{source=\"postgres\"} ";
    auto at = metrics.find(name);
    return at == std::string::npos ? int64_t{-1} : std::stoll(metrics.substr(at + name.size()));
  };
  auto aligned = now / minute * minute;
  std::vector<std::pair<int64_t, int64_t>> ranges{
    {aligned - 7 * day, aligned},                             // a week, aligned
    {aligned - 7 * day + 1234, now - 17},                     // a week, unaligned
    {now - 400 * day, now + 400 * day},                       // 400 days each way
    {aligned - 12 * day, aligned - 8 * day},                  // before the floor only
    {aligned - 9 * day - 999, aligned - 2 * day + 5},         // across the floor
    {aligned - 3 * minute, aligned - 2 * minute},             // one minute
    {aligned - 3 * minute + 5, aligned - 3 * minute + 9'000}, // inside one minute
    {aligned + 20 * day, aligned + 40 * day},                 // past the ceiling
  };
  for (auto [a, b] : ranges)
    BOOST_TEST(count_pings(*stub, a, b) == sql_range(a, b), a << ".." << b);
  // The week inside the cache: no PostgreSQL count at all.
  auto before = postgres_counts();
  BOOST_TEST(count_pings(*stub, aligned - 5 * day, aligned + minute)
             == sql_range(aligned - 5 * day, aligned + minute));
  BOOST_TEST(postgres_counts() == before);
  // The far ping's minute is past the ceiling: PostgreSQL counts it.
  auto far_minute = far / minute * minute;
  BOOST_TEST(count_pings(*stub, far_minute, far_minute + minute) == 1);
  BOOST_TEST(postgres_counts() == before + 1);
  // Time passes: the ceiling reaches the far ping, which moves into its
  // buckets; its minute is served from the cache.
  proc.reset();
  auto later = start_processor("later", {"--cache.future=1000h"});
  BOOST_REQUIRE(wait_until(
    [&] {
      auto ceiling = redis.hgetall("ping:offsets")["ceiling_minute"];
      return ceiling * minute > far;
    },
    30s));
  BOOST_TEST(redis.hgetall("ping:counters")["minute:" + std::to_string(far / minute)] == 1);
  before = postgres_counts();
  BOOST_TEST(count_pings(*stub, far_minute, far_minute + minute) == 1);
  BOOST_TEST(count_pings(*stub, aligned - 2 * day, far_minute + day)
             == sql_range(aligned - 2 * day, far_minute + day));
  BOOST_TEST(postgres_counts() == before);
}

BOOST_AUTO_TEST_SUITE_END()
