#pragma once
// The one table from actor errors to RPC status codes. Both front-ends use
// it: the Connect front-end maps the code to its HTTP status, gRPC sends it
// as grpc-status. Codes are numbered as gRPC numbers them.

#include <string>

#include <caf/error.hpp>

namespace ping::gateways {

enum class rpc_code : int {
  ok = 0,
  canceled = 1,
  unknown = 2,
  invalid_argument = 3,
  deadline_exceeded = 4,
  not_found = 5,
  already_exists = 6,
  permission_denied = 7,
  resource_exhausted = 8,
  failed_precondition = 9,
  aborted = 10,
  out_of_range = 11,
  unimplemented = 12,
  internal = 13,
  unavailable = 14,
  data_loss = 15,
  unauthenticated = 16,
};

struct rpc_status {
  rpc_code code = rpc_code::ok;
  std::string message;
};

/// Maps an error from the gateway actor (ping_errc, or CAF's own sec codes
/// such as a request timeout) to the status a client sees.
rpc_status to_rpc_status(const caf::error& err);

} // namespace ping::gateways
