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

  static metrics registered_in(telemetry::registry& reg) {
    return {reg.actor("publisher", "pool"),
            reg.actor("publisher.relay", "detached", "publisher"),
            reg.add_gauge("publisher_outbox_backlog"),
            reg.add_latency("relay_produce_seconds"),
            reg.add_counter("relay_events_sent_total"),
            reg.add_counter("relay_events_acked_total")};
  }
};

} // namespace ping::publisher
