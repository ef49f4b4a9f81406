#pragma once
// The admin endpoint of every binary: /healthz (alive), /readyz
// (dependencies reachable, not draining), /metrics (Prometheus text format,
// rendered with prometheus-cpp from the telemetry registry), the web console
// at / and the admin API ping.admin.v1.AdminService (proto/ping/admin/v1),
// served by the same Connect engine as the public API on its own port.
//
// Reads (status, actors, pipeline, lag) answer from the registry's atomics
// and from a sampler thread that snapshots them every second for rates and
// recent latencies; they never wait on an actor. Commands are hooks the
// binary provides: they send a message to the actor concerned and answer
// when it replies. A node without a hook answers `unimplemented`.
//
// Bound to loopback the endpoint needs no credentials. Bound to any other
// address it refuses to start without a bearer token (admin.token or
// admin.token-file), and then every request except /healthz, /readyz and
// the console page itself must carry it. An optional read-only token
// (admin.read-token-file) is accepted for everything but the commands.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <caf/timespan.hpp>
#include <vector>

#include <connectrpc/server.hpp>

#include "actors/common/telemetry.hpp"

namespace ping::apps {

/// What GetStatus reports about the node.
struct node_info {
  std::string binary;              // "ping-gateway"
  std::string version;
  std::vector<std::string> config; // "category.name=value", secrets redacted
};

struct admin_options {
  std::string address = "127.0.0.1";
  uint16_t port = 9464;
  std::string token;      // secret
  std::string token_file; // read at start; wins over `token`
  // A second token for dashboards and on-call reads: everything but the
  // commands (Flush, PauseConsumption, ..., SetLogLevel: permission_denied).
  std::string read_token_file;
  size_t max_connections = 64;
  size_t max_body_bytes = 16 << 10; // admin requests are small JSON
  size_t max_header_bytes = 8 << 10;
  caf::timespan header_timeout = std::chrono::seconds(5);
  caf::timespan body_timeout = std::chrono::seconds(5);
};

/// One stage of the node's pipeline, described by registry names.
struct stage_spec {
  std::string name;        // "commit"
  std::string description; // one line
  std::string counter;     // items through the stage
  std::string latency;     // latency histogram (seconds); "" = none
  std::string backlog;     // a gauge, or "actor:<name>" for an actor's backlog; "" = none
};

/// What the binary adds to the endpoint. Every command completes its
/// responder exactly once, from any thread; an empty one is not offered.
struct admin_hooks {
  std::function<bool()> ready;
  std::vector<stage_spec> stages;
  std::function<void(connectrpc::responder)> flush;
  std::function<void(connectrpc::responder)> pause;
  std::function<void(connectrpc::responder)> resume;
  std::function<void(connectrpc::responder)> rebuild_cache;
  /// Pings per minute for the last `minutes` minutes (current included).
  std::function<void(int32_t minutes, connectrpc::responder)> minute_counts;
};

/// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback(const std::string& address);

/// Prometheus text exposition of the registry.
std::string render_metrics(const telemetry::registry& reg);

class admin_server {
public:
  /// Throws std::runtime_error when the options are unsafe (no token on a
  /// non-loopback address) or the token file cannot be read.
  admin_server(admin_options opts, telemetry::registry& reg, node_info info,
               admin_hooks hooks);
  ~admin_server();

  void start();
  uint16_t port() const;
  void stop();

  struct sampler; // snapshots the registry every second

private:
  std::shared_ptr<sampler> sampler_;
  std::unique_ptr<connectrpc::server> server_;
};

} // namespace ping::apps
