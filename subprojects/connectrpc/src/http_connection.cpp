#include <connectrpc/client.hpp>

// Boost 1.74's asio misses <utility> (std::exchange) under C++20.
#include <utility>

#include <poll.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace connectrpc {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr std::uint64_t max_response_body = std::uint64_t{16} * 1024 * 1024;

std::string host_header(const std::string& host, const std::string& port) {
  if (host.find(':') != std::string::npos) // IPv6 literal
    return "[" + host + "]:" + port;
  return host + ":" + port;
}

} // namespace

struct http_connection::impl {
  std::string host;
  std::string port;
  asio::io_context ioc{1};
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  tcp::resolver::results_type endpoints;
  bool open = false;

  std::function<bool()> interrupt_check;
  bool interrupted = false; // the last run() was abandoned

  // Runs the io_context until the operation started by `start` completes;
  // tcp_stream's expiry turns an overdue operation into error::timeout, and
  // the interrupt check, polled meanwhile, into operation_aborted.
  template <class Start>
  error_code run(Start&& start) {
    error_code result = asio::error::would_block;
    interrupted = false;
    start([&result](error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    if (!interrupt_check) {
      ioc.run();
      return result;
    }
    while (result == asio::error::would_block && !ioc.stopped()) {
      ioc.run_for(interrupt_poll);
      if (result == asio::error::would_block && interrupt_check()) {
        interrupted = true;
        stream.cancel(); // the handler runs with operation_aborted
        ioc.run();
      }
    }
    return result;
  }

  void close() {
    error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.socket().close(ignored);
    buffer.clear();
    open = false;
  }

  // A kept-alive connection that is readable while idle was closed (or
  // garbled) by the server; using it would fail the next request.
  bool idle_connection_broken() {
    if (buffer.size() != 0)
      return true;
    pollfd pfd{};
    pfd.fd = stream.socket().native_handle();
    pfd.events = POLLIN;
    return ::poll(&pfd, 1, 0) != 0;
  }

  http_result connect(std::chrono::steady_clock::time_point deadline) {
    http_result out;
    if (endpoints.empty()) {
      error_code ec;
      tcp::resolver resolver{ioc};
      endpoints = resolver.resolve(host, port, ec);
      if (ec) {
        out.failure = http_failure::connect_failed;
        out.detail = "cannot resolve " + host + ": " + ec.message();
        return out;
      }
    }
    stream.expires_at(deadline);
    auto ec = run([&](auto handler) { stream.async_connect(endpoints, handler); });
    if (ec) {
      out.failure = interrupted ? http_failure::interrupted : http_failure::connect_failed;
      out.detail = interrupted                   ? "interrupted"
                   : ec == beast::error::timeout ? "timed out"
                                                 : ec.message();
      close();
      return out;
    }
    stream.socket().set_option(tcp::no_delay{true}, ec);
    open = true;
    return out;
  }

  http_result post(const http_request& req, std::chrono::steady_clock::time_point deadline) {
    if (open && idle_connection_broken())
      close();
    if (!open) {
      auto res = connect(deadline);
      if (res.failure != http_failure::none)
        return res;
    }
    http::request<http::string_body> msg{http::verb::post, req.target, 11};
    msg.set(http::field::host, host_header(host, port));
    msg.set(http::field::content_type, req.content_type);
    for (const auto& [name, value] : req.headers)
      msg.set(name, value);
    msg.body() = req.body;
    msg.prepare_payload();

    http_result out;
    stream.expires_at(deadline);
    auto ec = run([&](auto handler) { http::async_write(stream, msg, handler); });
    if (!ec) {
      http::response_parser<http::string_body> parser;
      parser.body_limit(max_response_body);
      ec = run([&](auto handler) { http::async_read(stream, buffer, parser, handler); });
      if (!ec) {
        auto& res = parser.get();
        out.response.status = res.result_int();
        out.response.reason = std::string{res.reason()};
        out.response.content_type = std::string{res[http::field::content_type]};
        out.response.content_encoding = std::string{res[http::field::content_encoding]};
        out.response.body = std::move(res.body());
        if (!res.keep_alive())
          close();
        return out;
      }
    }
    out.failure = ec == beast::error::timeout ? http_failure::timed_out : http_failure::io_error;
    if (interrupted) {
      out.failure = http_failure::interrupted;
      out.detail = "interrupted";
    } else if (ec == http::error::end_of_stream || ec == asio::error::eof
               || ec == http::error::partial_message)
      out.detail = "connection closed by the server";
    else
      out.detail = ec.message();
    close();
    return out;
  }
};

http_connection::http_connection(std::string host, std::string port)
  : impl_(std::make_unique<impl>()) {
  impl_->host = std::move(host);
  impl_->port = std::move(port);
}

http_connection::~http_connection() {
  if (impl_->open)
    impl_->close();
}

void http_connection::set_interrupt_check(std::function<bool()> check) {
  impl_->interrupt_check = std::move(check);
}

http_result http_connection::post(const http_request& req,
                                  std::chrono::steady_clock::time_point deadline) {
  return impl_->post(req, deadline);
}

} // namespace connectrpc
