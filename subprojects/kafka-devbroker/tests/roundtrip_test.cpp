// Produce with an idempotent acks=all producer, consume back with a group.
#define BOOST_TEST_MODULE devbroker_roundtrip
#include <boost/test/unit_test.hpp>

#include <algorithm>

#include "support/kafka.hpp"
#include "support/process.hpp"

using namespace devbroker::test;

BOOST_AUTO_TEST_CASE(produce_and_consume_with_group) {
  broker_process broker({"--topic", "events:3"});
  constexpr std::size_t n = 60;
  const auto records = make_records("rt", n);

  producer p(broker.bootstrap());
  const auto results = p.produce_all("events", records, 10s);
  for (std::size_t i = 0; i < n; ++i)
    BOOST_TEST(results[i] == RdKafka::ERR_NO_ERROR,
               "record " << i << ": " << RdKafka::err2str(results[i]));

  // Group join takes ~3 s on the mock; the deadline covers it generously.
  auto got = consume_group(broker.bootstrap(), "events", "rt-group", n, 20s);
  BOOST_TEST_REQUIRE(got.size() == n);
  auto expected = records;
  std::sort(got.begin(), got.end());
  std::sort(expected.begin(), expected.end());
  BOOST_TEST((got == expected));

  // Exactly n records stored across the 3 partitions (no duplicates from retries).
  BOOST_TEST(count_messages(broker.bootstrap(), "events", 5s) == static_cast<int64_t>(n));
}
