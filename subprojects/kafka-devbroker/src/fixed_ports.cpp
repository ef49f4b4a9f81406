#include "devbroker/fixed_ports.hpp"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <deque>
#include <mutex>
#include <optional>

namespace devbroker::fixed_ports {
namespace {

std::mutex mutex;
std::deque<uint16_t> pending;
std::size_t taken = 0;

std::optional<uint16_t> next_port() {
  std::lock_guard lock(mutex);
  if (pending.empty())
    return std::nullopt;
  const auto port = pending.front();
  pending.pop_front();
  ++taken;
  return port;
}

} // namespace

void arm(const std::vector<uint16_t>& ports) {
  std::lock_guard lock(mutex);
  pending.assign(ports.begin(), ports.end());
  taken = 0;
}

std::size_t disarm() {
  std::lock_guard lock(mutex);
  pending.clear();
  return taken;
}

} // namespace devbroker::fixed_ports

// See fixed_ports.hpp. Resolved before libc's for librdkafka too (the
// executable exports it because a shared library it links references it).
extern "C" int bind(int fd, const struct sockaddr* addr, socklen_t len) noexcept {
  using bind_fn = int (*)(int, const struct sockaddr*, socklen_t);
  static const auto real = reinterpret_cast<bind_fn>(dlsym(RTLD_NEXT, "bind"));
  if (addr && addr->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    sockaddr_in in{};
    __builtin_memcpy(&in, addr, sizeof in);
    if (in.sin_port == 0) {
      if (const auto port = devbroker::fixed_ports::next_port()) {
        int one = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        in.sin_port = htons(*port);
        return real(fd, reinterpret_cast<const sockaddr*>(&in), sizeof in);
      }
    }
  }
  return real(fd, addr, len);
}
