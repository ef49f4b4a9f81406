#include "devbroker/control_server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "devbroker/log.hpp"

namespace devbroker {
namespace {

using clock = std::chrono::steady_clock;

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path)
    throw std::runtime_error("control socket path empty or longer than "
                             + std::to_string(sizeof addr.sun_path - 1) + " bytes: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// True when something accepts connections on `path`.
bool someone_listens(const sockaddr_un& addr) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// One accepted connection: buffered input and pending output.
struct client {
  int fd = -1;
  std::string in;
  std::string out;
  bool closing = false; // close once `out` is flushed
  clock::time_point deadline;
};

} // namespace

control_server::control_server(std::string path, handler on_line, control_limits limits)
  : path_(std::move(path)), on_line_(std::move(on_line)), limits_(limits) {}

control_server::~control_server() {
  stop();
}

void control_server::start() {
  const sockaddr_un addr = unix_address(path_);
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      throw std::runtime_error("control path exists and is not a socket: " + path_);
    if (someone_listens(addr))
      throw std::runtime_error("control socket in use: " + path_);
    ::unlink(path_.c_str()); // stale socket from a killed broker
  }

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0)
    throw_errno("pipe2");
  wake_read_ = pipe_fds[0];
  wake_write_ = pipe_fds[1];

  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd_ < 0)
    throw_errno("socket");
  if (::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    throw_errno("bind " + path_);
  bound_ = true;
  ::chmod(path_.c_str(), 0600); // control is for the owner only
  if (::listen(listen_fd_, 16) != 0)
    throw_errno("listen " + path_);

  thread_ = std::thread([this] { run(); });
}

void control_server::stop() {
  if (thread_.joinable()) {
    const char byte = 'x';
    // Non-blocking pipe; a full pipe already means "wake up".
    [[maybe_unused]] const auto n = ::write(wake_write_, &byte, 1);
    thread_.join();
  }
  for (int* fd : {&listen_fd_, &wake_read_, &wake_write_}) {
    if (*fd >= 0)
      ::close(*fd);
    *fd = -1;
  }
  if (bound_) {
    bound_ = false;
    // Remove only our own socket file (never one a failed start found in use).
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
      ::unlink(path_.c_str());
  }
}

void control_server::run() {
  std::vector<client> clients;
  std::vector<pollfd> fds;

  auto flush = [](client& c) {
    while (!c.out.empty()) {
      const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (n > 0) {
        c.out.erase(0, static_cast<std::size_t>(n));
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return true; // wait for POLLOUT
      } else {
        return false; // peer gone
      }
    }
    return true;
  };

  // Handles complete lines in c.in; at EOF also a final unterminated line.
  auto process = [&](client& c, bool eof) {
    std::size_t pos;
    while (!c.closing && (pos = c.in.find('\n')) != std::string::npos) {
      if (pos > limits_.max_line) {
        c.out += "error line too long\n";
        c.closing = true;
        break;
      }
      std::string line = c.in.substr(0, pos);
      c.in.erase(0, pos + 1);
      if (!line.empty() && line.back() == '\r')
        line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos)
        continue;
      c.out += on_line_(line) + "\n";
    }
    if (c.closing) {
      c.in.clear();
    } else if (c.in.size() > limits_.max_line) {
      c.out += "error line too long\n";
      c.closing = true;
    } else if (eof) {
      if (c.in.find_first_not_of(" \t\r") != std::string::npos)
        c.out += on_line_(c.in) + "\n";
      c.in.clear();
      c.closing = true;
    }
  };

  for (;;) {
    const auto now = clock::now();
    auto wait = limits_.poll_interval;
    fds.clear();
    fds.push_back({wake_read_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (const auto& c : clients) {
      fds.push_back({c.fd, static_cast<short>(c.out.empty() ? POLLIN : POLLOUT), 0});
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(c.deadline - now);
      wait = std::clamp(left, std::chrono::milliseconds(0), wait);
    }
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
    if (ready < 0 && errno != EINTR) {
      log::error("control server poll failed", {{"errno", std::strerror(errno)}});
      break;
    }
    if (fds[0].revents != 0)
      break; // stop() requested

    // Existing clients first (fds[2..] match clients[0..] before accepting).
    for (std::size_t i = 0; i < clients.size(); ++i) {
      client& c = clients[i];
      const short rev = ready > 0 ? fds[i + 2].revents : short{0};
      bool alive = true;
      if (rev & (POLLIN | POLLHUP | POLLERR)) {
        char buf[1024];
        const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n > 0) {
          c.in.append(buf, static_cast<std::size_t>(n));
          c.deadline = clock::now() + limits_.idle_timeout;
          process(c, false);
        } else if (n == 0) {
          process(c, true);
        } else if (errno != EINTR && errno != EAGAIN) {
          alive = false;
        }
      }
      if (alive)
        alive = flush(c);
      if (alive && c.closing && c.out.empty())
        alive = false;
      if (alive && clock::now() >= c.deadline)
        alive = false; // idle or stuck reader
      if (!alive) {
        ::close(c.fd);
        c.fd = -1;
      }
    }
    std::erase_if(clients, [](const client& c) { return c.fd < 0; });

    if (ready > 0 && (fds[1].revents & POLLIN)) {
      for (;;) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
          break; // EAGAIN: backlog drained
        if (clients.size() >= limits_.max_clients) {
          static constexpr char busy[] = "error busy\n";
          [[maybe_unused]] const auto n = ::send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL);
          ::close(fd);
          continue;
        }
        clients.push_back({fd, {}, {}, false, clock::now() + limits_.idle_timeout});
      }
    }
  }
  for (auto& c : clients)
    ::close(c.fd);
}

} // namespace devbroker
