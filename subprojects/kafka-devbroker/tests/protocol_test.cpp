// In-process tests: parsing, the command interpreter on a real mock cluster,
// the control server/client pair, the info file and the log format.
#define BOOST_TEST_MODULE devbroker_protocol
#include <boost/test/unit_test.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "devbroker/commands.hpp"
#include "devbroker/control.hpp"
#include "devbroker/control_server.hpp"
#include "devbroker/info_file.hpp"
#include "devbroker/log.hpp"
#include "devbroker/mock_cluster.hpp"
#include "support/process.hpp"

using namespace devbroker;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_CASE(topic_spec_parsing) {
  const auto t = parse_topic_spec("ping-events:3");
  BOOST_REQUIRE(t);
  BOOST_TEST(t->name == "ping-events");
  BOOST_TEST(t->partitions == 3);
  BOOST_TEST(!parse_topic_spec("nopartitions"));
  BOOST_TEST(!parse_topic_spec("t:0"));
  BOOST_TEST(!parse_topic_spec("t:x"));
  BOOST_TEST(!parse_topic_spec(":3"));
  BOOST_TEST(!parse_topic_spec("bad/name:3"));
}

BOOST_AUTO_TEST_CASE(api_and_error_names) {
  BOOST_TEST(*parse_api_key("Produce") == 0);
  BOOST_TEST(*parse_api_key("produce") == 0);
  BOOST_TEST(*parse_api_key("3") == 3);
  BOOST_TEST(*parse_api_key("JoinGroup") == 11);
  BOOST_TEST(!parse_api_key("Nope"));
  BOOST_TEST(!parse_api_key("-1"));
  BOOST_TEST(*parse_error_code("NOT_LEADER_FOR_PARTITION")
             == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
  BOOST_TEST(*parse_error_code("request_timed_out") == RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
  BOOST_TEST(*parse_error_code("RD_KAFKA_RESP_ERR__TRANSPORT") == RD_KAFKA_RESP_ERR__TRANSPORT);
  BOOST_TEST(*parse_error_code("7") == RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
  BOOST_TEST(!parse_error_code("NO_SUCH_ERROR"));
  BOOST_TEST(!parse_error_code("123456"));
}

BOOST_AUTO_TEST_CASE(commands_on_in_process_cluster) {
  cluster_settings settings;
  settings.brokers = 2;
  mock_cluster cluster(settings);
  command_handler h(cluster);
  BOOST_TEST(h.handle("ping") == "ok pong");
  BOOST_TEST(h.handle("create-topic t1 2") == "ok topic=t1 partitions=2");
  BOOST_TEST(h.handle("create-topic t1 2").rfind("error", 0) == 0); // exists
  BOOST_TEST(h.handle("down 2") == "ok brokers=1:up,2:down");
  BOOST_TEST(h.handle("down 3").rfind("error", 0) == 0);
  BOOST_TEST(h.handle("up") == "ok brokers=1:up,2:up");
  BOOST_TEST(h.handle("rtt 1 25") == "ok rtt=1:25");
  BOOST_TEST(h.handle("errors Produce REQUEST_TIMED_OUT 2")
             == "ok api=0 err=7 name=REQUEST_TIMED_OUT count=2");
  BOOST_TEST(h.handle("clear-errors 0") == "ok api=0");
  BOOST_TEST(h.handle("errors Produce 7 0").rfind("error", 0) == 0);
  BOOST_TEST(h.handle("frobnicate").rfind("error unknown command", 0) == 0);
  BOOST_TEST(h.handle("   ").rfind("error", 0) == 0);
  BOOST_TEST(h.handle("status")
             == "ok bootstrap=" + cluster.bootstrap() + " brokers=1:up,2:up topics=t1:2 rtt=1:25");
}

BOOST_AUTO_TEST_CASE(control_server_and_client) {
  test::temp_dir dir;
  const std::string path = dir.path() + "/ctl.sock";
  control_limits limits;
  limits.max_line = 64;
  control_server server(
    path, [](std::string_view line) { return "ok echo " + std::string(line); }, limits);
  server.start();
  BOOST_TEST(control(path, "hello world", 2s) == "ok echo hello world");

  // Several commands on one connection, answered in order, last one without newline.
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  BOOST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::string req = "a\nb\r\nc";
  BOOST_REQUIRE(::send(fd, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size()));
  ::shutdown(fd, SHUT_WR);
  std::string got;
  char buf[256];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0)
    got.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  BOOST_TEST(got == "ok echo a\nok echo b\nok echo c\n");

  BOOST_TEST(control(path, std::string(100, 'x'), 2s) == "error line too long");
  BOOST_CHECK_THROW(control(path, "two\nlines", 1s), std::invalid_argument);

  server.stop();
  BOOST_TEST(::access(path.c_str(), F_OK) != 0); // socket file removed
  BOOST_CHECK_THROW(control(path, "ping", 1s), control_error);
}

BOOST_AUTO_TEST_CASE(client_deadline_when_server_never_answers) {
  test::temp_dir dir;
  const std::string path = dir.path() + "/mute.sock";
  // Listens but never accepts or answers.
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  BOOST_REQUIRE(::listen(fd, 4) == 0);
  const auto start = std::chrono::steady_clock::now();
  BOOST_CHECK_THROW(control(path, "status", 300ms), control_error);
  BOOST_TEST((std::chrono::steady_clock::now() - start < 2s));
  ::close(fd);
}

BOOST_AUTO_TEST_CASE(info_file_round_trip) {
  test::temp_dir dir;
  const std::string path = dir.path() + "/info";
  BOOST_TEST(!read_info_file(path));
  write_info_file(path, {"127.0.0.1:1234", "/tmp/x.sock", 42});
  const auto info = read_info_file(path);
  BOOST_REQUIRE(info);
  BOOST_TEST(info->bootstrap == "127.0.0.1:1234");
  BOOST_TEST(info->control == "/tmp/x.sock");
  BOOST_TEST(info->pid == 42);
}

BOOST_AUTO_TEST_CASE(log_lines_are_single_line_key_value) {
  const auto line = log::format(log::level::warning, "rdkafka", "two\nlines \"quoted\"",
                                {{"fac", "FAIL"}, {"peer", "a b"}});
  BOOST_TEST(line.find('\n') == line.size() - 1);
  BOOST_TEST(
    line.find(
      " level=warn component=rdkafka msg=\"two\\nlines \\\"quoted\\\"\" fac=FAIL peer=\"a b\"")
    != std::string::npos);
  BOOST_TEST(line.rfind("ts=", 0) == 0);
}
