// The unary client (connectrpc/client.hpp) against this library's server on
// an ephemeral loopback port, in process.
#define BOOST_TEST_MODULE connectrpc_client
#include <boost/test/unit_test.hpp>

#include <connectrpc/client.hpp>
#include <connectrpc/server.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "echo.pb.h"

using namespace connectrpc;
using namespace std::chrono_literals;

namespace {

// Echoes the text; "fail" answers failed_precondition, "slow" answers after
// 300 ms (from a thread the fixture joins), "agent" echoes the User-Agent.
struct echo_server {
  echo_server() {
    server_options opts;
    opts.port = 0;
    auto fn = [this](std::unique_ptr<google::protobuf::Message> m, const call_context& ctx,
                     responder done) {
      const auto& req = static_cast<const echo::v1::EchoRequest&>(*m);
      echo::v1::EchoResponse res;
      if (req.text() == "fail")
        return done.fail(code::failed_precondition, "not now");
      if (req.text() == "slow") {
        slow = std::thread{[done] {
          std::this_thread::sleep_for(300ms);
          echo::v1::EchoResponse late;
          late.set_text("late");
          done.ok(late);
        }};
        return;
      }
      auto* agent = ctx.header("user-agent");
      res.set_text(req.text() == "agent" && agent ? *agent : req.text());
      res.set_count(req.count() + 1);
      done.ok(res);
    };
    srv = std::make_unique<server>(
      opts,
      procedures_for(*echo::v1::EchoRequest::descriptor()->file()->FindServiceByName("EchoService"),
                     {{"Echo", fn}}));
    srv->start();
  }
  ~echo_server() {
    if (slow.joinable())
      slow.join();
    srv->stop(0ms);
  }
  std::string port() const { return std::to_string(srv->port()); }

  std::unique_ptr<server> srv;
  std::thread slow;
};

unary_call echo_call(encoding enc = encoding::json, std::chrono::milliseconds timeout = 2000ms) {
  unary_call c;
  c.path = "/echo.v1.EchoService/Echo";
  c.address = "127.0.0.1";
  c.encoding = enc;
  c.timeout = timeout;
  c.user_agent = "client-test/1";
  return c;
}

} // namespace

BOOST_AUTO_TEST_CASE(json_and_proto_calls_round_trip_on_one_connection) {
  echo_server s;
  http_connection conn{"127.0.0.1", s.port()};
  for (auto enc : {encoding::json, encoding::proto, encoding::json}) {
    echo::v1::EchoRequest req;
    req.set_text("hi");
    req.set_count(41);
    echo::v1::EchoResponse resp;
    auto out = call_unary(conn, echo_call(enc), req, resp);
    BOOST_TEST(out.status.is_ok(), out.status.message);
    BOOST_TEST((out.transport == http_failure::none));
    BOOST_TEST(resp.text() == "hi");
    BOOST_TEST(resp.count() == 42);
  }
}

BOOST_AUTO_TEST_CASE(the_user_agent_is_sent) {
  echo_server s;
  http_connection conn{"127.0.0.1", s.port()};
  echo::v1::EchoRequest req;
  req.set_text("agent");
  echo::v1::EchoResponse resp;
  BOOST_TEST(call_unary(conn, echo_call(), req, resp).status.is_ok());
  BOOST_TEST(resp.text() == "client-test/1");
}

BOOST_AUTO_TEST_CASE(a_connect_error_keeps_its_code_and_message) {
  echo_server s;
  http_connection conn{"127.0.0.1", s.port()};
  echo::v1::EchoRequest req;
  req.set_text("fail");
  echo::v1::EchoResponse resp;
  auto out = call_unary(conn, echo_call(), req, resp);
  BOOST_TEST((out.status.c == code::failed_precondition));
  BOOST_TEST(out.status.message == "not now");
  BOOST_TEST((out.transport == http_failure::none));
}

BOOST_AUTO_TEST_CASE(an_unknown_procedure_is_unimplemented) {
  echo_server s;
  http_connection conn{"127.0.0.1", s.port()};
  auto call = echo_call();
  call.path = "/echo.v1.EchoService/Nope";
  echo::v1::EchoRequest req;
  echo::v1::EchoResponse resp;
  BOOST_TEST((call_unary(conn, call, req, resp).status.c == code::unimplemented));
}

BOOST_AUTO_TEST_CASE(nobody_listening_is_unavailable) {
  std::string port;
  {
    echo_server s; // a port that was just free
    port = s.port();
  }
  http_connection conn{"127.0.0.1", port};
  echo::v1::EchoRequest req;
  echo::v1::EchoResponse resp;
  auto out = call_unary(conn, echo_call(), req, resp);
  BOOST_TEST((out.status.c == code::unavailable));
  BOOST_TEST((out.transport == http_failure::connect_failed));
  BOOST_TEST(!out.transport_detail.empty());
}

BOOST_AUTO_TEST_CASE(a_late_answer_is_deadline_exceeded) {
  echo_server s;
  http_connection conn{"127.0.0.1", s.port()};
  echo::v1::EchoRequest req;
  req.set_text("slow");
  echo::v1::EchoResponse resp;
  auto out = call_unary(conn, echo_call(encoding::json, 100ms), req, resp);
  BOOST_TEST((out.status.c == code::deadline_exceeded));
  BOOST_TEST((out.transport == http_failure::timed_out));
}

BOOST_AUTO_TEST_CASE(the_interrupt_check_abandons_a_call) {
  echo_server s;
  http_connection conn{"127.0.0.1", s.port()};
  std::atomic<bool> stop{true};
  conn.set_interrupt_check([&stop] { return stop.load(); });
  echo::v1::EchoRequest req;
  req.set_text("slow");
  echo::v1::EchoResponse resp;
  auto out = call_unary(conn, echo_call(), req, resp);
  BOOST_TEST((out.status.c == code::canceled));
  BOOST_TEST((out.transport == http_failure::interrupted));
}
