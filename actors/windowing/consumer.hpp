#pragma once
// The consumer: a detached blocking actor owning the librdkafka
// KafkaConsumer of group `ping-processor` on `ping-events`.
//
// Loop: consume up to `batch` records (waiting at most `poll_wait`) and hand
// them to the window actor per partition without waiting. The window answers
// each batch once it has room again; at most `credits` batches are
// unanswered at a time, so memory stays bounded at any input rate while the
// consumer polls ahead of the window. Pause and resume (admin) stop and
// restart fetching; lag per partition is published once a second.
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
  size_t credits = 2; // batches handed to the window and not answered yet
  // A partition with records at the broker but none queued for this long
  // is taken as a stalled fetcher and woken (see consumer.cpp).
  caf::timespan stall_after = std::chrono::milliseconds(2);
  caf::timespan poll_wait = std::chrono::milliseconds(100);
  caf::timespan window_timeout = std::chrono::seconds(30);
  int session_timeout_ms = 10000;
  // Prefetch per partition: records and KiB queued ahead (librdkafka's
  // queued.min.messages and queued.max.messages.kbytes), and the most one
  // fetch brings per partition (max.partition.fetch.bytes).
  int prefetch_records = 2500;
  int prefetch_kbytes = 1024;
  int fetch_partition_kbytes = 64;
  std::string extra;          // more librdkafka properties: "k=v,k=v"
};

caf::actor spawn_consumer(caf::actor_system& sys, consumer_settings cfg,
                          window_actor window, telemetry::registry& reg);

} // namespace ping::windowing
