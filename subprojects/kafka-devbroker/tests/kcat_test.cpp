// kcat interoperability: produce lines with kcat -P, read them back with -C.
#define BOOST_TEST_MODULE devbroker_kcat
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <set>
#include <sstream>

#include "support/process.hpp"

using namespace devbroker::test;

namespace {
std::string kcat() {
  const char* k = std::getenv("KCAT");
  return k && *k ? k : "kcat";
}
} // namespace

BOOST_AUTO_TEST_CASE(kcat_produce_and_consume) {
  broker_process broker({"--topic", "lines:3"});
  std::string input;
  for (int i = 0; i < 20; ++i)
    input += "line-" + std::to_string(i) + "\n";

  const auto produced = run_command({kcat(), "-P", "-b", broker.bootstrap(), "-t", "lines"}, input,
                                    15s);
  BOOST_TEST_REQUIRE(!produced.timed_out);
  BOOST_TEST_REQUIRE(produced.exit_code == 0);

  const auto consumed = run_command({kcat(), "-C", "-b", broker.bootstrap(), "-t", "lines", "-o",
                                     "beginning", "-e", "-q", "-X", "fetch.wait.max.ms=50"},
                                    "", 15s);
  BOOST_TEST_REQUIRE(!consumed.timed_out);
  BOOST_TEST(consumed.exit_code == 0);

  std::multiset<std::string> got, expected;
  std::istringstream out(consumed.out);
  for (std::string line; std::getline(out, line);)
    got.insert(line);
  for (int i = 0; i < 20; ++i)
    expected.insert("line-" + std::to_string(i));
  BOOST_TEST((got == expected), "kcat output:\n" << consumed.out);
}

BOOST_AUTO_TEST_CASE(kcat_metadata_lists_brokers) {
  broker_process broker({"--brokers", "3", "--topic", "meta:2"});
  const auto md = run_command({kcat(), "-L", "-b", broker.bootstrap(), "-t", "meta"}, "", 10s);
  BOOST_TEST_REQUIRE(md.exit_code == 0);
  BOOST_TEST(md.out.find("3 brokers") != std::string::npos, md.out);
  BOOST_TEST(md.out.find("topic \"meta\" with 2 partitions") != std::string::npos, md.out);
}
