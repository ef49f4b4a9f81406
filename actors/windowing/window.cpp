#include "actors/windowing/window.hpp"

#include <deque>
#include <functional>
#include <map>
#include <set>

#include <caf/all.hpp>

#include "actors/common/backoff.hpp"
#include "actors/common/errors.hpp"
#include "actors/common/log.hpp"
#include "actors/windowing/window_state.hpp"

namespace ping::windowing {

namespace {

using clock = window_state::clock;

using window_impl = window_actor::extend<
  caf::reacts_to<tick_atom>,                // timer: due flushes, heartbeats
  caf::reacts_to<rebuild_atom, int32_t>,    // retry a recount
  caf::reacts_to<respawn_atom, int32_t>>;   // restart child 0 (writer) or 1 (rebuilder)

struct held_batch {
  std::vector<record_batch> batches;
  caf::typed_response_promise<int64_t> rp;
};

struct waiter {
  std::set<int32_t> partitions; // must be clean (nothing pending, nothing in flight)
  bool forget;                  // revoke: drop the partitions afterwards
  clock::time_point deadline;
  std::function<void(bool clean)> done;
};

// An admin rebuild: answered once none of its partitions is recounting.
struct rebuild_waiter {
  std::set<int32_t> partitions;
  clock::time_point deadline;
  caf::typed_response_promise<int32_t> rp;
};

struct state {
  window_settings cfg;
  cache_settings cache_cfg;
  rebuild_settings rebuild_cfg;
  telemetry::registry* reg = nullptr;
  cache_writer_actor writer;
  rebuilder_actor rebuilder;
  caf::timespan child_backoff[2] = {};
  std::map<int32_t, window_state> parts;
  std::map<int32_t, int64_t> rebuilding;     // partition -> start offset
  std::map<int32_t, clock::time_point> last_check;
  std::map<int32_t, clock::time_point> retry_after; // after a failed flush
  std::deque<held_batch> held;
  std::vector<waiter> waiters;
  std::vector<rebuild_waiter> rebuild_waiters;
  clock::time_point last_prune = clock::now();
  std::shared_ptr<telemetry::actor_stats> stats;
  std::atomic<uint64_t>* counted = nullptr;
  std::atomic<uint64_t>* skipped = nullptr;
  std::atomic<uint64_t>* rebuilds = nullptr;
  static inline const char* name = "windowing.window";

