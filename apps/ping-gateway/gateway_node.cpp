#include "apps/ping-gateway/gateway_node.hpp"

#include <chrono>

#include "actors/common/atoms.hpp"
#include "gateways/common/ask.hpp"

namespace ping::apps {

gateway_node::gateway_node(caf::actor_system& sys, telemetry::registry& reg,
                           counts::counts_actor counts, admin::node_info info)
  : sys_(sys),
    counts_(std::move(counts)),
    gateway_(gateway::metrics::registered_in(reg)),
    persistence_(persistence::metrics::registered_in(reg)),
    publisher_(publisher::metrics::registered_in(reg)),
    counts_metrics_(counts::metrics::registered_in(reg)),
    info_(std::move(info)) {
}

void gateway_node::start_draining() {
  draining_ = true;
}

const admin::node_info& gateway_node::info() const {
  return info_;
}

bool gateway_node::ready() const {
  // PostgreSQL reachable: persistence's facade says so.
  return !draining_ && persistence_.facade->up.load();
}

std::vector<admin::stage> gateway_node::pipeline() const {
  return {
    {"accept", "pings validated and handed to persistence; latency until the ack",
     &gateway_.accepted, &gateway_.ping_seconds, &gateway_.actor->backlog},
    {"commit", "pings written to PostgreSQL by group commit", &persistence_.pings_committed,
     &persistence_.commit_seconds, &persistence_.facade->backlog},
    {"publish", "outbox events acknowledged by Kafka (ping-events)", &publisher_.events_acked,
     &publisher_.produce_seconds, &publisher_.outbox_backlog},
    {"count", "PingCounts answered from the cache plus the tail (else PostgreSQL)",
     &counts_metrics_.from_cache, &counts_metrics_.read_seconds, &counts_metrics_.actor->backlog},
  };
}

void gateway_node::minute_counts(int64_t first_minute, int32_t n,
                                 admin::reply<admin::minute_series> done) {
  gateways::ask<counts::minute_counts>(
    sys_, counts_, std::chrono::seconds(5),
    [done](counts::minute_counts& m) {
      done(admin::minute_series{std::move(m.counts), std::move(m.source)});
    },
    [done](caf::error& e) { done(admin::failure::of(e)); }, minutes_atom::value, first_minute, n);
}

} // namespace ping::apps
