// ping-gateway: wiring only. Spawns the actors in dependency order, starts
// the front-ends, waits for SIGTERM, and stops in reverse order.

#include <chrono>
#include <memory>
#include <thread>

#include <caf/all.hpp>

#include "actors/common/backoff.hpp"
#include "actors/common/build_info.hpp"
#include "actors/common/log.hpp"
#include "actors/counts/board.hpp"
#include "actors/gateway/metrics.hpp"
#include "actors/persistence/migrations.hpp"
#include "admin/server.hpp"
#include "apps/common/files.hpp"
#include "apps/common/signals.hpp"
#include "apps/ping-gateway/config.hpp"
#include "apps/ping-gateway/gateway_node.hpp"
#include "gateways/common/rpc_metrics.hpp"

using namespace ping;
using namespace std::chrono_literals;

namespace {

// Applies migrations, retrying (backoff.hpp's rule) while PostgreSQL is not
// reachable yet, for at most `budget`.
bool migrate_with_retry(const std::string& dsn, caf::timespan budget, caf::timespan backoff_min,
                        caf::timespan backoff_max) {
  auto deadline = std::chrono::steady_clock::now() + budget;
  auto delay = next_backoff(caf::timespan{0}, backoff_min, backoff_max);
  for (;;) {
    try {
      auto n = persistence::migrate(dsn);
      log::info("migrate", "schema up to date", {{"applied", std::to_string(n)}});
      return true;
    } catch (const std::exception& e) {
      if (std::chrono::steady_clock::now() + delay > deadline) {
        log::error("migrate", "giving up", {{"error", e.what()}});
        return false;
      }
      log::warn("migrate", "retrying", {{"error", e.what()}});
      std::this_thread::sleep_for(delay);
      delay = next_backoff(delay, backoff_min, backoff_max);
    }
  }
}

int run(caf::actor_system& sys, const apps::gateway_config& cfg, telemetry::registry& reg) {
  auto pcfg = cfg.persistence_settings();
  if (cfg.migrate
      && !migrate_with_retry(persistence::effective_dsn(pcfg), cfg.migrate_timeout,
                             pcfg.backoff_min, pcfg.backoff_max))
    return 1;
  // The relay first: the writers hand it each commit's pings (its fast
  // path, docs/outbox-relay.md).
  auto relay = publisher::spawn_publisher(sys, cfg.publisher_settings(), reg);
  pcfg.outbox = publisher::outbox_of(relay);
  auto store = persistence::spawn_persistence(sys, pcfg, reg);
  auto cache = cache::spawn_cache_reader(sys, cfg.cache_settings(), reg);
  // PingCount {} on the Connect I/O thread: the count reader publishes
  // rounds on this board (actors/counts/board.hpp); the front-end answers
  // from them, updating the gateway's count metrics.
  auto board = std::make_shared<counts::count_board>(cfg.counts.ask_again_after);
  {
    auto gm = gateway::metrics::registered_in(reg);
    board->from_cache = &gm.count_from_cache_seconds;
    board->from_postgres = &gm.count_from_postgres_seconds;
    board->expired = &gm.deadline_exceeded;
  }
  auto counts_cfg = cfg.counts;
  counts_cfg.board = board;
  auto counts = counts::spawn_count_reader(sys, counts_cfg, cache, store, reg);
  auto gw_cfg = cfg.gateway_settings();
  gw_cfg.board = board;
  auto gw = gateway::spawn_gateway(sys, gw_cfg, store, relay, counts, reg);
  apps::top_level_watch watch{sys};
  watch.add("persistence", store);
  watch.add("publisher", relay);
  watch.add("cache.reader", cache);
  watch.add("counts", counts);
  watch.add("gateway", gw);
  auto stop_actors = [&] {
    watch.shutting_down();
    caf::anon_send_exit(gw, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(counts, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(cache, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(relay, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(store, caf::exit_reason::user_shutdown);
  };
  auto rpc = std::make_shared<gateways::rpc_metrics>(reg);
  auto connect_opts = cfg.connect();
  connect_opts.metrics = rpc;
  connect_opts.board = board;
  connect_opts.max_parked = cfg.counts.max_waiting;
  connect_opts.count_timeout = gw_cfg.count_timeout;
  connect_opts.slow_count = gw_cfg.slow_count;
  auto grpc_opts = cfg.grpc();
  grpc_opts.metrics = rpc;
  gateways::connect_frontend connect{gw, connect_opts};
  gateways::grpc_frontend grpc{gw, grpc_opts};
  apps::gateway_node node{
    sys, reg, {counts, cache, store}, {"ping-gateway", build::version(), cfg.describe()}};
  node.watch(&watch);
  std::unique_ptr<admin::server> endpoint;
  try {
    endpoint = std::make_unique<admin::server>(cfg.admin, reg, node);
    endpoint->start();
    connect.start();
    grpc.start();
  } catch (const std::exception& e) {
    log::error("gateway", "cannot listen", {{"error", e.what()}});
    stop_actors();
    return 1;
  }
  log::info("gateway", "listening",
            {{"connect", cfg.connect_address + ":" + std::to_string(connect.port())},
             {"grpc", cfg.grpc_address + ":" + std::to_string(grpc.port())},
             {"admin", cfg.admin.address + ":" + std::to_string(endpoint->port())}});
  if (!cfg.ports_file.empty())
    apps::write_file_atomically(cfg.ports_file, {"connect=" + std::to_string(connect.port()),
                                                 "grpc=" + std::to_string(grpc.port()),
                                                 "admin=" + std::to_string(endpoint->port())});

  auto sig = apps::wait_for_shutdown_signal();
  auto started = std::chrono::steady_clock::now();
  log::info("gateway", "draining", {{"signal", std::to_string(sig)}});
  // 1. Stop taking pings; both front-ends drain at once (gRPC clients get
  // their GOAWAY while Connect drains), for longer than the gateway's own
  // deadlines, so every call in flight is answered before the cut.
  node.start_draining();
  watch.shutting_down();
  grpc.set_serving(false);
  caf::anon_send(gw, drain_atom::value);
  auto front_budget = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.front_drain());
  {
    std::thread grpc_drain{[&grpc, front_budget] { grpc.stop(front_budget); }};
    connect.stop(front_budget);
    grpc_drain.join();
  }
  log::info("gateway", "front-ends drained",
            {{"ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now() - started)
                                     .count())}});
  // 2. Relay what the outbox still holds, within what is left.
  auto left = cfg.drain_timeout - (std::chrono::steady_clock::now() - started);
  if (left > caf::timespan{0}) {
    caf::scoped_actor self{sys};
    self->request(relay, left + 500ms, drain_atom::value, caf::timespan{left})
      .receive(
        [](bool drained) {
          log::info("gateway", "outbox relay drained", {{"complete", drained ? "true" : "false"}});
        },
        [](caf::error& err) {
          log::warn("gateway", "outbox drain failed", {{"error", to_string(err)}});
        });
  }
  // 3. Stop the actors in reverse order.
  stop_actors();
  endpoint->stop();
  log::info("gateway", "stopped");
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  apps::block_shutdown_signals();
  apps::gateway_config cfg;
  if (auto code = cfg.load(argc, argv))
    return *code;
  if (cfg.migrate_only)
    return migrate_with_retry(persistence::effective_dsn(cfg.persistence_settings()),
                              cfg.migrate_timeout, cfg.postgres.backoff_min,
                              cfg.postgres.backoff_max)
             ? 0
             : 1;
  log::info("gateway", "starting",
            {{"version", build::version()}, {"revision", build::revision()}});
  if (cfg.drain_timeout < cfg.front_drain())
    log::warn(
      "gateway",
      "drain-timeout is shorter than the longest call deadline: calls in "
      "flight at SIGTERM may be cut unanswered",
      {{"drain_timeout_ms",
        std::to_string(
          std::chrono::duration_cast<std::chrono::milliseconds>(cfg.drain_timeout).count())}});
  for (auto& line : cfg.describe())
    log::debug("gateway", "config", {{"setting", line}});
  telemetry::registry reg;
  caf::actor_system sys{cfg};
  return run(sys, cfg, reg);
}
