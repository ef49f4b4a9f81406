#pragma once
// The count reader's metrics, named once here. Registration is idempotent:
// every caller gets the same objects.

#include <memory>

#include "actors/common/telemetry.hpp"

namespace ping::counts {

struct metrics {
  std::shared_ptr<telemetry::actor_stats> actor; // "counts"
  telemetry::counter& from_cache;                // answered: cache + tail
  telemetry::counter& from_postgres;             // answered: PostgreSQL alone
  telemetry::histogram& read_seconds;            // one shared read
  telemetry::histogram& read_requests;           // requests sharing it

  static metrics registered_in(telemetry::registry& reg) {
    return {reg.actor("counts", "pool"),
            reg.add_counter("counts_from_cache_total"),
            reg.add_counter("counts_from_postgres_total"),
            reg.add_latency("counts_read_seconds"),
            reg.add_sizes("counts_read_requests")};
  }
};

} // namespace ping::counts
