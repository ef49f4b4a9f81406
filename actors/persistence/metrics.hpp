#pragma once
// Persistence's metrics, named once here: the facade's stats (readiness:
// PostgreSQL reachable) and group commit. The writers register their own
// stats under "persistence.writer-N". Registration is idempotent: every
// caller gets the same objects.

#include <memory>

#include "actors/common/telemetry.hpp"

namespace ping::persistence {

struct metrics {
  std::shared_ptr<telemetry::actor_stats> facade; // "persistence"
  telemetry::histogram& commit_seconds;           // one group commit
  telemetry::histogram& commit_batch_size;        // pings per commit
  telemetry::counter& pings_committed;

  static metrics registered_in(telemetry::registry& reg) {
    return {reg.actor("persistence", "pool"),
            reg.add_latency("persistence_commit_seconds",
                            "Seconds per group commit (one PostgreSQL transaction)."),
            reg.add_sizes("persistence_commit_batch_size", "Pings per group commit."),
            reg.add_counter("persistence_pings_committed_total",
                            "Pings committed to PostgreSQL (with their outbox position).")};
  }
};

} // namespace ping::persistence
