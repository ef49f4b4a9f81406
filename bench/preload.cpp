// Benchmark tool: produces N ping events to a topic as fast as it can, with
// relay sequences 1..n per partition (as the relay would), then exits.
//   ping-bench-preload BOOTSTRAP TOPIC COUNT [PARTITIONS]
// It prints one line: produced=N elapsed_s=S rate=R.

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <librdkafka/rdkafkacpp.h>

#include "ping/v1/event.pb.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s BOOTSTRAP TOPIC COUNT [PARTITIONS]\n", argv[0]);
    return 2;
  }
  std::string bootstrap = argv[1], topic = argv[2];
  long count = std::stol(argv[3]);
  int partitions = argc > 4 ? std::stoi(argv[4]) : 3;
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf{RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL)};
  conf->set("bootstrap.servers", bootstrap, err);
  conf->set("linger.ms", "5", err);
  // Moderate batches: the dev broker's group fetch path stalls on very large
  // ones (seen with 10,000-record batches), real brokers do not care.
  conf->set("batch.num.messages", "1000", err);
  conf->set("queue.buffering.max.messages", "1000000", err);
  std::unique_ptr<RdKafka::Producer> producer{RdKafka::Producer::create(conf.get(), err)};
  if (!producer) {
    std::fprintf(stderr, "producer: %s\n", err.c_str());
    return 1;
  }
  std::vector<long> seq(static_cast<size_t>(partitions), 0);
  ping::v1::PingEvent ev;
  std::string value;
  auto start = std::chrono::steady_clock::now();
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  for (long i = 0; i < count; ++i) {
    int p = static_cast<int>(i % partitions);
    ev.set_timestamp_ms(now_ms - (i % 3600) * 1000);
    ev.set_id("bench-" + std::to_string(i));
    ev.set_partition(p);
    ev.set_relay_seq(++seq[static_cast<size_t>(p)]);
    ev.SerializeToString(&value);
    while (producer->produce(topic, p, RdKafka::Producer::RK_MSG_COPY, value.data(), value.size(),
                             nullptr, 0, 0, nullptr)
           == RdKafka::ERR__QUEUE_FULL)
      producer->poll(10);
    producer->poll(0);
  }
  producer->flush(120000);
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  std::printf("produced=%ld elapsed_s=%.2f rate=%.0f\n", count, took.count(),
              static_cast<double>(count) / took.count());
  return producer->outq_len() == 0 ? 0 : 1;
}
