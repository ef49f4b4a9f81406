#pragma once
// A blocking TCP connection to 127.0.0.1:port for tests that speak raw
// bytes (HTTP/2 frames, slow or abusive clients, the blackhole proxy's
// upstream). Header-only: unit tests use it without the harness library.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>

namespace ping::test {

struct loopback_options {
  // SO_SNDTIMEO: a send blocking this long gives up (0: never).
  std::chrono::milliseconds send_timeout{0};
  bool no_delay = false; // TCP_NODELAY
};

/// The connected socket (the caller closes it), or -1.
inline int connect_loopback(uint16_t port, const loopback_options& opts = {}) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  if (opts.send_timeout.count() > 0) {
    timeval tv{static_cast<time_t>(opts.send_timeout.count() / 1000),
               static_cast<suseconds_t>(opts.send_timeout.count() % 1000 * 1000)};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  if (opts.no_delay) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

} // namespace ping::test
