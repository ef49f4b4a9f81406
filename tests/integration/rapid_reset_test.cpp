// Issue 19, item 11: an HTTP/2 rapid-reset flood (CVE-2023-44487) on the
// gRPC port. Before the guard (gateways/grpc/h2_guard.hpp), four
// connections resetting streams for 10 s took a gateway from 28 MiB past
// 1.5 GiB, still growing after the flood stopped. Now the flood must leave
// RSS under 64 MiB throughout and for 30 s after, store nothing, and never
// stop either protocol from serving.
#define BOOST_TEST_MODULE rapid_reset
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <fstream>
#include <future>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "tests/support/harness.hpp"

using namespace ping;
using namespace ping::test;
using namespace std::chrono_literals;

namespace {

int64_t rss_kib(int pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoll(line.substr(6));
  return -1;
}

// user + system CPU of a process, in clock ticks.
int64_t cpu_ticks(int pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto fields = stat.substr(stat.rfind(')') + 2);
  std::istringstream is{fields};
  std::string f;
  int64_t utime = 0, stime = 0;
  for (int i = 3; is >> f; ++i) {
    if (i == 14)
      utime = std::stoll(f);
    if (i == 15) {
      stime = std::stoll(f);
      break;
    }
  }
  return utime + stime;
}

struct fixture {
  temp_dir dir;
  std::string dsn = fresh_database("rapid_reset");
  test::devbroker broker{dir.path};
  redis_server redis;
  gateway gw{dir.path, dsn, broker.bootstrap(), {"--cache.address=" + redis.address()}};

  bool grpc_ping() {
    auto stub = gw.stub();
    return send_ping(*stub, 0).ok();
  }

  // PingCount {} over Connect (curl): the count, or -1.
  int64_t connect_count() {
    auto out = shell_output("curl -s -m 5 -H 'Content-Type: application/json' -d '{}' "
                            "http://127.0.0.1:"
                            + std::to_string(gw.connect_port()) + "/ping.v1.PingService/PingCount");
    std::smatch m;
    if (out == "{}")
      return 0;
    return std::regex_search(out, m, std::regex(R"re("pingCount":"(\d+)")re")) ? std::stoll(m[1])
                                                                               : -1;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(rapid_reset, fixture)

BOOST_AUTO_TEST_CASE(a_rapid_reset_flood_leaves_memory_bounded_and_both_protocols_serving) {
  const char* root = std::getenv("PING_TEST_ROOT");
  BOOST_REQUIRE_MESSAGE(root != nullptr, "PING_TEST_ROOT is not set");
  const auto pid = gw.proc().pid();
  constexpr int64_t limit_kib = 64 * 1024;
  int64_t ok_pings = 0;
  BOOST_REQUIRE(grpc_ping());
  ++ok_pings;

  auto flood = std::async(std::launch::async, [&] {
    return shell_output("timeout 40 /usr/bin/python3 " + std::string(root)
                          + "/tests/tools/rapid_reset.py " + std::to_string(gw.grpc_port())
                          + " --connections 4 --seconds 10 2>&1; echo exit=$?",
                        60s);
  });
  // During the flood: memory sampled, and both protocols called, about
  // every 100 ms and every second.
  int64_t peak = 0;
  int calls = 0, failed = 0;
  auto next_call = clock::now();
  while (flood.wait_for(100ms) != std::future_status::ready) {
    peak = std::max(peak, rss_kib(pid));
    if (clock::now() >= next_call) {
      next_call = clock::now() + 1s;
      ++calls;
      if (grpc_ping())
        ++ok_pings;
      else
        ++failed;
      if (connect_count() < 0)
        ++failed;
    }
  }
  auto report = flood.get();
  BOOST_TEST_MESSAGE("flood: " << report);
  BOOST_TEST_REQUIRE(report.find("exit=0") != std::string::npos, report);
  std::smatch m;
  BOOST_TEST_REQUIRE(std::regex_search(report, m, std::regex(R"(streams_reset=(\d+))")));
  BOOST_TEST(std::stoll(m[1]) >= 20000, "the flood must really run: " << report);
  BOOST_TEST(calls >= 5);
  BOOST_TEST(failed == 0, failed << " of " << calls << " calls failed during the flood");
  BOOST_TEST(peak < limit_kib, "RSS peaked at " << peak / 1024 << " MiB during the flood");

  // After the flood: memory stays bounded and the gateway goes idle (the
  // unguarded server kept working and growing for tens of seconds).
  auto busy_from = cpu_ticks(pid);
  auto after_end = clock::now() + 30s;
  int64_t after_peak = 0;
  while (clock::now() < after_end) {
    after_peak = std::max(after_peak, rss_kib(pid));
    std::this_thread::sleep_for(200ms);
  }
  auto busy_ticks = cpu_ticks(pid) - busy_from;
  BOOST_TEST_MESSAGE("RSS peak during " << peak / 1024 << " MiB, in the 30 s after "
                                        << after_peak / 1024 << " MiB; CPU in the 30 s after "
                                        << busy_ticks << " ticks");
  BOOST_TEST(after_peak < limit_kib);
  BOOST_TEST(busy_ticks < 300, "still busy after the flood: " << busy_ticks << " ticks in 30 s");

  // Nothing was stored for the reset streams; every answered ping was.
  bool last = grpc_ping();
  BOOST_TEST(last);
  ok_pings += last;
  BOOST_TEST(connect_count() == ok_pings);
}

BOOST_AUTO_TEST_SUITE_END()
