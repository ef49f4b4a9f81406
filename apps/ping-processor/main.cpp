// ping-processor: wiring only. Spawns the windowing actors in dependency
// order (the window, which supervises the cache writer and the rebuilder;
// then the consumer; a cache reader for the admin console's minute counts),
// waits for SIGTERM, and stops in reverse order: the consumer closes
// (flushing its partitions), then the window and its children.

#include <atomic>
#include <functional>
#include <memory>

#include <caf/all.hpp>

#include "actors/cache/cache_reader.hpp"
#include "actors/common/errors.hpp"
#include "actors/common/log.hpp"
#include "admin/server.hpp"
#include "apps/common/admin_actions.hpp"
#include "apps/common/files.hpp"
#include "apps/common/signals.hpp"
#include "apps/ping-processor/config.hpp"
#include "gateways/common/ask.hpp"
#include "ping/admin/v1/admin.pb.h"

using namespace ping;

namespace {

// The admin endpoint's view of the processor: its pipeline stages and the
// commands, each a message to the actor concerned.
admin::hooks admin_hooks(caf::actor_system& sys, const apps::processor_config& cfg,
                              windowing::window_actor window, windowing::consumer_actor consumer,
                              cache::reader_actor counts, std::function<bool()> ready) {
  namespace v1 = ping::admin::v1;
  admin::hooks h;
  h.ready = std::move(ready);
  h.stages = {
    {"consume", "records fetched from ping-events", "processor_records_consumed_total", "",
     "processor_consumer_lag_total"},
    {"count", "re-sends skipped by relay_seq; the rest counted into minute deltas",
     "processor_records_counted_total", "", "actor:windowing.window"},
    {"flush", "deltas written to ping:counters with their sequences, one Lua script each",
     "processor_records_flushed_total", "processor_flush_seconds", ""},
  };
  auto command_timeout = cfg.window.writer_timeout + std::chrono::seconds(1);
  h.flush = [&sys, window, command_timeout](connectrpc::responder done) {
    gateways::ask<int32_t>(
      sys, window, command_timeout,
      [done](int32_t& n) {
        v1::FlushResponse resp;
        resp.set_partitions(n);
        resp.set_complete(true);
        done.ok(resp);
      },
      [done](caf::error& e) { apps::fail_with(done, e); }, flush_atom::value);
  };
  auto pause_or_resume = [&sys, consumer, command_timeout](bool pause) {
    return [&sys, consumer, command_timeout, pause](connectrpc::responder done) {
      auto reply = [done, pause](int32_t& n) {
        if (pause) {
          v1::PauseConsumptionResponse resp;
          resp.set_paused(true);
          resp.set_partitions(n);
          done.ok(resp);
        } else {
          v1::ResumeConsumptionResponse resp;
          resp.set_paused(false);
          resp.set_partitions(n);
          done.ok(resp);
        }
      };
      auto fail = [done](caf::error& e) { apps::fail_with(done, e); };
      if (pause)
        gateways::ask<int32_t>(sys, consumer, command_timeout, reply, fail, pause_atom::value);
      else
        gateways::ask<int32_t>(sys, consumer, command_timeout, reply, fail, resume_atom::value);
    };
  };
  h.pause = pause_or_resume(true);
  h.resume = pause_or_resume(false);
  h.rebuild_cache = [&sys, window, timeout = cfg.window.rebuild_timeout + std::chrono::seconds(5)](
                      connectrpc::responder done) {
    auto started = std::chrono::steady_clock::now();
    gateways::ask<int32_t>(
      sys, window, timeout,
      [done, started](int32_t& n) {
        v1::RebuildCacheResponse resp;
        resp.set_partitions(n);
        resp.set_duration_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::steady_clock::now() - started)
                               .count());
        done.ok(resp);
      },
      [done](caf::error& e) { apps::fail_with(done, e); }, reset_atom::value);
  };
  // The cache's buckets only: the processor has no PostgreSQL read path.
  apps::minutes_source from_cache = [&sys, counts](int64_t first, int32_t n, auto ok,
                                                   auto fail) {
    time_range range{true, first * ms_per_minute, (first + n) * ms_per_minute};
    gateways::ask<cache::snapshot>(
      sys, counts, std::chrono::seconds(1),
      [ok, fail](cache::snapshot& s) {
        if (s.usable && !s.ranges.empty() && s.ranges[0].covered)
          ok(std::move(s.ranges[0].buckets), "cache");
        else
          fail(caf::make_error(ping_errc::unavailable,
                               "the cache cannot answer right now: "
                                 + (s.why.empty() ? std::string{"range not retained"} : s.why)));
      },
      [fail](caf::error& e) { fail(e); }, snapshot_atom::value,
      std::vector<time_range>{range});
  };
  h.minute_counts = [from_cache](int32_t minutes, connectrpc::responder done) {
    apps::minute_counts(from_cache, minutes, std::move(done));
  };
  return h;
}

int run(caf::actor_system& sys, const apps::processor_config& cfg,
        telemetry::registry& reg) {
  auto window = windowing::spawn_window(sys, cfg.window, cfg.cache, cfg.rebuild(), reg);
  auto consumer = windowing::spawn_consumer(sys, cfg.kafka, window, reg);
  auto counts = cache::spawn_cache_reader(sys, cfg.reader(), reg);
  std::atomic<bool> draining{false};
  auto& assigned = reg.gauge("processor_assigned_partitions");
  std::unique_ptr<admin::server> admin;
  try {
    admin = std::make_unique<admin::server>(
      cfg.admin, reg, admin::node_info{"ping-processor", PING_VERSION, cfg.describe()},
      admin_hooks(sys, cfg, window, consumer, counts,
                  // Ready: partitions assigned, the cache reachable, not draining.
                  [&draining, &assigned, &reg] {
                    auto writer = reg.find_actor("windowing.cache-writer");
                    return !draining && assigned.load() > 0 && writer && writer->up.load();
                  }));
    admin->start();
  } catch (const std::exception& e) {
    log::error("processor", "cannot start the admin endpoint", {{"error", e.what()}});
    caf::anon_send_exit(consumer, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(window, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(counts, caf::exit_reason::user_shutdown);
    return 1;
  }
  log::info("processor", "started",
            {{"cache", cfg.cache.address}, {"topic", cfg.kafka.topic},
             {"admin", cfg.admin.address + ":" + std::to_string(admin->port())}});
  if (!cfg.ports_file.empty())
    apps::write_file_atomically(cfg.ports_file, {"admin=" + std::to_string(admin->port())});

  auto sig = apps::wait_for_shutdown_signal();
  log::info("processor", "stopping", {{"signal", std::to_string(sig)}});
  draining = true;
  caf::scoped_actor self{sys};
  // The consumer's close revokes its partitions: the window flushes them.
  self->monitor(consumer);
  caf::anon_send_exit(consumer, caf::exit_reason::user_shutdown);
  self->receive([](caf::down_msg&) {},
                caf::after(cfg.drain_timeout) >> [] {
                  log::warn("processor", "consumer did not stop in time");
                });
  self->request(window, cfg.window.writer_timeout, flush_atom::value)
    .receive([](int32_t) {}, [](caf::error&) {});
  caf::anon_send_exit(window, caf::exit_reason::user_shutdown); // and its children
  caf::anon_send_exit(counts, caf::exit_reason::user_shutdown);
  admin->stop();
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
