#include "actors/publisher/publisher.hpp"
#include "actors/publisher/metrics.hpp"

#include <caf/all.hpp>

#include "actors/common/backoff.hpp"
#include "actors/common/errors.hpp"
#include "actors/common/log.hpp"
#include "actors/common/note.hpp"
#include "actors/common/supervision.hpp"
#include "actors/common/watchdog.hpp"
#include "actors/publisher/relay.hpp"

namespace ping::publisher {

namespace {

// -- relay worker: detached, owns the producer and the PostgreSQL session ---

struct worker_state {
  std::unique_ptr<relay> core;
  std::shared_ptr<telemetry::actor_stats> stats;
  std::atomic<int64_t>* outbox_backlog = nullptr;
  std::chrono::steady_clock::time_point backlog_checked{};
  static inline const char* name = "publisher.relay";
};

relay_actor::behavior_type worker(relay_actor::stateful_pointer<worker_state> self, settings cfg,
                                  socket_handle_ptr socket, telemetry::registry* reg) {
  auto m = metrics::registered_in(*reg);
  self->state.stats = m.relay;
  self->state.core = std::make_unique<relay>(cfg, *reg, std::move(socket));
  self->state.outbox_backlog = &m.outbox_backlog;
  return {
    [self](relay_atom, const relay_feed& feed) -> caf::result<relay_report> {
      auto& st = self->state;
      telemetry::noter(self)();
      try {
        auto rep = st.core->pass(feed);
        st.stats->up = true;
        st.stats->backlog = rep.in_flight;
        // Pings committed but not yet acknowledged by Kafka, once a second.
        if (auto now = std::chrono::steady_clock::now();
            now - st.backlog_checked >= std::chrono::seconds(1)) {
          st.backlog_checked = now;
          *st.outbox_backlog = st.core->backlog();
        }
        return rep;
      } catch (const std::exception& e) {
        st.stats->up = false;
        log::warn("relay", "pass failed", {{"error", e.what()}});
        return caf::make_error(ping_errc::unavailable, e.what());
      }
    },
  };
}

// -- facade: schedules passes, coalesces nudges, supervises the worker ------

using facade_actor = publisher_actor::extend<
  caf::reacts_to<tick_atom>,  // timer: the watchdog of the pass out
  caf::reacts_to<relay_atom>, // timer: the periodic pass (every `interval`)
  caf::reacts_to<respawn_atom>,
  // The writers' hand-off after each commit (persistence::outbox_sink).
  caf::reacts_to<committed_atom, std::vector<persistence::committed_ping>>>;

struct facade_state {
  settings cfg;
  telemetry::registry* reg = nullptr;
  std::shared_ptr<telemetry::actor_stats> stats;
  std::optional<supervised<relay_actor>> worker;
  socket_handle_ptr socket; // the worker's PostgreSQL session
  bool busy = false;        // a pass is running
  bool dirty = false;       // nudged while busy
  // What the writers committed since the last pass began, for the next one
  // (at most `partitions x batch` events; beyond, it is dropped and marked
  // lost, and the relay reads PostgreSQL).
  relay_feed feed;
  caf::timespan backoff{0};
  // The pass out carries no CAF timeout (in CAF 0.17 each would post a
  // timer to the clock thread and fire later anyway: two of its wake-ups
  // per pass); the watchdog's one timer times it out at `pass_timeout`
  // (actors/common/watchdog.hpp).
  ping::watchdog watch;
  static inline const char* name = "publisher";
};

using facade_ptr = facade_actor::stateful_pointer<facade_state>;

void run_pass(facade_ptr self);

// The hand-offs gathered since the last pass, for the next one; `full`: it
// reads PostgreSQL for every held partition (drain).
relay_feed take_feed(facade_state& st, bool full) {
  relay_feed out = std::move(st.feed);
  st.feed = relay_feed{};
  out.full = full;
  return out;
}

// A relay stuck in a pass (a silent PostgreSQL session) is never asked
// again: its socket is shut down so the blocked call fails now, it is told
// to exit, and a new relay starts after the backoff.
void replace_worker(facade_ptr self, const std::string& why) {
  auto& st = self->state;
  if (!st.worker->running())
    return;
  st.socket->interrupt();
  auto delay = st.worker->replace(self, why);
  self->delayed_send(self, delay, respawn_atom::value);
}

void after_pass(facade_ptr self, bool ok, bool more) {
  auto& st = self->state;
  st.busy = false;
  if (!ok) {
    // The pass's hand-offs may not have reached a relay (it died, or was
    // replaced): the next one must not take its memory on trust.
    st.feed.lost = true;
    st.backoff = next_backoff(st.backoff, st.cfg.backoff_min, st.cfg.backoff_max);
    return; // the periodic tick retries after the backoff
  }
  st.backoff = caf::timespan{0};
  if (more || st.dirty) {
    st.dirty = false;
    run_pass(self);
  }
}

void run_pass(facade_ptr self) {
  auto& st = self->state;
  if (st.busy || !st.worker->running()) {
    st.dirty = true;
    return;
  }
  st.busy = true;
  st.dirty = false;
  auto generation = st.worker->generation();
  timed_request<relay_report>(
    self, st.watch, st.worker->get(), st.cfg.pass_timeout,
    [self](relay_report& rep) {
      self->state.worker->healthy();
      after_pass(self, true, rep.more);
    },
    [self, generation](caf::error& err) {
      auto& st = self->state;
      if (err == caf::sec::request_timeout && st.worker->generation() == generation)
        replace_worker(self, "a relay pass got no answer within its deadline");
      after_pass(self, false, false);
    },
    relay_atom::value, take_feed(st, false));
}

// Runs passes back to back until one finds nothing to send and nothing in
// flight (drained: true), or the deadline passes (false). The worker handles
// one request at a time, so a pass already running simply goes first.
void drain_step(facade_ptr self, caf::typed_response_promise<bool> rp,
                std::chrono::steady_clock::time_point deadline) {
  auto& st = self->state;
  auto left = deadline - std::chrono::steady_clock::now();
  if (!st.worker->running() || left <= caf::timespan{0}) {
    rp.deliver(false);
    return;
  }
  self->request(st.worker->get(), left, relay_atom::value, take_feed(st, true))
    .then(
      [self, rp, deadline](relay_report& rep) mutable {
        if (!rep.more && rep.in_flight == 0 && rep.sent == 0)
          rp.deliver(true);
        else
          drain_step(self, rp, deadline);
      },
      [self, rp](caf::error&) mutable {
        self->state.feed.lost = true;
        rp.deliver(false);
      });
}

void spawn_worker(facade_ptr self) {
  auto& st = self->state;
  st.socket = std::make_shared<socket_handle>();
  st.worker->start(self, [self] {
    return self->spawn<caf::detached>(worker, self->state.cfg, self->state.socket, self->state.reg);
  });
  st.busy = false;
  run_pass(self); // relay leftovers right away
}

facade_actor::behavior_type facade(facade_ptr self, settings cfg, telemetry::registry* reg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.reg = reg;
  auto m = metrics::registered_in(*reg);
  st.stats = m.facade;
  st.worker.emplace("publisher.relay", m.relay, st.cfg.backoff_min, st.cfg.backoff_max);
  spawn_worker(self);
  // Supervision (actors/common/supervision.hpp): a relay that exits is
  // started again with backoff; any other exit is our own shutdown.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    if (auto delay = st.worker->failed(msg)) {
      st.busy = false;
      self->delayed_send(self, *delay, respawn_atom::value);
      return;
    }
    self->quit(msg.reason);
  });
  self->delayed_send(self, st.cfg.interval, relay_atom::value);
  auto note = telemetry::noter(self);
  return {
    [=](publish_atom) {
      note();
      run_pass(self);
    },
    [=](relay_atom) {
      note();
      auto& st = self->state;
      self->delayed_send(self, st.cfg.interval + st.backoff, relay_atom::value);
      run_pass(self);
    },
    [=](tick_atom) { self->state.watch.on_tick(self); },
    [=](respawn_atom) {
      note();
      spawn_worker(self);
    },
    [=](committed_atom, std::vector<persistence::committed_ping>& pings) {
      note();
      auto& st = self->state;
      auto bound = st.cfg.batch * static_cast<size_t>(std::max(1, st.cfg.partitions));
      if (st.feed.events.size() + pings.size() > bound) {
        st.feed.events.clear(); // the relay reads these from PostgreSQL
        st.feed.lost = true;
        return;
      }
      st.feed.events.insert(st.feed.events.end(), pings.begin(), pings.end());
    },
    [=](drain_atom, caf::timespan budget) -> caf::result<bool> {
      note();
      auto rp = self->make_response_promise<bool>();
      drain_step(self, rp, std::chrono::steady_clock::now() + budget);
      return rp;
    },
  };
}

} // namespace

publisher_actor spawn_publisher(caf::actor_system& sys, settings cfg, telemetry::registry& reg) {
  metrics::registered_in(reg); // visible (console, tests) as soon as this returns
  auto impl = sys.spawn(facade, std::move(cfg), &reg);
  return caf::actor_cast<publisher_actor>(impl);
}

persistence::outbox_sink outbox_of(const publisher_actor& publisher) {
  // The facade behind every publisher_actor handles committed_atom too
  // (facade_actor above).
  return caf::actor_cast<persistence::outbox_sink>(publisher);
}

} // namespace ping::publisher
