// The admin API against a running stack (own database, dev broker,
// redis-server, gateway and processor per test): the actor lists match what
// the binaries spawn, counters move when pings flow, and the commands take
// effect — pause grows lag, resume drains it, flush makes a counted ping
// visible at once, a cache rebuild recounts exactly. Plus auth on a
// token-protected processor.
#define BOOST_TEST_MODULE admin
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>

#include "actors/common/ids.hpp"
#include "ping/admin/v1/admin.pb.h"
#include "tests/support/harness.hpp"

using namespace ping;
using namespace ping::test;
namespace av1 = ping::admin::v1;

namespace {

struct fixture {
  temp_dir dir;
  std::string dsn = fresh_database("admin");
  test::devbroker broker{dir.path};
  redis_server redis;
  gateway gw{dir.path, dsn, broker.bootstrap(), {"--cache.address=" + redis.address()}};
  std::unique_ptr<v1::PingService::Stub> stub = gw.stub();

  std::unique_ptr<processor> start_processor(std::vector<std::string> extra = {}) {
    auto p = std::make_unique<processor>(dir.path, "processor", dsn, broker.bootstrap(),
                                         redis.address(), std::move(extra));
    // Ready: partitions assigned and their offsets in the cache.
    BOOST_REQUIRE(wait_until(
      [&] {
        return admin_rpc<av1::GetStatusResponse>(p->admin_port(), "GetStatus").ready()
               && cache_complete(redis);
      },
      30s));
    return p;
  }

  bool exact() {
    return cache_complete(redis) && redis.hgetall("ping:counters") == counts_in_postgres(dsn);
  }

