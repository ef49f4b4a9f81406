#pragma once
// The admin endpoint of every binary: /healthz (alive), /readyz
// (dependencies reachable, not draining), /metrics (Prometheus text format,
// rendered with prometheus-cpp from the telemetry registry) and the admin
// API ping.admin.v1.AdminService (proto/ping/admin/v1), served by the same
// Connect engine as the public API on its own port.
//
// Bound to loopback it needs no credentials. Bound to any other address it
// refuses to start without a bearer token (admin.token or admin.token-file),
// and then every request except /healthz and /readyz must carry it.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
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
};

/// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback(const std::string& address);

/// Prometheus text exposition of the registry (and `extra` families).
std::string render_metrics(const telemetry::registry& reg);

class admin_server {
public:
  /// Throws std::runtime_error when the options are unsafe (no token on a
  /// non-loopback address) or the token file cannot be read.
  admin_server(admin_options opts, telemetry::registry& reg, std::function<bool()> ready,
               node_info info);
  ~admin_server();

  void start();
  uint16_t port() const;
  void stop();

private:
  std::unique_ptr<connectrpc::server> server_;
};

} // namespace ping::apps
