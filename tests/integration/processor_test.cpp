// ping-processor on real services: exact counters in the cache under
// crashes, rebalances and cache loss. Each test has its own database, dev
// broker and redis-server.
#define BOOST_TEST_MODULE processor
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <csignal>
#include <random>
#include <thread>

#include "actors/common/ids.hpp"
#include "tests/support/harness.hpp"

using namespace ping;
using namespace ping::test;

namespace {

struct fixture {
  temp_dir dir;
  std::string dsn = fresh_database("processor");
  test::devbroker broker{dir.path};
  redis_server redis;
  gateway gw{dir.path, dsn, broker.bootstrap(), {"--cache.address=" + redis.address()}};
  std::unique_ptr<v1::PingService::Stub> stub = gw.stub();

  std::unique_ptr<processor> start_processor(const std::string& name) {
    return std::make_unique<processor>(dir.path, name, dsn, broker.bootstrap(), redis.address());
  }

  // The cache's counters equal PostgreSQL's, bucket by bucket.
  bool exact() {
    auto cache = redis.hgetall("ping:counters");
    auto sql = counts_in_postgres(dsn);
    if (sql["total"] == 0)
      return cache_complete(redis) && cache["total"] == 0;
    return cache_complete(redis) && cache == sql;
  }

  void require_exact(clock::duration timeout) {
    auto ok = wait_until([&] { return exact(); }, timeout);
    if (!ok) {
      auto cache = redis.hgetall("ping:counters");
      auto sql = counts_in_postgres(dsn);
      BOOST_TEST_MESSAGE("cache total " << cache["total"] << " fields " << cache.size()
                                        << ", postgres total " << sql["total"] << " fields "
                                        << sql.size());
    }
    BOOST_REQUIRE(ok);
  }
};

// Pings from a background thread, about 200 a second, until stopped (at
// most `limit`), with event times spread over the last three hours (several
// minute buckets, late events included).
class ping_stream {
public:
  ping_stream(gateway& gw, int limit) : stub_(gw.stub()), limit_(limit) {
    thread_ = std::thread([this] {
      std::mt19937_64 rng{42};
      auto now = now_ms();
      for (int i = 0; i < limit_ && !stop_; ++i) {
        auto ts = now - static_cast<int64_t>(rng() % (3 * 3600 * 1000));
        if (send_ping(*stub_, ts).ok())
          acked_++;
        else
          failed_++;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      done_ = true;
    });
  }
  ~ping_stream() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable())
      thread_.join();
  }
  bool done() const { return done_; }
  int acked() const { return acked_; }
  int failed() const { return failed_; }

private:
  std::unique_ptr<v1::PingService::Stub> stub_;
  int limit_;
  std::atomic<bool> stop_{false}, done_{false};
  std::atomic<int> acked_{0}, failed_{0};
  std::thread thread_;
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(processor_suite, fixture)

BOOST_AUTO_TEST_CASE(pings_are_counted_within_a_second_and_a_half) {
  auto proc = start_processor("processor");
  BOOST_REQUIRE(wait_until([&] { return cache_complete(redis); }, 30s));
  auto cache_total = [&] { return redis.hgetall("ping:counters")["total"]; };
  // Warm-up: the producer and the consumer have their connections.
  BOOST_REQUIRE(send_ping(*stub, 0).ok());
  BOOST_REQUIRE(wait_until([&] { return cache_total() == 1; }, 20s));
  constexpr int n = 25;
  auto now = now_ms();
  for (int i = 1; i < n; ++i)
    BOOST_REQUIRE(send_ping(*stub, now - i * 1000).ok());
  auto acked = clock::now();
  // Read your writes: PingCount includes them at once, whatever the cache has.
  BOOST_TEST(count_pings(*stub) == n);
  BOOST_REQUIRE(wait_until([&] { return cache_total() == n; }, 10s));
  auto took = clock::now() - acked;
  BOOST_TEST_MESSAGE(n << " pings in the cache after "
                       << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                       << " ms");
  BOOST_TEST((took <= 1500ms));
  BOOST_TEST(exact());
  // A lone ping is flushed by the timer, with nothing arriving after it.
  BOOST_REQUIRE(send_ping(*stub, 0).ok());
  auto lone = clock::now();
  BOOST_TEST(count_pings(*stub) == n + 1);
  BOOST_REQUIRE(wait_until([&] { return cache_total() == n + 1; }, 10s));
  auto lone_took = clock::now() - lone;
  BOOST_TEST_MESSAGE("lone ping in the cache after "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(lone_took).count()
                     << " ms");
  BOOST_TEST((lone_took <= 1500ms));
}

BOOST_AUTO_TEST_CASE(three_sigkills_mid_stream_leave_counts_exact) {
  auto proc = start_processor("processor");
  BOOST_REQUIRE(wait_until([&] { return cache_complete(redis); }, 30s));
  ping_stream stream{gw, 20000};
  for (int kill = 0; kill < 3; ++kill) {
    auto before = redis.hgetall("ping:counters")["total"];
    // Let it count some, then kill it without warning and start it again.
    BOOST_REQUIRE(
      wait_until([&] { return redis.hgetall("ping:counters")["total"] > before; }, 60s));
    proc->proc().signal(SIGKILL);
    BOOST_REQUIRE(proc->proc().wait(10s));
    proc = start_processor("processor-" + std::to_string(kill));
  }
  auto before = redis.hgetall("ping:counters")["total"];
  BOOST_REQUIRE(wait_until([&] { return redis.hgetall("ping:counters")["total"] > before; }, 60s));
  stream.stop();
  BOOST_TEST(stream.failed() == 0);
  BOOST_TEST_MESSAGE("pings acknowledged: " << stream.acked());
  require_exact(60s);
}

BOOST_AUTO_TEST_CASE(a_second_processor_and_a_rebalance_keep_counts_exact) {
  auto first = start_processor("first");
  BOOST_REQUIRE(wait_until([&] { return cache_complete(redis); }, 30s));
  ping_stream stream{gw, 20000};
  BOOST_REQUIRE(wait_until([&] { return redis.hgetall("ping:counters")["total"] > 100; }, 20s));
  auto second = start_processor("second"); // the group rebalances: partitions move
  BOOST_REQUIRE(wait_until(
    [&] { return second->proc().log().find("partitions assigned") != std::string::npos; }, 60s));
  auto before = redis.hgetall("ping:counters")["total"];
  BOOST_REQUIRE(wait_until([&] { return redis.hgetall("ping:counters")["total"] > before; }, 30s));
  first->proc().signal(SIGKILL); // and back: the second takes everything over
  BOOST_REQUIRE(first->proc().wait(10s));
  BOOST_REQUIRE(wait_until(
    [&] { return second->proc().log().find("partitions=\"[0, 1, 2]\"") != std::string::npos; },
    60s));
  before = redis.hgetall("ping:counters")["total"];
  BOOST_REQUIRE(wait_until([&] { return redis.hgetall("ping:counters")["total"] > before; }, 30s));
  stream.stop();
  BOOST_TEST(stream.failed() == 0);
  require_exact(60s);
}

BOOST_AUTO_TEST_CASE(flushall_rebuilds_the_counters_exactly) {
  auto proc = start_processor("processor");
  BOOST_REQUIRE(wait_until([&] { return cache_complete(redis); }, 30s));
  ping_stream stream{gw, 20000};
  BOOST_REQUIRE(wait_until([&] { return redis.hgetall("ping:counters")["total"] > 200; }, 20s));
  BOOST_TEST(redis.cli("FLUSHALL").find("OK") != std::string::npos);
  BOOST_REQUIRE(wait_until([&] { return cache_complete(redis); }, 30s)); // rebuilt
  auto before = redis.hgetall("ping:counters")["total"];
  BOOST_REQUIRE(wait_until([&] { return redis.hgetall("ping:counters")["total"] > before; }, 30s));
  stream.stop();
  require_exact(60s);
  BOOST_TEST(proc->proc().log().find("partition resynced") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(sigterm_flushes_and_exits_zero) {
  auto proc = start_processor("processor");
  BOOST_REQUIRE(wait_until([&] { return cache_complete(redis); }, 30s));
  for (int i = 0; i < 10; ++i)
    BOOST_REQUIRE(send_ping(*stub, 0).ok());
  proc->proc().signal(SIGTERM);
  auto status = proc->proc().wait(10s);
  BOOST_REQUIRE(status.has_value());
  BOOST_TEST(*status == 0);
  // Whatever was consumed before the signal is in the cache, with its
  // offsets; a restarted processor completes the rest exactly.
  auto again = start_processor("processor-2");
  require_exact(30s);
}

BOOST_AUTO_TEST_CASE(ping_count_falls_back_to_postgres_without_the_cache) {
  auto proc = start_processor("processor");
  BOOST_REQUIRE(wait_until([&] { return cache_complete(redis); }, 30s));
  for (int i = 0; i < 20; ++i)
    BOOST_REQUIRE(send_ping(*stub, 0).ok());
  BOOST_REQUIRE(wait_until([&] { return count_pings(*stub) == 20; }, 10s));
  redis.stop();
  // Pings still go in (they need PostgreSQL only) and counts stay exact.
  for (int i = 0; i < 5; ++i)
    BOOST_REQUIRE(send_ping(*stub, 0).ok());
  auto start = clock::now();
  BOOST_TEST(count_pings(*stub) == 25);
  BOOST_TEST((clock::now() - start < 1s));
  BOOST_TEST(count_pings(*stub) == 25);
  // The cache comes back empty: PostgreSQL answers until the processor has
  // rebuilt it, and the counts never go wrong on the way.
  redis.start();
  BOOST_TEST(count_pings(*stub) == 25);
  require_exact(60s);
  BOOST_TEST(count_pings(*stub) == 25);
}

BOOST_AUTO_TEST_CASE(time_ranges_equal_sql_aligned_or_not) {
  auto proc = start_processor("processor");
  BOOST_REQUIRE(wait_until([&] { return cache_complete(redis); }, 30s));
  // Pings in known minutes of the last hour, some on minute boundaries.
  auto base = (now_ms() / 60'000 - 50) * 60'000; // a minute boundary, 50 min ago
  std::vector<int64_t> stamps;
  for (int i = 0; i < 60; ++i)
    stamps.push_back(base + i * 17'000 + (i % 3 == 0 ? 0 : 999));
  for (auto ts : stamps)
    BOOST_REQUIRE(send_ping(*stub, ts).ok());
  require_exact(30s);
  auto sql = [&](int64_t a, int64_t b) {
    return query_int(dsn, "SELECT count(*) FROM pings WHERE pinged_at >= ms_to_timestamptz("
                            + std::to_string(a) + ") AND pinged_at < ms_to_timestamptz("
                            + std::to_string(b) + ")");
  };
  std::vector<std::pair<int64_t, int64_t>> ranges = {
    {base, base + 60'000},      // one aligned minute
    {base, base + 10 * 60'000}, // aligned, several minutes
    {base + 60'000, base + 5 * 60'000},
    {base + 17'000, base + 34'000}, // unaligned: exact from PostgreSQL
    {base + 17'000, base + 17'001}, // a single millisecond
    {base - 60'000, base},          // empty
    {base + 30'000, base + 9 * 60'000 + 1},
    {0, base + 20 * 60'000}, // aligned start at the epoch: beyond retention
  };
  for (auto [a, b] : ranges) {
    auto expected = sql(a, b);
    BOOST_TEST(count_pings(*stub, a, b) == expected, "range [" << a << ", " << b << ")");
  }
  BOOST_TEST(sql(base, base + 60'000) > 0); // the checks above are not all zeros
}

BOOST_AUTO_TEST_SUITE_END()
