#pragma once
// The Connect front-end of ping.v1.PingService: a connectrpc::server whose
// handlers translate each call into a gateway::call with its deadline (the
// client's, capped at default_timeout); the calls of one turn of the I/O
// loop go to the gateway actor as one message (batch_atom), and complete
// asynchronously when it answers. No business logic lives here.

#include <chrono>
#include <cstdint>
#include <memory>

#include <connectrpc/server.hpp>

#include "actors/gateway/protocol.hpp"

namespace ping::gateways {

class rpc_metrics;

struct connect_options {
  connectrpc::server_options server;
  /// Deadline for calls without Connect-Timeout-Ms.
  caf::timespan default_timeout = std::chrono::seconds(10);
  /// Per-RPC metrics (none when null): every answer, the server's own
  /// refusals (bad JSON, unknown method) included.
  std::shared_ptr<rpc_metrics> metrics;
};

class connect_frontend {
public:
  connect_frontend(gateway::gateway_actor gw, connect_options opts);
  ~connect_frontend();

  void start();
  uint16_t port() const;
  void stop(std::chrono::milliseconds drain);

private:
  class batcher;
  // Declared first: destroyed after the server, whose threads use it.
  std::unique_ptr<batcher> batcher_;
  std::unique_ptr<connectrpc::server> server_;
};

} // namespace ping::gateways
