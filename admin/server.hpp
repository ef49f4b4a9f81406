#pragma once
// The admin endpoint of every binary, on its own port, served by the same
// Connect engine as the public API:
//   /healthz   alive (open: no token)
//   /readyz    200 when the node is ready, else 503 (open)
//   /metrics   Prometheus text (metrics_text.hpp)
//   /          the web console (console/index.html; open, the page holds no data)
//   ping.admin.v1.AdminService, one handler per RPC in admin/rpc/.
// Who may call is auth.hpp's; what the node is, node.hpp's.
//
// Owner: the binary's run(), which constructs it after spawning the actors,
// start()s it, and stop()s it after stopping them. Threads: the Connect
// engine's I/O thread (handlers, never blocking: reads answer from atomics
// and the sampler, commands hand off to actors) and the sampler's thread.
// Bounds: admin::options (connections, header and body sizes and times);
// at the connection cap the longest-idle connection makes room.
// Failure: the constructor throws std::runtime_error on unsafe options or an
// unreadable token file; start() throws when it cannot listen.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <connectrpc/server.hpp>

#include "actors/common/telemetry.hpp"
#include "admin/options.hpp"

namespace ping::admin {

class sampler;

/// What GetStatus reports about the node.
struct node_info {
  std::string binary;              // "ping-gateway"
  std::string version;
  std::vector<std::string> config; // "category.name=value", secrets redacted
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
struct hooks {
  std::function<bool()> ready;
  std::vector<stage_spec> stages;
  std::function<void(connectrpc::responder)> flush;
  std::function<void(connectrpc::responder)> pause;
  std::function<void(connectrpc::responder)> resume;
  std::function<void(connectrpc::responder)> rebuild_cache;
  /// Pings per minute for the last `minutes` minutes (current included).
  std::function<void(int32_t minutes, connectrpc::responder)> minute_counts;
};

class server {
public:
  server(options opts, telemetry::registry& reg, node_info info, hooks h);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  void start();
  uint16_t port() const;
  void stop();

private:
  std::shared_ptr<sampler> sampler_;
  std::unique_ptr<connectrpc::server> server_;
};

} // namespace ping::admin
