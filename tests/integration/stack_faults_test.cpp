// Faults of the running stack (issue 19, items 6 and 12), on loopback with
// real processes: a top-level actor that ends, a relay that holds the
// partitions but cannot reach Kafka, and the dev broker aborting.
#define BOOST_TEST_MODULE stack_faults
#include <boost/test/unit_test.hpp>

#include <signal.h>

#include <optional>
#include <thread>

#include "actors/cache/schema.hpp"
#include "apps/common/files.hpp"
#include "tests/support/harness.hpp"

using namespace ping;
using namespace ping::test;

namespace {

int http_status(uint16_t port, const std::string& path) {
  auto out = shell_output("curl -s -o /dev/null -m 2 -w '%{http_code}' http://127.0.0.1:"
                            + std::to_string(port) + path,
                          5s);
  try {
    return std::stoi(out);
  } catch (...) {
    return 0;
  }
}

int64_t cache_total(const redis_server& redis) {
  auto all = redis.hgetall("ping:counters");
  auto it = all.find("total");
  return it == all.end() ? -1 : it->second;
}

} // namespace

// Item 6. A top-level actor that ends leaves the process unable to serve
// for good; it used to stay live and (here: the processor's consumer, which
// cannot start) answer /healthz 200 forever, so nothing restarted it. Now
// /healthz (liveness) and /readyz answer 503.
BOOST_AUTO_TEST_CASE(dead_top_level_actor_is_not_live) {
  temp_dir dir;
  auto dsn = fresh_database("deadactor");
  redis_server redis;
  test::devbroker broker{dir.path};
  // A consumer setting librdkafka refuses at creation: the consumer ends.
  processor proc{
    dir.path,
    "p1",
    dsn,
    broker.bootstrap(),
    redis.address(),
    {"--kafka.properties=security.protocol=ssl,ssl.ca.location=" + dir.path + "/missing-ca.pem"}};
  BOOST_TEST(wait_until([&] { return http_status(proc.admin_port(), "/healthz") == 503; }, 10s),
             "/healthz answers " << http_status(proc.admin_port(), "/healthz"));
  BOOST_TEST(http_status(proc.admin_port(), "/readyz") == 503);
}

// Item 6. A relay holding every partition's advisory lock whose broker is
// gone blocked those partitions for the whole cluster. Now it releases them
// after `kafka-stall` without an acknowledgement, and a gateway that
// reaches Kafka relays the outbox.
BOOST_AUTO_TEST_CASE(relay_without_kafka_releases_its_partitions) {
  temp_dir dir, dir2;
  auto dsn = fresh_database("relaystall");
  test::devbroker broker{dir.path};
  gateway gw1{dir.path, dsn, broker.bootstrap(), {"--relay.kafka-stall=3s"}};
  auto stub = gw1.stub();
  BOOST_REQUIRE(send_ping(*stub, 0).ok());
  BOOST_REQUIRE(wait_until([&] { return query_int(dsn, outbox_backlog) == 0; }, 20s));
  BOOST_REQUIRE(broker.control("down all").rfind("ok", 0) == 0);
  for (int i = 0; i < 10; ++i)
    BOOST_REQUIRE(send_ping(*stub, 0).ok()); // stored; relayed into a broker that is gone
  // A second gateway, with a broker it can reach.
  test::devbroker broker2{dir2.path};
  gateway gw2{dir2.path, dsn, broker2.bootstrap(), {"--relay.kafka-stall=3s"}};
  BOOST_TEST(wait_until([&] { return query_int(dsn, outbox_backlog) == 0; }, 30s),
             "outbox backlog " << query_int(dsn, outbox_backlog));
  BOOST_TEST(gw1.proc().alive());
}

