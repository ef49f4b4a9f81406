// The cluster view against real services: two gateways and two processors
// (own database, dev broker and redis-server), every node given the four
// admin addresses as peers and the same admin and read-only tokens, as in
// a deployment. GetCluster on one gateway lists all four; the processors
// own every partition once; the exactness check converges to gap 0 when
// pings stop; a command forwarded to a named processor takes effect and the
// read-only token may not forward one; a frozen node is reported down
// within the peer deadline.
#define BOOST_TEST_MODULE cluster
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <set>
#include <thread>

#include "ping/admin/v1/admin.pb.h"
#include "tests/support/harness.hpp"

using namespace ping;
using namespace ping::test;
namespace av1 = ping::admin::v1;

namespace {

const std::string admin_token = "clu5ter-admin-token";
const std::string read_token = "clu5ter-read-token";

uint16_t unused_port() {
  auto out = shell_output("python3 -c 'import socket; s=socket.socket(); "
                          "s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])'");
  return static_cast<uint16_t>(std::stoi(out));
}

std::string at(uint16_t port) {
  return "127.0.0.1:" + std::to_string(port);
}

// A call with a token that must succeed, parsed.
template <class Response>
Response rpc(uint16_t port, const std::string& method, const std::string& json = "{}",
             const std::string& token = admin_token) {
  auto r = admin_call(at(port), method, json, token);
  Response out;
  if (r.http_status != 200 || !parse_json(r.body, out))
    throw std::runtime_error(method + " failed: HTTP " + std::to_string(r.http_status) + " "
                             + r.body);
  return out;
}

struct fixture {
  temp_dir dir, g1_dir, g2_dir;
  std::string dsn = fresh_database("cluster");
  test::devbroker broker{dir.path};
  redis_server redis;
  std::vector<uint16_t> ports{unused_port(), unused_port(), unused_port(), unused_port()};
  std::string peers = at(ports[0]) + "," + at(ports[1]) + "," + at(ports[2]) + "," + at(ports[3]);
  std::string token_file = write(dir.path + "/token", admin_token);
  std::string read_token_file = write(dir.path + "/read-token", read_token);

  static std::string write(const std::string& path, const std::string& text) {
    shell("echo '" + text + "' > " + path);
    return path;
  }

  std::vector<std::string> admin_flags(uint16_t port) {
    return {"--admin.port=" + std::to_string(port), "--admin.peers=" + peers,
            "--admin.peer-timeout=1s", "--admin.token-file=" + token_file,
            "--admin.read-token-file=" + read_token_file};
  }

  std::vector<std::string> gateway_flags(uint16_t port) {
    auto flags = admin_flags(port);
    flags.push_back("--cache.address=" + redis.address());
    return flags;
  }

  gateway g1{g1_dir.path, dsn, broker.bootstrap(), gateway_flags(ports[0])};
  gateway g2{g2_dir.path, dsn, broker.bootstrap(), gateway_flags(ports[1])};
  processor p1{dir.path, "p1", dsn, broker.bootstrap(), redis.address(), admin_flags(ports[2])};
  processor p2{dir.path, "p2", dsn, broker.bootstrap(), redis.address(), admin_flags(ports[3])};

  av1::GetClusterResponse cluster(uint16_t port) {
    return rpc<av1::GetClusterResponse>(port, "GetCluster");
  }

  const av1::ClusterNode* node(const av1::GetClusterResponse& v, uint16_t port) {
    for (auto& n : v.nodes())
      if (n.address() == at(port))
        return &n;
    return nullptr;
  }

