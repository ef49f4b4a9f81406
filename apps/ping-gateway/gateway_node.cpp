#include "apps/ping-gateway/gateway_node.hpp"

#include <chrono>

#include "actors/common/atoms.hpp"
#include "gateways/common/ask.hpp"

namespace ping::apps {

gateway_node::gateway_node(caf::actor_system& sys, telemetry::registry& reg, handles actors,
                           admin::node_info info)
  : sys_(sys),
    actors_(std::move(actors)),
    gateway_(gateway::metrics::registered_in(reg)),
    persistence_(persistence::metrics::registered_in(reg)),
    publisher_(publisher::metrics::registered_in(reg)),
    counts_metrics_(counts::metrics::registered_in(reg)),
    info_(std::move(info)) {}

void gateway_node::start_draining() {
  draining_ = true;
}

const admin::node_info& gateway_node::info() const {
  return info_;
}

bool gateway_node::ready() const {
  // PostgreSQL reachable: persistence's facade says so.
  return !draining_ && live() && persistence_.facade->up.load();
}

bool gateway_node::live() const {
  return !watch_ || watch_->alive();
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
    sys_, actors_.counts, minute_counts_deadline,
    [done](counts::minute_counts& m) {
      done(admin::minute_series{std::move(m.counts), std::move(m.source)});
    },
    [done](caf::error& e) { done(admin::failure::of(e)); }, minutes_atom::value, first_minute, n);
}

void gateway_node::exactness(admin::reply<admin::exactness_report> done) {
  // The cache first, then PostgreSQL: the cache never runs ahead of the
  // committed head, so a gap read this way is never negative.
  auto store = actors_.store;
  auto* sys = &sys_; // the actor system outlives every reply
  gateways::ask<cache::snapshot>(
    sys_, actors_.cache, exactness_deadline,
    [sys, store, done](cache::snapshot& snap) {
      auto seqs = snap.usable ? snap.seqs : std::vector<int64_t>{};
      auto note = snap.usable ? std::string{} : snap.why;
      gateways::ask<std::vector<persistence::outbox_position>>(
        *sys, store, exactness_deadline,
        [seqs, note, done](std::vector<persistence::outbox_position>& heads) {
          admin::exactness_report out;
          out.cache_note = note;
          for (auto& h : heads) {
            auto p = static_cast<size_t>(h.partition);
            out.rows.push_back(
              {h.partition, h.head, p < seqs.size() ? seqs[p] : int64_t{-1}, h.acked});
          }
          done(std::move(out));
        },
        [done](caf::error& e) { done(admin::failure::of(e)); }, heads_atom::value);
    },
    [done](caf::error& e) { done(admin::failure::of(e)); }, snapshot_atom::value,
    std::vector<time_range>{});
}

} // namespace ping::apps
