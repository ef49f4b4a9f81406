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
  telemetry::counter& deadline_exceeded; // calls answered at their deadline
  telemetry::histogram& ping_seconds; // arrival to ack

  static metrics registered_in(telemetry::registry& reg) {
    return {reg.actor("gateway", "pool"),
            reg.add_counter("gateway_pings_accepted_total"),
            reg.add_counter("gateway_pings_rejected_invalid_total"),
            reg.add_counter("gateway_pings_rejected_busy_total"),
            reg.add_counter("gateway_pings_failed_total"),
            reg.add_counter("gateway_calls_deadline_exceeded_total"),
            reg.add_latency("gateway_ping_seconds")};
  }
};

} // namespace ping::gateway
