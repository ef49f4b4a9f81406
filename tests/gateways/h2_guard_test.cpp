// The guard in front of gRPC (gateways/grpc/h2_guard.hpp): its frame
// scanner and token bucket as pure functions, and the guard itself on real
// loopback sockets with an echo server behind it.
#define BOOST_TEST_MODULE h2_guard
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "gateways/grpc/h2_guard.hpp"
#include "tests/support/loopback.hpp"

using namespace ping::gateways;
using namespace std::chrono_literals;

namespace {

const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

std::string frame(uint8_t type, uint32_t stream, const std::string& payload = "") {
  std::string f;
  auto n = payload.size();
  f += static_cast<char>((n >> 16) & 0xff);
  f += static_cast<char>((n >> 8) & 0xff);
  f += static_cast<char>(n & 0xff);
  f += static_cast<char>(type);
  f += '\0';
  f += static_cast<char>((stream >> 24) & 0x7f);
  f += static_cast<char>((stream >> 16) & 0xff);
  f += static_cast<char>((stream >> 8) & 0xff);
  f += static_cast<char>(stream & 0xff);
  return f + payload;
}

std::string rst(uint32_t stream) {
  return frame(0x3, stream, std::string("\0\0\0\x8", 4));
}

// Reads until `n` bytes arrived, the peer closed, or 5 s passed.
std::string read_some(int fd, size_t n) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (got.size() < n && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0)
      continue;
    char buf[4096];
    auto r = ::recv(fd, buf, sizeof buf, 0);
    if (r <= 0)
      break;
    got.append(buf, static_cast<size_t>(r));
  }
  return got;
}

// True when the peer closed the connection within 5 s.
bool closed_by_peer(int fd) {
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0)
      continue;
    char buf[4096];
    auto r = ::recv(fd, buf, sizeof buf, 0);
    if (r == 0 || (r < 0 && errno == ECONNRESET))
      return true;
  }
  return false;
}

// The server behind the guard: echoes every byte back, one thread per
// connection it is handed.
struct echo_server {
  std::vector<std::thread> threads;
  std::atomic<int> handed{0};

  h2_guard::handoff handoff() {
    return [this](int fd) {
      ++handed;
      threads.emplace_back([fd] {
        char buf[4096];
        for (;;) {
          pollfd p{fd, POLLIN, 0};
          if (::poll(&p, 1, 100) < 0)
            break;
          auto r = ::read(fd, buf, sizeof buf);
          if (r == 0 || (r < 0 && errno != EAGAIN))
            break;
          if (r > 0 && ::send(fd, buf, static_cast<size_t>(r), MSG_NOSIGNAL) < 0)
            break;
        }
        ::close(fd);
      });
    };
  }

  ~echo_server() {
    for (auto& t : threads)
      t.join();
  }
};

} // namespace

BOOST_AUTO_TEST_CASE(the_scanner_counts_resets_however_the_bytes_are_split) {
  std::string bytes = preface + frame(0x4, 0) + frame(0x1, 1, std::string(40, 'h')) + rst(1)
                      + frame(0x0, 1, std::string(70000, 'd')) + rst(3) + frame(0x6, 0, "12345678")
                      + rst(5);
  for (size_t chunk : {size_t{1}, size_t{2}, size_t{7}, size_t{9}, size_t{100}, bytes.size()}) {
    h2_frame_scanner scanner;
    int resets = 0;
    for (size_t i = 0; i < bytes.size(); i += chunk) {
      auto n = std::min(chunk, bytes.size() - i);
      BOOST_REQUIRE(scanner.feed(bytes.data() + i, n, [&] { ++resets; }));
    }
    BOOST_TEST(resets == 3, "chunks of " << chunk);
  }
}

