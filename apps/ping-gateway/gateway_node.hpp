#pragma once
// ping-gateway as the admin endpoint sees it (admin/node.hpp): its four
// pipeline stages (accept, commit, publish, count), readiness (PostgreSQL
// reachable through persistence, not draining) and the per-minute counts,
// exact like PingCount (the count reader: the cache's buckets plus the
// tail, else PostgreSQL), and the live exactness check (the cache reader's
// applied sequences, then persistence's committed heads and relay cursors).
// It runs none of the commands (they act on the processor's consumer and
// cache).
//
// Owner: run() in main.cpp, which keeps it alive until the admin server
// stopped. Threads: any (reads atomics; minute_counts and exactness ask
// actors from short-lived actors with a deadline and never block).

#include "apps/common/watch.hpp"
#include <atomic>
#include <chrono>
#include <memory>

#include <caf/actor_system.hpp>

#include "actors/cache/protocol.hpp"
#include "actors/common/telemetry.hpp"
#include "actors/counts/metrics.hpp"
#include "actors/counts/protocol.hpp"
#include "actors/gateway/metrics.hpp"
#include "actors/persistence/metrics.hpp"
#include "actors/persistence/protocol.hpp"
#include "actors/publisher/metrics.hpp"
#include "admin/node.hpp"

namespace ping::apps {

class gateway_node final : public admin::node {
public:
  struct handles {
    counts::counts_actor counts;
    cache::reader_actor cache;
    persistence::persistence_actor store;
  };

  gateway_node(caf::actor_system& sys, telemetry::registry& reg, handles actors,
               admin::node_info info);

  /// Not ready from now on (SIGTERM): load balancers stop sending.
  void start_draining();

  const admin::node_info& info() const override;
  bool ready() const override;
  bool live() const override;

  /// Liveness and readiness also follow the binary's top-level actors.
  void watch(const top_level_watch* w) { watch_ = w; }
  std::vector<admin::stage> pipeline() const override;
  void minute_counts(int64_t first_minute, int32_t n,
                     admin::reply<admin::minute_series> done) override;
  void exactness(admin::reply<admin::exactness_report> done) override;

  /// Deadline of each of the exactness check's two reads.
  static constexpr auto exactness_deadline = std::chrono::seconds(2);
  // GetMinuteCounts: as long as a PingCount may take (count reader's tail
  // and fallback deadlines).
  static constexpr auto minute_counts_deadline = std::chrono::seconds(5);

private:
  caf::actor_system& sys_;
  handles actors_;
  gateway::metrics gateway_;
  persistence::metrics persistence_;
  publisher::metrics publisher_;
  counts::metrics counts_metrics_;
  admin::node_info info_;
  std::atomic<bool> draining_{false};
  const top_level_watch* watch_ = nullptr;
};

} // namespace ping::apps
