#pragma once
// A TCP proxy on 127.0.0.1 that can turn into a black hole, for the fault
// of a database primary that vanishes without a reset (power loss, a
// network partition, a failover): after `blackhole()`, every connection
// open at that moment stays open towards the client but forwards nothing
// more in either direction (the client sees silence, no FIN, no RST), and
// its upstream side is closed (the old server's sessions end, as they do
// on a node that is gone, releasing their locks). Connections made after
// the blackhole reach the upstream server normally: the "new primary".
//
// Threads: one accepting, one per connection (tests open a few dozen).

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace ping::test {

class blackhole_proxy {
public:
  explicit blackhole_proxy(uint16_t upstream_port);
  ~blackhole_proxy();
  blackhole_proxy(const blackhole_proxy&) = delete;
  blackhole_proxy& operator=(const blackhole_proxy&) = delete;

  uint16_t port() const { return port_; }

  /// Every connection open now goes silent; later ones are forwarded.
  void blackhole();

  /// Connections accepted so far.
  size_t accepted() const { return accepted_.load(); }

private:
  struct link;
  void accept_loop();
  void pump(std::shared_ptr<link> l);

  uint16_t upstream_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> accepted_{0};
  std::mutex mtx_;
  std::vector<std::shared_ptr<link>> links_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

} // namespace ping::test
