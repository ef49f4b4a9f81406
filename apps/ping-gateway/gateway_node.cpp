#include "apps/ping-gateway/gateway_node.hpp"

#include <chrono>

#include "actors/common/atoms.hpp"
#include "gateways/common/ask.hpp"

namespace ping::apps {

gateway_node::gateway_node(caf::actor_system& sys, telemetry::registry& reg,
                           counts::counts_actor counts, admin::node_info info)
  : sys_(sys), reg_(reg), counts_(std::move(counts)), info_(std::move(info)) {
}

void gateway_node::start_draining() {
  draining_ = true;
}

const admin::node_info& gateway_node::info() const {
  return info_;
}

bool gateway_node::ready() const {
  auto store = reg_.find_actor("persistence");
  return !draining_ && store && store->up.load();
}

std::vector<admin::stage> gateway_node::pipeline() const {
  auto backlog = [this](const char* actor) { return &reg_.actor(actor, "pool")->backlog; };
  return {
    {"accept", "pings validated and handed to persistence; latency until the ack",
     &reg_.counter("gateway_pings_accepted_total"), &reg_.latency("gateway_ping_seconds"),
     backlog("gateway")},
    {"commit", "pings written to PostgreSQL by group commit",
     &reg_.counter("persistence_pings_committed_total"),
     &reg_.latency("persistence_commit_seconds"), backlog("persistence")},
    {"publish", "outbox events acknowledged by Kafka (ping-events)",
     &reg_.counter("relay_events_acked_total"), &reg_.latency("relay_produce_seconds"),
     &reg_.gauge("publisher_outbox_backlog")},
    {"count", "PingCounts answered from the cache plus the tail (else PostgreSQL)",
     &reg_.counter("counts_from_cache_total"), &reg_.latency("counts_read_seconds"),
     backlog("counts")},
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
