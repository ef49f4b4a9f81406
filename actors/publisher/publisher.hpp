#pragma once
// The publisher subsystem: relays the transactional outbox to Kafka.
//
// `spawn_publisher` starts a facade (cooperative pool) that supervises one
// detached relay worker. The worker owns an idempotent librdkafka producer
// (acks=all, no message timeout, gapless guarantee) and a PostgreSQL session
// that holds one advisory lock per partition it relays, so across replicas
// exactly one relay sends each partition.
//
// A pass, per held partition: (1) in one transaction, read outbox rows not
// yet handed to this producer, assigning the next relay sequence numbers to
// rows that have none (recorded on the outbox row and on the ping); (2)
// produce them in sequence order with key = ping id; (3) wait briefly for
// acknowledgements and delete acknowledged outbox rows. A relay that
// restarts re-sends assigned rows with their original sequence numbers, so
// the consumer de-duplicates with one watermark per partition. See
// docs/outbox-relay.md.
//
// Passes run when nudged after a commit (coalesced), every `interval`
// (leftovers after crashes, broker outages), and on drain.

#include <chrono>
#include <string>

#include <caf/actor_system.hpp>

#include "actors/common/telemetry.hpp"
#include "actors/publisher/protocol.hpp"

namespace ping::publisher {

struct settings {
  std::string dsn;                 // libpq connection string (secret)
  std::string bootstrap;           // Kafka bootstrap servers
  std::string topic = "ping-events";
  int32_t partitions = 3;          // must match the topic
  size_t batch = 2000;             // rows per partition per pass
  size_t max_in_flight = 50000;    // unacknowledged events per partition
  caf::timespan interval = std::chrono::milliseconds(500);
  caf::timespan ack_wait = std::chrono::milliseconds(500);
  caf::timespan pass_timeout = std::chrono::seconds(10);
  caf::timespan backoff_min = std::chrono::milliseconds(100);
  caf::timespan backoff_max = std::chrono::seconds(5);
  std::string compression = "none";
  int linger_ms = 1;
};

publisher_actor spawn_publisher(caf::actor_system& sys, settings cfg,
                                telemetry::registry& reg);

} // namespace ping::publisher
