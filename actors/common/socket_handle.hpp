#pragma once
// The socket of a blocking client (a libpq connection), shared between the
// detached actor that owns the connection and the supervisor that may have
// to give up on it.
//
// A call blocked on a server that vanished without a reset (its node lost
// power, the network partitioned) returns only when TCP gives up. A
// supervisor that replaces such a worker calls `interrupt()`: shutdown(2)
// on the socket makes the blocked call fail at once, so the old thread
// exits instead of lingering, and never sends anything more on that
// connection. The owner publishes the descriptor after connecting and
// withdraws it (under the same lock) before closing the connection, so an
// interrupt never reaches a descriptor number reused by someone else.

#include <memory>
#include <mutex>

#include <sys/socket.h>

namespace ping {

class socket_handle {
public:
  /// Owner: the connection is open on `fd`.
  void set(int fd) {
    std::lock_guard<std::mutex> guard{mtx_};
    fd_ = fd;
  }

  /// Owner: about to close the connection (call before closing it).
  void clear() {
    std::lock_guard<std::mutex> guard{mtx_};
    fd_ = -1;
  }

  /// Supervisor: makes every blocked and later call on the socket fail.
  /// Returns false when no connection was open.
  bool interrupt() {
    std::lock_guard<std::mutex> guard{mtx_};
    if (fd_ < 0)
      return false;
    ::shutdown(fd_, SHUT_RDWR);
    return true;
  }

private:
  std::mutex mtx_;
  int fd_ = -1;
};

using socket_handle_ptr = std::shared_ptr<socket_handle>;

} // namespace ping
