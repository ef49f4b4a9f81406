#include "actors/cache/cache_reader.hpp"
#include "actors/cache/metrics.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <caf/all.hpp>
#include <hiredis/hiredis.h>

#include "actors/cache/connection.hpp"
#include "actors/cache/range_plan.hpp"
#include "actors/cache/schema.hpp"

#include "actors/common/backoff.hpp"
#include "actors/common/ids.hpp"
#include "actors/common/log.hpp"
#include "actors/common/note.hpp"
#include "actors/common/supervision.hpp"
#include "actors/common/watchdog.hpp"

namespace ping::cache {

namespace {

using schema::ms_per_minute;

// Which asked ranges may be served from minute buckets: bounded, both ends
// minute-aligned, non-empty, and at most `max_minutes` buckets long.
bool bucket_range(const time_range& r, int64_t max_minutes) {
  return r.bounded && r.start_ms >= 0 && r.start_ms < r.end_ms && r.start_ms % ms_per_minute == 0
         && r.end_ms % ms_per_minute == 0 && (r.end_ms - r.start_ms) / ms_per_minute <= max_minutes;
}

// -- worker: one connection, blocking calls, detached thread ----------------

struct worker_state {
  std::unique_ptr<connection> conn;
  caf::timespan backoff{0};
  std::chrono::steady_clock::time_point retry_at{};
  bool reachable = true; // last known; for logging transitions only
  bool reply_warned = false;
  std::optional<bucket_bounds> hint; // of the last snapshot: where buckets are complete
  std::shared_ptr<telemetry::actor_stats> stats;
  static inline const char* name = "cache.reader";
};

snapshot not_usable(std::string why, size_t ranges, size_t sums = 0) {
  snapshot s;
  s.why = std::move(why);
  s.ranges.resize(ranges);
  s.sums.resize(sums);
  return s;
}

// Which buckets one read fetches: chosen with the bounds of the previous
// snapshot (the floor and ceiling move slowly), checked against the bounds
// read in the same MULTI/EXEC, and read again when they no longer hold.
struct read_plan {
  std::vector<bucket_ref> fields;        // sorted, distinct: one HMGET
  std::vector<minute_span> minute_spans; // per range asked per minute
  std::vector<minute_span> sum_spans;    // per range asked summed
  bool coarse = false;                   // hour or day buckets in `fields`
};

read_plan make_plan(const settings& cfg, const std::optional<bucket_bounds>& hint,
                    const std::vector<time_range>& per_minute,
                    const std::vector<time_range>& summed) {
  read_plan plan;
  plan.minute_spans.resize(per_minute.size());
  plan.sum_spans.resize(summed.size());
  if (!hint)
    return plan; // nothing known yet: this read learns the bounds
  std::set<bucket_ref> fields;
  auto room = [&](size_t n) { return fields.size() + n <= cfg.max_fields; };
  for (size_t i = 0; i < per_minute.size(); ++i) {
    auto& r = per_minute[i];
    if (!bucket_range(r, cfg.max_minutes))
      continue;
    auto span = interior(r);
    if (!within(span, *hint) || !room(static_cast<size_t>(span.hi - span.lo)))
      continue;
    plan.minute_spans[i] = span;
    for (auto m = span.lo; m < span.hi; ++m)
      fields.insert({grain::minute, m});
  }
  for (size_t i = 0; i < summed.size(); ++i) {
    auto span = cached_span(summed[i], *hint, cfg.max_span_minutes);
    auto buckets = cover(span, hint->coarse);
    if (span.empty() || !room(buckets.size()))
      continue;
    plan.sum_spans[i] = span;
    plan.coarse = plan.coarse || hint->coarse;
    fields.insert(buckets.begin(), buckets.end());
  }
  // The partial edge minutes of the summed ranges, where the cache holds
  // them: how many pings they hold tells PostgreSQL how to count them
  // (range_sum::edge_pings).
  for (auto& r : summed)
    for (auto m : edge_minutes(r))
      if (within({m, m + 1}, *hint) && room(1))
        fields.insert({grain::minute, m});
  plan.fields.assign(fields.begin(), fields.end());
  return plan;
}

// The plan still holds under the bounds read with its buckets.
bool plan_holds(const read_plan& plan, const bucket_bounds& b) {
  if (plan.coarse && !b.coarse)
    return false;
  auto ok = [&](const minute_span& s) { return within(s, b); };
  return std::all_of(plan.minute_spans.begin(), plan.minute_spans.end(), ok)
         && std::all_of(plan.sum_spans.begin(), plan.sum_spans.end(), ok);
}

struct raw_read {
  std::optional<snapshot> unusable; // set when the snapshot cannot be used
  snapshot snap;                    // usable: seqs, total, floor
  bucket_bounds bounds;
  std::vector<int64_t> values; // per plan.fields
};

// One MULTI/EXEC round trip: every partition's state, the total and the
// planned buckets, from one atomic snapshot.
raw_read read_once(worker_state& st, const settings& cfg, const read_plan& plan, size_t ranges,
                   size_t sums) {
  std::vector<command_args> cmds;
  cmds.push_back({"MULTI"});
  cmds.push_back({"HGETALL", schema::offsets_key});
  cmds.push_back({"HGET", schema::counters_key, schema::total_field});
  if (!plan.fields.empty()) {
    command_args hmget{"HMGET", schema::counters_key};
    hmget.reserve(plan.fields.size() + 2);
    for (auto& f : plan.fields)
      hmget.push_back(f.field());
    cmds.push_back(std::move(hmget));
  }
  cmds.push_back({"EXEC"});
  auto replies = st.conn->pipeline(cmds);
  auto& exec = replies.back();
  if (exec->type == REDIS_REPLY_ERROR)
    throw bad_reply{std::string{exec->str, exec->len}};
  if (exec->type != REDIS_REPLY_ARRAY || exec->elements != cmds.size() - 2)
    throw bad_reply{"unexpected EXEC reply"};
  for (size_t i = 0; i < exec->elements; ++i)
    if (exec->element[i]->type == REDIS_REPLY_ERROR)
      throw bad_reply{std::string{exec->element[i]->str, exec->element[i]->len}};
  auto* offsets = exec->element[0];
  if (offsets->type != REDIS_REPLY_ARRAY || offsets->elements % 2 != 0)
    throw bad_reply{"unexpected HGETALL reply"};
  auto partitions = static_cast<size_t>(std::max(0, cfg.partitions));
  std::vector<std::optional<int64_t>> seqs(partitions);
  std::optional<int64_t> floor, gap, ceiling;
  bool coarse = false;
  int64_t count_sum = 0;
  for (size_t i = 0; i + 1 < offsets->elements; i += 2) {
    std::string_view field{offsets->element[i]->str, offsets->element[i]->len};
    if (field == schema::layout_field) {
      coarse = std::string_view{offsets->element[i + 1]->str, offsets->element[i + 1]->len}
               == schema::layout_version;
      continue;
    }
    auto value = as_int(offsets->element[i + 1]);
    if (!value)
      throw bad_reply{"malformed field in ping:offsets"};
    auto index = [&](std::string_view prefix) -> std::optional<size_t> {
      if (field.substr(0, prefix.size()) != prefix)
        return std::nullopt;
      size_t p = 0;
      auto digits = field.substr(prefix.size());
      auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), p);
      if (ec != std::errc{} || ptr != digits.data() + digits.size())
        return std::nullopt;
      return p;
    };
    if (field == schema::floor_field) {
      floor = *value;
    } else if (field == schema::gap_field) {
      gap = *value;
    } else if (field == schema::ceiling_field) {
      ceiling = *value;
    } else if (index("count:")) {
      count_sum += *value; // a partition without one counts 0 (schema::has_state)
    } else if (auto q = index("seq:"); q && *q < partitions) {
      seqs[*q] = *value;
    }
  }
  raw_read out;
  // No floor: no bucket is trusted. Else [floor, min(ceiling + 1, gap)).
  if (floor) {
    out.bounds.floor = *floor;
    out.bounds.limit = ceiling ? *ceiling + 1 : std::numeric_limits<int64_t>::max();
    if (gap)
      out.bounds.limit = std::min(out.bounds.limit, *gap);
    out.bounds.coarse = coarse;
  }
  auto total = as_count(exec->element[1]);
  if (!total)
    throw bad_reply{"malformed total"};
  for (size_t p = 0; p < partitions; ++p)
    if (!schema::has_state(seqs[p].has_value())) {
      out.unusable = not_usable(
        "partition " + std::to_string(p) + " has no state (cold or rebuilding)", ranges, sums);
      return out;
    }
  if (*total != count_sum) {
    out.unusable = not_usable("checksum: total " + std::to_string(*total)
                                + " != " + std::to_string(count_sum) + " applied",
                              ranges, sums);
    return out;
  }
  out.snap.usable = true;
  out.snap.total = *total;
  out.snap.floor_minute = floor.value_or(0);
  for (auto& s : seqs)
    out.snap.seqs.push_back(*s);
  if (!plan.fields.empty()) {
    auto* vals = exec->element[2];
    if (vals->type != REDIS_REPLY_ARRAY || vals->elements != plan.fields.size())
      throw bad_reply{"unexpected HMGET reply"};
    out.values.reserve(vals->elements);
    for (size_t j = 0; j < vals->elements; ++j) {
      auto v = as_count(vals->element[j]);
      if (!v)
        throw bad_reply{"malformed bucket"};
      out.values.push_back(*v);
    }
  }
  return out;
}

