#pragma once
// The persistence subsystem: group commit of pings into PostgreSQL.
//
// `spawn_persistence` starts a facade actor (cooperative pool, never blocks)
// that supervises `writers` detached worker actors plus one detached reader.
// Each worker owns its own libpqxx connection.
//
// Group commit: stores queue in the facade, one queue per writer (writer i
// owns the Kafka partitions p with p % writers == i, so writers never wait
// for each other's outbox locks); an idle writer takes up to `max_batch`
// pings of its queue and writes them in one transaction, so pings that
// arrive while a commit is under way share the next one. Each ping's promise
// is delivered only after its transaction committed.
//
// Bounds: at most `max_pending` stores wait (beyond: resource_exhausted).
// When PostgreSQL is unreachable the facade fails stores fast with
// `unavailable` and probes with exponential backoff until it answers again.
// A worker that dies is restarted with backoff; its batch was not
// acknowledged, so nothing acknowledged is lost.

#include <chrono>
#include <string>

#include <caf/actor_system.hpp>

#include "actors/common/telemetry.hpp"
#include "actors/persistence/protocol.hpp"

namespace ping::persistence {

struct settings {
  std::string dsn;                  // libpq connection string (secret)
  int32_t partitions = 3;           // Kafka partitions (relay sequences)
  int writers = 1;                  // concurrent transactions (more = smaller batches)
  size_t max_batch = 2000;          // pings per transaction
  size_t max_pending = 20000;       // queued stores before rejecting
  caf::timespan write_timeout = std::chrono::seconds(5);
  caf::timespan connect_timeout = std::chrono::seconds(2);
  caf::timespan statement_timeout = std::chrono::seconds(5);
  caf::timespan backoff_min = std::chrono::milliseconds(100);
  caf::timespan backoff_max = std::chrono::seconds(2);
  // Raw-row retention (actors/persistence/retention.hpp): raw ranges whose
  // last ping arrived more than this many days ago are dropped; 0 keeps
  // every raw row. Counts never change.
  int32_t retention_days = 0;
  caf::timespan retention_interval = std::chrono::minutes(10);
};

persistence_actor spawn_persistence(caf::actor_system& sys, settings cfg,
                                    telemetry::registry& reg);

/// libpq connection string with connect and statement timeouts applied.
std::string effective_dsn(const settings& cfg);

} // namespace ping::persistence
