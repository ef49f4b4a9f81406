// The control interface against a broker child process: outage simulation,
// error injection, status, and the `ctl` subcommand.
#define BOOST_TEST_MODULE devbroker_control
#include <boost/test/unit_test.hpp>

#include <map>
#include <sstream>
#include <thread>

#include "devbroker/control.hpp"
#include "support/kafka.hpp"
#include "support/process.hpp"

using namespace devbroker::test;

namespace {

// "ok k=v k=v" -> {k: v}
std::map<std::string, std::string> parse_answer(const std::string& answer) {
  std::map<std::string, std::string> out;
  std::istringstream in(answer);
  std::string word;
  in >> word;
  if (word != "ok")
    throw std::runtime_error("not ok: " + answer);
  while (in >> word) {
    const auto eq = word.find('=');
    if (eq != std::string::npos)
      out[word.substr(0, eq)] = word.substr(eq + 1);
  }
  return out;
}

} // namespace

BOOST_AUTO_TEST_CASE(status_parses) {
  broker_process broker({"--brokers", "3", "--topic", "a:3", "--topic", "b:1"});
  const auto s = parse_answer(broker.ctl("status"));
  BOOST_TEST(s.at("bootstrap") == broker.bootstrap());
  BOOST_TEST(s.at("brokers") == "1:up,2:up,3:up");
  BOOST_TEST(s.at("topics") == "a:3,b:1");
  BOOST_TEST(broker.ctl("create-topic c 2") == "ok topic=c partitions=2");
  BOOST_TEST(parse_answer(broker.ctl("status")).at("topics") == "a:3,b:1,c:2");
  BOOST_TEST(broker.ctl("down 7").rfind("error", 0) == 0);
}

BOOST_AUTO_TEST_CASE(down_then_up_keeps_data_and_address) {
  broker_process broker({"--topic", "outage:3"});
  const auto before = parse_answer(broker.ctl("status")).at("bootstrap");

  {
    producer p(broker.bootstrap());
    const auto r = p.produce_all("outage", make_records("before", 5), 10s);
    for (auto e : r)
      BOOST_TEST_REQUIRE(e == RdKafka::ERR_NO_ERROR);
  }

  BOOST_TEST(broker.ctl("down all") == "ok brokers=1:down");
  {
    // Nothing can be delivered while the cluster is down: the message times out.
    producer p(broker.bootstrap(), {{"message.timeout.ms", "1500"}});
    const auto r = p.produce_all("outage", make_records("during", 1), 5s);
    BOOST_TEST(r[0] != RdKafka::ERR_NO_ERROR);
    BOOST_TEST(r[0] == RdKafka::ERR__MSG_TIMED_OUT, RdKafka::err2str(r[0]));
  }

  BOOST_TEST(broker.ctl("up all") == "ok brokers=1:up");
  {
    producer p(broker.bootstrap(), {{"message.timeout.ms", "15000"}});
    const auto r = p.produce_all("outage", make_records("after", 1), 15s);
    BOOST_TEST(r[0] == RdKafka::ERR_NO_ERROR, RdKafka::err2str(r[0]));
  }
  // The 5 earlier records survived the outage, plus the new one.
  BOOST_TEST(count_messages(broker.bootstrap(), "outage", 5s) == 6);
  BOOST_TEST(parse_answer(broker.ctl("status")).at("bootstrap") == before);
}

BOOST_AUTO_TEST_CASE(producer_blocked_during_outage_recovers_after_up) {
  broker_process broker({"--brokers", "2", "--topic", "recover:2"});
  producer p(broker.bootstrap(), {{"message.timeout.ms", "20000"}});
  BOOST_TEST_REQUIRE(p.produce_all("recover", make_records("warm", 2), 10s)[0]
                     == RdKafka::ERR_NO_ERROR);
  BOOST_TEST(broker.ctl("down") == "ok brokers=1:down,2:down");
  // Bring the cluster back from another thread while produce_all waits.
  std::thread restore([&] {
    std::this_thread::sleep_for(1s); // outage length (not an assertion mechanism)
    broker.ctl("up");
  });
  const auto r = p.produce_all("recover", make_records("held", 4), 15s);
  restore.join();
  for (auto e : r)
    BOOST_TEST(e == RdKafka::ERR_NO_ERROR, RdKafka::err2str(e));
  BOOST_TEST(count_messages(broker.bootstrap(), "recover", 5s) == 6);
}

BOOST_AUTO_TEST_CASE(injected_error_fails_once_then_retry_delivers_exactly_once) {
  broker_process broker({"--topic", "inject:1", "--topic", "inject2:1"});

  // Proof the injection bites: without retries the error reaches the app.
  BOOST_TEST(broker.ctl("errors Produce REQUEST_TIMED_OUT 1").rfind("ok", 0) == 0);
  {
    producer p(broker.bootstrap(),
               {{"enable.idempotence", "false"}, {"retries", "0"}, {"acks", "all"}});
    const auto r = p.produce_all("inject", make_records("noretry", 1), 10s);
    BOOST_TEST(r[0] == RdKafka::ERR_REQUEST_TIMED_OUT, RdKafka::err2str(r[0]));
  }
  BOOST_TEST(count_messages(broker.bootstrap(), "inject", 5s) == 0);

  // Idempotent producer: the failed request is retried, stored exactly once.
  BOOST_TEST(broker.ctl("errors 0 7 1") == "ok api=0 err=7 name=REQUEST_TIMED_OUT count=1");
  BOOST_TEST(broker.ctl("errors Produce NOT_LEADER_FOR_PARTITION 1").rfind("ok", 0) == 0);
  {
    producer p(broker.bootstrap());
    const auto r = p.produce_all("inject2", make_records("retry", 1), 10s);
    BOOST_TEST(r[0] == RdKafka::ERR_NO_ERROR, RdKafka::err2str(r[0]));
  }
  BOOST_TEST(count_messages(broker.bootstrap(), "inject2", 5s) == 1);
  const auto got = consume_group(broker.bootstrap(), "inject2", "inject-group", 1, 10s);
  BOOST_TEST_REQUIRE(got.size() == 1u);
  BOOST_TEST(got[0].first == "retry-key-0");
  BOOST_TEST(got[0].second == "retry-value-0");
}

BOOST_AUTO_TEST_CASE(ctl_subcommand) {
  broker_process broker;
  const auto bin = broker_binary();
  auto r = run_command({bin, "ctl", "--info-file", broker.info_file(), "status"}, "", 10s);
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.out.rfind("ok bootstrap=" + broker.bootstrap(), 0) == 0, r.out);

  r = run_command({bin, "ctl", "--control-socket", broker.info().control, "rtt", "1", "5"}, "",
                  10s);
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.out == "ok rtt=1:5\n");

  r = run_command({bin, "ctl", "--info-file", broker.info_file(), "no-such-command"}, "", 10s);
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.out.rfind("error", 0) == 0);

  // No broker behind the socket: fails fast, no hang.
  r = run_command({bin, "ctl", "--timeout", "500", "--control-socket", broker.dir() + "/none.sock",
                   "status"},
                  "", 10s);
  BOOST_TEST(!r.timed_out);
  BOOST_TEST(r.exit_code == 1);

  r = run_command({bin, "ctl", "status"}, "", 10s);
  BOOST_TEST(r.exit_code == 2);
}