// A snapshot with the buckets of the ranges asked per minute and the sums of
// the ranges asked summed. At most three round trips: the first read of a
// worker learns the bounds, and a read whose bounds moved under its plan
// (the floor and the ceiling rise once a minute) is planned again. A last
// plan that still does not hold gives its ranges to PostgreSQL (empty
// spans).
snapshot read(worker_state& st, const settings& cfg, const std::vector<time_range>& per_minute,
              const std::vector<time_range>& summed) {
  constexpr int attempts = 3;
  for (int attempt = 1;; ++attempt) {
    auto planned_with = st.hint;
    auto plan = make_plan(cfg, planned_with, per_minute, summed);
    auto raw = read_once(st, cfg, plan, per_minute.size(), summed.size());
    st.hint = raw.bounds;
    if (raw.unusable)
      return std::move(*raw.unusable);
    // Planned with other bounds than these: plan again (the buckets may
    // be incomplete, or more of the ranges may be in the cache).
    auto asked = !per_minute.empty() || !summed.empty();
    auto holds = plan_holds(plan, raw.bounds);
    if (asked && planned_with != raw.bounds && attempt < attempts)
      continue;
    auto value = [&](const bucket_ref& b) {
      auto it = std::lower_bound(plan.fields.begin(), plan.fields.end(), b);
      return it != plan.fields.end() && *it == b
               ? raw.values[static_cast<size_t>(it - plan.fields.begin())]
               : int64_t{0};
    };
    auto fetched = [&](const bucket_ref& b) {
      return std::binary_search(plan.fields.begin(), plan.fields.end(), b);
    };
    auto& out = raw.snap;
    out.ranges.resize(per_minute.size());
    out.sums.resize(summed.size());
    if (!holds)
      return out; // nothing from buckets: every range goes to PostgreSQL
    for (size_t i = 0; i < per_minute.size(); ++i) {
      auto& span = plan.minute_spans[i];
      if (span.empty())
        continue;
      auto& view = out.ranges[i];
      view.covered = true;
      view.buckets.reserve(static_cast<size_t>(span.hi - span.lo));
      for (auto m = span.lo; m < span.hi; ++m)
        view.buckets.push_back(value({grain::minute, m}));
    }
    for (size_t i = 0; i < summed.size(); ++i) {
      auto& sum = out.sums[i];
      sum.edge_pings = 0;
      for (auto m : edge_minutes(summed[i])) {
        bucket_ref b{grain::minute, m};
        if (!fetched(b) || !within({m, m + 1}, raw.bounds)) {
          sum.edge_pings = -1;
          break;
        }
        sum.edge_pings = std::max(sum.edge_pings, value(b));
      }
      auto& span = plan.sum_spans[i];
      if (span.empty())
        continue;
      sum.first_minute = span.lo;
      sum.end_minute = span.hi;
      for (auto& b : cover(span, plan.coarse))
        sum.count += value(b);
    }
    return out;
  }
}