  void send(int n, int64_t timestamp_ms = 0) {
    for (int i = 0; i < n; ++i)
      BOOST_REQUIRE(send_ping(*stub, timestamp_ms).ok());
  }
};

std::map<std::string, av1::Stage> stages(uint16_t port) {
  std::map<std::string, av1::Stage> out;
  auto pipeline = admin_rpc<av1::GetPipelineResponse>(port, "GetPipeline");
  for (auto& s : pipeline.stages())
    out[s.name()] = s;
  return out;
}

std::string joined(const std::set<std::string>& xs) {
  std::string out;
  for (auto& x : xs)
    out += (out.empty() ? "" : ",") + x;
  return out;
}

int64_t total_lag(uint16_t port) {
  return admin_rpc<av1::GetLagResponse>(port, "GetLag").total_lag();
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(admin_api, fixture)

BOOST_AUTO_TEST_CASE(actor_lists_match_the_spawned_actors) {
  auto proc = start_processor();
  auto actors = admin_rpc<av1::ListActorsResponse>(proc->admin_port(), "ListActors");
  std::set<std::string> names;
  for (auto& a : actors.actors()) {
    names.insert(a.name());
    BOOST_TEST((a.kind() == "pool" || a.kind() == "detached"), a.name());
    // A child names its supervisor's subsystem as parent.
    if (!a.parent().empty())
      BOOST_TEST(a.name().rfind(a.parent() + ".", 0) == 0u, a.name());
    BOOST_TEST(a.up(), a.name());
  }
  std::set<std::string> spawned{"windowing.consumer",
                                "windowing.window",
                                "windowing.cache-writer",
                                "windowing.rebuilder",
                                "cache",
                                "cache.reader"};
  BOOST_TEST((names == spawned), joined(names));

  std::set<std::string> gw_names;
  auto gw_actors = admin_rpc<av1::ListActorsResponse>(gw.admin_port(), "ListActors");
  for (auto& a : gw_actors.actors())
    gw_names.insert(a.name());
  for (auto name : {"gateway", "persistence", "persistence.writer-1", "persistence.reader",
                    "publisher", "publisher.relay", "cache", "cache.reader"})
    BOOST_TEST(gw_names.count(name) == 1u, name);

  // Each node offers the commands it can carry out, and refuses the rest.
  auto ps = admin_rpc<av1::GetStatusResponse>(proc->admin_port(), "GetStatus");
  std::set<std::string> commands{ps.commands().begin(), ps.commands().end()};
  BOOST_TEST((commands
              == std::set<std::string>{"Flush", "PauseConsumption", "ResumeConsumption",
                                       "RebuildCache", "SetLogLevel"}),
             joined(commands));
  auto gs = admin_rpc<av1::GetStatusResponse>(gw.admin_port(), "GetStatus");
  BOOST_TEST(gs.commands_size() == 1);
  auto refused = admin_call("127.0.0.1:" + std::to_string(gw.admin_port()), "Flush");
  BOOST_TEST(refused.http_status == 501);
  BOOST_TEST(refused.body.find("\"code\":\"unimplemented\"") != std::string::npos, refused.body);
  auto bad = admin_call("127.0.0.1:" + std::to_string(proc->admin_port()), "GetMinuteCounts",
                        R"({"minutes":5000})");
  BOOST_TEST(bad.http_status == 400, bad.body);
}

BOOST_AUTO_TEST_CASE(counters_move_when_pings_flow) {
  auto proc = start_processor();
  auto gw_before = stages(gw.admin_port());
  auto proc_before = stages(proc->admin_port());
  auto window_handled = [&] {
    auto list = admin_rpc<av1::ListActorsResponse>(proc->admin_port(), "ListActors");
    for (auto& a : list.actors())
      if (a.name() == "windowing.window")
        return a.messages_handled();
    return uint64_t{0};
  };
  auto handled_before = window_handled();
  const int n = 50;
  send(n);
  auto gw_after = stages(gw.admin_port());
  BOOST_TEST(gw_after["accept"].total() - gw_before["accept"].total() == uint64_t{n});
  BOOST_TEST(gw_after["commit"].total() - gw_before["commit"].total() == uint64_t{n});
  BOOST_TEST(gw_after["accept"].per_second() > 0);
  BOOST_TEST(gw_after["commit"].latency_p99_ms() > 0);
  // Downstream stages catch up within a couple of seconds.
  BOOST_REQUIRE(wait_until(
    [&] {
      auto g = stages(gw.admin_port());
      auto p = stages(proc->admin_port());
      return g["publish"].total() - gw_before["publish"].total() == uint64_t{n}
             && p["consume"].total() - proc_before["consume"].total() == uint64_t{n}
             && p["count"].total() - proc_before["count"].total() == uint64_t{n}
             && p["flush"].total() - proc_before["flush"].total() == uint64_t{n};
    },
    10s));
  BOOST_TEST(window_handled() > handled_before);
  auto p = stages(proc->admin_port());
  BOOST_TEST(p["consume"].per_second() > 0);
  BOOST_TEST(p["flush"].latency_p99_ms() > 0);

  // The per-minute counts are the cache's, equal to PostgreSQL's.
  BOOST_REQUIRE(wait_until([&] { return exact(); }, 5s));
  auto minutes = admin_rpc<av1::GetMinuteCountsResponse>(proc->admin_port(), "GetMinuteCounts",
                                                         R"({"minutes":3})");
  BOOST_TEST(minutes.source() == "cache");
  BOOST_REQUIRE(minutes.minutes_size() == 3);
  auto sql = counts_in_postgres(dsn);
  int64_t shown = 0;
  for (auto& m : minutes.minutes()) {
    BOOST_TEST(m.count() == sql["minute:" + std::to_string(m.minute())], m.minute());
    shown += m.count();
  }
  BOOST_TEST(shown == n); // all sent within the last three minutes
  BOOST_TEST(minutes.minutes(2).minute() == now_ms() / 60000);
}

BOOST_AUTO_TEST_CASE(pause_grows_lag_and_resume_drains_it) {
  auto proc = start_processor();
  auto port = proc->admin_port();
  send(5);
  BOOST_REQUIRE(wait_until([&] { return exact(); }, 5s));
  auto paused = admin_rpc<av1::PauseConsumptionResponse>(port, "PauseConsumption");
  BOOST_TEST(paused.paused());
  BOOST_TEST(paused.partitions() == 3);
  BOOST_TEST(admin_rpc<av1::GetStatusResponse>(port, "GetStatus").paused());
  auto cached = redis.hgetall("ping:counters")["total"];
  const int n = 30;
  send(n);
  BOOST_REQUIRE(wait_until([&] { return total_lag(port) == n; }, 10s));
  BOOST_TEST(redis.hgetall("ping:counters")["total"] == cached); // nothing consumed
  auto lag = admin_rpc<av1::GetLagResponse>(port, "GetLag");
  BOOST_TEST(lag.paused());
  BOOST_TEST(lag.partitions_size() == 3);
  for (auto& p : lag.partitions())
    BOOST_TEST(p.lag() == p.end_offset() - p.position());

  auto resumed = admin_rpc<av1::ResumeConsumptionResponse>(port, "ResumeConsumption");
  BOOST_TEST(!resumed.paused());
  BOOST_REQUIRE(wait_until([&] { return total_lag(port) == 0; }, 10s));
  BOOST_REQUIRE(wait_until([&] { return exact(); }, 5s));
  BOOST_TEST(redis.hgetall("ping:counters")["total"] == cached + n);
}

BOOST_AUTO_TEST_CASE(flush_makes_a_counted_ping_visible_at_once) {
  // Flushes only on command (or 100000 records): the timer is an hour.
  auto proc = start_processor({"--window.flush-delay=1h", "--window.flush-records=100000"});
  auto port = proc->admin_port();
  auto before_total = redis.hgetall("ping:counters")["total"];
  auto counted = stages(port)["count"].total();
  send(1);
  BOOST_REQUIRE(wait_until([&] { return stages(port)["count"].total() == counted + 1; }, 10s));
  BOOST_TEST(redis.hgetall("ping:counters")["total"] == before_total); // counted, not flushed
  auto flushed = admin_rpc<av1::FlushResponse>(port, "Flush");
  BOOST_TEST(flushed.complete());
  BOOST_TEST(flushed.partitions() == 3);
  // No waiting: the reply comes once the cache has it.
  BOOST_TEST(redis.hgetall("ping:counters")["total"] == before_total + 1);
  BOOST_TEST(count_pings(*stub) == before_total + 1);
  BOOST_TEST(exact());
}

BOOST_AUTO_TEST_CASE(rebuild_cache_recounts_exactly_from_postgres) {
  auto proc = start_processor();
  auto now = now_ms();
  for (int i = 0; i < 40; ++i)
    BOOST_REQUIRE(send_ping(*stub, now - i * 47'000).ok()); // spread over ~30 minutes
  BOOST_REQUIRE(wait_until([&] { return exact(); }, 5s));
  // Drift the cache's buckets by hand, where the checksum (total == sum of
  // the partitions' counts) cannot see it; a rebuild must undo it.
  redis.cli("HINCRBY ping:counters minute:" + std::to_string(now / 60000) + " 7");
  redis.cli("HSET ping:counters minute:12345 3");
  BOOST_REQUIRE(!exact());
  auto rebuilt = admin_rpc<av1::RebuildCacheResponse>(proc->admin_port(), "RebuildCache");
  BOOST_TEST(rebuilt.partitions() == 3);
  BOOST_TEST(exact()); // as soon as the reply is there
  // And counting goes on from the recount.
  send(3);
  BOOST_REQUIRE(wait_until([&] { return exact(); }, 5s));
  BOOST_TEST(redis.hgetall("ping:counters")["total"] == 43);
}

BOOST_AUTO_TEST_CASE(minute_counts_come_from_postgres_when_the_cache_is_down) {
  auto proc = start_processor();
  auto now = now_ms();
  for (int i = 0; i < 12; ++i)
    BOOST_REQUIRE(send_ping(*stub, now - i * 20'000).ok()); // over about four minutes
  BOOST_REQUIRE(wait_until([&] { return exact(); }, 5s));
  auto from_cache = admin_rpc<av1::GetMinuteCountsResponse>(gw.admin_port(), "GetMinuteCounts",
                                                            R"({"minutes":10})");
  BOOST_TEST(from_cache.source() == "cache");
  redis.stop();
  auto from_sql = admin_rpc<av1::GetMinuteCountsResponse>(gw.admin_port(), "GetMinuteCounts",
                                                          R"({"minutes":10})");
  BOOST_TEST(from_sql.source() == "postgres");
  BOOST_REQUIRE(from_sql.minutes_size() == 10);
  auto sql = counts_in_postgres(dsn);
  int64_t shown = 0;
  for (int i = 0; i < 10; ++i) {
    auto& m = from_sql.minutes(i);
    BOOST_TEST(m.count() == sql["minute:" + std::to_string(m.minute())], m.minute());
    if (i < from_cache.minutes_size() && from_cache.minutes(i).minute() == m.minute())
      BOOST_TEST(m.count() == from_cache.minutes(i).count());
    shown += m.count();
  }
  BOOST_TEST(shown == 12);
  // The processor has no PostgreSQL read path for this: it says so.
  auto down = admin_call("127.0.0.1:" + std::to_string(proc->admin_port()), "GetMinuteCounts");
  BOOST_TEST(down.http_status == 503, down.body);
}

// Issue 11, DNS rebinding: on loopback without a token, a request whose
// Host is not loopback (a page of another origin that resolved its own
// name to 127.0.0.1) is refused; health probes still answer.
BOOST_AUTO_TEST_CASE(loopback_without_a_token_refuses_foreign_hosts) {
  auto proc = start_processor();
  auto url = "http://127.0.0.1:" + std::to_string(proc->admin_port());
  auto status = [&](const std::string& host, const std::string& path, const std::string& data) {
    return shell_output(
      "curl -s -m 5 -o /dev/null -w '%{http_code}' -H 'Host: " + host + "'"
      + (data.empty() ? "" : " -H 'Content-Type: application/json' -d '" + data + "'") + " " + url
      + path);
  };
  auto rpc = std::string{"/ping.admin.v1.AdminService/"};
  BOOST_TEST(status("evil.example:8080", rpc + "GetStatus", "{}") == "401");
  BOOST_TEST(status("evil.example", rpc + "PauseConsumption", "{}") == "401");
  BOOST_TEST(status("evil.example", "/metrics", "") == "401");
  BOOST_TEST(status("127.0.0.1:" + std::to_string(proc->admin_port()), rpc + "GetStatus", "{}")
             == "200");
  BOOST_TEST(status("localhost", rpc + "GetStatus", "{}") == "200");
  BOOST_TEST(status("[::1]:1234", rpc + "GetStatus", "{}") == "200");
  BOOST_TEST(status("evil.example", "/healthz", "") == "200");
  // HEAD /healthz: 200 with no body, as nginx answers it (probes use HEAD).
  auto head = shell_output("curl -s -I -m 5 " + url + "/healthz");
  BOOST_TEST(head.rfind("HTTP/1.1 200", 0) == 0u, head);
  BOOST_TEST(head.find("Content-Length: 3") != std::string::npos, head);
  auto st = admin_rpc<av1::GetStatusResponse>(proc->admin_port(), "GetStatus");
  BOOST_TEST(!st.paused()); // the refused pause did nothing
}

// Issue 19 item 8, DNS rebinding with a look-alike name: a Host that only
// starts like a loopback literal (127.0.0.1.evil.example resolves wherever
// its owner wants, 127.0.0.1 included) is refused on every route the guard
// covers, reads and commands alike; real loopback literals still get in.
BOOST_AUTO_TEST_CASE(dns_rebinding_look_alike_hosts_are_refused) {
  auto url = "http://127.0.0.1:" + std::to_string(gw.admin_port());
  auto status = [&](const std::string& host, const std::string& path, const std::string& data) {
    return shell_output(
      "curl -s -m 5 -o /dev/null -w '%{http_code}' -H 'Host: " + host + "'"
      + (data.empty() ? "" : " -H 'Content-Type: application/json' -d '" + data + "'") + " " + url
      + path);
  };
  auto rpc = std::string{"/ping.admin.v1.AdminService/"};
  for (std::string host :
       {"127.0.0.1.evil.example:9465", "127.0.0.1.evil.example", "127.1.evil.example",
        "localhost.evil.example:9465", "[::1].evil.example", "127.0.0.1:9465.evil.example"}) {
    for (auto [path, body] : {std::pair<std::string, std::string>{rpc + "GetStatus", "{}"},
                              {rpc + "SetLogLevel", R"({"level":"debug"})"},
                              {"/metrics", ""}}) {
      auto got = status(host, path, body);
      BOOST_TEST(got == "401", "Host " << host << " " << path << ": " << got);
    }
  }
  BOOST_TEST(status("127.0.0.1:" + std::to_string(gw.admin_port()), rpc + "GetStatus", "{}")
             == "200");
  BOOST_TEST(status("localhost", rpc + "GetStatus", "{}") == "200");
  BOOST_TEST(status("[::1]:9465", rpc + "GetStatus", "{}") == "200");
}

// Issue 11: health probes get an answer while idle clients hold every one
// of the admin endpoint's 64 connections (the longest idle one makes room).
BOOST_AUTO_TEST_CASE(probes_get_through_when_idle_clients_hold_every_connection) {
  auto proc = start_processor();
  std::vector<int> held;
  for (int i = 0; i < 70; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(proc->admin_port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    held.push_back(fd); // connected, sending nothing
  }
  auto url = "http://127.0.0.1:" + std::to_string(proc->admin_port());
  for (int i = 0; i < 5; ++i)
    BOOST_TEST(shell_output("curl -s -m 2 -o /dev/null -w '%{http_code}' " + url + "/healthz")
                 == "200",
               "probe " << i);
  BOOST_TEST(shell_output("curl -s -m 2 -o /dev/null -w '%{http_code}' " + url + "/readyz")
             == "200");
  for (auto fd : held)
    ::close(fd);
}

BOOST_AUTO_TEST_CASE(token_protected_processor_refuses_wrong_tokens_and_hides_secrets) {
  auto secret_dsn = dsn + " password=hunter2-secret";
  // Off loopback without a token: refuses to start.
  process refused{{env("PING_TEST_BUILD_DIR") + "/apps/ping-processor", "--admin.address=0.0.0.0",
                   "--admin.port=0", "--postgres.dsn=" + secret_dsn,
                   "--kafka.bootstrap=" + broker.bootstrap(), "--cache.address=" + redis.address()},
                  dir.path + "/refused.log"};
  auto status = refused.wait(30s);
  BOOST_REQUIRE(status.has_value());
  BOOST_TEST(*status != 0);
  BOOST_TEST(refused.log().find("needs a bearer token") != std::string::npos, refused.log());

  auto token_file = dir.path + "/token";
  shell("echo 'pr0cessor-token' > " + token_file);
  auto read_token_file = dir.path + "/read-token";
  shell("echo 'dashb0ard-token' > " + read_token_file);
  processor guarded{dir.path,
                    "guarded",
                    secret_dsn,
                    broker.bootstrap(),
                    redis.address(),
                    {"--admin.address=127.0.0.2", "--admin.token-file=" + token_file,
                     "--admin.read-token-file=" + read_token_file}};
  auto node = "127.0.0.2:" + std::to_string(guarded.admin_port());
  BOOST_TEST(admin_call(node, "Flush").http_status == 401);
  BOOST_TEST(admin_call(node, "Flush", "{}", "wrong").http_status == 401);
  BOOST_TEST(admin_call(node, "PauseConsumption", "{}", "pr0cessor-tokenX").http_status == 401);
  BOOST_TEST(admin_call(node, "GetStatus", "{}", "wrong").http_status == 401);
  auto st = admin_call(node, "GetStatus", "{}", "pr0cessor-token");
  BOOST_TEST(st.http_status == 200);
  BOOST_TEST(st.body.find("postgres.dsn=***") != std::string::npos, st.body);
  BOOST_TEST(st.body.find("admin.token=***") != std::string::npos, st.body);
  BOOST_TEST(st.body.find("hunter2") == std::string::npos);
  BOOST_TEST(st.body.find("pr0cessor-token") == std::string::npos);
  av1::GetStatusResponse parsed;
  BOOST_REQUIRE(parse_json(st.body, parsed));
  BOOST_TEST(!parsed.paused()); // the refused pause did nothing
  // The read-only token reads, and may not run commands.
  BOOST_TEST(admin_call(node, "ListActors", "{}", "dashb0ard-token").http_status == 200);
  BOOST_TEST(admin_call(node, "GetLag", "{}", "dashb0ard-token").http_status == 200);
  for (auto method : {"Flush", "PauseConsumption", "ResumeConsumption", "RebuildCache"}) {
    auto denied = admin_call(node, method, "{}", "dashb0ard-token");
    BOOST_TEST(denied.http_status == 403, method);
    BOOST_TEST(denied.body.find("\"code\":\"permission_denied\"") != std::string::npos,
               denied.body);
  }
  BOOST_TEST(admin_call(node, "SetLogLevel", R"({"level":"debug"})", "dashb0ard-token").http_status
             == 403);
  BOOST_TEST(shell_output("curl -s -m 5 -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer "
                          "dashb0ard-token' http://"
                          + node + "/metrics")
             == "200");
  // The scheme is case-insensitive (RFC 7235); the token is not.
  auto curl_status = [&](const std::string& header) {
    return shell_output("curl -s -m 5 -o /dev/null -w '%{http_code}' -H '" + header + "' http://"
                        + node + "/metrics");
  };
  BOOST_TEST(curl_status("Authorization: bearer pr0cessor-token") == "200");
  BOOST_TEST(curl_status("Authorization: BEARER dashb0ard-token") == "200");
  BOOST_TEST(curl_status("Authorization: Bearer PR0CESSOR-TOKEN") == "401");
  BOOST_TEST(curl_status("Authorization: Basic pr0cessor-token") == "401");
  av1::GetStatusResponse after;
  BOOST_REQUIRE(parse_json(admin_call(node, "GetStatus", "{}", "pr0cessor-token").body, after));
  BOOST_TEST(!after.paused()); // the refused commands did nothing
  BOOST_TEST(after.log_level() == "info");
  auto flushed = admin_call(node, "Flush", "{}", "pr0cessor-token");
  BOOST_TEST(flushed.http_status == 200, flushed.body);
  // pingctl admin: the token from a file, and clear words when it is wrong.
  auto pingctl = env("PING_TEST_BUILD_DIR") + "/apps/pingctl/pingctl admin --node " + node;
  shell("echo 'not-the-token' > " + dir.path + "/wrong-token");
  auto refused_cli = shell_output(pingctl + " --token-file " + dir.path
                                  + "/wrong-token status 2>&1; echo \"exit=$?\"");
  BOOST_TEST(refused_cli.find("refused the token") != std::string::npos, refused_cli);
  BOOST_TEST(refused_cli.find("exit=1") != std::string::npos, refused_cli);
  auto no_token_cli = shell_output(pingctl + " status 2>&1; echo \"exit=$?\"");
  BOOST_TEST(no_token_cli.find("requires a token") != std::string::npos, no_token_cli);
  auto status_cli
    = shell_output(pingctl + " --token-file " + token_file + " status 2>&1; echo \"exit=$?\"");
  BOOST_TEST(status_cli.find("ping-processor") != std::string::npos, status_cli);
  BOOST_TEST(status_cli.find("exit=0") != std::string::npos, status_cli);
  BOOST_TEST(status_cli.find("hunter2") == std::string::npos);
  BOOST_TEST(guarded.proc().log().find("hunter2") == std::string::npos);
  BOOST_TEST(guarded.proc().log().find("pr0cessor-token") == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
