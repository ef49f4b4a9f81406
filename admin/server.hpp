#pragma once
// The admin endpoint of every binary, on its own port, served by the same
// Connect engine as the public API:
//   /healthz   alive (open: no token)
//   /readyz    200 when the node is ready, else 503 (open)
//   /metrics   Prometheus text of the registry (metrics_text.hpp)
//   /          the web console (console/index.html; open, the page holds no data)
//   ping.admin.v1.AdminService, one handler per RPC in admin/rpc/, the
//   cluster view's among them (discovery and calls to the peers in
//   admin/cluster/).
// Who may call is auth.hpp's business; what the binary is, node.hpp's.
//
// Owner: the binary's run(), which constructs it after spawning the actors,
// start()s it, and stop()s it after stopping them; the registry and the
// node outlive it. Threads: the Connect engine's I/O thread (handlers and
// routes, never blocking: reads answer from atomics and the sampler,
// commands hand off to the node) and the sampler's thread. Bounds:
// admin::options (connections, header and body sizes and times); at the
// connection cap the longest-idle connection makes room, so probes get in.
// The cluster view adds a discovery thread, a collector thread (fanning out
// on a bounded number of threads per round) and command threads, all
// started by start() and joined by stop().
// Failure: the constructor throws std::runtime_error on unsafe options or
// an unreadable token file or an invalid peer list; start() throws when
// it cannot listen.

#include <cstdint>
#include <memory>

#include <connectrpc/server.hpp>

#include "actors/common/telemetry.hpp"
#include "admin/node.hpp"
#include "admin/options.hpp"

namespace ping::admin {

class sampler;
namespace cluster {
class discovery;
class collector;
} // namespace cluster

class server {
public:
  server(const options& opts, const telemetry::registry& reg, node& n);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  void start();
  uint16_t port() const;
  void stop();

private:
  options opts_;
  std::shared_ptr<sampler> sampler_;
  std::unique_ptr<cluster::discovery> discovery_;
  std::shared_ptr<cluster::collector> collector_;
  std::unique_ptr<connectrpc::server> server_;
};

} // namespace ping::admin
