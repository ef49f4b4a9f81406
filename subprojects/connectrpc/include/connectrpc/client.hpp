#pragma once
// Connect protocol (unary) client over HTTP/1.1: one keep-alive connection
// (http_connection) and one call on it (call_unary): encode the request,
// POST it with the Connect headers and a deadline, decode the answer or the
// Connect error.
//
// Boost.Beast stays inside src/http_connection.cpp (one expensive
// translation unit), so including this header is cheap.
//
// A connection is used by one thread at a time. Calls are blocking; each
// runs the connection's private io_context until the exchange completes or
// the deadline passes, so every phase (connect, write, read) is bounded.
// The connection opens lazily, is reused while the server keeps it alive,
// and is reopened after an error or a close. An optional interrupt check
// (polled every interrupt_poll while a call waits) abandons the call early,
// e.g. on Ctrl-C in an interactive client.

#include <connectrpc/status.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace google::protobuf {
class Message;
} // namespace google::protobuf

namespace connectrpc {

struct http_request {
  std::string target; // e.g. "/ping.v1.PingService/Ping"
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct http_response {
  unsigned status = 0;
  std::string reason;
  std::string content_type;     // as sent, parameters included
  std::string content_encoding; // empty when absent
  std::string body;
};

enum class http_failure {
  none,
  connect_failed, // resolve or TCP connect failed (or timed out)
  timed_out,      // connected, but no complete response before the deadline
  io_error,       // connection broke mid-exchange, or the response was bad
  interrupted,    // the interrupt check asked to abandon the call
};

constexpr std::chrono::milliseconds interrupt_poll{50};

struct http_result {
  http_failure failure = http_failure::none;
  std::string detail; // human-readable cause when failure != none
  http_response response;
};

class http_connection {
public:
  http_connection(std::string host, std::string port);
  ~http_connection();
  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;

  /// `check` returning true abandons the call in flight (the connection is
  /// closed); empty: calls run to completion or deadline.
  void set_interrupt_check(std::function<bool()> check);

  /// POSTs `req` and waits for the response until `deadline`.
  http_result post(const http_request& req, std::chrono::steady_clock::time_point deadline);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

enum class encoding { json, proto };

struct unary_call {
  std::string path;    // "/pkg.Svc/Method"
  std::string address; // HOST:PORT as the user gave it, for messages
  connectrpc::encoding encoding = encoding::json;
  std::chrono::milliseconds timeout{5000};
  std::vector<std::pair<std::string, std::string>> headers; // extra ones
  std::string user_agent = "connectrpc";
};

struct unary_outcome {
  /// Success, the server's Connect error, or a transport failure as
  /// unavailable / deadline_exceeded / canceled with a generic message.
  connectrpc::status status;
  /// What went wrong below HTTP; none when a response came back.
  http_failure transport = http_failure::none;
  std::string transport_detail; // e.g. "Connection refused"
};

/// Performs the call; fills `resp` on success. Blocks until the response or
/// `call.timeout` (which also goes out as Connect-Timeout-Ms).
unary_outcome call_unary(http_connection& conn, const unary_call& call,
                         const google::protobuf::Message& req, google::protobuf::Message& resp);

} // namespace connectrpc
