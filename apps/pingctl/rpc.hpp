#pragma once
// What pingctl's commands see of the wire: one client interface for both
// protocols, statuses named as Connect names them (connectrpc/status.hpp
// holds the tables from HTTP statuses and gRPC codes to those names).
//
// A client owns its connection (Connect) or shares a channel (gRPC) and is
// used by one thread at a time; the load generator makes one per worker.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ping/v1/ping.pb.h"

namespace ping::pingctl {

enum class wire_protocol { connect, grpc };
enum class wire_encoding { json, proto };

/// The outcome of one call. `code` is a Connect code name in lower_snake
/// case ("invalid_argument", "unavailable", ...); empty means success.
struct call_status {
  std::string code;
  std::string message;

  bool ok() const { return code.empty(); }
  static call_status success() { return {}; }
  static call_status error(std::string code, std::string message) {
    return {std::move(code), std::move(message)};
  }
};

/// One unary client of ping.v1.PingService. Not thread-safe.
class rpc_client {
public:
  virtual ~rpc_client() = default;
  virtual call_status ping(const ping::v1::PingRequest& req, ping::v1::PingResponse& resp) = 0;
  virtual call_status count(const ping::v1::PingCountRequest& req,
                            ping::v1::PingCountResponse& resp)
    = 0;
};

/// Where and how to call.
struct client_settings {
  wire_protocol protocol = wire_protocol::connect;
  wire_encoding encoding = wire_encoding::json; // Connect only
  std::string address;                          // HOST:PORT as given
  std::string host;                             // without brackets
  std::string port;
  std::chrono::milliseconds timeout{5000}; // per call
};

/// Makes clients; each call gives a new, independent client (its own
/// keep-alive connection for Connect; a stub on one shared channel for
/// gRPC). The factory itself may be called from several threads.
using client_factory = std::function<std::unique_ptr<rpc_client>()>;

client_factory make_client_factory(const client_settings& cfg);

// The two implementations, behind make_client_factory.
std::unique_ptr<rpc_client> make_connect_client(const client_settings& cfg);
client_factory make_grpc_client_factory(const client_settings& cfg);

} // namespace ping::pingctl
