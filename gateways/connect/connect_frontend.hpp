#pragma once
// The Connect front-end of ping.v1.PingService: a connectrpc::server whose
// handlers translate each call into a gateway::call with its deadline (the
// client's, capped at default_timeout); the calls of one turn of the I/O
// loop go to the gateway actor as one message (batch_atom), and complete
// asynchronously when it answers. No business logic lives here.
//
// The exception: PingCount {} with a count board (connect_options::board)
// is parked on this front-end and answered on an I/O thread from the first
// published round that started after it arrived (actors/counts/board.hpp);
// the front-end asks the gateway for a round only when none is asked, and
// a published round posts one wake-up to the I/O threads.

#include <chrono>
#include <cstdint>
#include <memory>

#include <connectrpc/server.hpp>

#include "actors/counts/board.hpp"
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
  /// PingCount {} on the I/O thread (none: through the gateway, as every
  /// other call): parked on this board until a round that started after
  /// it arrived is published (actors/counts/board.hpp), at most
  /// `max_parked` at once (beyond: resource_exhausted), each until its
  /// deadline capped at `count_timeout` (the gateway's); answered later
  /// than `slow_count`: logged with its trace id and round.
  std::shared_ptr<counts::count_board> board;
  size_t max_parked = 4096;
  caf::timespan count_timeout = std::chrono::seconds(5);
  caf::timespan slow_count = std::chrono::milliseconds(100);
};

class connect_frontend {
public:
  connect_frontend(const gateway::gateway_actor& gw, connect_options opts);
  ~connect_frontend();

  void start();
  uint16_t port() const;
  void stop(std::chrono::milliseconds drain);

private:
  class batcher;
  class counter;
  // Declared first: destroyed after the server, whose threads use them.
  std::unique_ptr<batcher> batcher_;
  std::unique_ptr<counter> counter_;
  std::unique_ptr<connectrpc::server> server_;
};

} // namespace ping::gateways
