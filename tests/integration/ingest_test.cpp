// The whole write path on real services: ping-gateway processes, a real
// PostgreSQL database, a dev broker of the test's own.
#define BOOST_TEST_MODULE ingest
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <map>
#include <set>

#include "tests/support/harness.hpp"

using namespace ping;
using namespace ping::test;

namespace {

struct fixture {
  temp_dir dir;
  std::string dsn = fresh_database("ingest");
  test::devbroker broker{dir.path};
};

// Event count per id, de-duplicated the way the processor does it: an event
// whose relay sequence is not above the partition's watermark is a re-send.
std::set<std::string> apply_exactly_once(const std::vector<v1::PingEvent>& events,
                                         int& duplicates) {
  std::map<int32_t, int64_t> watermark;
  std::set<std::string> applied;
  duplicates = 0;
  for (auto& ev : events) {
    auto& w = watermark[ev.partition()];
    if (ev.relay_seq() <= w) {
      duplicates++;
      continue;
    }
    w = ev.relay_seq();
    applied.insert(ev.id());
  }
  return applied;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(ingest, fixture)

BOOST_AUTO_TEST_CASE(ping_becomes_a_row_and_an_event) {
  gateway gw{dir.path, dsn, broker.bootstrap()};
  auto stub = gw.stub();
  for (int i = 0; i < 20; ++i) {
    auto st = send_ping(*stub, 1'728'926'331'000 + i);
    BOOST_REQUIRE_MESSAGE(st.ok(), st.error_message());
  }
  // Acknowledged means committed: the rows are there now.
  BOOST_TEST(query_int(dsn, "SELECT count(*) FROM pings") == 20);
  BOOST_TEST(query_int(dsn, "SELECT count(*) FROM pings WHERE pinged_at >= "
                            "'2024-10-14 17:18:51+00' AND pinged_at < '2024-10-14 17:18:51.020+00'")
             == 20);
  auto events = consume_events(
    broker.bootstrap(), "ping-events", [](auto& evs) { return evs.size() >= 20; }, 20s);
  BOOST_REQUIRE_EQUAL(events.size(), 20u);
  std::set<int64_t> stamps;
  for (auto& ev : events) {
    stamps.insert(ev.timestamp_ms());
    BOOST_TEST(ev.relay_seq() > 0);
    BOOST_TEST(ev.id().size() == 36u);
  }
  BOOST_TEST(stamps.size() == 20u);
  BOOST_TEST(*stamps.begin() == 1'728'926'331'000);
  // The relay advances the outbox cursor after the broker's acknowledgement.
  BOOST_TEST(wait_until([&] { return query_int(dsn, outbox_backlog) == 0; }, 10s));
  // The writer handed its commits to the relay, which sent them from memory
  // (docs/outbox-relay.md, "The fast path").
  auto metrics
    = shell_output("curl -s -m 5 http://127.0.0.1:" + std::to_string(gw.admin_port()) + "/metrics");
  auto series = std::string{"ping_relay_read_events_total{source=\"memory\"} "};
  auto at = metrics.find(series);
  BOOST_REQUIRE_MESSAGE(at != std::string::npos, metrics);
  BOOST_TEST(std::stod(metrics.substr(at + series.size())) > 0, metrics.substr(at, 80));
  // kcat reads the same topic; the value decodes as the original event
  // (field 1 = timestamp_ms), so existing consumers keep working.
  auto lines = shell_output("kcat -b " + broker.bootstrap()
                            + " -C -t ping-events -o beginning -e -q -f '%k\\n'");
  BOOST_TEST(std::count(lines.begin(), lines.end(), '\n') == 20);
  for (auto& ev : events)
    BOOST_TEST(lines.find(ev.id()) != std::string::npos);
  v1::PingRequest legacy;
  BOOST_REQUIRE(legacy.ParseFromString(events[0].SerializeAsString()));
  BOOST_TEST(legacy.timestamp_ms() == events[0].timestamp_ms());
}

BOOST_AUTO_TEST_CASE(broker_outage_delays_events_but_not_acks) {
  gateway gw{dir.path, dsn, broker.bootstrap()};
  auto stub = gw.stub();
  BOOST_REQUIRE(send_ping(*stub, 0).ok());
  BOOST_REQUIRE(consume_events(
                  broker.bootstrap(), "ping-events", [](auto& e) { return e.size() >= 1; }, 20s)
                  .size()
                == 1u);
  BOOST_TEST(broker.control("down all").rfind("ok", 0) == 0);
  for (int i = 0; i < 30; ++i) {
    auto st = send_ping(*stub, 0);
    BOOST_REQUIRE_MESSAGE(st.ok(), st.error_message()); // acks need PostgreSQL only
  }
  BOOST_TEST(query_int(dsn, "SELECT count(*) FROM pings") == 31);
  BOOST_TEST(query_int(dsn, outbox_backlog) == 30);
  BOOST_TEST(broker.control("up all").rfind("ok", 0) == 0);
  auto events = consume_events(
    broker.bootstrap(), "ping-events", [](auto& e) { return e.size() >= 31; }, 60s);
  int dups = 0;
  BOOST_TEST(apply_exactly_once(events, dups).size() == 31u);
  BOOST_TEST(wait_until([&] { return query_int(dsn, outbox_backlog) == 0; }, 30s));
}

BOOST_AUTO_TEST_CASE(acknowledged_pings_survive_sigkill) {
  std::set<std::string> acked_before;
  {
    gateway gw{dir.path, dsn, broker.bootstrap()};
    auto stub = gw.stub();
    // With the broker down, acknowledged pings can only be in the outbox.
    BOOST_TEST(broker.control("down all").rfind("ok", 0) == 0);
    for (int i = 0; i < 50; ++i)
      BOOST_REQUIRE(send_ping(*stub, 1'000'000 + i).ok());
    gw.proc().signal(SIGKILL);
    BOOST_REQUIRE(gw.proc().wait(10s));
  }
  BOOST_TEST(query_int(dsn, "SELECT count(*) FROM pings WHERE pinged_at < to_timestamp(2000)")
             == 50);
  BOOST_TEST(broker.control("up all").rfind("ok", 0) == 0);
  gateway restarted{dir.path, dsn, broker.bootstrap()};
  auto events = consume_events(
    broker.bootstrap(), "ping-events",
    [](auto& e) {
      int d = 0;
      return apply_exactly_once(e, d).size() >= 50;
    },
    60s);
  int dups = 0;
  auto applied = apply_exactly_once(events, dups);
  BOOST_TEST(applied.size() == 50u); // every acknowledged ping, exactly once
  BOOST_TEST(wait_until([&] { return query_int(dsn, outbox_backlog) == 0; }, 30s));
}

BOOST_AUTO_TEST_CASE(sigterm_drains_and_exits_zero_quickly) {
  gateway gw{dir.path, dsn, broker.bootstrap()};
  auto stub = gw.stub();
  for (int i = 0; i < 10; ++i)
    BOOST_REQUIRE(send_ping(*stub, 0).ok());
  auto start = clock::now();
  gw.proc().signal(SIGTERM);
  auto status = gw.proc().wait(10s);
  BOOST_REQUIRE(status.has_value());
  BOOST_TEST(*status == 0);
  BOOST_TEST((clock::now() - start < 10s));
  BOOST_TEST(query_int(dsn, outbox_backlog) == 0); // relayed before exit
}

BOOST_AUTO_TEST_CASE(invalid_input_gets_invalid_argument_and_stores_nothing) {
  gateway gw{dir.path, dsn, broker.bootstrap()};
  auto stub = gw.stub();
  auto st = send_ping(*stub, -1);
  BOOST_TEST(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  st = send_ping(*stub, 253402300799999 + 1);
  BOOST_TEST(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  BOOST_TEST(query_int(dsn, "SELECT count(*) FROM pings") == 0);
}

BOOST_AUTO_TEST_CASE(admin_endpoint_health_metrics_and_auth) {
  gateway gw{dir.path, dsn, broker.bootstrap()};
  auto stub = gw.stub();
  auto url = "http://127.0.0.1:" + std::to_string(gw.admin_port());
  auto get = [&](const std::string& path, const std::string& header = "") {
    return shell_output("curl -s -m 5 -w ' %{http_code}' " + header + " " + url + path);
  };
  BOOST_TEST(get("/healthz") == "ok\n 200");
  BOOST_TEST(get("/readyz") == "ready\n 200");
  for (int i = 0; i < 3; ++i)
    BOOST_REQUIRE(send_ping(*stub, 0).ok());
  auto metrics = get("/metrics");
  BOOST_TEST(metrics.find("ping_gateway_pings_accepted_total 3") != std::string::npos, metrics);
  BOOST_TEST(metrics.find("ping_actor_messages_handled_total{actor=\"gateway\",kind=\"pool\"}")
             != std::string::npos);
  BOOST_TEST(metrics.find("# TYPE ping_persistence_commit_seconds histogram") != std::string::npos);
  BOOST_TEST(metrics.find("password") == std::string::npos);
  // The admin API (Connect JSON on the same port).
  auto call = [&](const std::string& method, const std::string& body,
                  const std::string& header = "") {
    return shell_output("curl -s -m 5 -w ' %{http_code}' -H 'Content-Type: application/json' "
                        + header + " -d '" + body + "' " + url + "/ping.admin.v1.AdminService/"
                        + method);
  };
  auto actors = call("ListActors", "{}");
  for (auto name : {"gateway", "persistence", "persistence.writer-1", "persistence.reader",
                    "publisher", "publisher.relay", "cache", "cache.reader"})
    BOOST_TEST(actors.find("\"name\":\"" + std::string{name} + "\"") != std::string::npos,
               name << " in " << actors);
  BOOST_TEST(actors.substr(actors.size() - 3) == "200");
  auto node = call("GetStatus", "{}");
  BOOST_TEST(node.find("\"binary\":\"ping-gateway\"") != std::string::npos, node);
  BOOST_TEST(node.find("postgres.dsn=***") != std::string::npos, node);
  BOOST_TEST(node.find("user=ping") == std::string::npos); // the DSN itself never shows
  BOOST_TEST(call("SetLogLevel", R"({"level":"debug"})").find("200") != std::string::npos);
  BOOST_TEST(call("GetStatus", "{}").find("\"logLevel\":\"debug\"") != std::string::npos);
  auto bad = call("SetLogLevel", R"({"level":"loud"})");
  BOOST_TEST(bad.find("invalid_argument") != std::string::npos, bad);
  BOOST_TEST(bad.substr(bad.size() - 3) == "400");
  // Off loopback without a token: refuses to start.
  process refused{{env("PING_TEST_BUILD_DIR") + "/apps/ping-gateway", "--admin.address=0.0.0.0",
                   "--admin.port=0", "--connect.port=0", "--grpc.port=0",
                   "--postgres.dsn=" + dsn + " password=hunter2",
                   "--kafka.bootstrap=" + broker.bootstrap()},
                  dir.path + "/refused.log"};
  auto status = refused.wait(30s);
  BOOST_REQUIRE(status.has_value());
  BOOST_TEST(*status != 0);
  BOOST_TEST(refused.log().find("needs a bearer token") != std::string::npos);
  BOOST_TEST(refused.log().find("hunter2") == std::string::npos); // secrets never logged
  // With a token: only the right one gets past the probes.
  auto token_file = dir.path + "/token";
  shell("echo s3cret-token > " + token_file);
  temp_dir other;
  gateway guarded{other.path,
                  dsn,
                  broker.bootstrap(),
                  {"--admin.address=127.0.0.2", "--admin.token-file=" + token_file}};
  auto gurl = "http://127.0.0.2:" + std::to_string(guarded.admin_port());
  auto gget = [&](const std::string& path, const std::string& header = "") {
    return shell_output("curl -s -m 5 -o /dev/null -w '%{http_code}' " + header + " " + gurl
                        + path);
  };
  BOOST_TEST(gget("/healthz") == "200");
  BOOST_TEST(gget("/metrics") == "401");
  BOOST_TEST(gget("/metrics", "-H 'Authorization: Bearer wrong'") == "401");
  BOOST_TEST(gget("/metrics", "-H 'Authorization: Bearer s3cret-token'") == "200");
  auto api = [&](const std::string& header) {
    return shell_output(
      "curl -s -m 5 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' " + header
      + " -d '{}' " + gurl + "/ping.admin.v1.AdminService/ListActors");
  };
  BOOST_TEST(api("") == "401");
  BOOST_TEST(api("-H 'Authorization: Bearer s3cret-token'") == "200");
}

BOOST_AUTO_TEST_SUITE_END()
