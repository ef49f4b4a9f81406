// The Kafka source (no actors) against the dev broker: where it starts each
// partition, what it decodes, pause and resume, and the rebalance hooks.
#define BOOST_TEST_MODULE kafka_source
#include <boost/test/unit_test.hpp>

#include <map>
#include <mutex>

#include <librdkafka/rdkafkacpp.h>

#include "actors/windowing/kafka_source.hpp"
#include "ping/v1/event.pb.h"
#include "tests/support/harness.hpp"

using namespace ping;
using namespace ping::test;
using namespace ping::windowing;

namespace {

// Produces `n` events into `partition` with relay sequences from `first_seq`.
void produce(const std::string& bootstrap, int32_t partition, int64_t first_seq, int n) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf{RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL)};
  conf->set("bootstrap.servers", bootstrap, err);
  std::unique_ptr<RdKafka::Producer> p{RdKafka::Producer::create(conf.get(), err)};
  BOOST_REQUIRE_MESSAGE(p, err);
  for (int i = 0; i < n; ++i) {
    v1::PingEvent ev;
    ev.set_timestamp_ms(1'000'000 + first_seq + i);
    ev.set_id("id-" + std::to_string(first_seq + i));
    ev.set_partition(partition);
    ev.set_relay_seq(first_seq + i);
    auto bytes = ev.SerializeAsString();
    BOOST_REQUIRE(p->produce("ping-events", partition, RdKafka::Producer::RK_MSG_COPY, bytes.data(),
                             bytes.size(), nullptr, 0, 0, nullptr)
                  == RdKafka::ERR_NO_ERROR);
  }
  BOOST_REQUIRE(p->flush(10000) == RdKafka::ERR_NO_ERROR);
}

struct hooks_seen {
  std::vector<std::vector<int32_t>> assigned, revoked;
  std::map<int32_t, int64_t> cold;
};

// Takes records until `done` or the deadline; returns them per partition.
std::map<int32_t, std::vector<record>> take_until(kafka_source& src,
                                                  const std::function<bool(size_t)>& done,
                                                  clock::duration timeout) {
  std::map<int32_t, std::vector<record>> out;
  size_t n = 0;
  auto until = clock::now() + timeout;
  while (!done(n) && clock::now() < until) {
    std::map<int32_t, record_batch> batches;
    if (src.take(batches) == 0)
      src.wait(std::chrono::milliseconds(20));
    for (auto& [p, b] : batches) {
      n += b.records.size();
      out[p].insert(out[p].end(), b.records.begin(), b.records.end());
    }
  }
  return out;
}

} // namespace

BOOST_AUTO_TEST_CASE(starts_where_told_decodes_pauses_and_revokes) {
  temp_dir dir;
  test::devbroker broker{dir.path};
  produce(broker.bootstrap(), 0, 1, 5); // offsets 0..4 of partition 0
  produce(broker.bootstrap(), 1, 1, 3); // partition 1 has three before we come
  consumer_settings cfg;
  cfg.bootstrap = broker.bootstrap();
  cfg.fetch_wait_ms = 10;
  cfg.group = "kafka-source-test";
  hooks_seen seen;
  rebalance_hooks hooks;
  hooks.assign = [&](const std::vector<int32_t>& ids) {
    seen.assigned.push_back(ids);
    std::vector<partition_state> out;
    for (auto p : ids) {
      partition_state s;
      s.partition = p;
      if (p == 0) { // stored: partition 0 goes on at offset 2
        s.stored = true;
        s.next_offset = 2;
        s.seq = 2;
      }
      out.push_back(s);
    }
    return std::optional{out};
  };
  hooks.cold = [&](int32_t p, int64_t start) { seen.cold[p] = start; };
  hooks.revoke = [&](const std::vector<int32_t>& ids) { seen.revoked.push_back(ids); };
  kafka_source src{cfg, hooks};
  // The group forms (about 3 s against the dev broker) and partitions come.
  BOOST_REQUIRE(wait_until(
    [&] {
      std::map<int32_t, record_batch> b;
      src.take(b);
      return src.positions().size() == 3u;
    },
    30s));
  BOOST_REQUIRE(seen.assigned.size() == 1u);
  // Partitions without a stored position start at their end.
  BOOST_TEST(seen.cold.count(0) == 0u);
  BOOST_TEST(seen.cold[1] == 3);
  BOOST_TEST(seen.cold[2] == 0);
  // Partition 0 from offset 2: seqs 3..5; partition 1 only what comes now.
  produce(broker.bootstrap(), 1, 4, 2);
  auto got = take_until(
    src, [](size_t n) { return n >= 5; }, 20s);
  BOOST_REQUIRE(got[0].size() == 3u);
  BOOST_TEST(got[0][0].offset == 2);
  BOOST_TEST(got[0][0].relay_seq == 3);
  BOOST_TEST(got[0][0].timestamp_ms == 1'000'003);
  BOOST_TEST(got[0][2].relay_seq == 5);
  BOOST_REQUIRE(got[1].size() == 2u);
  BOOST_TEST(got[1][0].offset == 3);
  BOOST_TEST(got[1][0].relay_seq == 4);
  BOOST_TEST(src.positions().at(0) == 5);
  BOOST_TEST(src.positions().at(1) == 5);
  BOOST_TEST(src.end_offset(0, true, std::chrono::milliseconds(2000)).value_or(-1) == 5);
  // Paused: nothing comes; resumed: it does.
  BOOST_TEST(src.set_paused(true) == 3);
  produce(broker.bootstrap(), 2, 1, 4);
  auto while_paused = take_until(
    src, [](size_t) { return false; }, 1500ms);
  BOOST_TEST(while_paused[2].empty());
  BOOST_TEST(src.set_paused(false) == 3);
  auto after = take_until(
    src, [](size_t n) { return n >= 4; }, 20s);
  BOOST_TEST(after[2].size() == 4u);
  // Closing revokes everything, through the hook.
  src.close();
  BOOST_REQUIRE(seen.revoked.size() == 1u);
  BOOST_TEST(seen.revoked[0].size() == 3u);
}
