#pragma once
// ping-processor as the admin endpoint sees it (admin/node.hpp): its three
// pipeline stages (consume, count, flush), consumer lag and the counter
// repairs, readiness (partitions assigned, the cache writer up, not
// draining), the rebalance history (the consumer's log), the per-minute counts from the cache (the
// processor has no PostgreSQL read path), and the commands, each a message to the actor concerned:
// Flush and RebuildCache to the window, PauseConsumption and ResumeConsumption to the consumer.
//
// Owner: run() in main.cpp, which keeps it alive until the admin server
// stopped. Threads: any (reads atomics; the asynchronous calls ask an actor
// from a short-lived actor with the deadlines below and never block).

#include "apps/common/watch.hpp"
#include <atomic>
#include <chrono>
#include <memory>

#include <caf/actor_system.hpp>
#include <caf/timespan.hpp>

#include "actors/cache/metrics.hpp"
#include "actors/cache/protocol.hpp"
#include "actors/common/telemetry.hpp"
#include "actors/windowing/metrics.hpp"
#include "actors/windowing/protocol.hpp"
#include "actors/windowing/rebalance_log.hpp"
#include "admin/node.hpp"

namespace ping::apps {

class processor_node final : public admin::node {
public:
  struct deadlines {
    caf::timespan command = std::chrono::seconds(6);  // flush, pause, resume
    caf::timespan rebuild = std::chrono::seconds(65); // rebuild-cache (a recount)
    caf::timespan minute_counts = std::chrono::seconds(1);
  };

  processor_node(caf::actor_system& sys, telemetry::registry& reg, deadlines limits,
                 windowing::window_actor window, windowing::consumer_actor consumer,
                 cache::reader_actor reader,
                 std::shared_ptr<const windowing::rebalance_log> history, admin::node_info info);

  /// Not ready from now on (SIGTERM).
  void start_draining();

  const admin::node_info& info() const override;
  bool ready() const override;
  bool live() const override;

  /// Liveness and readiness also follow the binary's top-level actors.
  void watch(const top_level_watch* w) { watch_ = w; }
  bool paused() const override;
  std::vector<admin::stage> pipeline() const override;
  std::vector<admin::repair> repairs() const override;
  std::vector<admin::partition_lag> lag() const override;
  std::vector<admin::rebalance> rebalances() const override;
  std::vector<admin::command> commands() const override;
  void minute_counts(int64_t first_minute, int32_t n,
                     admin::reply<admin::minute_series> done) override;
  void flush(admin::reply<int32_t> done) override;
  void pause(admin::reply<int32_t> done) override;
  void resume(admin::reply<int32_t> done) override;
  void rebuild_cache(admin::reply<int32_t> done) override;

private:
  caf::actor_system& sys_;
  windowing::metrics windowing_;
  cache::writer_metrics writer_;
  deadlines limits_;
  windowing::window_actor window_;
  windowing::consumer_actor consumer_;
  cache::reader_actor reader_;
  std::shared_ptr<const windowing::rebalance_log> history_;
  admin::node_info info_;
  std::atomic<bool> draining_{false};
  const top_level_watch* watch_ = nullptr;
};

} // namespace ping::apps
