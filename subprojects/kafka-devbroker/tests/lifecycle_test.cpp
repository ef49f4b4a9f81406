// Start-up output, info file, signals and usage errors of the broker process.
#define BOOST_TEST_MODULE devbroker_lifecycle
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "support/process.hpp"

using namespace devbroker::test;

namespace {
bool exited_zero(int status) {
  return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
} // namespace

BOOST_AUTO_TEST_CASE(prints_bootstrap_and_writes_info_file) {
  broker_process broker({"--brokers", "2"});
  BOOST_TEST(broker.info().pid == broker.pid());
  BOOST_TEST(broker.info().bootstrap.rfind("127.0.0.1:", 0) == 0);
  BOOST_TEST(broker.info().bootstrap.find(',') != std::string::npos); // two brokers
  BOOST_TEST(broker.info().control == broker.info_file() + ".sock");
  // stdout carries the same bootstrap line (written before the info file).
  BOOST_TEST(broker.stdout_text() == "bootstrap=" + broker.bootstrap() + "\n");
}

BOOST_AUTO_TEST_CASE(sigterm_exits_zero_and_cleans_up) {
  broker_process broker;
  const std::string info = broker.info_file(), sock = broker.info().control;
  const auto start = std::chrono::steady_clock::now();
  BOOST_TEST(exited_zero(broker.stop(SIGTERM, 5s)));
  BOOST_TEST((std::chrono::steady_clock::now() - start < 5s));
  BOOST_TEST(::access(info.c_str(), F_OK) != 0);
  BOOST_TEST(::access(sock.c_str(), F_OK) != 0);
}

BOOST_AUTO_TEST_CASE(sigint_exits_zero_with_open_control_connection) {
  broker_process broker;
  // An idle, connected control client must not hold up shutdown.
  const int idle = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, broker.info().control.c_str());
  BOOST_REQUIRE(::connect(idle, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  BOOST_TEST(broker.ctl("down") == "ok brokers=1:down"); // also stops while "down"
  BOOST_TEST(exited_zero(broker.stop(SIGINT, 5s)));
  ::close(idle);
}

BOOST_AUTO_TEST_CASE(usage_errors_and_help) {
  const auto bin = broker_binary();
  auto r = run_command({bin, "--brokers", "0"}, "", 5s);
  BOOST_TEST(r.exit_code == 2);
  r = run_command({bin, "--topic", "no-partitions"}, "", 5s);
  BOOST_TEST(r.exit_code == 2);
  r = run_command({bin, "--bogus"}, "", 5s);
  BOOST_TEST(r.exit_code == 2);
  r = run_command({bin, "--help"}, "", 5s);
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.out.find("FOR DEVELOPMENT AND TESTS ONLY") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(second_broker_refuses_a_live_control_socket) {
  broker_process first;
  temp_dir dir;
  const auto r = run_command({broker_binary(), "--control-socket", first.info().control,
                              "--info-file", dir.path() + "/second.info"},
                             "", 10s);
  BOOST_TEST(!r.timed_out);
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(first.ctl("ping") == "ok pong"); // first broker unaffected
}
