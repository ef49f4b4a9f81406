#pragma once
// Persistence's metrics, named once here: the facade's stats (readiness:
// PostgreSQL reachable) and group commit. The writers register their own
// stats under "persistence.writer-N". Registration is idempotent: every
// caller gets the same objects.

#include <array>
#include <memory>

#include "actors/common/telemetry.hpp"

namespace ping::persistence {

struct metrics {
  std::shared_ptr<telemetry::actor_stats> facade; // "persistence"
  telemetry::histogram& commit_seconds;           // one group commit
  telemetry::histogram& commit_batch_size;        // pings per commit
  telemetry::counter& pings_committed;
  // The count reader's shared reads by what they ran (sql::read_form): the
  // heads alone, the form without edges, the sparse one, the one for any
  // edge, or the sparse one handing the read to the latter.
  std::array<telemetry::counter*, 5> shared_reads;

  static metrics registered_in(telemetry::registry& reg) {
    const char* name = "persistence_shared_reads_total";
    const char* help = "Shared count reads by the statements they ran.";
    return {reg.actor("persistence", "pool"),
            reg.add_latency("persistence_commit_seconds",
                            "Seconds per group commit (one PostgreSQL transaction)."),
            reg.add_sizes("persistence_commit_batch_size", "Pings per group commit."),
            reg.add_counter("persistence_pings_committed_total",
                            "Pings committed to PostgreSQL (with their outbox position)."),
            {&reg.add_counter(name, help, {{"form", "heads"}}),
             &reg.add_counter(name, help, {{"form", "whole"}}),
             &reg.add_counter(name, help, {{"form", "sparse"}}),
             &reg.add_counter(name, help, {{"form", "any"}}),
             &reg.add_counter(name, help, {{"form", "sparse_then_any"}})}};
  }
};

} // namespace ping::persistence