namespace {

// Item 12: the dev broker aborts under a running stack; pings are sent
// before and after, through a gateway relaying to `partitions` partitions.
// With `paused`, the processor's consumption is paused over the abort and
// resumed once the relay has re-sent everything into the new broker.
void survive_a_broker_abort(int partitions, bool paused) {
  temp_dir dir;
  auto dsn = fresh_database("brokerabort");
  redis_server redis;
  auto info = dir.path + "/devbroker.info";
  process broker{{env("PING_TEST_BUILD_DIR") + "/apps/ping-devbroker", "--restart-on-crash",
                  "--info-file", info, "--control-socket", dir.path + "/devbroker.sock"},
                 dir.path + "/devbroker.log"};
  BOOST_REQUIRE(wait_until([&] { return !apps::read_key(info, "bootstrap").empty(); }, 20s));
  auto bootstrap = apps::read_key(info, "bootstrap");
  gateway gw{dir.path,
             dsn,
             bootstrap,
             {"--cache.address=" + redis.address(),
              "--kafka.partitions=" + std::to_string(partitions)}};
  processor proc{dir.path, "p1", dsn, bootstrap, redis.address()};
  auto stub = gw.stub();
  for (int i = 0; i < 20; ++i)
    BOOST_REQUIRE(send_ping(*stub, 0).ok());
  BOOST_REQUIRE(wait_until([&] { return cache_total(redis) == 20; }, 60s));
  auto admin = "127.0.0.1:" + std::to_string(proc.admin_port());
  if (paused)
    BOOST_REQUIRE(admin_call(admin, "PauseConsumption").http_status == 200);

  auto mock_pid = std::stoi(apps::read_key(info, "pid"));
  auto aborted = clock::now();
  BOOST_REQUIRE(::kill(mock_pid, SIGABRT) == 0);
  BOOST_TEST(wait_until(
               [&] {
                 auto pid = apps::read_key(info, "pid");
                 return !pid.empty() && std::stoi(pid) != mock_pid;
               },
               10s),
             "the dev broker did not come back");
  BOOST_TEST(apps::read_key(info, "bootstrap") == bootstrap);
  for (int i = 0; i < 20; ++i)
    BOOST_TEST(send_ping(*stub, 0).ok());
  if (paused) {
    BOOST_TEST(wait_until([&] { return query_int(dsn, outbox_backlog) == 0; }, 20s));
    BOOST_REQUIRE(admin_call(admin, "ResumeConsumption").http_status == 200);
  }
  auto counted = wait_until([&] { return cache_total(redis) == 40; },
                            std::max(clock::duration{0}, aborted + 30s - clock::now()));
  auto total = cache_total(redis);
  BOOST_TEST(counted, "cache total " << total << " of 40, 30 s after the abort");
  BOOST_TEST_MESSAGE("counted again after "
                     << std::chrono::duration<double>(clock::now() - aborted).count() << " s");
  // Every acknowledged ping reached Kafka again: the relay's cursor.
  BOOST_TEST(wait_until([&] { return query_int(dsn, outbox_backlog) == 0; }, 10s),
             "outbox backlog " << query_int(dsn, outbox_backlog));
  BOOST_TEST(gw.proc().alive());
  BOOST_TEST(proc.proc().alive());
  broker.signal(SIGTERM);
  BOOST_TEST(broker.wait(15s).has_value());
}

} // namespace

// Item 12. librdkafka's mock cluster aborts on some consumer group races
// (`rd_kafka_mock_cgrp_member_add: Assertion '!member->resp' failed`); the
// local stack was left without a broker, and the gateway and processor kept
// dialing the dead address. With --restart-on-crash the dev broker brings
// its cluster back on the same ports, and the stack counts again within
// 30 s, with nobody restarting the gateway or the processor.
//
// The restarted broker has an empty log. When a partition gets as many
// events after the abort as it had before, the offset the processor kept in
// the cache (`offset:p`) equals the new log's end when the consumer rejoins:
// it waited there, never saw the re-sent sequences and, receiving nothing,
// never noticed the gap (this case failed about one run in three: "cache
// total 35 of 40, 30 s after the abort"). The window's stall check now
// resyncs a partition whose PostgreSQL head stays above its sequence.
BOOST_AUTO_TEST_CASE(dev_broker_abort_is_survived) {
  survive_a_broker_abort(3, false);
}

