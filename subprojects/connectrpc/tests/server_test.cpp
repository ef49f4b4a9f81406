// Server tests on real sockets (127.0.0.1, ephemeral ports) with a tiny
// Beast client. Every wait has a deadline; no fixed sleeps decide outcomes.
#define BOOST_TEST_MODULE connectrpc_server
#include <boost/test/unit_test.hpp>

#include <utility> // before Boost.Asio with C++20 (Boost 1.74)

#include <connectrpc/protocol.hpp>
#include <connectrpc/server.hpp>

#include "echo.pb.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <google/protobuf/util/json_util.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using namespace connectrpc;
using clock_type = std::chrono::steady_clock;

namespace {

// No generic services are generated; find the descriptor through the file.
const google::protobuf::ServiceDescriptor& echo_service() {
  return *echo::v1::EchoRequest::descriptor()->file()->FindServiceByName("EchoService");
}

const std::string echo_path = "/echo.v1.EchoService/Echo";
const std::string lookup_path = "/echo.v1.EchoService/Lookup";

struct reply {
  unsigned status = 0;
  std::map<std::string, std::string> headers; // lower-case names
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string{} : it->second;
  }
  bool has(const std::string& name) const { return headers.count(name) != 0; }
};

// One client connection; reads are async with a deadline.
class conn {
public:
  explicit conn(std::uint16_t port) : sock_(ioc_) {
    sock_.connect({asio::ip::make_address("127.0.0.1"), port});
  }

  void write_raw(const std::string& bytes) { asio::write(sock_, asio::buffer(bytes)); }
  void write(http::request<http::string_body>& req) { http::write(sock_, req); }

  /// Reads one response; `head` says it answers a HEAD request (no body).
  std::optional<reply> read(std::chrono::milliseconds timeout = 10s, bool head = false) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    parser.skip(head);
    bool done = false;
    boost::system::error_code result;
    http::async_read(sock_, buf_, parser, [&](boost::system::error_code ec, std::size_t) {
      result = ec;
      done = true;
    });
    if (!run(done, timeout) || result)
      return std::nullopt;
    reply r;
    auto& res = parser.get();
    r.status = res.result_int();
    for (const auto& f : res) {
      r.headers[protocol::to_lower(std::string(f.name_string()))] = std::string(f.value());
    }
    r.body = res.body();
    return r;
  }

  reply call(http::request<http::string_body> req) {
    write(req);
    auto r = read();
    BOOST_REQUIRE_MESSAGE(r.has_value(), "no response");
    return *r;
  }

  // True if the server closes the connection (EOF/reset) within `timeout`.
  /// True when the server closed (EOF or reset) within `timeout`. (Only a
  /// close counts: the read cancelled at the timeout is not one.)
  bool closed_within(std::chrono::milliseconds timeout) {
    bool done = false;
    bool closed = false;
    std::function<void()> next;
    std::array<char, 1024> scratch;
    next = [&] {
      sock_.async_read_some(asio::buffer(scratch), [&](boost::system::error_code ec, std::size_t) {
        if (ec) {
          done = true;
          closed = ec != asio::error::operation_aborted;
          return;
        }
        next();
      });
    };
    next();
    run(done, timeout);
    return closed;
  }

private:
  bool run(bool& done, std::chrono::milliseconds timeout) {
    ioc_.restart();
    const auto until = clock_type::now() + timeout;
    while (!done && clock_type::now() < until)
      ioc_.run_one_until(until);
    if (!done) {
      boost::system::error_code ignored;
      sock_.cancel(ignored);
      ioc_.restart();
      ioc_.run();
    }
    return done;
  }

  asio::io_context ioc_;
  tcp::socket sock_;
  beast::flat_buffer buf_;
};