  size_t unflushed() const {
    size_t n = 0;
    for (auto& [p, w] : parts)
      n += w.pending_records();
    return n;
  }
};

using self_ptr = window_impl::stateful_pointer<state>;

void flush(self_ptr self, int32_t p);
void settle(self_ptr self);

window_state& part(self_ptr self, int32_t p) {
  auto& st = self->state;
  auto it = st.parts.find(p);
  if (it == st.parts.end())
    it = st.parts.emplace(p, window_state{p, st.cfg.max_records, st.cfg.max_delay}).first;
  return it->second;
}

void start_rebuild(self_ptr self, int32_t p, int64_t start_offset) {
  auto& st = self->state;
  if (st.rebuilding.count(p))
    return;
  st.rebuilding[p] = start_offset;
  part(self, p).drop_all();
  (*st.rebuilds)++;
  log::warn("window", "cache has no offset for partition; recounting from PostgreSQL",
            {{"partition", std::to_string(p)}, {"start_offset", std::to_string(start_offset)}});
  self->send(self, rebuild_atom::value, p);
}

// An admin rebuild waiting for partition `p` learns that its recount
// failed (it goes on in the background, with backoff): the operator gets an
// answer now rather than at the deadline.
void recount_failed(self_ptr self, int32_t p, const caf::error& err) {
  auto& waiters = self->state.rebuild_waiters;
  for (auto it = waiters.begin(); it != waiters.end();) {
    if (it->partitions.count(p)) {
      it->rp.deliver(caf::make_error(ping_errc::unavailable,
                                     "recounting partition " + std::to_string(p)
                                       + " from PostgreSQL failed (" + to_string(err)
                                       + "); retrying in the background"));
      it = waiters.erase(it);
    } else {
      ++it;
    }
  }
}

void run_rebuild(self_ptr self, int32_t p) {
  auto& st = self->state;
  auto it = st.rebuilding.find(p);
  if (it == st.rebuilding.end())
    return;
  auto retry = [self, p] {
    self->delayed_send(self, self->state.cfg.backoff, rebuild_atom::value, p);
  };
  self->request(st.rebuilder, st.cfg.rebuild_timeout, rebuild_atom::value, p)
    .then(
      [self, p, retry](recount& rc) {
        auto& st = self->state;
        auto it = st.rebuilding.find(p);
        if (it == st.rebuilding.end())
          return; // revoked meanwhile
        auto start = it->second;
        self->request(st.writer, st.cfg.writer_timeout, rebuild_atom::value, rc, start)
          .then(
            [self, p, start, rc, retry](bool installed) {
              auto& st = self->state;
              if (!st.rebuilding.count(p))
                return;
              if (!installed) {
                // The partition has an offset again (another processor stored
                // it meanwhile): count on from that stored state.
                self->request(st.writer, st.cfg.writer_timeout, load_atom::value,
                              std::vector<int32_t>{p})
                  .then(
                    [self, p, retry](std::vector<partition_state>& ps) {
                      if (ps.empty() || !ps[0].stored) {
                        retry();
                        return;
                      }
                      part(self, p).reset(ps[0].next_offset, ps[0].watermark);
                      self->state.rebuilding.erase(p);
                      settle(self);
                    },
                    [self, p, retry](caf::error& err) {
                      recount_failed(self, p, err);
                      retry();
                    });
                return;
              }
              part(self, p).reset(start, rc.watermark);
              st.rebuilding.erase(p);
              log::info("window", "partition recounted",
                        {{"partition", std::to_string(p)},
                         {"watermark", std::to_string(rc.watermark)},
                         {"total", std::to_string(rc.total)}});
              settle(self);
            },
            [self, p, retry](caf::error& err) {
                      recount_failed(self, p, err);
                      retry();
                    });
      },
      [self, p, retry](caf::error& err) {
                      recount_failed(self, p, err);
                      retry();
                    });
}

// Applies held batches that may go now, and answers waiters that are done.
void settle(self_ptr self) {
  auto& st = self->state;
  auto now = clock::now();
  while (!st.held.empty()) {
    auto& h = st.held.front();
    bool waits = st.unflushed() >= st.cfg.max_unflushed;
    for (auto& b : h.batches)
      waits |= st.rebuilding.count(b.partition) > 0;
    if (waits)
      break;
    for (auto& b : h.batches) {
      if (!st.parts.count(b.partition))
        continue; // not (or no longer) assigned here
      auto& w = part(self, b.partition);
      auto counted = w.add(b, now);
      (*st.counted) += counted;
      (*st.skipped) += b.records.size() - counted;
      if (w.due(now))
        flush(self, b.partition);
    }
    h.rp.deliver(static_cast<int64_t>(st.unflushed()));
    st.held.pop_front();
  }
  for (auto it = st.waiters.begin(); it != st.waiters.end();) {
    bool clean = true;
    for (auto p : it->partitions) {
      auto pit = st.parts.find(p);
      if (pit == st.parts.end() || st.rebuilding.count(p))
        continue;
      auto& w = pit->second;
      if (w.in_flight() || w.dirty()) {
        clean = false;
        if (!w.in_flight())
          flush(self, p);
      }
    }
    if (clean || now >= it->deadline) {
      if (it->forget)
        for (auto p : it->partitions) {
          st.parts.erase(p);
          st.rebuilding.erase(p);
        }
      it->done(clean);
      it = st.waiters.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = st.rebuild_waiters.begin(); it != st.rebuild_waiters.end();) {
    bool done = true;
    for (auto p : it->partitions)
      done &= st.rebuilding.count(p) == 0;
    if (done) {
      it->rp.deliver(static_cast<int32_t>(it->partitions.size()));
      it = st.rebuild_waiters.erase(it);
    } else if (now >= it->deadline) {
      it->rp.deliver(caf::make_error(ping_errc::deadline_exceeded,
                                     "the recount did not finish in time; it goes on"));
      it = st.rebuild_waiters.erase(it);
    } else {
      ++it;
    }
  }
  st.stats->backlog = static_cast<int64_t>(st.unflushed());
}

void flush(self_ptr self, int32_t p) {
  auto& st = self->state;
  auto& w = part(self, p);
  if (w.in_flight() || st.rebuilding.count(p))
    return;
  auto req = w.begin_flush();
  st.last_check[p] = clock::now();
  if (req.to_offset != req.from_offset)
    log::debug("window", "flush", {{"partition", std::to_string(p)},
                                   {"from", std::to_string(req.from_offset)},
                                   {"to", std::to_string(req.to_offset)},
                                   {"total", std::to_string(req.total)}});
  self->request(st.writer, st.cfg.writer_timeout, flush_atom::value, req)
    .then(
      [self, p](int32_t outcome) {
        auto& st = self->state;
        auto it = st.parts.find(p);
        if (it == st.parts.end())
          return;
        auto& w = it->second;
        switch (static_cast<flush_outcome>(outcome)) {
          case flush_outcome::applied:
          case flush_outcome::duplicate:
            w.flush_done();
            break;
          case flush_outcome::lost:
            start_rebuild(self, p, w.next_offset());
            break;
          case flush_outcome::conflict:
            log::error("window", "another processor moved the partition on; dropping deltas",
                       {{"partition", std::to_string(p)}});
            w.flush_done();
            break;
        }
        settle(self);
      },
      [self, p](caf::error& err) {
        auto& st = self->state;
        log::warn("window", "flush failed; will retry", {{"partition", std::to_string(p)},
                                                         {"error", to_string(err)}});
        if (auto it = st.parts.find(p); it != st.parts.end())
          it->second.flush_failed();
        st.retry_after[p] = clock::now() + st.cfg.backoff;
        settle(self);
      });
}

void spawn_child(self_ptr self, int32_t which) {
  auto& st = self->state;
  if (which == 0)
    st.writer = spawn_cache_writer(self->system(), st.cache_cfg, *st.reg);
  else
    st.rebuilder = spawn_rebuilder(self->system(), st.rebuild_cfg, *st.reg);
  self->link_to(which == 0 ? caf::actor_cast<caf::actor>(st.writer)
                           : caf::actor_cast<caf::actor>(st.rebuilder));
}

window_impl::behavior_type window(self_ptr self, window_settings cfg,
                                  cache_settings cache, rebuild_settings rebuild,
                                  telemetry::registry* reg) {
  auto& st = self->state;
  st.cfg = cfg;
  st.cache_cfg = std::move(cache);
  st.rebuild_cfg = std::move(rebuild);
  st.reg = reg;
  spawn_child(self, 0);
  spawn_child(self, 1);
  // Supervision: a child's exit reaches us through the link; restart it with
  // backoff. Any other exit (shutdown) ends the window and its children.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    for (int32_t which = 0; which < 2; ++which) {
      auto addr = which == 0 ? st.writer.address() : st.rebuilder.address();
      if (addr && addr == msg.source) {
        auto name = which == 0 ? "windowing.cache-writer" : "windowing.rebuilder";
        st.reg->actor(name, "detached", "windowing")->restarts++;
        auto& b = st.child_backoff[which];
        b = next_backoff(b, st.cfg.backoff, std::chrono::seconds(10));
        log::error("window", "child failed; restarting",
                   {{"child", name}, {"reason", to_string(msg.reason)}});
        self->delayed_send(self, b, respawn_atom::value, which);
        return;
      }
    }
    self->quit(msg.reason);
  });
  st.stats = reg->actor("windowing.window", "pool", "windowing");
  st.counted = &reg->counter("processor_records_counted_total");
  st.skipped = &reg->counter("processor_records_skipped_total");
  st.rebuilds = &reg->counter("processor_rebuilds_total");
  self->delayed_send(self, cfg.tick, tick_atom::value);
  auto note = [self] {
    self->state.stats->handled++;
    self->state.stats->mailbox = static_cast<int64_t>(self->mailbox().size());
  };
  return {
    [=](records_atom, std::vector<record_batch>& batches) -> caf::result<int64_t> {
      note();
      auto rp = self->make_response_promise<int64_t>();
      self->state.held.push_back({std::move(batches), rp});
      settle(self);
      return rp;
    },
    [=](assign_atom, std::vector<int32_t>& partitions)
      -> caf::result<std::vector<partition_state>> {
      note();
      auto rp = self->make_response_promise<std::vector<partition_state>>();
      auto& st = self->state;
      self->request(st.writer, st.cfg.writer_timeout, load_atom::value, partitions)
        .then(
          [self, rp](std::vector<partition_state>& states) mutable {
            for (auto& ps : states)
              if (ps.stored)
                part(self, ps.partition).reset(ps.next_offset, ps.watermark);
            rp.deliver(std::move(states));
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](rebuild_atom, int32_t p, int64_t start_offset) -> bool {
      note();
      start_rebuild(self, p, start_offset);
      return true;
    },
    [=](rebuild_atom, int32_t p) {
      note();
      run_rebuild(self, p);
    },
    [=](revoke_atom, std::vector<int32_t>& partitions) -> caf::result<bool> {
      note();
      auto rp = self->make_response_promise<bool>();
      self->state.waiters.push_back({{partitions.begin(), partitions.end()},
                                     true,
                                     clock::now() + self->state.cfg.writer_timeout,
                                     [rp](bool clean) mutable { rp.deliver(clean); }});
      settle(self);
      return rp;
    },
    [=](flush_atom) -> caf::result<int32_t> {
      note();
      auto rp = self->make_response_promise<int32_t>();
      std::set<int32_t> all;
      for (auto& [p, w] : self->state.parts)
        all.insert(p);
      auto n = static_cast<int32_t>(all.size());
      self->state.waiters.push_back(
        {all, false, clock::now() + self->state.cfg.writer_timeout,
         [rp, n](bool clean) mutable {
           if (clean)
             rp.deliver(n);
           else
             rp.deliver(caf::make_error(ping_errc::unavailable,
                                        "the cache did not take every delta in time"));
         }});
      settle(self);
      return rp;
    },
    [=](reset_atom) -> caf::result<int32_t> {
      note();
      auto rp = self->make_response_promise<int32_t>();
      auto& st = self->state;
      log::warn("window", "rebuilding the cache from PostgreSQL (admin)");
      self->request(st.writer, st.cfg.writer_timeout, reset_atom::value)
        .then(
          [self, rp](bool) mutable {
            // Replies from the writer come in order: a flush it applied
            // before the reset has been answered already. Every assigned
            // partition is recounted from where it stands (docs/windowing.md).
            auto& st = self->state;
            std::set<int32_t> all;
            for (auto& [p, w] : st.parts) {
              all.insert(p);
              start_rebuild(self, p, w.next_offset());
            }
            st.rebuild_waiters.push_back(
              {std::move(all), clock::now() + st.cfg.rebuild_timeout, rp});
            settle(self);
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](respawn_atom, int32_t which) {
      note();
      spawn_child(self, which);
    },
    [=](tick_atom) {
      note();
      auto& st = self->state;
      self->delayed_send(self, st.cfg.tick, tick_atom::value);
      auto now = clock::now();
      for (auto& [p, w] : st.parts) {
        if (st.rebuilding.count(p) || w.in_flight() || now < st.retry_after[p])
          continue;
        if (w.due(now)) {
          flush(self, p);
        } else if (!w.dirty() && now - st.last_check[p] >= st.cfg.heartbeat) {
          flush(self, p); // an empty flush: notices a lost cache on idle partitions
        }
      }
      if (now - st.last_prune >= st.cfg.prune_interval) {
        st.last_prune = now;
        self->request(st.writer, st.cfg.writer_timeout, prune_atom::value)
          .then([](int64_t n) {
                  if (n > 0)
                    log::info("window", "pruned minute buckets", {{"count", std::to_string(n)}});
                },
                [](caf::error&) {});
      }
      settle(self);
    },
  };
}

} // namespace

window_actor spawn_window(caf::actor_system& sys, window_settings cfg,
                          cache_settings cache, rebuild_settings rebuild,
                          telemetry::registry& reg) {
  return caf::actor_cast<window_actor>(
    sys.spawn(window, std::move(cfg), std::move(cache), std::move(rebuild), &reg));
}

} // namespace ping::windowing
