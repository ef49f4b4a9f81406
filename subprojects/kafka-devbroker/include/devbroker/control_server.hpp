#pragma once
// Server side of the control socket.

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <thread>

namespace devbroker {

// Bounds of the control server, named in one place.
struct control_limits {
  std::size_t max_clients = 16;                   // further connections get "error busy"
  std::size_t max_line = 4096;                    // longer lines: "error line too long", close
  std::chrono::milliseconds idle_timeout{10'000}; // per connection
  std::chrono::milliseconds poll_interval{500};   // upper bound of one poll()
};

// control_server owns a listening Unix domain socket and one thread that
// multiplexes all client connections with poll(): it reads lines, calls the
// handler for each, and writes the answer line back. Several commands per
// connection are allowed. The handler runs on the server thread.
//
// Shutdown never blocks on clients: stop() (and the destructor) wake the
// thread through a self-pipe, it closes every connection and returns; the
// socket file is unlinked. Bounds: see control_limits.
class control_server {
public:
  using handler = std::function<std::string(std::string_view line)>;

  control_server(std::string path, handler on_line, control_limits limits = {});
  ~control_server();
  control_server(const control_server&) = delete;
  control_server& operator=(const control_server&) = delete;

  // Binds the socket (replacing a stale socket file no one listens on) and
  // starts the thread. Throws std::system_error / std::runtime_error.
  void start();
  // Idempotent; joins the thread.
  void stop();

  const std::string& path() const { return path_; }

private:
  void run();

  std::string path_;
  handler on_line_;
  control_limits limits_;
  bool bound_ = false; // we created the socket file and must unlink it
  int listen_fd_ = -1;
  int wake_read_ = -1;
  int wake_write_ = -1;
  std::thread thread_;
};

} // namespace devbroker
