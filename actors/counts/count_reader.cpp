#include "actors/counts/count_reader.hpp"
#include "actors/counts/metrics.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>

#include <caf/all.hpp>

#include "actors/common/errors.hpp"
#include "actors/common/log.hpp"

namespace ping::counts {

namespace {

struct waiter {
  time_range range;
  std::optional<caf::typed_response_promise<count_result>> count_rp;
  std::optional<caf::typed_response_promise<minute_counts>> minutes_rp;
};

struct state {
  settings cfg;
  cache::reader_actor cache;
  persistence::persistence_actor store;
  std::vector<waiter> waiting; // for the next read
  bool reading = false;
  size_t fallbacks = 0; // PostgreSQL counts outstanding
  std::string fallback_reason; // of the last read; logged when it changes
  std::shared_ptr<telemetry::actor_stats> stats;
  std::atomic<uint64_t>* from_cache = nullptr;
  std::atomic<uint64_t>* from_postgres = nullptr;
  telemetry::histogram* read_latency = nullptr;
  telemetry::histogram* read_size = nullptr;
  static inline const char* name = "counts";
};

using self_ptr = counts_actor::stateful_pointer<state>;
using batch_ptr = std::shared_ptr<std::vector<waiter>>;

int64_t first_minute(const time_range& r) {
  return r.start_ms / ms_per_minute;
}

int32_t minutes_in(const time_range& r) {
  return static_cast<int32_t>((r.end_ms - r.start_ms) / ms_per_minute);
}

void fail(waiter& w, const caf::error& err) {
  if (w.count_rp)
    w.count_rp->deliver(err);
  else
    w.minutes_rp->deliver(err);
}

// PostgreSQL counts the waiter's range itself (exact; it starts after the
// request arrived).
void fall_back(self_ptr self, waiter w) {
  auto& st = self->state;
  if (st.fallbacks >= st.cfg.max_fallbacks) {
    fail(w, caf::make_error(ping_errc::unavailable,
                            "the cache cannot answer and PostgreSQL is busy; retry later"));
    return;
  }
  ++st.fallbacks;
  auto settle = [self] {
    --self->state.fallbacks;
    (*self->state.from_postgres)++;
  };
  if (w.count_rp) {
    auto rp = *w.count_rp;
    self->request(st.store, st.cfg.fallback_timeout, count_atom::value, w.range)
      .then(
        [rp, settle](int64_t n) mutable {
          settle();
          rp.deliver(count_result{n, "postgres"});
        },
        [rp, settle](caf::error& err) mutable {
          settle();
          rp.deliver(std::move(err));
        });
  } else {
    auto rp = *w.minutes_rp;
    self
      ->request(st.store, st.cfg.fallback_timeout, minutes_atom::value,
                first_minute(w.range), minutes_in(w.range))
      .then(
        [rp, settle](std::vector<int64_t>& xs) mutable {
          settle();
          rp.deliver(minute_counts{std::move(xs), "postgres"});
        },
        [rp, settle](caf::error& err) mutable {
          settle();
          rp.deliver(std::move(err));
        });
  }
}

void note_reason(self_ptr self, const std::string& reason) {
  auto& st = self->state;
  if (reason == st.fallback_reason)
    return;
  if (reason.empty())
    log::info("counts", "counts served from the cache again");
  else
    log::warn("counts", "the cache cannot answer; counting in PostgreSQL",
              {{"reason", reason}});
  st.fallback_reason = reason;
}

void start_read(self_ptr self);

void read_done(self_ptr self, std::chrono::steady_clock::time_point started) {
  auto& st = self->state;
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
  st.read_latency->observe(took.count());
  st.reading = false;
  start_read(self);
}

void fall_back_all(self_ptr self, const batch_ptr& batch, const std::string& reason,
                   std::chrono::steady_clock::time_point started) {
  note_reason(self, reason);
  for (auto& w : *batch)
    fall_back(self, std::move(w));
  read_done(self, started);
}

// Answers the batch from the snapshot plus the tail.
void answer(self_ptr self, const batch_ptr& batch, const std::vector<int>& slot,
            const cache::snapshot& snap, const persistence::tail_counts& tail) {
  auto& st = self->state;
  std::map<int64_t, int64_t> tail_minutes(tail.minutes.begin(), tail.minutes.end());
  for (size_t i = 0; i < batch->size(); ++i) {
    auto& w = (*batch)[i];
    if (!w.range.bounded) {
      (*st.from_cache)++;
      w.count_rp->deliver(count_result{snap.total + tail.total, "cache"});
      continue;
    }
    auto& view = snap.ranges[static_cast<size_t>(slot[i])];
    if (!view.covered) {
      fall_back(self, std::move(w)); // not in minute buckets: PostgreSQL
      continue;
    }
    auto first = first_minute(w.range);
    std::vector<int64_t> per_minute = view.buckets;
    for (auto it = tail_minutes.lower_bound(first);
         it != tail_minutes.end() && it->first < first + static_cast<int64_t>(per_minute.size());
         ++it)
      per_minute[static_cast<size_t>(it->first - first)] += it->second;
    (*st.from_cache)++;
    if (w.count_rp) {
      int64_t n = 0;
      for (auto x : per_minute)
        n += x;
      w.count_rp->deliver(count_result{n, "cache"});
    } else {
      w.minutes_rp->deliver(minute_counts{std::move(per_minute), "cache"});
    }
  }
}

void start_read(self_ptr self) {
  auto& st = self->state;
  if (st.reading || st.waiting.empty())
    return;
  st.reading = true;
  auto started = std::chrono::steady_clock::now();
  auto batch = std::make_shared<std::vector<waiter>>(std::move(st.waiting));
  st.waiting.clear();
  st.stats->backlog = 0;
  st.read_size->observe(static_cast<double>(batch->size()));
  // The distinct bounded ranges, each asked of the cache once.
  std::vector<time_range> asked;
  std::vector<int> slot(batch->size(), -1);
  for (size_t i = 0; i < batch->size(); ++i) {
    auto& r = (*batch)[i].range;
    if (!r.bounded)
      continue;
    auto it = std::find(asked.begin(), asked.end(), r);
    slot[i] = static_cast<int>(it - asked.begin());
    if (it == asked.end())
      asked.push_back(r);
  }
  self->request(st.cache, st.cfg.snapshot_timeout, snapshot_atom::value, asked)
    .then(
      [self, batch, slot, started](cache::snapshot& snap) {
        if (!snap.usable) {
          fall_back_all(self, batch, snap.why, started);
          return;
        }
        bool per_minute = false;
        for (auto& view : snap.ranges)
          per_minute |= view.covered;
        auto shared = std::make_shared<cache::snapshot>(std::move(snap));
        auto& st = self->state;
        self->request(st.store, st.cfg.tail_timeout, tail_atom::value, shared->seqs, per_minute)
          .then(
            [self, batch, slot, shared, started](persistence::tail_counts& tail) {
              if (!tail.consistent) {
                fall_back_all(self, batch,
                              "the cache claims sequences PostgreSQL does not hold", started);
                return;
              }
              note_reason(self, "");
              answer(self, batch, slot, *shared, tail);
              read_done(self, started);
            },
            [self, batch, started](caf::error& err) {
              fall_back_all(self, batch, "tail query failed: " + to_string(err), started);
            });
      },
      [self, batch, started](caf::error& err) {
        fall_back_all(self, batch, "cache read failed: " + to_string(err), started);
      });
}

bool admit(self_ptr self) {
  auto& st = self->state;
  st.stats->handled++;
  st.stats->mailbox = static_cast<int64_t>(self->mailbox().size());
  return st.waiting.size() < st.cfg.max_waiting;
}

caf::error busy() {
  return caf::make_error(ping_errc::resource_exhausted,
                         "too many counts waiting; retry later");
}

counts_actor::behavior_type count_reader(self_ptr self, settings cfg,
                                         cache::reader_actor cache,
                                         persistence::persistence_actor store,
                                         telemetry::registry* reg) {
  auto& st = self->state;
  st.cfg = cfg;
  st.cache = std::move(cache);
  st.store = std::move(store);
  auto m = metrics::registered_in(*reg);
  st.stats = m.actor;
  st.from_cache = &m.from_cache;
  st.from_postgres = &m.from_postgres;
  st.read_latency = &m.read_seconds;
  st.read_size = &m.read_requests;
  return {
    [=](count_atom, const time_range& range) -> caf::result<count_result> {
      if (!admit(self))
        return busy();
      if (range.bounded && range.start_ms >= range.end_ms)
        return count_result{0, "cache"}; // empty: nothing to read
      auto rp = self->make_response_promise<count_result>();
      self->state.waiting.push_back({range, rp, std::nullopt});
      self->state.stats->backlog = static_cast<int64_t>(self->state.waiting.size());
      start_read(self);
      return rp;
    },
    [=](minutes_atom, int64_t first, int32_t n) -> caf::result<minute_counts> {
      if (!admit(self))
        return busy();
      if (n <= 0 || n > 7 * 24 * 60)
        return caf::make_error(ping_errc::invalid_argument,
                               "minutes must be between 1 and one week");
      auto rp = self->make_response_promise<minute_counts>();
      time_range range{true, first * ms_per_minute, (first + n) * ms_per_minute};
      self->state.waiting.push_back({range, std::nullopt, rp});
      self->state.stats->backlog = static_cast<int64_t>(self->state.waiting.size());
      start_read(self);
      return rp;
    },
  };
}

} // namespace

counts_actor spawn_count_reader(caf::actor_system& sys, settings cfg,
                                cache::reader_actor cache,
                                persistence::persistence_actor persistence,
                                telemetry::registry& reg) {
  metrics::registered_in(reg);
  return sys.spawn(count_reader, std::move(cfg), std::move(cache), std::move(persistence),
                   &reg);
}

} // namespace ping::counts