// The interleaving that failed, made certain: every ping on one partition,
// and the consumer fetches again only once the relay has re-sent all 20
// (consumption paused over the abort), so its stored offset is the new
// log's end.
BOOST_AUTO_TEST_CASE(dev_broker_abort_at_the_stored_offset_is_survived) {
  survive_a_broker_abort(1, true);
}

// Item 5. The processor had three definitions of "a partition has state";
// with `offset:p` missing and `seq:p` present, the loader said "cold", the
// recount from 0 was refused against `seq:p`, and it started over, forever,
// while settle() held every other partition's batches behind it. Now the
// partition resumes from its sequence and the cache counts everything.
BOOST_AUTO_TEST_CASE(missing_offset_does_not_stop_the_processor) {
  temp_dir dir;
  auto dsn = fresh_database("nooffset");
  redis_server redis;
  test::devbroker broker{dir.path};
  gateway gw{dir.path, dsn, broker.bootstrap(), {"--cache.address=" + redis.address()}};
  std::optional<processor> proc;
  proc.emplace(dir.path, "p1", dsn, broker.bootstrap(), redis.address());
  auto stub = gw.stub();
  for (int i = 0; i < 30; ++i)
    BOOST_REQUIRE(send_ping(*stub, 0).ok());
  BOOST_REQUIRE(wait_until([&] { return cache_total(redis) == 30; }, 60s));
  proc->proc().signal(SIGTERM);
  BOOST_REQUIRE(proc->proc().wait(20s).has_value());
  proc.reset();
  BOOST_REQUIRE(redis.hgetall("ping:offsets").count("offset:0") == 1u);
  redis.cli("HDEL ping:offsets offset:0");
  proc.emplace(dir.path, "p2", dsn, broker.bootstrap(), redis.address());
  for (int i = 0; i < 30; ++i)
    BOOST_REQUIRE(send_ping(*stub, 0).ok());
  BOOST_TEST(wait_until([&] { return cache_total(redis) == 60; }, 30s),
             "cache total " << cache_total(redis) << " of 60");
  auto offsets = redis.hgetall("ping:offsets");
  BOOST_TEST(offsets.count("seq:0") == 1u);
}

