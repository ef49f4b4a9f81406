#pragma once
// The publisher's metrics, named once here: the facade's and the relay's
// stats, the outbox backlog and the relay's produce path. Registration is
// idempotent: every caller gets the same objects.

#include <memory>

#include "actors/common/telemetry.hpp"

namespace ping::publisher {

struct metrics {
  std::shared_ptr<telemetry::actor_stats> facade; // "publisher"
  std::shared_ptr<telemetry::actor_stats> relay;  // "publisher.relay"
  telemetry::gauge& outbox_backlog;               // events stored, not yet acked
  telemetry::histogram& produce_seconds;          // produce to delivery report
  telemetry::counter& events_sent;
  telemetry::counter& events_acked;
  telemetry::counter& reads_memory;   // partition reads served by the writers' hand-offs
  telemetry::counter& reads_postgres; // partition reads from the outbox in PostgreSQL
  telemetry::counter& read_events_memory;
  telemetry::counter& read_events_postgres;

  static constexpr const char* events_help
    = "Outbox events the relay handled, by stage: sent (produced to ping-events) or "
      "acked (delivery confirmed by Kafka).";
  static constexpr const char* reads_help
    = "Partition reads of the outbox relay, by source: memory (the pings this gateway's "
      "writers handed over after their commit, continuing the partition's position) or "
      "postgres (one partition's index range in the relay's SELECT).";
  static constexpr const char* read_events_help
    = "Outbox events the relay read, by source: memory (handed over by this gateway's "
      "writers) or postgres (read back from the pings table).";

  static metrics registered_in(telemetry::registry& reg) {
    return {reg.actor("publisher", "pool"),
            reg.actor("publisher.relay", "detached", "publisher"),
            reg.add_gauge("publisher_outbox_backlog",
                          "Outbox events committed in PostgreSQL and not yet acknowledged "
                          "by Kafka."),
            reg.add_latency("relay_produce_seconds",
                            "Seconds from producing an outbox event to its delivery report."),
            reg.add_counter("relay_events_total", events_help, {{"stage", "sent"}}),
            reg.add_counter("relay_events_total", events_help, {{"stage", "acked"}}),
            reg.add_counter("relay_reads_total", reads_help, {{"source", "memory"}}),
            reg.add_counter("relay_reads_total", reads_help, {{"source", "postgres"}}),
            reg.add_counter("relay_read_events_total", read_events_help, {{"source", "memory"}}),
            reg.add_counter("relay_read_events_total", read_events_help, {{"source", "postgres"}})};
  }
};

} // namespace ping::publisher
