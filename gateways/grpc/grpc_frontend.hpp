#pragma once
// The gRPC front-end of ping.v1.PingService: decode, translate, ask the
// gateway actor, encode. No business logic lives here.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/timespan.hpp>

#include "actors/gateway/protocol.hpp"

namespace ping::gateways {

class rpc_metrics;

struct grpc_options {
  std::string address = "127.0.0.1"; // IPv4, IPv6 (with or without []) or a host name
  uint16_t port = 9090;              // 0 = ephemeral, see grpc_frontend::port()
  // Upper bound of every call's wait for the gateway actor, and the wait
  // itself when the client sets no deadline.
  caf::timespan default_timeout = std::chrono::seconds(10);
  // Limits of our own (gRPC 1.51 as shipped by Debian carries known HTTP/2
  // denial-of-service bugs: rapid reset, HPACK and metadata handling).
  // A Ping request is about 10 bytes and PingCount's about 30: messages
  // beyond 64 KiB are refused (resource_exhausted), before any parsing.
  int max_message_bytes = 64 << 10; // receive and send limit per message
  int max_concurrent_streams = 100; // per connection (SETTINGS_MAX_CONCURRENT_STREAMS)
  int max_metadata_bytes = 8 << 10; // request headers (GRPC_ARG_MAX_METADATA_SIZE)
  caf::timespan max_connection_idle = std::chrono::minutes(5);
  caf::timespan max_connection_age = std::chrono::minutes(30);
  caf::timespan max_connection_age_grace = std::chrono::seconds(10);
  size_t memory_quota_bytes = 32 << 20; // gRPC's buffers for every connection together
  int max_threads = 16;                 // gRPC's callback threads
  std::shared_ptr<rpc_metrics> metrics; // per-RPC metrics (none when null)
  // The guard in front of gRPC (h2_guard.hpp): RST_STREAM frames a client
  // connection may send (sustained rate and burst) before it is closed,
  // and client connections open at once.
  double resets_per_second = 100;
  double reset_burst = 200;
  int max_connections = 1024;
};

/// Serves ping.v1.PingService over gRPC (HTTP/2, plaintext), with
/// grpc.health.v1.Health and server reflection (v1 and v1alpha).
///
/// Owns: the grpc::Server and the services registered on it. It does not own
/// the gateway actor; it must outlive stop().
///
/// Threads: handlers run on gRPC's callback threads (gRPC's own pool, not
/// CAF's) and never block: each unary call is one message to the gateway
/// actor carrying a reply (actors/common/reply.hpp) that finishes the call
/// from a CAF worker thread. Reflection streams are answered inline on gRPC's callback threads
/// (descriptor look-ups only, no I/O).
///
/// Bounds: messages are limited to max_message_bytes in both directions;
/// every call waits at most min(client deadline, default_timeout) for the
/// gateway actor, which answers every call by that deadline. The number of
/// calls in flight is bounded by the gateway actor, which answers
/// resource_exhausted when it is overloaded.
///
/// Lifecycle: construct, start() once, set_serving(false) when draining,
/// stop(drain). The destructor stops the server if stop() was not called.
/// Methods may be called from any thread but not concurrently with start()
/// or stop().
class grpc_frontend {
public:
  grpc_frontend(gateway::gateway_actor gw, grpc_options opts);
  ~grpc_frontend();

  grpc_frontend(const grpc_frontend&) = delete;
  grpc_frontend& operator=(const grpc_frontend&) = delete;

  /// Builds and starts the server. Throws std::runtime_error when it cannot
  /// bind the address (or was already started).
  void start();

  /// The bound port (the ephemeral one when options.port was 0); 0 before
  /// start().
  uint16_t port() const;

  /// Health status of "" (the whole server) and "ping.v1.PingService":
  /// SERVING or NOT_SERVING (while draining). May be called before start().
  void set_serving(bool serving);

  /// Stops accepting calls, lets calls in flight finish for up to `drain`,
  /// cancels the rest, then waits until every call has finished. Idempotent.
  void stop(std::chrono::milliseconds drain);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace ping::gateways