// Item 3. PostgreSQL loses commits the cache has counted (a forced promote,
// a cancelled synchronous-commit wait, a point-in-time restore, a dev
// database recreated while the cache stays up). Recreated here on partition
// 0: with the processor stopped, its pings above relay_seq 50 are deleted
// with their rollups, and its head and relay cursor go back to 50, as a
// restore rolls back every table alike. New pings then reuse the lost
// sequences. The cache used to keep the lost pings' minutes and never count
// the new pings with reused sequences: every minute, and the total, stayed
// wrong for good. Now the processor checks the identity of the ping at the
// sequence it stands at against PostgreSQL, on start and every couple of
// seconds, and recounts the cache from PostgreSQL on a mismatch.
BOOST_AUTO_TEST_CASE(postgres_losing_commits_is_recounted) {
  temp_dir dir;
  auto dsn = fresh_database("lostcommits");
  redis_server redis;
  test::devbroker broker{dir.path};
  gateway gw{dir.path, dsn, broker.bootstrap(), {"--cache.address=" + redis.address()}};
  std::optional<processor> proc;
  proc.emplace(dir.path, "p1", dsn, broker.bootstrap(), redis.address());
  auto stub = gw.stub();
  auto now_minute = std::chrono::duration_cast<std::chrono::minutes>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  auto first = now_minute - 3, second = now_minute - 2;
  auto head0 = [&] {
    return query_int(dsn, "SELECT coalesce(max(next_seq) - 1, 0) FROM outbox_head "
                          "WHERE kafka_partition = 0");
  };
  int sent = 0;
  while (sent < 150 || head0() < 60) {
    BOOST_REQUIRE(send_ping(*stub, first * 60000 + 1000 + sent % 50 * 1000).ok());
    ++sent;
  }
  BOOST_REQUIRE(wait_until([&] { return cache_total(redis) == sent; }, 60s));
  auto counted_seq = redis.hgetall("ping:offsets").at("seq:0");
  BOOST_REQUIRE(counted_seq > 50);
  // The cache knows which ping it counted last: the id PostgreSQL holds.
  auto id_at_seq = shell_output("psql -Atq '" + dsn
                                + "' -c \"SELECT id FROM pings WHERE kafka_partition = 0 "
                                  "AND relay_seq = "
                                + std::to_string(counted_seq) + "\"");
  while (!id_at_seq.empty() && id_at_seq.back() == '\n')
    id_at_seq.pop_back();
  BOOST_TEST(redis.hgetall("ping:offsets")["ident:0"] == cache::schema::ident_of(id_at_seq),
             "ident:0 for " << id_at_seq);
  proc->proc().signal(SIGTERM);
  BOOST_REQUIRE(proc->proc().wait(20s).has_value());
  proc.reset();

  // PostgreSQL loses partition 0's commits above 50.
  BOOST_REQUIRE(shell("psql -q -v ON_ERROR_STOP=1 '" + dsn
                      + "' -c \""
                        "BEGIN; "
                        "DELETE FROM pings WHERE kafka_partition = 0 AND relay_seq > 50; "
                        "DELETE FROM ping_buckets WHERE kafka_partition = 0; "
                        "INSERT INTO ping_buckets SELECT 0, g, "
                        "bucket_of(ms_to_minute(timestamptz_to_ms(pinged_at)), g), count(*) "
                        "FROM pings, unnest(ARRAY[1, 60, 1440]) g WHERE kafka_partition = 0 "
                        "GROUP BY 2, 3; "
                        "DELETE FROM ping_seconds WHERE kafka_partition = 0; "
                        "UPDATE outbox_head SET next_seq = 51 WHERE kafka_partition = 0; "
                        "UPDATE outbox_cursor SET acked_seq = least(acked_seq, 50) "
                        "WHERE kafka_partition = 0; "
                        "COMMIT;\"")
                == 0);
  proc.emplace(dir.path, "p2", dsn, broker.bootstrap(), redis.address());
  // New pings in another minute, until partition 0's head passes the
  // sequence the cache counted (reads no longer fall back on their own).
  int more = 0;
  while (more < 100 || head0() <= counted_seq) {
    BOOST_REQUIRE(send_ping(*stub, second * 60000 + 1000 + more % 50 * 1000).ok());
    ++more;
  }
  auto in_sql = [&] { return counts_in_postgres(dsn); };
  auto in_minute = [&](int64_t m) {
    auto all = in_sql();
    auto it = all.find("minute:" + std::to_string(m));
    return it == all.end() ? 0 : it->second;
  };
  auto cache_matches = [&] {
    auto cache = redis.hgetall("ping:counters");
    for (auto& [k, n] : in_sql()) {
      auto it = cache.find(k);
      if (it == cache.end() || it->second != n)
        return false;
    }
    return true;
  };
  auto exact = [&] {
    return cache_matches() && count_pings(*stub) == in_sql().at("total")
           && count_pings(*stub, first * 60000, (first + 1) * 60000) == in_minute(first)
           && count_pings(*stub, second * 60000, (second + 1) * 60000) == in_minute(second);
  };
  auto sent_at = clock::now();
  auto ok = wait_until(exact, 30s);
  BOOST_TEST_MESSAGE("exact again " << std::chrono::duration<double>(clock::now() - sent_at).count()
                                    << " s after the last new ping was acknowledged");
  auto cache = redis.hgetall("ping:counters");
  auto sql = in_sql();
  auto key = [](int64_t m) { return "minute:" + std::to_string(m); };
  BOOST_TEST(ok, "30 s after the new pings: SQL total "
                   << sql["total"] << ", first minute " << sql[key(first)] << ", second "
                   << sql[key(second)] << "; cache total " << cache["total"] << ", first "
                   << cache[key(first)] << ", second " << cache[key(second)] << "; PingCount total "
                   << count_pings(*stub) << ", first "
                   << count_pings(*stub, first * 60000, (first + 1) * 60000) << ", second "
                   << count_pings(*stub, second * 60000, (second + 1) * 60000));
  BOOST_TEST(proc->proc().alive());
}