  // All four up, every partition owned by exactly one processor.
  bool settled(const av1::GetClusterResponse& v) {
    if (v.nodes_size() != 4)
      return false;
    for (auto& n : v.nodes())
      if (!n.up())
        return false;
    if (v.partitions_size() != 3)
      return false;
    for (auto& p : v.partitions())
      if (p.owners_size() != 1)
        return false;
    return true;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(cluster_view, fixture)

BOOST_AUTO_TEST_CASE(four_nodes_one_view) {
  BOOST_TEST(g1.admin_port() == ports[0]);
  av1::GetClusterResponse view;
  BOOST_REQUIRE_MESSAGE(wait_until(
                          [&] {
                            view = cluster(ports[0]);
                            return settled(view);
                          },
                          45s),
                        view.DebugString());

  // 1. Every node, this one first, each once.
  BOOST_TEST(view.nodes(0).self());
  BOOST_TEST(view.nodes(0).address() == at(ports[0]));
  std::multiset<std::string> binaries;
  for (auto& n : view.nodes())
    binaries.insert(n.binary());
  BOOST_TEST(binaries.count("ping-gateway") == 2u);
  BOOST_TEST(binaries.count("ping-processor") == 2u);
  BOOST_TEST(view.peer_timeout_ms() == 1000);

  // 2. Ownership: the processors, no overlap, full coverage.
  std::set<std::string> processors{at(ports[2]), at(ports[3])};
  std::set<int32_t> covered;
  for (auto& p : view.partitions()) {
    BOOST_TEST(processors.count(p.owner()) == 1u, p.owner());
    covered.insert(p.partition());
  }
  BOOST_TEST((covered == std::set<int32_t>{0, 1, 2}));
  size_t held = 0;
  for (auto port : {ports[2], ports[3]})
    held += static_cast<size_t>(node(view, port)->partitions_size());
  BOOST_TEST(held == 3u);
  // Each processor recorded its assignments.
  BOOST_TEST(view.rebalances_size() >= 2);
  std::set<std::string> rebalanced;
  for (auto& e : view.rebalances())
    rebalanced.insert(e.node());
  BOOST_TEST((rebalanced == processors));

  // 3. Pings through both gateways; once they stop, every gap closes.
  auto s1 = g1.stub();
  auto s2 = g2.stub();
  for (int i = 0; i < 20; ++i) {
    BOOST_REQUIRE(send_ping(*s1, 0).ok());
    BOOST_REQUIRE(send_ping(*s2, 0).ok());
  }
  BOOST_REQUIRE_MESSAGE(wait_until(
                          [&] {
                            view = cluster(ports[1]); // from the other gateway this time
                            if (view.exactness_size() != 3)
                              return false;
                            int64_t heads = 0;
                            for (auto& r : view.exactness()) {
                              if (r.gap() != 0 || r.relay_acked() != r.head())
                                return false;
                              heads += r.head();
                            }
                            return heads == 40;
                          },
                          20s),
                        view.DebugString());
  BOOST_TEST(view.exactness_error() == "");
  for (auto& h : view.pipeline())
    if (h.name() == "cache" || h.name() == "kafka")
      BOOST_TEST(h.backlog() == 0, h.name());
  auto direct = rpc<av1::GetExactnessResponse>(ports[1], "GetExactness");
  BOOST_TEST(direct.partitions_size() == 3);
  BOOST_TEST(admin_call(at(ports[2]), "GetExactness", "{}", admin_token).http_status == 501);

  // 4. Commands through the view: Pause then Resume on the second processor.
  auto target = at(ports[3]);
  auto denied = admin_call(at(ports[0]), "RunNodeCommand",
                           R"({"node":")" + target + R"(","method":"PauseConsumption"})",
                           read_token);
  BOOST_TEST(denied.http_status == 403, denied.body);
  auto stranger = admin_call(at(ports[0]), "RunNodeCommand",
                             R"({"node":"127.0.0.1:1","method":"Flush"})", admin_token);
  BOOST_TEST(stranger.http_status == 403, stranger.body);
  BOOST_TEST(stranger.body.find("not a node of this cluster view") != std::string::npos);
  auto paused = rpc<av1::RunNodeCommandResponse>(
    ports[0], "RunNodeCommand", R"({"node":")" + target + R"(","method":"PauseConsumption"})");
  BOOST_TEST(paused.paused());
  BOOST_TEST(paused.node() == target);
  BOOST_TEST(rpc<av1::GetStatusResponse>(ports[3], "GetStatus").paused());
  BOOST_TEST(!rpc<av1::GetStatusResponse>(ports[2], "GetStatus").paused()); // only that one
  auto resumed = rpc<av1::RunNodeCommandResponse>(
    ports[0], "RunNodeCommand", R"({"node":")" + target + R"(","method":"ResumeConsumption"})");
  BOOST_TEST(!resumed.paused());
  BOOST_TEST(!rpc<av1::GetStatusResponse>(ports[3], "GetStatus").paused());
  auto gw_flush = admin_call(at(ports[0]), "RunNodeCommand",
                             R"({"node":")" + at(ports[1]) + R"(","method":"Flush"})", admin_token);
  BOOST_TEST(gw_flush.http_status == 501, gw_flush.body); // the gateway's own answer

  // 5. A frozen node is down within the deadline, and the view still answers.
  p2.proc().signal(SIGSTOP);
  std::this_thread::sleep_for(600ms); // past the cached view's age
  auto started = clock::now();
  view = cluster(ports[0]);
  auto took = clock::now() - started;
  p2.proc().signal(SIGCONT);
  BOOST_TEST(took < 3s, std::chrono::duration_cast<std::chrono::milliseconds>(took).count());
  auto* frozen = node(view, ports[3]);
  BOOST_REQUIRE(frozen);
  BOOST_TEST(!frozen->up());
  BOOST_TEST(frozen->error().find("no answer within") != std::string::npos, frozen->error());
  BOOST_TEST(node(view, ports[2])->up());
  BOOST_TEST(node(view, ports[1])->up());
}

BOOST_AUTO_TEST_SUITE_END()
