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
  // (both: counts_answered_total{source=...})
  telemetry::histogram& read_seconds;  // one shared read
  telemetry::histogram& read_requests; // requests sharing it
  telemetry::counter& guesses_held;    // statements asked beside the snapshot that answered
  telemetry::counter& guesses_missed;  // ...that the snapshot did not hold
  // (both: counts_guessed_statements_total{outcome=...})
  telemetry::counter& snapshots_reused; // reads of totals alone answered without a snapshot

  static constexpr const char* answered_help
    = "PingCount requests answered, by source: cache (the cache's counters plus the "
      "PostgreSQL tail) or postgres (a fallback: PostgreSQL counted alone because the "
      "cache could not answer).";

  static constexpr const char* guessed_help
    = "Shared reads whose statement was asked beside the cache snapshot, with the sequences "
      "and spans of the snapshots before, by outcome: held (it answered the read) or missed "
      "(the snapshot differed, so the statement was asked again after it).";

  static constexpr const char* reused_help
    = "Shared reads of totals alone (PingCount {}) that took the last cache snapshot's "
      "sequences and total instead of reading a new one (settings::totals_snapshot_age).";

  static metrics registered_in(telemetry::registry& reg) {
    return {reg.actor("counts", "pool"),
            reg.add_counter("counts_answered_total", answered_help, {{"source", "cache"}}),
            reg.add_counter("counts_answered_total", answered_help, {{"source", "postgres"}}),
            reg.add_latency("counts_read_seconds",
                            "Seconds per shared count read (cache snapshot plus PostgreSQL tail)."),
            reg.add_sizes("counts_read_requests", "PingCount requests sharing one read."),
            reg.add_counter("counts_guessed_statements_total", guessed_help, {{"outcome", "held"}}),
            reg.add_counter("counts_guessed_statements_total", guessed_help,
                            {{"outcome", "missed"}}),
            reg.add_counter("counts_snapshots_reused_total", reused_help)};
  }
};

} // namespace ping::counts
