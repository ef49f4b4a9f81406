#pragma once
// The gateway actor's metrics, named once here. The actor updates them; the
// admin endpoint reads them (apps/ping-gateway/gateway_node.*).
// Registration is idempotent: every caller gets the same objects.

#include <memory>

#include "actors/common/telemetry.hpp"

namespace ping::gateway {

struct metrics {
  std::shared_ptr<telemetry::actor_stats> actor; // "gateway"
  telemetry::counter& accepted;                  // handed to persistence
  telemetry::counter& rejected_invalid;
  telemetry::counter& rejected_busy;
  telemetry::counter& failed;
  telemetry::counter& deadline_exceeded;             // calls answered at their deadline
  telemetry::histogram& ping_seconds;                // arrival to ack
  telemetry::histogram& count_from_cache_seconds;    // PingCount answered by cache + tail
  telemetry::histogram& count_from_postgres_seconds; // PingCount answered by PostgreSQL

  static constexpr const char* rejected_help
    = "Pings refused before storage, by reason: invalid (a timestamp out of range) "
      "or busy (the gateway's bound on pings in flight reached).";

  static constexpr const char* count_help
    = "Seconds from a PingCount's arrival at the gateway actor to its answer, by the "
      "source that answered: cache (cache plus PostgreSQL tail) or postgres.";

  static metrics registered_in(telemetry::registry& reg) {
    return {reg.actor("gateway", "pool"),
            reg.add_counter("gateway_pings_accepted_total",
                            "Pings the gateway accepted and handed to persistence."),
            reg.add_counter("gateway_pings_rejected_total", rejected_help, {{"reason", "invalid"}}),
            reg.add_counter("gateway_pings_rejected_total", rejected_help, {{"reason", "busy"}}),
            reg.add_counter("gateway_pings_failed_total",
                            "Accepted pings whose storage failed (answered with an error)."),
            reg.add_counter("gateway_calls_deadline_exceeded_total",
                            "Calls the gateway answered deadline_exceeded at their deadline."),
            reg.add_latency("gateway_ping_seconds",
                            "Seconds from a ping's arrival at the gateway actor to its "
                            "acknowledgement, after the commit that holds it."),
            reg.add_latency("gateway_count_seconds", count_help, {{"source", "cache"}}),
            reg.add_latency("gateway_count_seconds", count_help, {{"source", "postgres"}})};
  }
};

} // namespace ping::gateway