void on_io_failure(worker_state& st, const settings& cfg, const std::string& what) {
  st.backoff = next_backoff(st.backoff, cfg.backoff_min, cfg.backoff_max);
  st.retry_at = std::chrono::steady_clock::now() + st.backoff;
  st.stats->up = false;
  auto backoff_ms
    = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(st.backoff).count());
  if (st.reachable) {
    st.reachable = false;
    log::warn("cache", "cache unreachable; counts fall back to PostgreSQL",
              {{"address", cfg.address}, {"error", what}, {"backoff_ms", backoff_ms}});
  } else {
    log::debug("cache", "cache still unreachable",
               {{"address", cfg.address}, {"error", what}, {"backoff_ms", backoff_ms}});
  }
}

reader_actor::behavior_type worker(reader_actor::stateful_pointer<worker_state> self, settings cfg,
                                   std::shared_ptr<telemetry::actor_stats> stats) {
  self->state.stats = std::move(stats);
  self->state.conn = std::make_unique<connection>(cfg.address, cfg.password, cfg.timeout);
  auto note = telemetry::noter(self);
  auto serve = [=](const std::vector<time_range>& per_minute,
                   const std::vector<time_range>& summed) -> snapshot {
    note();
    auto& st = self->state;
    if (!st.conn->connected() && std::chrono::steady_clock::now() < st.retry_at)
      return not_usable("cache unreachable (backing off)", per_minute.size(), summed.size());
    try {
      auto snap = read(st, cfg, per_minute, summed);
      st.backoff = caf::timespan{0};
      st.reply_warned = false;
      st.stats->up = true;
      if (!st.reachable) {
        st.reachable = true;
        log::info("cache", "cache reachable again", {{"address", cfg.address}});
      }
      return snap;
    } catch (const io_failure& e) {
      on_io_failure(st, cfg, e.what());
      return not_usable(std::string{"cache unreachable: "} + e.what(), per_minute.size(),
                        summed.size());
    } catch (const bad_reply& e) {
      if (!st.reply_warned) {
        st.reply_warned = true;
        log::warn("cache", "unusable cache reply; counts fall back to PostgreSQL",
                  {{"error", e.what()}});
      }
      return not_usable(std::string{"unusable reply: "} + e.what(), per_minute.size(),
                        summed.size());
    }
  };
  return {
    [=](snapshot_atom, const std::vector<time_range>& per_minute,
        const std::vector<time_range>& summed) -> snapshot { return serve(per_minute, summed); },
    [=](snapshot_atom, const std::vector<time_range>& per_minute) -> snapshot {
      return serve(per_minute, {});
    },
  };
}

