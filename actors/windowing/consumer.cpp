#include "actors/windowing/consumer.hpp"
#include "actors/windowing/metrics.hpp"

#include <map>

#include <caf/all.hpp>

#include "actors/common/log.hpp"
#include "actors/windowing/kafka_source.hpp"
#include "actors/windowing/lag_monitor.hpp"

namespace ping::windowing {

namespace {

using steady = std::chrono::steady_clock;

// The rebalance decisions, as requests to the window (blocking: this actor
// is detached).
// Each assignment change goes to `history` (when given).
rebalance_hooks window_hooks(caf::blocking_actor* self, const window_actor& window,
                             const consumer_settings& cfg, std::shared_ptr<rebalance_log> history) {
  rebalance_hooks h;
  h.assign = [self, window, timeout = cfg.window_timeout, history](
               const std::vector<int32_t>& ids) -> std::optional<std::vector<partition_state>> {
    std::optional<std::vector<partition_state>> out;
    self->request(window, timeout, assign_atom::value, ids)
      .receive([&](std::vector<partition_state>& xs) { out = std::move(xs); },
               [&](caf::error& e) {
                 log::warn("consumer", "the window cannot say where partitions stand",
                           {{"error", to_string(e)}});
               });
    if (out && history) // asked again until answered: recorded once
      history->record(ids, {});
    return out;
  };
  h.cold = [self, window, timeout = cfg.window_timeout](int32_t p, int64_t start) {
    self->request(window, timeout, rebuild_atom::value, p, start)
      .receive([](bool) {}, [](caf::error&) {});
  };
  h.revoke = [self, window, timeout = cfg.window_timeout,
              history](const std::vector<int32_t>& ids) {
    if (history)
      history->record({}, ids);
    bool flushed = false;
    self->request(window, timeout, revoke_atom::value, ids)
      .receive([&](bool ok) { flushed = ok; }, [](caf::error&) {});
    if (!flushed)
      log::warn("consumer", "revoked partitions were not flushed in time");
  };
  return h;
}

void consumer_loop(caf::blocking_actor* self, consumer_settings cfg, window_actor window,
                   telemetry::registry* reg, std::shared_ptr<rebalance_log> history) {
  auto m = metrics::registered_in(*reg);
  auto stats = m.consumer;
  auto& consumed = m.consumed;
  auto& backpressure = m.backpressure;
  auto& assigned = m.assigned;
  auto& paused_gauge = m.paused;
  paused_gauge = 0;
  std::unique_ptr<kafka_source> source;
  try {
    source = std::make_unique<kafka_source>(cfg,
                                            window_hooks(self, window, cfg, std::move(history)));
  } catch (const std::exception& e) {
    log::error("consumer", "cannot start consuming", {{"error", e.what()}});
    return;
  }
  // A cold cache is counted before the group forms (its first join takes
  // seconds: group.initial.rebalance.delay.ms): the window counts every
  // partition without state, at the end offset asked here (docs/windowing.md).
  if (auto ends = source->end_offsets(std::chrono::milliseconds(2000)); !ends.empty())
    caf::anon_send(window, heal_atom::value, std::move(ends));
  lag_monitor lag{m};
  auto window_handle = caf::actor_cast<caf::actor>(window);
  auto idle = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.idle_wait);
  auto last_lag = steady::time_point{};
  auto last_commit = steady::now();
  size_t outstanding = 0; // batches handed to the window, not answered yet
  std::map<int32_t, record_batch> batches;
  for (bool running = true; running;) {
    // 1. Messages: drained without waiting, unless every credit is out.
    bool changed = false;
    for (bool more = true; more && running;) {
      more = false;
      auto full = outstanding >= cfg.credits;
      self->receive(
        [&](window_credit& c) {
          more = true;
          stats->backlog = c.held;
          if (outstanding > 0)
            --outstanding;
        },
        [&](pause_atom) -> int32_t {
          more = changed = true;
          paused_gauge = 1;
          self->send(window, pause_atom::value, true); // no stall checks meanwhile
          return source->set_paused(true);
        },
        [&](resume_atom) -> int32_t {
          more = changed = true;
          paused_gauge = 0;
          self->send(window, pause_atom::value, false);
          return source->set_paused(false);
        },
        [&](caf::exit_msg& msg) {
          log::info("consumer", "stopping", {{"reason", to_string(msg.reason)}});
          running = false;
        },
        caf::after(full ? cfg.poll_wait : caf::timespan{0}) >> [] {});
    }
    if (!running)
      break;
    // 2. Lag.
    auto now = steady::now();
    if (changed || now - last_lag >= cfg.lag_interval) {
      last_lag = now;
      lag.publish(*source);
      assigned = static_cast<int64_t>(source->positions().size());
    }
    // 3. Records, while the window has room.
    if (outstanding >= cfg.credits) {
      ++backpressure;
      continue;
    }
    batches.clear();
    auto n = source->take(batches);
    assigned = static_cast<int64_t>(source->positions().size());
    if (!batches.empty()) {
      std::vector<record_batch> all;
      all.reserve(batches.size());
      for (auto& [p, b] : batches)
        all.push_back(std::move(b));
      // Local messages are not lost, and the window takes them in order.
      self->send(window_handle, records_atom::value, std::move(all));
      ++outstanding;
    }
    consumed += n;
    stats->handled += n;
    if (n == 0)
      source->wait(idle);
    // 4. Advisory commits (lag monitoring only).
    if (steady::now() - last_commit > cfg.commit_interval) {
      last_commit = steady::now();
      source->commit_positions();
    }
  }
  source->close(); // revokes (and so flushes) the assigned partitions
  assigned = 0;
}

} // namespace

consumer_actor spawn_consumer(caf::actor_system& sys, consumer_settings cfg, window_actor window,
                              telemetry::registry& reg, std::shared_ptr<rebalance_log> history) {
  return caf::actor_cast<consumer_actor>(sys.spawn<caf::detached>(
    consumer_loop, std::move(cfg), std::move(window), &reg, std::move(history)));
}

} // namespace ping::windowing
