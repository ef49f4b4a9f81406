// The gateway's edges under abuse (issue 11), on real services: a flood of
// maximum-size Connect bodies, and HTTP/2 abuse of the gRPC port (a stream
// flood, oversized headers, oversized messages). Each ends with the process
// alive, its memory bounded, and both protocols serving.
#define BOOST_TEST_MODULE edges
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "actors/common/ids.hpp"
#include "tests/support/harness.hpp"

using namespace ping;
using namespace ping::test;

namespace {

// VmRSS / VmHWM of a process, in KiB.
int64_t status_kib(int pid, const std::string& field) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0)
      return std::stoll(line.substr(field.size() + 1));
  return -1;
}

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{2, 0}; // a send that blocks gives up (the server stopped reading)
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

struct fixture {
  temp_dir dir;
  std::string dsn = fresh_database("edges");
  test::devbroker broker{dir.path};
  redis_server redis;
  gateway gw{dir.path, dsn, broker.bootstrap(), {"--cache.address=" + redis.address()}};
  std::unique_ptr<v1::PingService::Stub> stub = gw.stub();

  std::string connect_count() {
    return shell_output("curl -s -m 5 -H 'Content-Type: application/json' -d '{}' "
                        "http://127.0.0.1:" + std::to_string(gw.connect_port())
                        + "/ping.v1.PingService/PingCount");
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(edges, fixture)

// Item 5 exactly: 100 connections, each sending a 4 MiB Connect body, all
// but its last byte, then holding. The body limit (64 KiB: a Ping is about
// 10 bytes) refuses each one from its Content-Length, before buffering it.
BOOST_AUTO_TEST_CASE(a_flood_of_maximum_size_bodies_stays_small) {
  BOOST_REQUIRE(send_ping(*stub, 0).ok());
  auto pid = gw.proc().pid();
  auto before = status_kib(pid, "VmRSS");
  constexpr size_t body = 4 << 20;
  std::string head = "POST /ping.v1.PingService/Ping HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Content-Type: application/json\r\nContent-Length: "
                     + std::to_string(body) + "\r\n\r\n";
  std::string chunk(64 << 10, ' ');
  std::vector<int> held;
  size_t sent_total = 0;
  for (int i = 0; i < 100; ++i) {
    int fd = connect_to(gw.connect_port());
    BOOST_REQUIRE(fd >= 0);
    held.push_back(fd);
    ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
    for (size_t sent = 0; sent + 1 < body;) {
      auto n = ::send(fd, chunk.data(), std::min(chunk.size(), body - 1 - sent), MSG_NOSIGNAL);
      if (n <= 0)
        break; // refused and closed, or no longer read
      sent += static_cast<size_t>(n);
      sent_total += static_cast<size_t>(n);
    }
  }
  // While they hold: the gateway serves both protocols.
  BOOST_TEST(send_ping(*stub, 0).ok());
  BOOST_TEST(connect_count() == R"({"pingCount":"2"})");
  auto peak = status_kib(pid, "VmHWM");
  BOOST_TEST_MESSAGE("gateway RSS before " << before / 1024 << " MiB, peak " << peak / 1024
                                           << " MiB; flood sent " << sent_total / (1 << 20)
                                           << " MiB");
  BOOST_TEST(peak < 128 * 1024); // dev pod limit: 256 Mi
  for (auto fd : held)
    ::close(fd);
  BOOST_TEST(gw.proc().alive());
  // A body over the limit gets a clear answer: resource_exhausted.
  auto big = shell_output("head -c 70000 /dev/zero | tr '\\0' ' ' > " + dir.path
                          + "/big.json; curl -s -m 5 -o /dev/null -w '%{http_code}' "
                            "-H 'Content-Type: application/json' --data-binary @"
                          + dir.path + "/big.json http://127.0.0.1:"
                          + std::to_string(gw.connect_port()) + "/ping.v1.PingService/Ping");
  BOOST_TEST(big == "429");
}

// Item 6: gRPC with explicit limits. Oversized headers and messages are
// refused, a flood of streams is bounded by SETTINGS_MAX_CONCURRENT_STREAMS,
// and the process keeps serving Connect and gRPC.
BOOST_AUTO_TEST_CASE(grpc_abuse_leaves_both_protocols_serving) {
  auto target = "127.0.0.1:" + std::to_string(gw.grpc_port());
  // The server advertises its stream limit.
  auto settings = shell_output("nghttp -nv http://" + target + "/ 2>&1 | head -40");
  BOOST_TEST(settings.find("SETTINGS_MAX_CONCURRENT_STREAMS(0x03):100") != std::string::npos,
             settings);
  // Oversized metadata: refused, not processed.
  {
    auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
    auto s = v1::PingService::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    ctx.AddMetadata("x-junk", std::string(64 << 10, 'a'));
    v1::PingRequest req;
    v1::PingResponse resp;
    auto st = s->Ping(&ctx, req, &resp);
    BOOST_TEST(!st.ok());
    BOOST_TEST_MESSAGE("oversized metadata: " << st.error_code() << " " << st.error_message());
  }
  // An oversized message: resource_exhausted.
  {
    auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
    auto s = v1::PingService::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::PingRequest req;
    req.GetReflection()->MutableUnknownFields(&req)->AddLengthDelimited(99, std::string(100 << 10, 'x'));
    v1::PingResponse resp;
    auto st = s->Ping(&ctx, req, &resp);
    BOOST_TEST(st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED, st.error_message());
  }
  // A stream flood: 20,000 requests, 1,000 streams asked at once on each of
  // 10 connections (h2load stays within the advertised limit; the server
  // enforces it either way), bounded to 30 s.
  auto flood = shell_output("timeout 30 h2load -n 20000 -c 10 -m 1000 -t 1 "
                            "-H 'content-type: application/grpc' -H 'te: trailers' "
                            "http://" + target + "/ping.v1.PingService/PingCount 2>&1 | tail -8",
                            60s);
  BOOST_TEST_MESSAGE("h2load: " << flood);
  BOOST_TEST(gw.proc().alive());
  BOOST_TEST(send_ping(*stub, 0).ok());
  BOOST_TEST(connect_count().find("pingCount") != std::string::npos);
  BOOST_TEST(status_kib(gw.proc().pid(), "VmHWM") < 128 * 1024);
}

BOOST_AUTO_TEST_SUITE_END()
