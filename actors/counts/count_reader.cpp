#include "actors/counts/count_reader.hpp"
#include "actors/counts/metrics.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <optional>

#include <caf/all.hpp>

#include "actors/cache/range_plan.hpp"
#include "actors/common/errors.hpp"
#include "actors/common/log.hpp"

namespace ping::counts {

namespace {

struct waiter {
  time_range range;
  std::optional<caf::typed_response_promise<count_result>> count_rp;
  std::optional<caf::typed_response_promise<minute_counts>> minutes_rp;
};

// A count answered partly from the cache and partly by PostgreSQL: answered
// once every part is counted (or with the first error).
struct parted_count {
  caf::typed_response_promise<count_result> rp;
  int64_t count = 0;
  size_t parts_left = 0;
  bool from_cache = false; // some of it came from the cache
  bool done = false;
};

// A part of a range PostgreSQL counts (an edge minute, or what lies outside
// the cache's buckets), queued until a fallback slot is free.
struct pg_part {
  time_range range;
  std::shared_ptr<parted_count> owner;
  std::chrono::steady_clock::time_point queued;
};

struct state {
  settings cfg;
  cache::reader_actor cache;
  persistence::persistence_actor store;
  std::vector<waiter> waiting; // for the next read
  bool reading = false;
  size_t fallbacks = 0; // PostgreSQL counts outstanding
  std::deque<pg_part> parts; // waiting for a fallback slot
  size_t parted = 0;         // counts waiting for their parts
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

void pump_parts(self_ptr self);
void count_in_parts(self_ptr self, caf::typed_response_promise<count_result> rp,
                    int64_t cached, bool from_cache, const std::vector<time_range>& parts);

// PostgreSQL counts the waiter's range itself (exact; it starts after the
// request arrived). A count waits in the queue of PostgreSQL parts for a
// free slot; minutes (the console) are asked at once, or refused when every
// slot is taken.
void fall_back(self_ptr self, waiter w) {
  auto& st = self->state;
  if (w.count_rp) {
    count_in_parts(self, *w.count_rp, 0, false, {w.range});
    return;
  }
  if (st.fallbacks >= st.cfg.max_fallbacks) {
    fail(w, caf::make_error(ping_errc::unavailable,
                            "the cache cannot answer and PostgreSQL is busy; retry later"));
    return;
  }
  ++st.fallbacks;
  auto settle = [self] {
    --self->state.fallbacks;
    (*self->state.from_postgres)++;
    pump_parts(self);
  };
  auto rp = *w.minutes_rp;
  self
    ->request(st.store, st.cfg.fallback_timeout, minutes_atom::value, first_minute(w.range),
              minutes_in(w.range))
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

void settle_part(self_ptr self, const std::shared_ptr<parted_count>& c) {
  if (c->done || c->parts_left > 0)
    return;
  c->done = true;
  --self->state.parted;
  (*(c->from_cache ? self->state.from_cache : self->state.from_postgres))++;
  c->rp.deliver(count_result{c->count, c->from_cache ? "cache" : "postgres"});
}

// Sends queued parts while fallback slots are free.
void pump_parts(self_ptr self) {
  auto& st = self->state;
  while (!st.parts.empty() && st.fallbacks < st.cfg.max_fallbacks) {
    auto part = std::move(st.parts.front());
    st.parts.pop_front();
    if (part.owner->done)
      continue; // failed already
    if (std::chrono::steady_clock::now() - part.queued > st.cfg.fallback_timeout) {
      part.owner->done = true;
      --st.parted;
      part.owner->rp.deliver(caf::make_error(
        ping_errc::unavailable, "PostgreSQL is too busy to count this range; retry later"));
      continue;
    }
    ++st.fallbacks;
    auto owner = part.owner;
    self->request(st.store, st.cfg.fallback_timeout, count_atom::value, part.range)
      .then(
        [self, owner](int64_t n) {
          --self->state.fallbacks;
          owner->count += n;
          --owner->parts_left;
          settle_part(self, owner);
          pump_parts(self);
        },
        [self, owner](caf::error& err) {
          --self->state.fallbacks;
          if (!owner->done) {
            owner->done = true;
            --self->state.parted;
            owner->rp.deliver(std::move(err));
          }
          pump_parts(self);
        });
  }
}

// Counts `cached` (from the cache and the tail) plus the parts in
// PostgreSQL, then answers.
void count_in_parts(self_ptr self, caf::typed_response_promise<count_result> rp,
                    int64_t cached, bool from_cache, const std::vector<time_range>& parts) {
  auto& st = self->state;
  auto c = std::make_shared<parted_count>();
  c->rp = std::move(rp);
  c->count = cached;
  c->from_cache = from_cache;
  c->parts_left = parts.size();
  ++st.parted;
  auto now = std::chrono::steady_clock::now();
  for (auto& r : parts)
    st.parts.push_back({r, c, now});
  settle_part(self, c);
  pump_parts(self);
}

// Pings of the tail in the minutes [first, end).
int64_t tail_in(const std::map<int64_t, int64_t>& tail, int64_t first, int64_t end) {
  int64_t n = 0;
  for (auto it = tail.lower_bound(first); it != tail.end() && it->first < end; ++it)
    n += it->second;
  return n;
}

// Which ranges of a batch are asked of the cache, each once: per minute
// (the console's minutes) or summed (bounded counts).
struct batch_ranges {
  std::vector<time_range> per_minute;
  std::vector<time_range> summed;
  std::vector<int> slot; // per waiter: its index in per_minute or summed; -1 for totals
};

int index_of(std::vector<time_range>& xs, const time_range& r) {
  auto it = std::find(xs.begin(), xs.end(), r);
  auto i = static_cast<int>(it - xs.begin());
  if (it == xs.end())
    xs.push_back(r);
  return i;
}

// Answers the batch from the snapshot plus the tail (docs/counts.md):
// totals are the cache's total plus the tail; a summed range is its cached
// span's buckets plus the tail in that span, plus its parts outside the
// span counted in PostgreSQL; a range per minute is its buckets plus the
// tail, minute by minute.
void answer(self_ptr self, const batch_ptr& batch, const batch_ranges& asked,
            const cache::snapshot& snap, const persistence::tail_counts& tail) {
  auto& st = self->state;
  std::map<int64_t, int64_t> tail_minutes(tail.minutes.begin(), tail.minutes.end());
  for (size_t i = 0; i < batch->size(); ++i) {
    auto& w = (*batch)[i];
    auto slot = static_cast<size_t>(asked.slot[i]);
    if (!w.range.bounded) {
      (*st.from_cache)++;
      w.count_rp->deliver(count_result{snap.total + tail.total, "cache"});
      continue;
    }
    if (w.count_rp) {
      auto& sum = snap.sums[slot];
      cache::minute_span span{sum.first_minute, sum.end_minute};
      auto cached = span.empty() ? 0 : sum.count + tail_in(tail_minutes, span.lo, span.hi);
      count_in_parts(self, *w.count_rp, cached, !span.empty(),
                     cache::outside(w.range, span));
      continue;
    }
    auto& view = snap.ranges[slot];
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
    w.minutes_rp->deliver(minute_counts{std::move(per_minute), "cache"});
  }
}

void start_read(self_ptr self) {
  auto& st = self->state;
  if (st.reading || st.waiting.empty())
    return;
  st.reading = true;
  auto started = std::chrono::steady_clock::now();
  // The waiters of this read, in arrival order, until it holds
  // `max_ranges_per_read` distinct ranges (so one read, and the buckets it
  // fetches, stays small); the others wait for the next read.
  auto batch = std::make_shared<std::vector<waiter>>();
  auto asked = std::make_shared<batch_ranges>();
  size_t taken = 0;
  for (; taken < st.waiting.size(); ++taken) {
    auto& w = st.waiting[taken];
    int slot = -1;
    if (w.range.bounded) {
      auto& xs = w.count_rp ? asked->summed : asked->per_minute;
      auto known = std::find(xs.begin(), xs.end(), w.range) != xs.end();
      if (!known && taken > 0
          && asked->summed.size() + asked->per_minute.size() >= st.cfg.max_ranges_per_read)
        break;
      slot = index_of(xs, w.range);
    }
    asked->slot.push_back(slot);
    batch->push_back(std::move(w));
  }
  st.waiting.erase(st.waiting.begin(), st.waiting.begin() + static_cast<ptrdiff_t>(taken));
  st.stats->backlog = static_cast<int64_t>(st.waiting.size() + st.parted);
  st.read_size->observe(static_cast<double>(batch->size()));
  self
    ->request(st.cache, st.cfg.snapshot_timeout, snapshot_atom::value, asked->per_minute,
              asked->summed)
    .then(
      [self, batch, asked, started](cache::snapshot& snap) {
        if (!snap.usable || snap.ranges.size() != asked->per_minute.size()
            || snap.sums.size() != asked->summed.size()) {
          fall_back_all(self, batch, snap.usable ? "malformed snapshot" : snap.why, started);
          return;
        }
        bool per_minute = false;
        for (auto& view : snap.ranges)
          per_minute |= view.covered;
        for (auto& sum : snap.sums)
          per_minute |= sum.first_minute < sum.end_minute;
        auto shared = std::make_shared<cache::snapshot>(std::move(snap));
        auto& st = self->state;
        self->request(st.store, st.cfg.tail_timeout, tail_atom::value, shared->seqs, per_minute)
          .then(
            [self, batch, asked, shared, started](persistence::tail_counts& tail) {
              if (!tail.consistent) {
                fall_back_all(self, batch,
                              "the cache claims sequences PostgreSQL does not hold", started);
                return;
              }
              note_reason(self, "");
              answer(self, batch, *asked, *shared, tail);
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
  return st.waiting.size() + st.parted < st.cfg.max_waiting;
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