// -- facade: deadlines, the in-flight bound, supervision --------------------

using facade_actor
  = reader_actor::extend<caf::reacts_to<tick_atom>,     // timer: the watchdog (deadlines)
                         caf::reacts_to<respawn_atom>>; // timer: start the worker again

struct waiting_read {
  caf::typed_response_promise<snapshot> rp;
  size_t ranges = 0;
  size_t sums = 0;
  std::chrono::steady_clock::time_point started;
  caf::actor_clock::time_point due; // the caller's deadline: answered "timed out" then
};

struct facade_state {
  settings cfg;
  worker_factory make; // empty: the real, detached worker
  std::shared_ptr<telemetry::actor_stats> stats;
  std::shared_ptr<telemetry::actor_stats> worker_stats;
  std::atomic<uint64_t>* hits = nullptr;
  std::atomic<uint64_t>* misses = nullptr;
  telemetry::histogram* latency = nullptr;
  std::optional<supervised<reader_actor>> worker;
  size_t in_flight = 0; // reads the current worker has not answered yet
  uint64_t next_id = 0;
  std::unordered_map<uint64_t, waiting_read> waiting; // callers not answered yet
  // One timer for the callers' deadlines and the requests to the worker
  // (stuck_after), not two CAF timers per read (actors/common/watchdog.hpp).
  watchdog watch;
  static inline const char* name = "cache";
};

using facade_ptr = facade_actor::stateful_pointer<facade_state>;

snapshot record(facade_state& st, snapshot s) {
  (s.usable ? st.hits : st.misses)->fetch_add(1, std::memory_order_relaxed);
  return s;
}

// Answers the caller of read `id` unless it was answered already.
void finish(facade_ptr self, uint64_t id, snapshot s) {
  auto& st = self->state;
  auto i = st.waiting.find(id);
  if (i == st.waiting.end())
    return;
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - i->second.started;
  st.latency->observe(took.count());
  if (s.ranges.size() != i->second.ranges || s.sums.size() != i->second.sums)
    s = not_usable(std::move(s.why), i->second.ranges, i->second.sums);
  i->second.rp.deliver(record(st, std::move(s)));
  st.waiting.erase(i);
}

// The watchdog's timer: requests to the worker past stuck_after time out
// (their error path replaces it), callers past their deadline are answered
// "timed out"; then it arms for the earliest caller still waiting.
void on_tick(facade_ptr self) {
  auto& st = self->state;
  st.watch.on_tick(self);
  auto now = self->clock().now();
  std::vector<uint64_t> late;
  auto next = caf::actor_clock::time_point::max();
  for (auto& [id, w] : st.waiting) {
    if (w.due <= now)
      late.push_back(id);
    else
      next = std::min(next, w.due);
  }
  for (auto id : late)
    finish(self, id, not_usable("cache read timed out", 0));
  if (next != caf::actor_clock::time_point::max())
    st.watch.arm(self, next);
}

void spawn_worker(facade_ptr self) {
  auto& st = self->state;
  st.worker->start(self, [self] {
    auto& st = self->state;
    if (st.make)
      return st.make(self->home_system(), st.cfg);
    return self->spawn<caf::detached>(worker, st.cfg, st.worker_stats);
  });
  st.in_flight = 0;
}

