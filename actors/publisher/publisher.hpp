#pragma once
// The publisher subsystem: relays the transactional outbox to Kafka.
//
// `spawn_publisher` starts a facade (cooperative pool) that supervises one
// detached relay worker. The worker owns an idempotent librdkafka producer
// (acks=all, no message timeout, gapless guarantee) and a PostgreSQL session
// that holds one advisory lock per partition it relays, so across replicas
// exactly one relay sends each partition.
//
// The outbox is the pings table itself, kept as a log: each ping got its
// position (partition, relay_seq) in the transaction that stored it. A
// pass, per held partition: (1) read the pings above the highest position
// already handed to this producer, in position order; (2) produce them in
// that order with key = ping id; (3) wait briefly for acknowledgements and
// advance the partition's `outbox_cursor` to the highest acknowledged
// position. Nothing is deleted. A relay that restarts re-sends from the
// cursor with the original positions, so the consumer skips repeats by
// relay_seq. See docs/outbox-relay.md.
//
// The fast path: each commit's pings, with their positions, come from
// the persistence facade (the writer's answer; outbox_of) to this facade,
// which gives them to the next pass; a partition's pings that continue its position are produced
// from memory, and PostgreSQL is read only where memory lacks some (a gap, a lost hand-off, a
// restart, a partition just taken) and every `interval`.
//
// Passes run when nudged after a commit (coalesced), every `interval`
// (leftovers after crashes, broker outages), and on drain.
//
// A pass that does not answer within `pass_timeout` (timed by the
// facade's watchdog, not a CAF timer per pass; its PostgreSQL
// session went silent: a primary that vanished without a reset) gets the
// worker replaced, never reused: its socket is shut down, and a new worker
// with a new session and producer takes over. A session that lands on a
// read-only server (SQLSTATE 25006, or found read-only at a pass) is
// dropped and reconnected. With events in flight and no acknowledgement
// for `kafka_stall`, the relay releases its partitions (see relay.cpp).

#include <chrono>
#include <string>

#include <caf/actor_system.hpp>

#include "actors/common/telemetry.hpp"
#include "actors/publisher/protocol.hpp"

namespace ping::publisher {

struct settings {
  std::string dsn;       // libpq connection string (secret)
  std::string bootstrap; // Kafka bootstrap servers
  std::string topic = "ping-events";
  int32_t partitions = 3;       // must match the topic
  size_t batch = 2000;          // rows per partition per pass
  size_t max_in_flight = 50000; // unacknowledged events per partition
  caf::timespan interval = std::chrono::milliseconds(500);
  caf::timespan ack_wait = std::chrono::milliseconds(500);
  // A pass that sent events (and hit no batch limit) lasts at least this
  // long from its start, waiting for acknowledgements: the pings committed
  // meanwhile go to Kafka together in the next pass, not one commit per
  // pass (fewer, larger batches for the broker and the processor). At
  // most ack_wait. 0: a pass ends when its events are acknowledged.
  caf::timespan min_pass{0};
  caf::timespan pass_timeout = std::chrono::seconds(10);
  caf::timespan connect_timeout = std::chrono::seconds(2);    // relay's PostgreSQL session
  caf::timespan statement_timeout = std::chrono::seconds(10); // relay's statements
  caf::timespan backoff_min = std::chrono::milliseconds(100);
  caf::timespan backoff_max = std::chrono::seconds(5);
  // Events in flight and no acknowledgement from Kafka for this long: the
  // relay releases its partitions' locks (and takes none for as long), so
  // a gateway that can reach Kafka relays them.
  caf::timespan kafka_stall = std::chrono::seconds(30);
  std::string compression = "none";
  int linger_ms = 1;
};

publisher_actor spawn_publisher(caf::actor_system& sys, settings cfg, telemetry::registry& reg);

/// The publisher as the writers' outbox sink (persistence::settings::outbox):
/// the facade takes the pings each commit stored and gives them to the
/// relay's next pass, which produces them without reading PostgreSQL when
/// they continue its position (docs/outbox-relay.md, "The fast path").
persistence::outbox_sink outbox_of(const publisher_actor& publisher);

} // namespace ping::publisher