BOOST_AUTO_TEST_CASE(the_scanner_refuses_what_is_not_http2) {
  h2_frame_scanner scanner;
  std::string http1 = "POST / HTTP/1.1\r\nHost: x\r\n\r\n";
  BOOST_TEST(!scanner.feed(http1.data(), http1.size(), [] {}));
}

BOOST_AUTO_TEST_CASE(the_bucket_allows_a_burst_then_its_rate) {
  auto t0 = std::chrono::steady_clock::now();
  token_bucket b{10, 3, t0};
  BOOST_TEST(b.take(t0));
  BOOST_TEST(b.take(t0));
  BOOST_TEST(b.take(t0));
  BOOST_TEST(!b.take(t0));
  BOOST_TEST(!b.full(t0));
  BOOST_TEST(b.take(t0 + 100ms)); // 10/s: one token after 100 ms
  BOOST_TEST(!b.take(t0 + 100ms));
  BOOST_TEST(b.full(t0 + 1s));
}

BOOST_AUTO_TEST_CASE(a_resetting_connection_is_closed_and_its_neighbours_are_not) {
  echo_server echo;
  h2_guard_options o;
  o.port = 0;
  o.resets_per_second = 1;
  o.reset_burst = 5;
  h2_guard guard{o, echo.handoff()};
  guard.start();
  BOOST_REQUIRE(guard.port() != 0);

  // A well-behaved neighbour from the same address: bytes flow both ways.
  int calm = ping::test::connect_loopback(guard.port());
  BOOST_REQUIRE(calm >= 0);
  auto hello = preface + frame(0x4, 0);
  ::send(calm, hello.data(), hello.size(), MSG_NOSIGNAL);
  BOOST_TEST(read_some(calm, hello.size()) == hello);

  // The abuser: five resets pass (the burst), the sixth closes it.
  int abuser = ping::test::connect_loopback(guard.port());
  BOOST_REQUIRE(abuser >= 0);
  std::string flood = preface;
  for (uint32_t id = 1; id <= 11; id += 2)
    flood += frame(0x1, id, "h") + rst(id);
  ::send(abuser, flood.data(), flood.size(), MSG_NOSIGNAL);
  BOOST_TEST(closed_by_peer(abuser));
  BOOST_TEST(guard.stats().closed_for_resets.load() == 1u);
  ::close(abuser);

  // Reconnecting does not refill the address's bucket...
  int again = ping::test::connect_loopback(guard.port());
  BOOST_REQUIRE(again >= 0);
  auto one = preface + rst(1);
  ::send(again, one.data(), one.size(), MSG_NOSIGNAL);
  BOOST_TEST(closed_by_peer(again));
  ::close(again);

  // ... and the neighbour, which sent no reset, still works.
  auto ping = frame(0x6, 0, "12345678");
  ::send(calm, ping.data(), ping.size(), MSG_NOSIGNAL);
  BOOST_TEST(read_some(calm, ping.size()) == ping);
  ::close(calm);
  guard.stop();
  BOOST_TEST(echo.handed.load() == 3);
}

BOOST_AUTO_TEST_CASE(connections_beyond_the_limit_are_refused) {
  echo_server echo;
  h2_guard_options o;
  o.port = 0;
  o.max_connections = 2;
  h2_guard guard{o, echo.handoff()};
  guard.start();
  int a = ping::test::connect_loopback(guard.port());
  int b = ping::test::connect_loopback(guard.port());
  auto hello = preface + frame(0x4, 0);
  ::send(a, hello.data(), hello.size(), MSG_NOSIGNAL);
  ::send(b, hello.data(), hello.size(), MSG_NOSIGNAL);
  BOOST_TEST(read_some(a, hello.size()) == hello);
  BOOST_TEST(read_some(b, hello.size()) == hello);
  int c = ping::test::connect_loopback(guard.port());
  BOOST_TEST(closed_by_peer(c));
  BOOST_TEST(guard.stats().refused.load() == 1u);
  for (int fd : {a, b, c})
    ::close(fd);
  guard.stop();
}