// After the worker died, or was replaced because it stopped answering (it
// exits once its blocking call returns): a new one after a backoff. Reads
// meanwhile answer usable = false.
void worker_gone(facade_ptr self, caf::timespan delay) {
  auto& st = self->state;
  st.in_flight = 0;
  st.stats->backlog = 0;
  self->delayed_send(self, delay, respawn_atom::value);
}

void worker_done(facade_ptr self, uint64_t gen) {
  auto& st = self->state;
  if (gen != st.worker->generation() || st.in_flight == 0)
    return;
  st.in_flight--;
  st.stats->backlog = static_cast<int64_t>(st.in_flight);
}

facade_actor::behavior_type facade(facade_ptr self, settings cfg, telemetry::registry* reg,
                                   worker_factory make) {
  auto& st = self->state;
  cfg.max_in_flight = std::max<size_t>(1, cfg.max_in_flight);
  st.cfg = cfg;
  st.make = std::move(make);
  auto m = reader_metrics::registered_in(*reg);
  st.stats = m.facade;
  st.worker_stats = m.worker;
  st.hits = &m.hits;
  st.misses = &m.misses;
  st.latency = &m.read_seconds;
  st.worker.emplace("cache.reader", st.worker_stats, cfg.backoff_min, cfg.backoff_max);
  spawn_worker(self);
  // Supervision (actors/common/supervision.hpp): a worker that exits is
  // started again with backoff. Any other exit (shutdown) ends the facade
  // and, through the link, the worker.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    if (auto delay = self->state.worker->failed(msg))
      worker_gone(self, *delay);
    else
      self->quit(msg.reason);
  });
  auto note = telemetry::noter(self);
  auto start = [self](std::vector<time_range> per_minute,
                      std::vector<time_range> summed) -> caf::result<snapshot> {
    auto& st = self->state;
    auto ranges = per_minute.size(), sums = summed.size();
    // The bound: never queue behind a busy (maybe stuck) worker.
    if (!st.worker->running() || st.in_flight >= st.cfg.max_in_flight)
      return record(st, not_usable("cache reader busy or restarting", ranges, sums));
    auto id = st.next_id++;
    auto gen = st.worker->generation();
    auto rp = self->make_response_promise<snapshot>();
    auto due = self->clock().now() + st.cfg.timeout + st.cfg.answer_slack;
    st.waiting.emplace(id, waiting_read{rp, ranges, sums, std::chrono::steady_clock::now(), due});
    st.stats->backlog = static_cast<int64_t>(++st.in_flight);
    // The caller's deadline; the worker's slot is freed only by its reply
    // (or by replacing it when it is silent for `stuck_after`).
    st.watch.arm(self, due);
    timed_request<snapshot>(
      self, st.watch, st.worker->get(), st.cfg.stuck_after,
      [self, id, gen](snapshot& s) {
        worker_done(self, gen);
        self->state.worker->healthy();
        finish(self, id, std::move(s));
      },
      [self, id, gen](caf::error& err) {
        auto& st = self->state;
        auto current = gen == st.worker->generation() && st.worker->running();
        worker_done(self, gen);
        if (current && err == caf::sec::request_timeout)
          worker_gone(self, st.worker->replace(self, "no reply within stuck_after"));
        finish(self, id, not_usable("cache reader failed: " + to_string(err), 0));
      },
      snapshot_atom::value, std::move(per_minute), std::move(summed));
    return rp;
  };
  return {
    [=](snapshot_atom, std::vector<time_range> per_minute,
        std::vector<time_range> summed) -> caf::result<snapshot> {
      note();
      return start(std::move(per_minute), std::move(summed));
    },
    [=](snapshot_atom, std::vector<time_range> per_minute) -> caf::result<snapshot> {
      note();
      return start(std::move(per_minute), {});
    },
    [=](tick_atom) {
      note();
      on_tick(self);
    },
    [=](respawn_atom) {
      note();
      if (!self->state.worker->running())
        spawn_worker(self);
    },
  };
}

} // namespace

reader_actor spawn_cache_reader(caf::actor_system& sys, settings cfg, telemetry::registry& reg,
                                worker_factory make) {
  // Register the stats now, so they are visible as soon as this returns (the
  // facade initializes later, on the pool).
  reader_metrics::registered_in(reg);
  auto impl = sys.spawn(facade, std::move(cfg), &reg, std::move(make));
  return caf::actor_cast<reader_actor>(impl);
}

} // namespace ping::cache
