#pragma once
// The consumer: a detached blocking actor owning the librdkafka
// KafkaConsumer of group `ping-processor` on `ping-events`.
//
// Loop: consume up to `batch` records (waiting at most `poll_wait`), hand
// them to the window actor per partition, and wait for its reply, which it
// holds back while it is full (so memory stays bounded at any input rate).
// On assignment it asks the window where each partition stands in the cache
// and seeks there; a partition without a stored offset starts at its current
// end and is recounted from PostgreSQL (the window does that). On
// revocation it waits until the window flushed the partitions. Kafka's
// committed offsets are advisory (lag monitoring) and never read back.
// An exit message ends the loop; closing the consumer flushes first.

#include <chrono>
#include <string>

#include <caf/actor_system.hpp>

#include "actors/common/telemetry.hpp"
#include "actors/windowing/protocol.hpp"

namespace ping::windowing {

struct consumer_settings {
  std::string bootstrap = "127.0.0.1:9092";
  std::string topic = "ping-events";
  std::string group = "ping-processor";
  int fetch_wait_ms = 50;
  size_t batch = 2000;
  caf::timespan poll_wait = std::chrono::milliseconds(100);
  caf::timespan window_timeout = std::chrono::seconds(30);
  int session_timeout_ms = 10000;
  int prefetch_kbytes = 4096; // librdkafka's local queue per consumer
  std::string extra;          // more librdkafka properties: "k=v,k=v"
};

caf::actor spawn_consumer(caf::actor_system& sys, consumer_settings cfg,
                          window_actor window, telemetry::registry& reg);

} // namespace ping::windowing