http::request<http::string_body> make_req(
  http::verb verb, const std::string& target, const std::string& content_type, std::string body,
  const std::vector<std::pair<std::string, std::string>>& extra = {}) {
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1");
  if (!content_type.empty())
    req.set(http::field::content_type, content_type);
  for (auto& [k, v] : extra)
    req.set(k, v);
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

http::request<http::string_body> post_json(
  const std::string& json, const std::vector<std::pair<std::string, std::string>>& extra = {}) {
  return make_req(http::verb::post, echo_path, "application/json", json, extra);
}

template <class Pred>
bool wait_for(Pred pred, std::chrono::milliseconds timeout = 5s) {
  const auto until = clock_type::now() + timeout;
  while (!pred()) {
    if (clock_type::now() >= until)
      return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

echo::v1::EchoResponse parse_json_response(const std::string& body) {
  echo::v1::EchoResponse r;
  BOOST_REQUIRE(google::protobuf::util::JsonStringToMessage(body, &r).ok());
  return r;
}

std::string error_code_of(const reply& r) {
  // The error JSON is produced by error_json(); a substring check is enough.
  const auto pos = r.body.find("\"code\":\"");
  if (pos == std::string::npos)
    return {};
  const auto start = pos + 8;
  return r.body.substr(start, r.body.find('"', start) - start);
}

// Test service. Behaviour is selected by the request text:
//   "throw", "drop", "never" (responder stashed), "thread" (answered from a
//   std::thread), "slow" (thread, 300 ms), "fail" (failed_precondition with a
//   tricky message), "ctx" (echoes header x-custom, peer, deadline), "headers"
//   (the names of the context's headers), else echo.
struct echo_fixture {
  explicit echo_fixture(server_options opts = {}, std::vector<static_file> files = {}) {
    opts.port = 0;
    auto fn = [this](std::unique_ptr<google::protobuf::Message> m, const call_context& ctx,
                     responder done) {
      handle(static_cast<const echo::v1::EchoRequest&>(*m), ctx, std::move(done));
    };
    srv = std::make_unique<server>(
      opts, procedures_for(echo_service(), {{"Echo", fn}, {"Lookup", fn}}), std::move(files));
    srv->start();
  }

  ~echo_fixture() {
    srv->stop(0ms);
    for (auto& t : threads)
      t.join();
  }

  void handle(const echo::v1::EchoRequest& req, const call_context& ctx, responder done) {
    echo::v1::EchoResponse res;
    const std::string& text = req.text();
    if (text == "throw")
      throw std::runtime_error("boom");
    if (text == "drop")
      return;
    if (text == "never") {
      std::lock_guard lock(mu);
      stash.push_back(done);
      return;
    }
    if (text == "thread" || text == "slow") {
      const auto delay = text == "slow" ? 300ms : 20ms;
      std::lock_guard lock(mu);
      threads.emplace_back([done, delay, req] {
        std::this_thread::sleep_for(delay);
        echo::v1::EchoResponse r;
        r.set_text("from thread " + req.text());
        done.ok(r);
      });
      return;
    }
    if (text == "fail") {
      done.fail(code::failed_precondition, "bad \"thing\"\r\n\xf0\x9f\x98\x80");
      return;
    }
    if (text == "ctx") {
      const std::string* h = ctx.header("x-custom");
      res.set_text((h ? *h : "-") + "|" + ctx.peer + "|" + (ctx.deadline ? "deadline" : "none")
                   + "|" + ctx.procedure);
      done.ok(res);
      return;
    }
    if (text == "headers") { // the names the call context carries
      std::string names;
      for (const auto& [name, value] : ctx.headers)
        names += (names.empty() ? "" : ",") + name;
      res.set_text(names);
      done.ok(res);
      return;
    }
    if (text == "wrong-type") {
      done.ok(req); // request type instead of response type
      return;
    }
    res.set_text(req.padding() > 0 ? std::string(static_cast<std::size_t>(req.padding()), 'p')
                                   : text);
    res.set_count(req.count());
    done.ok(res);
  }

  std::uint16_t port() const { return srv->port(); }
  reply call(http::request<http::string_body> req) { return conn(port()).call(std::move(req)); }

  std::mutex mu;
  std::vector<responder> stash;
  std::vector<std::thread> threads;
  std::unique_ptr<server> srv;
};

} // namespace

// ------------------------------------------------------------------ success paths

BOOST_AUTO_TEST_CASE(post_json_success) {
  echo_fixture f;
  auto r = f.call(post_json(R"({"text":"hi","count":"5"})"));
  BOOST_TEST(r.status == 200u);
  BOOST_TEST(r.header("content-type") == "application/json");
  BOOST_TEST(r.header("accept-encoding") == "gzip");
  BOOST_TEST(r.body.find("\"count\":\"5\"") != std::string::npos); // int64 as string
  auto res = parse_json_response(r.body);
  BOOST_TEST(res.text() == "hi");
  BOOST_TEST(res.count() == 5);
  BOOST_TEST(f.srv->stats().responses(code::ok) == 1u);
}

BOOST_AUTO_TEST_CASE(post_json_charset_and_number_int64) {
  echo_fixture f;
  auto r = f.call(make_req(http::verb::post, echo_path, "Application/JSON; charset=utf-8",
                           R"({"text":"x","count":7})"));
  BOOST_TEST(r.status == 200u);
  BOOST_TEST(parse_json_response(r.body).count() == 7);
}

BOOST_AUTO_TEST_CASE(post_proto_success) {
  echo_fixture f;
  echo::v1::EchoRequest req;
  req.set_text("binary");
  req.set_count(1234567890123LL);
  auto r
    = f.call(make_req(http::verb::post, echo_path, "application/proto", req.SerializeAsString()));
  BOOST_TEST(r.status == 200u);
  BOOST_TEST(r.header("content-type") == "application/proto");
  echo::v1::EchoResponse res;
  BOOST_REQUIRE(res.ParseFromString(r.body));
  BOOST_TEST(res.text() == "binary");
  BOOST_TEST(res.count() == 1234567890123LL);
}

BOOST_AUTO_TEST_CASE(empty_proto_body_is_empty_message) {
  echo_fixture f;
  auto r = f.call(make_req(http::verb::post, echo_path, "application/proto", ""));
  BOOST_TEST(r.status == 200u);
  BOOST_TEST(r.body.empty()); // empty response message = 0 bytes
}

BOOST_AUTO_TEST_CASE(empty_json_body_is_invalid_argument) {
  echo_fixture f;
  auto r = f.call(post_json(""));
  BOOST_TEST(r.status == 400u);
  BOOST_TEST(r.header("content-type") == "application/json");
  BOOST_TEST(error_code_of(r) == "invalid_argument");
}

BOOST_AUTO_TEST_CASE(unknown_json_field_is_ignored) {
  echo_fixture f;
  auto r = f.call(post_json(R"({"text":"ok","notAField":{"x":[1,2]}})"));
  BOOST_TEST(r.status == 200u);
  BOOST_TEST(parse_json_response(r.body).text() == "ok");
}

BOOST_AUTO_TEST_CASE(undecodable_bodies_are_invalid_argument) {
  echo_fixture f;
  auto r = f.call(post_json("{not json"));
  BOOST_TEST(r.status == 400u);
  BOOST_TEST(error_code_of(r) == "invalid_argument");
  r = f.call(make_req(http::verb::post, echo_path, "application/proto", "\xff\xff\xff"));
  BOOST_TEST(r.status == 400u);
  BOOST_TEST(error_code_of(r) == "invalid_argument");
}

// ------------------------------------------------------------------ GET

BOOST_AUTO_TEST_CASE(get_with_base64_proto) {
  echo_fixture f;
  echo::v1::EchoRequest req;
  req.set_text("via get \xc3\xbf?>");
  req.set_count(3);
  const std::string b64 = protocol::base64_encode(req.SerializeAsString(), true, false);
  auto r = f.call(
    make_req(http::verb::get,
             lookup_path + "?connect=v1&unknown=1&encoding=proto&base64=1&message=" + b64, "", ""));
  BOOST_TEST(r.status == 200u);
  BOOST_TEST(r.header("content-type") == "application/proto");
  BOOST_TEST(r.header("vary") == "Accept-Encoding");
  echo::v1::EchoResponse res;
  BOOST_REQUIRE(res.ParseFromString(r.body));
  BOOST_TEST(res.text() == "via get \xc3\xbf?>");
  BOOST_TEST(res.count() == 3);
}

BOOST_AUTO_TEST_CASE(get_with_json) {
  echo_fixture f;
  auto r = f.call(make_req(http::verb::get,
                           lookup_path + "?encoding=json&message=%7B%22text%22%3A%22a%20b%22%7D",
                           "", ""));
  BOOST_TEST(r.status == 200u);
  BOOST_TEST(r.header("content-type") == "application/json");
  BOOST_TEST(parse_json_response(r.body).text() == "a b");
}

BOOST_AUTO_TEST_CASE(get_edge_cases) {
  echo_fixture f;
  // Missing or unknown encoding -> 415.
  BOOST_TEST(f.call(make_req(http::verb::get, lookup_path + "?message=%7B%7D", "", "")).status
             == 415u);
  BOOST_TEST(
    f.call(make_req(http::verb::get, lookup_path + "?encoding=xml&message=x", "", "")).status
    == 415u);
  // GET with a body -> 415.
  BOOST_TEST(
    f.call(make_req(http::verb::get, lookup_path + "?encoding=json&message=%7B%7D", "", "{}"))
      .status
    == 415u);
  // connect=v2 -> invalid_argument.
  auto r = f.call(
    make_req(http::verb::get, lookup_path + "?encoding=json&message=%7B%7D&connect=v2", "", ""));
  BOOST_TEST(r.status == 400u);
  BOOST_TEST(error_code_of(r) == "invalid_argument");
  // Unknown compression -> unimplemented.
  r = f.call(make_req(http::verb::get, lookup_path + "?encoding=json&message=%7B%7D&compression=br",
                      "", ""));
  BOOST_TEST(r.status == 501u);
  // Bad base64 -> invalid_argument.
  r = f.call(
    make_req(http::verb::get, lookup_path + "?encoding=proto&base64=1&message=%21%21", "", ""));
  BOOST_TEST(r.status == 400u);
  // Padded base64 is accepted too, and gzip-compressed GET payloads work.
  echo::v1::EchoRequest req;
  req.set_text("zipped");
  const std::string b64 = protocol::base64_encode(protocol::gzip_compress(req.SerializeAsString()),
                                                  true, true);
  r = f.call(make_req(http::verb::get,
                      lookup_path + "?encoding=proto&base64=1&compression=gzip&message=" + b64, "",
                      "", {{"accept-encoding", "identity"}}));
  BOOST_TEST(r.status == 200u);
  echo::v1::EchoResponse res;
  BOOST_REQUIRE(res.ParseFromString(r.body));
  BOOST_TEST(res.text() == "zipped");
}

BOOST_AUTO_TEST_CASE(get_on_side_effecting_method_is_405) {
  echo_fixture f;
  auto r = f.call(make_req(http::verb::get, echo_path + "?encoding=json&message=%7B%7D", "", ""));
  BOOST_TEST(r.status == 405u);
  BOOST_TEST(r.header("allow") == "POST");
  BOOST_TEST(r.body.empty());
}

BOOST_AUTO_TEST_CASE(other_verbs_are_405) {
  echo_fixture f;
  auto r = f.call(make_req(http::verb::delete_, echo_path, "", ""));
  BOOST_TEST(r.status == 405u);
  BOOST_TEST(r.header("allow") == "POST");
  r = f.call(make_req(http::verb::put, lookup_path, "application/json", "{}"));
  BOOST_TEST(r.status == 405u);
  BOOST_TEST(r.header("allow") == "GET, POST");
  BOOST_TEST(r.body.empty());
}

// ------------------------------------------------------------------ header checks

BOOST_AUTO_TEST_CASE(bad_content_type_is_415) {
  echo_fixture f;
  for (const char* ct : {"image/jpeg", "application/connect+json", "text/plain"}) {
    auto r = f.call(make_req(http::verb::post, echo_path, ct, "{}"));
    BOOST_TEST(r.status == 415u, ct);
    BOOST_TEST(r.header("accept-post") == "application/json, application/proto");
    BOOST_TEST(r.body.empty());
  }
  BOOST_TEST(f.call(make_req(http::verb::post, echo_path, "", "{}")).status == 415u); // missing
}

BOOST_AUTO_TEST_CASE(unknown_path_is_404_unimplemented) {
  echo_fixture f;
  auto r
    = f.call(make_req(http::verb::post, "/echo.v1.EchoService/Nope", "application/json", "{}"));
  BOOST_TEST(r.status == 404u);
  BOOST_TEST(r.header("content-type") == "application/json");
  BOOST_TEST(error_code_of(r) == "unimplemented");
  BOOST_TEST(r.body.find("/echo.v1.EchoService/Nope") != std::string::npos);
  // Routing is case-sensitive.
  BOOST_TEST(
    f.call(make_req(http::verb::post, "/echo.v1.echoservice/Echo", "application/json", "{}")).status
    == 404u);
}

BOOST_AUTO_TEST_CASE(unknown_content_encoding_is_501) {
  echo_fixture f;
  auto r = f.call(post_json("{}", {{"content-encoding", "foo"}}));
  BOOST_TEST(r.status == 501u);
  BOOST_TEST(error_code_of(r) == "unimplemented");
  BOOST_TEST(r.body.find("gzip") != std::string::npos);
  BOOST_TEST(r.header("accept-encoding") == "gzip");
}

BOOST_AUTO_TEST_CASE(gzip_request_and_response) {
  echo_fixture f;
  // Large response (2000 bytes) to a gzip request with Accept-Encoding gzip.
  auto r = f.call(post_json(protocol::gzip_compress(R"({"text":"x","padding":"2000"})"),
                            {{"content-encoding", "gzip"}, {"accept-encoding", "gzip"}}));
  BOOST_TEST(r.status == 200u);
  BOOST_TEST(r.header("content-encoding") == "gzip");
  std::string plain;
  BOOST_REQUIRE(
    (protocol::gzip_decompress(r.body, 1 << 20, plain) == protocol::inflate_result::ok));
  BOOST_TEST(parse_json_response(plain).text() == std::string(2000, 'p'));
  // Small responses (< 1 KiB) are not compressed.
  r = f.call(post_json(R"({"text":"small"})", {{"accept-encoding", "gzip"}}));
  BOOST_TEST(!r.has("content-encoding"));
  // No Accept-Encoding: a gzip request implies gzip is accepted.
  r = f.call(
    post_json(protocol::gzip_compress(R"({"padding":"3000"})"), {{"content-encoding", "gzip"}}));
  BOOST_TEST(r.header("content-encoding") == "gzip");
  // Identity request without Accept-Encoding: plain.
  r = f.call(post_json(R"({"padding":"3000"})"));
  BOOST_TEST(!r.has("content-encoding"));
  // gzip with an empty body is never decompressed: empty proto message.
  r = f.call(
    make_req(http::verb::post, echo_path, "application/proto", "", {{"content-encoding", "gzip"}}));
  BOOST_TEST(r.status == 200u);
  // Corrupt gzip -> invalid_argument.
  r = f.call(post_json("not gzip", {{"content-encoding", "gzip"}}));
  BOOST_TEST(r.status == 400u);
}

BOOST_AUTO_TEST_CASE(bad_timeout_and_version_headers) {
  echo_fixture f;
  for (const char* t : {"12345678901", "abc", "-5", ""}) {
    auto r = f.call(post_json("{}", {{"connect-timeout-ms", t}}));
    BOOST_TEST(r.status == 400u, t);
    BOOST_TEST(error_code_of(r) == "invalid_argument");
  }
  auto r = f.call(post_json("{}", {{"connect-protocol-version", "2"}}));
  BOOST_TEST(r.status == 400u);
  BOOST_TEST(f.call(post_json("{}", {{"connect-protocol-version", "1"}})).status == 200u);
  BOOST_TEST(f.call(post_json("{}")).status == 200u); // optional by default
}

BOOST_AUTO_TEST_CASE(protocol_version_can_be_required) {
  server_options o;
  o.require_protocol_version = true;
  echo_fixture f(o);
  BOOST_TEST(f.call(post_json("{}")).status == 400u);
  BOOST_TEST(f.call(post_json("{}", {{"connect-protocol-version", "1"}})).status == 200u);
  BOOST_TEST(
    f.call(make_req(http::verb::get, lookup_path + "?encoding=json&message=%7B%7D", "", "")).status
    == 400u);
  BOOST_TEST(f.call(make_req(http::verb::get,
                             lookup_path + "?encoding=json&message=%7B%7D&connect=v1", "", ""))
               .status
             == 200u);
}

// ------------------------------------------------------------------ calls and responders

BOOST_AUTO_TEST_CASE(deadline_exceeded_when_handler_never_answers) {
  echo_fixture f;
  conn c(f.port());
  const auto t0 = clock_type::now();
  auto r = c.call(post_json(R"({"text":"never"})", {{"connect-timeout-ms", "200"}}));
  const auto elapsed = clock_type::now() - t0;
  BOOST_TEST(r.status == 504u);
  BOOST_TEST(error_code_of(r) == "deadline_exceeded");
  BOOST_TEST(elapsed >= 190ms);
  BOOST_TEST(elapsed < 5s);
  // A late answer is ignored; the connection stays usable.
  {
    std::lock_guard lock(f.mu);
    BOOST_REQUIRE(f.stash.size() == 1u);
    echo::v1::EchoResponse late;
    f.stash[0].ok(late);
    BOOST_TEST(!f.stash[0].pending());
  }
  auto r2 = c.call(post_json(R"({"text":"after"})"));
  BOOST_TEST(r2.status == 200u);
  BOOST_TEST(parse_json_response(r2.body).text() == "after");
  BOOST_TEST(f.srv->stats().responses(code::deadline_exceeded) == 1u);
}

BOOST_AUTO_TEST_CASE(max_timeout_applies_without_header) {
  server_options o;
  o.max_timeout = 150ms;
  echo_fixture f(o);
  auto r = f.call(post_json(R"({"text":"never"})"));
  BOOST_TEST(r.status == 504u);
  r = f.call(post_json(R"({"text":"ctx"})", {{"connect-timeout-ms", "999999"}}));
  BOOST_TEST(parse_json_response(r.body).text().find("|deadline|") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(responder_completed_from_another_thread) {
  echo_fixture f;
  auto r = f.call(post_json(R"({"text":"thread"})"));
  BOOST_TEST(r.status == 200u);
  BOOST_TEST(parse_json_response(r.body).text() == "from thread thread");
}

BOOST_AUTO_TEST_CASE(handler_exception_and_dropped_responder_are_internal) {
  echo_fixture f;
  auto r = f.call(post_json(R"({"text":"throw"})"));
  BOOST_TEST(r.status == 500u);
  BOOST_TEST(error_code_of(r) == "internal");
  BOOST_TEST(r.body.find("boom") != std::string::npos);
  r = f.call(post_json(R"({"text":"drop"})"));
  BOOST_TEST(r.status == 500u);
  BOOST_TEST(error_code_of(r) == "internal");
  r = f.call(post_json(R"({"text":"wrong-type"})"));
  BOOST_TEST(r.status == 500u);
  BOOST_TEST(error_code_of(r) == "internal");
}

BOOST_AUTO_TEST_CASE(error_message_is_json_escaped) {
  echo_fixture f;
  auto r = f.call(post_json(R"({"text":"fail"})"));
  BOOST_TEST(r.status == 400u); // failed_precondition
  BOOST_TEST(r.body
             == "{\"code\":\"failed_precondition\",\"message\":\"bad "
                "\\\"thing\\\"\\r\\n\xf0\x9f\x98\x80\"}");
}

BOOST_AUTO_TEST_CASE(context_carries_headers_peer_deadline) {
  echo_fixture f;
  auto r
    = f.call(post_json(R"({"text":"ctx"})", {{"X-Custom", "v1"}, {"connect-timeout-ms", "5000"}}));
  const std::string text = parse_json_response(r.body).text();
  BOOST_TEST(text.rfind("v1|127.0.0.1:", 0) == 0u);
  BOOST_TEST(text.find("|deadline|" + echo_path) != std::string::npos);
  r = f.call(post_json(R"({"text":"ctx"})"));
  BOOST_TEST(parse_json_response(r.body).text().find("|none|") != std::string::npos);
}

// ------------------------------------------------------------------ limits

BOOST_AUTO_TEST_CASE(oversized_body_is_429) {
  server_options o;
  o.max_body_bytes = 1024;
  echo_fixture f(o);
  // Content-Length over the limit: answered before the body is sent.
  {
    conn c(f.port());
    c.write_raw("POST " + echo_path
                + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                  "100000\r\n\r\n{\"te");
    auto r = c.read();
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(r->status == 429u);
    BOOST_TEST(error_code_of(*r) == "resource_exhausted");
  }
  // Chunked body that grows past the limit.
  {
    conn c(f.port());
    c.write_raw("POST " + echo_path
                + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: "
                  "chunked\r\n\r\n");
    const std::string chunk(600, ' ');
    c.write_raw("258\r\n" + chunk + "\r\n258\r\n" + chunk + "\r\n");
    auto r = c.read();
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(r->status == 429u);
  }
  // gzip bomb: small on the wire, too large decoded.
  {
    auto r
      = f.call(post_json(protocol::gzip_compress("{\"text\":\"" + std::string(100000, 'a') + "\"}"),
                         {{"content-encoding", "gzip"}}));
    BOOST_TEST(r.status == 429u);
    BOOST_TEST(error_code_of(r) == "resource_exhausted");
  }
  BOOST_TEST(f.call(post_json(R"({"text":"fits"})")).status == 200u);
}

BOOST_AUTO_TEST_CASE(oversized_header_is_431) {
  server_options o;
  o.max_header_bytes = 4096;
  echo_fixture f(o);
  conn c(f.port());
  auto r = c.call(post_json("{}", {{"x-big", std::string(8000, 'h')}}));
  BOOST_TEST(r.status == 431u);
  BOOST_TEST(c.closed_within(2s));
}

BOOST_AUTO_TEST_CASE(slow_client_is_disconnected_after_header_timeout) {
  server_options o;
  o.header_timeout = 300ms;
  echo_fixture f(o);
  conn c(f.port());
  const auto t0 = clock_type::now();
  c.write_raw("POST " + echo_path + " HTTP/1.1\r\nHost: x\r\nContent-Ty"); // then stall
  BOOST_TEST(c.closed_within(5s));
  BOOST_TEST((clock_type::now() - t0) >= 250ms);
  BOOST_TEST(wait_for([&] { return f.srv->stats().timeouts.load() == 1u; }));
  // Other clients are unaffected.
  BOOST_TEST(f.call(post_json("{}")).status == 200u);
}

BOOST_AUTO_TEST_CASE(slow_body_is_disconnected_after_body_timeout) {
  server_options o;
  o.body_timeout = 300ms;
  echo_fixture f(o);
  conn c(f.port());
  c.write_raw(
    "POST " + echo_path
    + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{");
  BOOST_TEST(c.closed_within(5s));
}

// At the cap, the connection waiting longest for a request head makes room:
// idle clients holding every slot cannot lock out a new one (a probe).
BOOST_AUTO_TEST_CASE(connection_cap_closes_the_longest_idle_connection) {
  server_options o;
  o.max_connections = 2;
  echo_fixture f(o);
  conn c1(f.port());
  BOOST_REQUIRE(wait_for([&] { return f.srv->stats().connections_open.load() == 1u; }));
  conn c2(f.port());
  BOOST_REQUIRE(wait_for([&] { return f.srv->stats().connections_open.load() == 2u; }));
  conn c3(f.port());
  BOOST_TEST(c3.call(post_json(R"({"text":"in"})")).status == 200u);
  BOOST_TEST(c1.closed_within(2s)); // the oldest idle one
  BOOST_TEST(f.srv->stats().connections_evicted.load() == 1u);
  BOOST_TEST(f.srv->stats().connections_rejected.load() == 0u);
  BOOST_TEST(c2.call(post_json(R"({"text":"still"})")).status == 200u);
}

// Issue 19 item 7: a connection whose head is in but whose body trickles is
// waiting for its client, not busy: at the cap it makes room like an idle
// one, so trickling bodies cannot hold every slot.
BOOST_AUTO_TEST_CASE(connection_cap_closes_a_trickling_body) {
  server_options o;
  o.max_connections = 2;
  echo_fixture f(o);
  const std::string head
    = "POST " + echo_path
      + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{";
  conn c1(f.port());
  c1.write_raw(head);
  conn c2(f.port());
  c2.write_raw(head);
  BOOST_REQUIRE(wait_for([&] {
    return f.srv->stats().requests_total.load() == 0u
           && f.srv->stats().connections_open.load() == 2u;
  }));
  conn c3(f.port());
  BOOST_TEST(c3.call(post_json(R"({"text":"in"})")).status == 200u);
  BOOST_TEST(f.srv->stats().connections_evicted.load() == 1u);
  BOOST_TEST(f.srv->stats().connections_rejected.load() == 0u);
  BOOST_TEST(c1.closed_within(2s)); // the oldest trickler
}

// Issue 19 item 7: nginx's client_body_timeout: the wait for each piece of
// a body is bounded (body_read_timeout), not only the whole body, and a
// body that arrives slower than min_body_rate (after a grace of one
// body_read_timeout) is cut.
BOOST_AUTO_TEST_CASE(a_body_below_the_minimum_rate_is_cut) {
  server_options o;
  o.body_timeout = 30s;
  o.body_read_timeout = 400ms;
  o.min_body_rate = 1000; // bytes/s
  echo_fixture f(o);
  conn c(f.port());
  c.write_raw(
    "POST " + echo_path
    + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{");
  const auto t0 = clock_type::now();
  bool closed = false;
  // One byte every 100 ms: never 400 ms of silence, but 10 bytes/s.
  while (clock_type::now() - t0 < 5s) {
    if (c.closed_within(100ms)) {
      closed = true;
      break;
    }
    try {
      c.write_raw(" ");
    } catch (const std::exception&) {
      closed = true; // reset by the server meanwhile
      break;
    }
  }
  BOOST_TEST(closed);
  BOOST_TEST((clock_type::now() - t0) < 3s);
  BOOST_TEST(f.srv->stats().timeouts.load() == 1u);
  // Silence longer than body_read_timeout is cut too.
  conn d(f.port());
  const auto t1 = clock_type::now();
  d.write_raw(
    "POST " + echo_path
    + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{");
  BOOST_TEST(d.closed_within(5s));
  BOOST_TEST((clock_type::now() - t1) < 2s);
  BOOST_TEST(f.call(post_json("{}")).status == 200u);
}

// When every connection is busy with a request, the newcomer is refused.
BOOST_AUTO_TEST_CASE(connection_cap_refuses_when_all_are_busy) {
  server_options o;
  o.max_connections = 2;
  echo_fixture f(o);
  conn c1(f.port());
  conn c2(f.port());
  auto held = post_json(R"({"text":"never"})");
  c1.write(held);
  auto held2 = post_json(R"({"text":"never"})");
  c2.write(held2);
  BOOST_REQUIRE(wait_for([&] {
    std::lock_guard lock(f.mu);
    return f.stash.size() == 2u;
  }));
  conn c3(f.port());
  auto r = c3.read(5s);
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(r->status == 503u);
  BOOST_TEST(c3.closed_within(2s));
  BOOST_TEST(f.srv->stats().connections_rejected.load() == 1u);
  BOOST_TEST(f.srv->stats().connections_evicted.load() == 0u);
}

BOOST_AUTO_TEST_CASE(keep_alive_two_requests_one_connection) {
  echo_fixture f;
  conn c(f.port());
  BOOST_TEST(parse_json_response(c.call(post_json(R"({"text":"one"})")).body).text() == "one");
  BOOST_TEST(parse_json_response(c.call(post_json(R"({"text":"two"})")).body).text() == "two");
  BOOST_TEST(f.srv->stats().connections_total.load() == 1u);
  BOOST_TEST(f.srv->stats().requests_total.load() == 2u);
}

BOOST_AUTO_TEST_CASE(http10_closes_after_response) {
  echo_fixture f;
  conn c(f.port());
  auto req = post_json(R"({"text":"old"})");
  req.version(10);
  auto r = c.call(req);
  BOOST_TEST(r.status == 200u);
  BOOST_TEST(c.closed_within(2s));
}

BOOST_AUTO_TEST_CASE(idle_keep_alive_connection_times_out) {
  server_options o;
  o.idle_timeout = 200ms;
  echo_fixture f(o);
  conn c(f.port());
  BOOST_TEST(c.call(post_json("{}")).status == 200u);
  BOOST_TEST(c.closed_within(5s));
}

// Issue 18: the deadlines share one lazily armed timer per connection (no
// timer per request). A kept-alive connection's timer is armed for its idle
// deadline; a head that stalls after some requests must still be cut at
// header_timeout, not at the later idle deadline.
BOOST_AUTO_TEST_CASE(header_timeout_holds_after_requests_on_a_kept_alive_connection) {
  server_options o;
  o.idle_timeout = 10s;
  o.header_timeout = 300ms;
  echo_fixture f(o);
  conn c(f.port());
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST(c.call(post_json(R"({"text":"k"})")).status == 200u);
    // Longer than header_timeout: the timer fires and moves on to the
    // (later) idle deadline; the connection stays open.
    BOOST_REQUIRE(!c.closed_within(400ms));
  }
  const auto t0 = clock_type::now();
  c.write_raw("POST " + echo_path + " HTTP/1.1\r\nHost: x\r\nContent-Ty"); // then stall
  BOOST_TEST(c.closed_within(5s));
  const auto took = clock_type::now() - t0;
  BOOST_TEST(took >= 250ms);
  BOOST_TEST(took < 3s);
  BOOST_TEST(wait_for([&] { return f.srv->stats().timeouts.load() == 1u; }));
}

// The idle deadline moves with every request, and the timer follows it
// lazily: a connection used more often than idle_timeout stays open across
// several idle_timeouts, and closes idle_timeout after its last request.
BOOST_AUTO_TEST_CASE(idle_deadline_moves_with_each_request_and_still_fires) {
  server_options o;
  o.idle_timeout = 400ms;
  echo_fixture f(o);
  conn c(f.port());
  const auto t0 = clock_type::now();
  while (clock_type::now() - t0 < 1500ms) { // more than three idle_timeouts
    BOOST_REQUIRE(c.call(post_json(R"({"text":"k"})")).status == 200u);
    BOOST_REQUIRE(!c.closed_within(150ms)); // open: its idle deadline moved on
  }
  BOOST_TEST(c.call(post_json(R"({"text":"last"})")).status == 200u);
  const auto t1 = clock_type::now();
  BOOST_TEST(c.closed_within(5s));
  const auto idle = clock_type::now() - t1;
  BOOST_TEST(idle >= 350ms);
  BOOST_TEST(idle < 3s);
  BOOST_TEST(f.srv->stats().requests_total.load() >= 5u);
  BOOST_TEST(f.srv->stats().timeouts.load() == 0u); // idle is no head/body timeout
}

// A client that does not read its answer: the write that did not complete
// at once goes on asynchronously under write_timeout, then the connection
// closes.
BOOST_AUTO_TEST_CASE(write_timeout_closes_a_client_that_does_not_read) {
  server_options o;
  o.write_timeout = 300ms;
  echo_fixture f(o);
  conn c(f.port());
  auto req = post_json(R"({"text":"big","padding":33554432})"); // 32 MiB answer, never read
  c.write(req);
  BOOST_REQUIRE(wait_for([&] { return f.srv->stats().responses(code::ok) == 1u; }));
  const auto t0 = clock_type::now();
  BOOST_TEST(wait_for([&] { return f.srv->stats().connections_open.load() == 0u; }, 5s));
  BOOST_TEST((clock_type::now() - t0) < 3s);
  BOOST_TEST(f.call(post_json("{}")).status == 200u); // others unaffected
}

// An answer larger than the socket's buffer: the part written at once and
// the rest written asynchronously arrive whole, and the connection goes on.
BOOST_AUTO_TEST_CASE(a_large_answer_arrives_whole_and_the_connection_goes_on) {
  echo_fixture f;
  conn c(f.port());
  for (int i = 0; i < 2; ++i) {
    auto r = c.call(post_json(R"({"text":"big","padding":8388608})")); // 8 MiB
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(parse_json_response(r.body).text() == std::string(8u << 20, 'p'));
  }
  BOOST_TEST(f.srv->stats().connections_total.load() == 1u);
}

// Two requests in one segment (pipelining): both answered, in order.
BOOST_AUTO_TEST_CASE(pipelined_requests_are_answered_in_order) {
  echo_fixture f;
  conn c(f.port());
  std::string both;
  for (const char* text : {"first", "second"}) {
    const std::string body = std::string(R"({"text":")") + text + "\"}";
    both += "POST " + echo_path;
    both += " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ";
    both += std::to_string(body.size());
    both += "\r\n\r\n";
    both += body;
  }
  c.write_raw(both);
  auto r1 = c.read(5s);
  auto r2 = c.read(5s);
  BOOST_REQUIRE(r1.has_value());
  BOOST_REQUIRE(r2.has_value());
  BOOST_TEST(parse_json_response(r1->body).text() == "first");
  BOOST_TEST(parse_json_response(r2->body).text() == "second");
  BOOST_TEST(f.srv->stats().connections_total.load() == 1u);
}

// Expect: 100-continue: the server asks for the body, then answers.
BOOST_AUTO_TEST_CASE(expect_100_continue_gets_continue_then_the_answer) {
  echo_fixture f;
  conn c(f.port());
  const std::string body = R"({"text":"cont"})";
  c.write_raw("POST " + echo_path
              + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: "
                "100-continue\r\nContent-Length: "
              + std::to_string(body.size()) + "\r\n\r\n");
  auto cont = c.read(5s);
  BOOST_REQUIRE(cont.has_value());
  BOOST_TEST(cont->status == 100u);
  c.write_raw(body);
  auto r = c.read(5s);
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(r->status == 200u);
  BOOST_TEST(parse_json_response(r->body).text() == "cont");
}

// The call context carries only the listed headers when
// server_options::context_headers is set.
BOOST_AUTO_TEST_CASE(context_headers_limits_the_copied_headers) {
  server_options o;
  o.context_headers = std::vector<std::string>{"x-custom"};
  echo_fixture f(o);
  auto r = f.call(post_json(R"({"text":"ctx"})", {{"X-Custom", "v1"}, {"X-Other", "v2"}}));
  BOOST_TEST(r.status == 200u);
  BOOST_TEST(parse_json_response(r.body).text().rfind("v1|", 0) == 0u);
  r = f.call(post_json(R"({"text":"headers"})", {{"X-Custom", "v1"}, {"X-Other", "v2"}}));
  BOOST_TEST(parse_json_response(r.body).text() == "x-custom");
  echo_fixture all;
  r = all.call(post_json(R"({"text":"headers"})", {{"X-Custom", "v1"}}));
  BOOST_TEST(parse_json_response(r.body).text()
             == "host,content-type,x-custom,content-length"); // every one, by default
}

// ------------------------------------------------------------------ lifecycle

BOOST_AUTO_TEST_CASE(stop_drains_in_flight_call_and_closes_idle) {
  echo_fixture f;
  conn idle(f.port());
  BOOST_TEST(idle.call(post_json("{}")).status == 200u);
  conn busy(f.port());
  auto req = post_json(R"({"text":"slow"})");
  busy.write(req);
  BOOST_REQUIRE(wait_for([&] { return f.srv->stats().requests_total.load() == 2u; }));
  const auto t0 = clock_type::now();
  f.srv->stop(5s);
  BOOST_TEST((clock_type::now() - t0) < 3s); // did not wait the full drain
  auto r = busy.read(2s);
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(r->status == 200u);
  BOOST_TEST(parse_json_response(r->body).text() == "from thread slow");
  BOOST_TEST(idle.closed_within(2s));
  BOOST_TEST(busy.closed_within(2s));
  BOOST_TEST(f.srv->stats().connections_open.load() == 0u);
}

BOOST_AUTO_TEST_CASE(stop_abandons_calls_after_drain) {
  echo_fixture f;
  conn c(f.port());
  auto req = post_json(R"({"text":"never"})");
  c.write(req);
  BOOST_REQUIRE(wait_for([&] {
    std::lock_guard lock(f.mu);
    return f.stash.size() == 1u;
  }));
  const auto t0 = clock_type::now();
  f.srv->stop(100ms);
  BOOST_TEST((clock_type::now() - t0) < 2s);
  BOOST_TEST(c.closed_within(2s));
  // A responder used after shutdown is a harmless no-op.
  echo::v1::EchoResponse late;
  std::lock_guard lock(f.mu);
  f.stash[0].ok(late);
}

BOOST_AUTO_TEST_CASE(static_files_are_served) {
  echo_fixture f({}, {{"/", "text/html; charset=utf-8", "<h1>admin</h1>"}});
  auto r = f.call(make_req(http::verb::get, "/", "", ""));
  BOOST_TEST(r.status == 200u);
  BOOST_TEST(r.header("content-type") == "text/html; charset=utf-8");
  BOOST_TEST(r.body == "<h1>admin</h1>");
}

// HEAD gets the headers a GET would get, Content-Length included, and no
// body (as nginx answers it); the connection stays usable.
BOOST_AUTO_TEST_CASE(head_requests_get_headers_only) {
  static_file health{"/healthz", "text/plain", "ok\n"};
  health.open = true;
  echo_fixture f({}, {health});
  conn c(f.port());
  c.write_raw("HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  auto head = c.read(10s, true);
  BOOST_REQUIRE(head.has_value());
  BOOST_TEST(head->status == 200u);
  BOOST_TEST(head->header("content-length") == "3");
  BOOST_TEST(head->body.empty());
  // The next request on the same connection is read from the right place.
  c.write_raw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  auto get = c.read();
  BOOST_REQUIRE(get.has_value());
  BOOST_TEST(get->status == 200u);
  BOOST_TEST(get->body == "ok\n");
}

BOOST_AUTO_TEST_CASE(dynamic_routes_render_per_request) {
  int calls = 0;
  static_file ready{"/readyz", "", "", [&calls](const call_context& ctx) {
                      ++calls;
                      return http_answer{calls == 1 ? 200 : 503, "text/plain", ctx.procedure};
                    }};
  echo_fixture f({}, {ready});
  auto first = f.call(make_req(http::verb::get, "/readyz", "", ""));
  BOOST_TEST(first.status == 200u);
  BOOST_TEST(first.body == "/readyz");
  auto second = f.call(make_req(http::verb::get, "/readyz", "", ""));
  BOOST_TEST(second.status == 503u);
  BOOST_TEST(calls == 2);
}

BOOST_AUTO_TEST_CASE(a_status_without_a_body_is_answered_without_one) {
  // 204 (or 1xx, 304) carries no body and no Content-Length, whatever the
  // route rendered; the connection goes on.
  static_file empty{"/empty", "", "", [](const call_context&) {
                      return http_answer{204, "text/plain", "dropped"};
                    }};
  echo_fixture f({}, {empty});
  conn c(f.port());
  c.write_raw("GET /empty HTTP/1.1\r\nHost: x\r\n\r\n");
  auto r = c.read(3s);
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(r->status == 204u);
  BOOST_TEST(!r->has("content-length"));
  BOOST_TEST(r->body.empty());
  BOOST_TEST(parse_json_response(c.call(post_json(R"({"text":"after"})")).body).text() == "after");
}

BOOST_AUTO_TEST_CASE(a_head_larger_than_the_field_arena_is_read_whole) {
  // The fields of a head beyond the connection's field buffer (2 KiB) come
  // from the heap; the request after it, from the buffer again.
  server_options o;
  o.context_headers = std::vector<std::string>{"x-custom"};
  echo_fixture f(o);
  conn c(f.port());
  std::vector<std::pair<std::string, std::string>> many;
  many.reserve(61);
  for (int i = 0; i < 60; ++i)
    many.emplace_back("X-Filler-" + std::to_string(i), std::string(80, 'f'));
  many.emplace_back("X-Custom", "last");
  auto r = c.call(post_json(R"({"text":"ctx"})", many));
  BOOST_TEST(r.status == 200u);
  BOOST_TEST(parse_json_response(r.body).text().rfind("last|", 0) == 0u);
  r = c.call(post_json(R"({"text":"ctx"})", {{"X-Custom", "small"}}));
  BOOST_TEST(parse_json_response(r.body).text().rfind("small|", 0) == 0u);
  BOOST_TEST(f.srv->stats().requests_total.load() == 2u);
}

BOOST_AUTO_TEST_CASE(answers_from_another_thread_together_reach_their_connections) {
  // Eight calls answered at once from one thread (one batch for the I/O
  // thread): each connection gets one answer, and goes on.
  echo_fixture f;
  std::vector<std::unique_ptr<conn>> cs;
  for (int i = 0; i < 8; ++i) {
    cs.push_back(std::make_unique<conn>(f.port()));
    auto req = post_json(R"({"text":"never"})");
    cs.back()->write(req);
  }
  BOOST_REQUIRE(wait_for([&f] {
    std::lock_guard lock(f.mu);
    return f.stash.size() == 8u;
  }));
  std::thread answerer([&f] {
    std::lock_guard lock(f.mu);
    for (std::size_t i = 0; i < f.stash.size(); ++i) {
      echo::v1::EchoResponse res;
      res.set_text("answer " + std::to_string(i));
      f.stash[i].ok(res);
    }
  });
  answerer.join();
  std::set<std::string> texts;
  for (auto& c : cs) {
    auto r = c->read();
    BOOST_REQUIRE(r.has_value());
    texts.insert(parse_json_response(r->body).text());
  }
  BOOST_TEST(texts.size() == 8u);
  for (auto& c : cs)
    BOOST_TEST(parse_json_response(c->call(post_json(R"({"text":"next"})")).body).text() == "next");
}

BOOST_AUTO_TEST_CASE(authorize_guards_calls_and_closed_routes) {
  server_options o;
  o.authorize = [](const call_context& ctx) {
    auto* h = ctx.header("authorization");
    return h && *h == "Bearer s3cret";
  };
  static_file open_route{"/healthz", "text/plain", "ok"};
  open_route.open = true;
  echo_fixture f(o, {open_route, {"/metrics", "text/plain", "m 1"}});
  BOOST_TEST(f.call(make_req(http::verb::get, "/healthz", "", "")).status == 200u);
  auto closed = f.call(make_req(http::verb::get, "/metrics", "", ""));
  BOOST_TEST(closed.status == 401u);
  BOOST_TEST(error_code_of(closed) == "unauthenticated");
  auto call = f.call(post_json(R"({"text":"hi"})"));
  BOOST_TEST(call.status == 401u);
  auto authed = make_req(http::verb::get, "/metrics", "", "");
  authed.set(http::field::authorization, "Bearer s3cret");
  auto ok = f.call(authed);
  BOOST_TEST(ok.status == 200u);
  BOOST_TEST(ok.body == "m 1");
  auto wrong = post_json(R"({"text":"hi"})");
  wrong.set(http::field::authorization, "Bearer nope");
  BOOST_TEST(f.call(wrong).status == 401u);
  auto good = post_json(R"({"text":"hi"})");
  good.set(http::field::authorization, "Bearer s3cret");
  BOOST_TEST(f.call(good).status == 200u);
}

BOOST_AUTO_TEST_CASE(procedures_for_reads_idempotency) {
  auto procs = procedures_for(echo_service(), {});
  BOOST_REQUIRE(procs.size() == 2u);
  BOOST_TEST(procs[0].path == echo_path);
  BOOST_TEST(!procs[0].no_side_effects);
  BOOST_TEST(procs[1].path == lookup_path);
  BOOST_TEST(procs[1].no_side_effects);
  BOOST_TEST(procs[0].request_prototype == &echo::v1::EchoRequest::default_instance());
  BOOST_CHECK_THROW(procedures_for(echo_service(), {{"Missing", handler{}}}),
                    std::invalid_argument);
  // Methods without a handler answer unimplemented.
  server_options o;
  o.port = 0;
  server s(o, std::move(procs));
  s.start();
  auto r = conn(s.port()).call(post_json("{}"));
  BOOST_TEST(r.status == 501u);
  BOOST_TEST(error_code_of(r) == "unimplemented");
  s.stop();
}

BOOST_AUTO_TEST_CASE(bind_failure_throws_system_error) {
  echo_fixture f;
  server_options o;
  o.port = f.port();
  server s(o, procedures_for(echo_service(), {}));
  BOOST_CHECK_THROW(s.start(), std::system_error);
}

BOOST_AUTO_TEST_CASE(multiple_io_threads_concurrent_clients) {
  server_options o;
  o.threads = 2;
  echo_fixture f(o);
  std::vector<std::thread> clients;
  clients.reserve(8);
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&, i] {
      // No Boost.Test macros off the main thread (not thread-safe).
      conn c(f.port());
      for (int k = 0; k < 10; ++k) {
        auto req = post_json(R"({"text":"t)" + std::to_string(i) + "\"}");
        c.write(req);
        auto r = c.read();
        echo::v1::EchoResponse res;
        if (r && r->status == 200u
            && google::protobuf::util::JsonStringToMessage(r->body, &res).ok()
            && res.text() == "t" + std::to_string(i)) {
          ++ok;
        }
      }
    });
  }
  for (auto& t : clients)
    t.join();
  BOOST_TEST(ok.load() == 80);
}

// ------------------------------------------------------------------ timers

// post_at runs its function on an I/O thread, not before its time; one
// still pending when the server stops never runs.
BOOST_AUTO_TEST_CASE(post_at_runs_on_an_io_thread_at_its_time) {
  echo_fixture f;
  std::mutex mu;
  std::condition_variable cv;
  std::optional<std::chrono::steady_clock::time_point> ran_at;
  std::thread::id ran_on;
  const auto at = std::chrono::steady_clock::now() + 50ms;
  f.srv->post_at(at, [&] {
    std::lock_guard lock(mu);
    ran_at = std::chrono::steady_clock::now();
    ran_on = std::this_thread::get_id();
    cv.notify_all();
  });
  {
    std::unique_lock lock(mu);
    BOOST_REQUIRE(cv.wait_for(lock, 10s, [&] { return ran_at.has_value(); }));
  }
  BOOST_TEST((*ran_at >= at));
  BOOST_TEST((ran_on != std::this_thread::get_id()));
  // A time already passed: at once, on the next turn.
  std::atomic<bool> past_ran{false};
  f.srv->post_at(std::chrono::steady_clock::now() - 1s, [&] {
    std::lock_guard lock(mu);
    past_ran = true;
    cv.notify_all();
  });
  {
    std::unique_lock lock(mu);
    BOOST_REQUIRE(cv.wait_for(lock, 10s, [&] { return past_ran.load(); }));
  }
  // Pending at stop(): stop() stops the event loop, it does not run it
  // until the timer is due (that would take 2 s and run it).
  std::atomic<bool> late_ran{false};
  f.srv->post_at(std::chrono::steady_clock::now() + 2s, [&] { late_ran = true; });
  f.srv->stop(0ms);
  BOOST_TEST(!late_ran.load());
}
