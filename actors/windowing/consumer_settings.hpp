#pragma once
// Every setting of the Kafka consumer (kafka_source.hpp, consumer.hpp).

#include <chrono>
#include <string>

#include <caf/timespan.hpp>

namespace ping::windowing {

struct consumer_settings {
  std::string bootstrap = "127.0.0.1:9092";
  std::string topic = "ping-events";
  std::string group = "ping-processor";
  int fetch_wait_ms = 50;
  size_t batch = 2000;
  size_t credits = 2; // batches handed to the window and not answered yet
  // A partition with records at the broker but none queued for this long
  // is taken as a stalled fetcher and woken (see consumer.cpp).
  caf::timespan stall_after = std::chrono::milliseconds(2);
  caf::timespan poll_wait = std::chrono::milliseconds(100);
  caf::timespan window_timeout = std::chrono::seconds(30);
  caf::timespan assign_retry
    = std::chrono::milliseconds(500); // the window could not say where to start
  caf::timespan idle_wait = std::chrono::milliseconds(50); // sleep with nothing to consume
  caf::timespan lag_interval = std::chrono::seconds(1);    // lag per partition published
  caf::timespan commit_interval = std::chrono::seconds(5); // advisory offset commits
  int session_timeout_ms = 10000;
  // Prefetch per partition: records and KiB queued ahead (librdkafka's
  // queued.min.messages and queued.max.messages.kbytes), and the most one
  // fetch brings per partition (max.partition.fetch.bytes).
  int prefetch_records = 2500;
  int prefetch_kbytes = 1024;
  int fetch_partition_kbytes = 64;
  std::string extra; // more librdkafka properties: "k=v,k=v"
};

} // namespace ping::windowing
