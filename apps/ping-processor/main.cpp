// ping-processor: wiring only. Spawns the windowing actors in dependency
// order (the window, which supervises the cache writer and the rebuilder;
// then the consumer; a cache reader for the admin console's minute counts),
// waits for SIGTERM, and stops in reverse order: the consumer closes
// (flushing its partitions), then the window and its children.

#include <memory>

#include <caf/all.hpp>

#include "actors/cache/cache_reader.hpp"
#include "actors/common/build_info.hpp"
#include "actors/common/log.hpp"
#include "admin/server.hpp"
#include "apps/common/files.hpp"
#include "apps/common/signals.hpp"
#include "apps/ping-processor/config.hpp"
#include "apps/ping-processor/processor_node.hpp"

using namespace ping;

namespace {

int run(caf::actor_system& sys, const apps::processor_config& cfg, telemetry::registry& reg) {
  auto window = windowing::spawn_window(sys, cfg.window, cfg.cache, cfg.rebuild(), reg);
  auto history = std::make_shared<windowing::rebalance_log>();
  auto consumer = windowing::spawn_consumer(sys, cfg.kafka, window, reg, history);
  auto counts = cache::spawn_cache_reader(sys, cfg.reader(), reg);
  apps::processor_node::deadlines limits;
  limits.command = cfg.window.writer_timeout + std::chrono::seconds(1);
  limits.rebuild = cfg.window.rebuild_timeout + std::chrono::seconds(5);
  apps::processor_node node{sys,      reg,
                            limits,   window,
                            consumer, counts,
                            history,  {"ping-processor", build::version(), cfg.describe()}};
  apps::top_level_watch watch{sys};
  watch.add("windowing.window", window);
  watch.add("windowing.consumer", consumer);
  watch.add("cache.reader", counts);
  node.watch(&watch);
  std::unique_ptr<admin::server> endpoint;
  try {
    endpoint = std::make_unique<admin::server>(cfg.admin, reg, node);
    endpoint->start();
  } catch (const std::exception& e) {
    log::error("processor", "cannot start the admin endpoint", {{"error", e.what()}});
    watch.shutting_down();
    caf::anon_send_exit(consumer, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(window, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(counts, caf::exit_reason::user_shutdown);
    return 1;
  }
  log::info("processor", "started",
            {{"cache", cfg.cache.address},
             {"topic", cfg.kafka.topic},
             {"admin", cfg.admin.address + ":" + std::to_string(endpoint->port())}});
  if (!cfg.ports_file.empty())
    apps::write_file_atomically(cfg.ports_file, {"admin=" + std::to_string(endpoint->port())});

  auto sig = apps::wait_for_shutdown_signal();
  log::info("processor", "stopping", {{"signal", std::to_string(sig)}});
  node.start_draining();
  watch.shutting_down();
  caf::scoped_actor self{sys};
  // The consumer's close revokes its partitions: the window flushes them.
  self->monitor(consumer);
  caf::anon_send_exit(consumer, caf::exit_reason::user_shutdown);
  self->receive([](caf::down_msg&) {},
                caf::after(cfg.drain_timeout) >>
                  [] { log::warn("processor", "consumer did not stop in time"); });
  self->request(window, cfg.window.writer_timeout, flush_atom::value)
    .receive([](int32_t) {}, [](caf::error&) {});
  caf::anon_send_exit(window, caf::exit_reason::user_shutdown); // and its children
  caf::anon_send_exit(counts, caf::exit_reason::user_shutdown);
  endpoint->stop();
  log::info("processor", "stopped");
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  apps::block_shutdown_signals();
  apps::processor_config cfg;
  if (auto code = cfg.load(argc, argv))
    return *code;
  telemetry::registry reg;
  caf::actor_system sys{cfg};
  return run(sys, cfg, reg);
}
