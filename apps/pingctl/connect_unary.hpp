#pragma once
// One Connect unary call (HTTP/1.1, application/json or application/proto)
// over an http_connection: encode the request, POST it with the Connect
// headers and a deadline, decode the answer or the Connect error. Shared by
// the ping.v1.PingService client and the ping.admin.v1.AdminService client,
// which word transport failures differently (hence `transport` below).

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "apps/pingctl/http_connection.hpp"
#include "apps/pingctl/rpc.hpp"

namespace google::protobuf {
class Message;
} // namespace google::protobuf

namespace ping::pingctl {

struct unary_call {
  std::string path;    // "/ping.v1.PingService/Ping"
  std::string address; // HOST:PORT as the user gave it, for messages
  wire_encoding encoding = wire_encoding::json;
  std::chrono::milliseconds timeout{5000};
  std::vector<std::pair<std::string, std::string>> headers; // extra ones
};

struct unary_outcome {
  /// Success, the server's Connect error, or a transport failure as
  /// "unavailable" / "deadline_exceeded" with a generic message.
  call_status status;
  /// What went wrong below HTTP; none when a response came back.
  http_failure transport = http_failure::none;
  std::string transport_detail; // e.g. "Connection refused"
};

/// Performs the call; fills `resp` on success. Blocks until the response or
/// `call.timeout` (which also goes out as Connect-Timeout-Ms).
unary_outcome connect_unary(http_connection& conn, const unary_call& call,
                            const google::protobuf::Message& req,
                            google::protobuf::Message& resp);

} // namespace ping::pingctl
