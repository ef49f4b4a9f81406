#include "tests/support/blackhole_proxy.hpp"
#include "tests/support/loopback.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace ping::test {

struct blackhole_proxy::link {
  int down = -1; // the client's connection
  int up = -1;   // ours to the server
  std::atomic<bool> silent{false};
};

namespace {

bool write_all(int fd, const char* p, ssize_t n) {
  while (n > 0) {
    auto w = ::send(fd, p, static_cast<size_t>(n), MSG_NOSIGNAL);
    if (w <= 0)
      return false;
    p += w;
    n -= w;
  }
  return true;
}

} // namespace

blackhole_proxy::blackhole_proxy(uint16_t upstream_port) : upstream_(upstream_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0
      || ::listen(listen_fd_, 128) != 0 || ::pipe(wake_) != 0)
    throw std::runtime_error("blackhole_proxy: cannot listen");
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread{[this] { accept_loop(); }};
}

blackhole_proxy::~blackhole_proxy() {
  stopping_ = true;
  char c = 0;
  (void)!::write(wake_[1], &c, 1);
  acceptor_.join();
  for (auto& t : threads_)
    t.join();
  for (auto& l : links_) {
    if (l->down >= 0)
      ::close(l->down);
    if (l->up >= 0)
      ::close(l->up);
  }
  ::close(listen_fd_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

void blackhole_proxy::blackhole() {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& l : links_)
    l->silent = true;
}

void blackhole_proxy::accept_loop() {
  while (!stopping_) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(fds, 2, 200) <= 0 || !(fds[0].revents & POLLIN))
      continue;
    int down = ::accept(listen_fd_, nullptr, nullptr);
    if (down < 0)
      continue;
    int up = connect_loopback(upstream_, {.no_delay = true});
    if (up < 0) {
      ::close(down);
      continue;
    }
    auto l = std::make_shared<link>();
    l->down = down;
    l->up = up;
    ++accepted_;
    std::lock_guard<std::mutex> guard{mtx_};
    links_.push_back(l);
    threads_.emplace_back([this, l] { pump(l); });
  }
}

void blackhole_proxy::pump(std::shared_ptr<link> l) {
  char buf[16384];
  while (!stopping_) {
    if (l->silent) {
      // The server is gone; the client hears nothing more, ever.
      ::shutdown(l->up, SHUT_RDWR);
      while (!stopping_)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      return;
    }
    pollfd fds[2] = {{l->down, POLLIN, 0}, {l->up, POLLIN, 0}};
    if (::poll(fds, 2, 50) <= 0)
      continue;
    if (l->silent)
      continue;
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      int from = i == 0 ? l->down : l->up;
      int to = i == 0 ? l->up : l->down;
      auto n = ::recv(from, buf, sizeof buf, 0);
      if (n <= 0 || !write_all(to, buf, n)) {
        // An ordinary close on either side: pass it on.
        ::shutdown(l->down, SHUT_RDWR);
        ::shutdown(l->up, SHUT_RDWR);
        return;
      }
    }
  }
}

} // namespace ping::test
