#pragma once
// A guard in front of an HTTP/2 server that cannot defend itself: it owns
// the listening socket, hands the server one end of a socketpair per
// connection, and copies bytes both ways, reading the client's frame
// headers as they pass. Nothing HTTP/2-specific beyond frame headers, and
// nothing gRPC- or ping-specific.
//
// Why: gRPC 1.51 (Debian 12) creates a call for every HEADERS frame and
// frees it on a RST_STREAM much more slowly than a client can send both
// (CVE-2023-44487, "rapid reset"). Four connections resetting 25 k
// streams/s grew a gateway past 1.5 GiB, still growing after the flood
// stopped. Streams that were reset free their slot at once, so
// SETTINGS_MAX_CONCURRENT_STREAMS does not bound them; the guard does.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace ping::gateways {

struct h2_guard_options {
  std::string address = "127.0.0.1"; // IPv4 or IPv6 literal, or a host name
  uint16_t port = 0;                 // 0 = ephemeral, see h2_guard::port()
  // RST_STREAM frames the connections of one client address may send
  // together: a bucket of `reset_burst` refilled at `resets_per_second`.
  // A connection that overdraws it is closed (both sides), and the server
  // cancels its calls. The bucket is per address, not per connection, so
  // reconnecting does not refill it; connections of the same address that
  // send no resets are not affected. A well-behaved client resets a stream
  // only when it cancels a call.
  double resets_per_second = 100;
  double reset_burst = 200;
  // Client connections open at once; more are accepted and closed at once.
  int max_connections = 1024;
  // Bytes buffered per direction per connection (the pump stops reading a
  // side whose peer does not drain it).
  size_t buffer_bytes = 16 << 10;
  // Client addresses remembered with their buckets; idle ones (no
  // connection, bucket full again) are forgotten first.
  size_t max_addresses = 16384;
};

/// Counters, readable from any thread.
struct h2_guard_stats {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> refused{0};           // over max_connections
  std::atomic<uint64_t> closed_for_resets{0}; // overdrew the reset bucket
  std::atomic<int64_t> open{0};
};

/// Owns: the listening socket, every client socket and the guard's end of
/// each socketpair; one thread (epoll) that accepts and copies.
///
/// Lifecycle: construct, start() once (binds; throws std::runtime_error),
/// stop_accepting() when draining (connections keep flowing), stop() to
/// close everything and join the thread. The destructor calls stop().
///
/// Bounds: max_connections connections, 2 x buffer_bytes each; a client's
/// resets per the bucket above.
class h2_guard {
public:
  /// Receives the server's end of a new connection (it takes ownership of
  /// the descriptor). Called on the guard's thread.
  using handoff = std::function<void(int fd)>;

  h2_guard(h2_guard_options opts, handoff to_server);
  ~h2_guard();

  h2_guard(const h2_guard&) = delete;
  h2_guard& operator=(const h2_guard&) = delete;

  void start();
  uint16_t port() const;
  void stop_accepting();
  void stop();
  const h2_guard_stats& stats() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// The guard's view of the client's bytes: HTTP/2 frame headers, counted
/// without buffering frames. Exposed for tests.
class h2_frame_scanner {
public:
  /// Feeds the next bytes the client sent; calls on_reset() for every
  /// RST_STREAM frame header completed in them. Returns false when the
  /// bytes cannot be HTTP/2 (a bad connection preface).
  template <class OnReset>
  bool feed(const char* data, size_t n, OnReset&& on_reset) {
    for (size_t i = 0; i < n;) {
      if (preface_left_ > 0) {
        if (data[i] != preface_[24 - preface_left_])
          return false;
        --preface_left_;
        ++i;
      } else if (skip_ > 0) {
        auto k = std::min<uint64_t>(skip_, n - i);
        skip_ -= k;
        i += k;
      } else {
        header_[have_++] = static_cast<uint8_t>(data[i++]);
        if (have_ == 9) {
          have_ = 0;
          skip_ = (uint64_t{header_[0]} << 16) | (uint64_t{header_[1]} << 8) | header_[2];
          if (header_[3] == 0x3)
            on_reset();
        }
      }
    }
    return true;
  }

private:
  static constexpr const char* preface_ = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  int preface_left_ = 24;
  uint8_t header_[9] = {};
  int have_ = 0;
  uint64_t skip_ = 0;
};

/// A token bucket on a caller-supplied clock (tests drive it by hand).
class token_bucket {
public:
  token_bucket(double per_second, double burst, std::chrono::steady_clock::time_point now)
    : rate_(per_second), burst_(burst), tokens_(burst), last_(now) {}

  /// Takes one token; false when there was none.
  bool take(std::chrono::steady_clock::time_point now) {
    refill(now);
    if (tokens_ < 1)
      return false;
    tokens_ -= 1;
    return true;
  }

  /// True when the bucket has refilled to its burst (nothing to remember).
  bool full(std::chrono::steady_clock::time_point now) {
    refill(now);
    return tokens_ >= burst_;
  }

private:
  void refill(std::chrono::steady_clock::time_point now) {
    if (now <= last_)
      return;
    std::chrono::duration<double> dt = now - last_;
    last_ = now;
    tokens_ = std::min(burst_, tokens_ + dt.count() * rate_);
  }

  double rate_;
  double burst_;
  double tokens_;
  std::chrono::steady_clock::time_point last_;
};

} // namespace ping::gateways
