#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "devbroker/control.hpp"

namespace devbroker {
namespace {

using clock = std::chrono::steady_clock;

// Closes the fd on every path out of control().
struct fd_guard {
  int fd;
  ~fd_guard() {
    if (fd >= 0)
      ::close(fd);
  }
};

int remaining_ms(clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// Waits for `events` on fd until the deadline; throws on timeout.
void wait_for(int fd, short events, clock::time_point deadline, const char* what) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int ms = remaining_ms(deadline);
    if (ms == 0)
      throw control_error(std::string("timeout while ") + what);
    const int r = ::poll(&p, 1, ms);
    if (r > 0)
      return;
    if (r < 0 && errno != EINTR)
      throw control_error(std::string("poll: ") + std::strerror(errno));
  }
}

} // namespace

std::string control(const std::string& socket_path, const std::string& command,
                    std::chrono::milliseconds timeout) {
  if (command.find('\n') != std::string::npos || command.find('\r') != std::string::npos)
    throw std::invalid_argument("control command must be a single line");
  const auto deadline = clock::now() + timeout;

  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof addr.sun_path)
    throw control_error("invalid control socket path: " + socket_path);
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);

  fd_guard sock{::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
  if (sock.fd < 0)
    throw control_error(std::string("socket: ") + std::strerror(errno));

  // A Unix socket connect either succeeds at once or fails with EAGAIN
  // (backlog full): retry until the deadline.
  while (::connect(sock.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EINPROGRESS)
      throw control_error("connect " + socket_path + ": " + std::strerror(errno));
    if (errno == EINPROGRESS) {
      wait_for(sock.fd, POLLOUT, deadline, "connecting");
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(sock.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0)
        throw control_error("connect " + socket_path + ": " + std::strerror(err));
      break;
    }
    if (remaining_ms(deadline) == 0)
      throw control_error("timeout while connecting");
    ::usleep(10'000);
  }

  const std::string request = command + "\n";
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(sock.fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      wait_for(sock.fd, POLLOUT, deadline, "sending");
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      throw control_error(std::string("send: ") + std::strerror(errno));
    }
  }
  // Half-close: the server answers and then closes, one command per call.
  ::shutdown(sock.fd, SHUT_WR);

  std::string answer;
  for (;;) {
    if (const auto nl = answer.find('\n'); nl != std::string::npos)
      return answer.substr(0, nl);
    if (answer.size() > 1 << 20)
      throw control_error("answer too long");
    char buf[4096];
    const ssize_t n = ::recv(sock.fd, buf, sizeof buf, 0);
    if (n > 0) {
      answer.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
      throw control_error("connection closed before a complete answer");
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      wait_for(sock.fd, POLLIN, deadline, "waiting for the answer");
    } else if (errno != EINTR) {
      throw control_error(std::string("recv: ") + std::strerror(errno));
    }
  }
}

} // namespace devbroker
