#include "actors/gateway/gateway.hpp"
#include "actors/gateway/metrics.hpp"

#include <algorithm>
#include <atomic>
#include <queue>
#include <unordered_map>
#include <vector>

#include <caf/all.hpp>

#include "actors/common/errors.hpp"
#include "actors/common/ids.hpp"
#include "actors/common/log.hpp"
#include "actors/common/note.hpp"

namespace ping::gateway {

caf::expected<int64_t> resolve_timestamp(int64_t timestamp_ms, int64_t now) {
  if (timestamp_ms == 0)
    return now;
  if (timestamp_ms < 0)
    return caf::make_error(ping_errc::invalid_argument, "timestamp_ms must not be negative");
  if (timestamp_ms > max_timestamp_ms)
    return caf::make_error(ping_errc::invalid_argument,
                           "timestamp_ms must not be past 9999-12-31T23:59:59.999Z");
  return timestamp_ms;
}

caf::error validate_range(const time_range& range) {
  if (!range.bounded)
    return caf::none;
  if (range.start_ms < 0 || range.end_ms < 0)
    return caf::make_error(ping_errc::invalid_argument,
                           "time_range start and end must not be negative");
  if (range.start_ms > max_timestamp_ms + 1 || range.end_ms > max_timestamp_ms + 1)
    return caf::make_error(ping_errc::invalid_argument,
                           "time_range start and end must not be past "
                           "9999-12-31T23:59:59.999Z (plus one millisecond for end)");
  if (range.start_ms > range.end_ms)
    return caf::make_error(ping_errc::invalid_argument, "time_range start must not be after end");
  return caf::none;
}

namespace {

using clock = std::chrono::steady_clock;

// The gateway's own timers, beside its public protocol.
using impl_actor
  = gateway_actor::extend<caf::reacts_to<tick_atom>,             // deadline sweep
                          caf::reacts_to<count_atom, tick_atom>, // the board's deadlines
                          caf::reacts_to<publish_atom>, // a nudge, after the acks queued (or held
                                                        // back)
                          caf::reacts_to<flush_atom>>;  // hand back the answers known so far

// Where a call's answer goes: its own reply (a single call), or its place
// in a batch (`batch` set).
template <class T>
struct answer_to {
  reply<T> single;
  std::shared_ptr<batch_reply> batch;
  uint32_t index = 0;
};

// A call waiting for persistence or the count reader, with its effective
// deadline (the caller's, capped by the gateway's own timeout).
struct pending_ping {
  answer_to<ping_ack> to;
  clock::time_point deadline;
  ping_ack ack;
  clock::time_point started;
  trace::context trace;
};

// Per-ping warnings (a failed commit, a deadline, a busy gateway) come in
// floods when they come: at most one line per second per kind, carrying
// the latest ping's trace id and how many lines were held back since.
struct warn_limiter {
  clock::time_point next{};
  uint64_t suppressed = 0;

  // True when a line may be written now; `held` is then the count held back.
  bool allow(clock::time_point now, uint64_t& held) {
    if (now < next) {
      ++suppressed;
      return false;
    }
    next = now + std::chrono::seconds(1);
    held = suppressed;
    suppressed = 0;
    return true;
  }
};

std::string trace_field(const trace::context& tc) {
  return trace::trace_id_string(tc);
}

struct pending_count {
  answer_to<count_result> to;
  clock::time_point deadline;
  clock::time_point started;
  trace::context trace;
};

// Lines about slow PingCounts: at most `per_second` a second (a stalled
// read makes every waiting count slow at once), the next line carrying how
// many were held back.
struct line_budget {
  static constexpr uint64_t per_second = 100;
  clock::time_point window{};
  uint64_t used = 0;
  uint64_t suppressed = 0;

  bool allow(clock::time_point now, uint64_t& held) {
    if (now >= window) {
      window = now + std::chrono::seconds(1);
      used = 0;
    }
    if (used >= per_second) {
      ++suppressed;
      return false;
    }
    ++used;
    held = suppressed;
    suppressed = 0;
    return true;
  }
};

// A call's deadline; calls already answered are skipped when they come up.
struct deadline_entry {
  clock::time_point at;
  uint64_t call;
  friend bool operator>(const deadline_entry& x, const deadline_entry& y) { return x.at > y.at; }
};

struct state {
  settings cfg;
  persistence::persistence_actor persistence;
  publisher::publisher_actor publisher;
  counts::counts_actor counts;
  std::shared_ptr<telemetry::actor_stats> stats;
  bool draining = false;
  // Calls waiting for persistence (pings) or the count reader (counts), by
  // call number. pings.size() is the in-flight count.
  uint64_t next_call = 1;
  std::unordered_map<uint64_t, pending_ping> pings;
  std::unordered_map<uint64_t, pending_count> counts_waiting;
  line_budget slow_count_lines;
  std::priority_queue<deadline_entry, std::vector<deadline_entry>, std::greater<>> deadlines;
  bool sweep_armed = false;
  clock::time_point last_nudge;
  bool nudge_armed = false; // a publish_atom to self is on its way
  bool nudge_timer = false; // ...and it is the timer of a held-back nudge
  bool flush_armed = false; // a flush_atom to self is on its way
  // Answers to batched calls known in this turn, handed back per batch at
  // its end (flush).
  std::vector<std::pair<std::shared_ptr<batch_reply>, answer>> outbox;
  std::atomic<uint64_t>* accepted = nullptr;
  std::atomic<uint64_t>* rejected_invalid = nullptr;
  std::atomic<uint64_t>* rejected_busy = nullptr;
  std::atomic<uint64_t>* failed = nullptr;
  std::atomic<uint64_t>* expired = nullptr;
  telemetry::histogram* latency = nullptr;
  telemetry::histogram* count_from_cache = nullptr; // by the answer's source
  telemetry::histogram* count_from_postgres = nullptr;
  warn_limiter failed_warnings;
  warn_limiter deadline_warnings;
  warn_limiter busy_warnings;
  static inline const char* name = "gateway";
};

using self_ptr = impl_actor::stateful_pointer<state>;

caf::error deadline_error() {
  return caf::make_error(ping_errc::deadline_exceeded, "deadline exceeded");
}

// Answers a call: a single call at once, a batched one at the turn's flush
// (`slot`: the field of `answer` that carries a batched call's value).
template <class T>
void answer_call(state& st, answer_to<T>& to, caf::expected<T> res, T answer::*slot) {
  if (!to.batch) {
    if (res)
      to.single.deliver(std::move(*res));
    else
      to.single.deliver(std::move(res.error()));
    return;
  }
  answer a;
  a.index = to.index;
  if (res)
    a.*slot = std::move(*res);
  else
    a.err = std::move(res.error());
  st.outbox.emplace_back(std::move(to.batch), std::move(a));
}

void answer_ping(state& st, answer_to<ping_ack>& to, caf::expected<ping_ack> res) {
  answer_call(st, to, std::move(res), &answer::ack);
}

void answer_count(state& st, answer_to<count_result>& to, caf::expected<count_result> res) {
  answer_call(st, to, std::move(res), &answer::count);
}

// Hands the turn's answers back: one hand-over per batch (answers of one
// batch are adjacent: they come from one commit, count or sweep).
void flush(state& st) {
  if (st.outbox.empty())
    return;
  std::vector<answer> group;
  for (size_t i = 0; i < st.outbox.size(); ++i) {
    group.push_back(std::move(st.outbox[i].second));
    if (i + 1 == st.outbox.size() || st.outbox[i + 1].first != st.outbox[i].first) {
      st.outbox[i].first->deliver(group);
      group.clear();
    }
  }
  st.outbox.clear();
}

bool waiting(const state& st, uint64_t call) {
  return st.pings.count(call) > 0 || st.counts_waiting.count(call) > 0;
}

void arm_sweep(self_ptr self) {
  auto& st = self->state;
  while (!st.deadlines.empty() && !waiting(st, st.deadlines.top().call))
    st.deadlines.pop();
  if (st.sweep_armed || st.deadlines.empty())
    return;
  st.sweep_armed = true;
  auto delay = std::max<caf::timespan>(st.deadlines.top().at - clock::now(),
                                       st.cfg.deadline_granularity);
  self->delayed_send(self, delay, tick_atom::value);
}

// Registers a call's deadline. Entries of answered calls stay in the heap
// until they come up; when they outnumber the waiting calls, the heap is
// rebuilt from the waiting calls (amortized O(1) per call, bounded memory).
void track(self_ptr self, uint64_t call, clock::time_point at) {
  auto& st = self->state;
  st.deadlines.push({at, call});
  // (`at` is also in the call's pending entry, for the rebuild below.)
  auto live = st.pings.size() + st.counts_waiting.size();
  if (st.deadlines.size() > 2 * live + 1024) {
    std::vector<deadline_entry> keep;
    keep.reserve(live);
    for (auto& [id, p] : st.pings)
      keep.push_back({p.deadline, id});
    for (auto& [id, c] : st.counts_waiting)
      keep.push_back({c.deadline, id});
    st.deadlines = decltype(st.deadlines){std::greater<>{}, std::move(keep)};
  }
  arm_sweep(self);
}

void note_in_flight(state& st) {
  st.stats->backlog = static_cast<int64_t>(st.pings.size());
}

// The publisher learns of new outbox rows at most once per nudge_interval
// (by default 0: after every turn with acks; the publisher coalesces);
// a nudge held back is sent when the interval ends. The nudge goes out
// from a message to self, after the acks already queued (one commit's acks
// arrive together): one nudge for them all, and no timer (the clock
// thread's wake-up) unless the last nudge was less than an interval ago.
void nudge(self_ptr self) {
  auto& st = self->state;
  if (st.nudge_armed)
    return;
  st.nudge_armed = true;
  self->send(self, publish_atom::value);
}

// Answers that commits and counts produce are handed back by a message to
// self, after the replies already queued: the acks of one commit arrive
// together, and go back together.
void flush_later(self_ptr self) {
  auto& st = self->state;
  if (st.flush_armed || st.outbox.empty())
    return;
  st.flush_armed = true;
  self->send(self, flush_atom::value);
}

void finish_ping(self_ptr self, uint64_t call, caf::error err) {
  auto& st = self->state;
  auto i = st.pings.find(call);
  if (i == st.pings.end())
    return; // answered at its deadline
  auto p = std::move(i->second);
  st.pings.erase(i);
  note_in_flight(st);
  if (err) {
    (*st.failed)++;
    if (uint64_t held = 0; st.failed_warnings.allow(clock::now(), held))
      log::warn("gateway", "ping not stored",
                {{log::trace_id_key, trace_field(p.trace)},
                 {"error", to_string(err)},
                 {"suppressed", std::to_string(held)}});
    answer_ping(st, p.to, std::move(err));
    flush_later(self);
    return;
  }
  (*st.accepted)++;
  if (log::enabled(log::level::debug))
    log::debug("gateway", "ping committed",
               {{log::trace_id_key, trace_field(p.trace)}, {"id", p.ack.id}});
  std::chrono::duration<double> took = clock::now() - p.started;
  st.latency->observe(took.count());
  answer_ping(st, p.to, std::move(p.ack));
  flush_later(self);
  nudge(self);
}

// A PingCount answered after `slow_count` (or at its deadline): its trace
// id, and the count reader's read that answered it (whose own line, when
// it was slow, has the same `read`).
void slow_count(state& st, const pending_count& c, clock::time_point now,
                const caf::expected<count_result>& res) {
  uint64_t held = 0;
  if (!log::enabled(log::level::info) || !st.slow_count_lines.allow(now, held))
    return;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - c.started).count();
  if (res)
    log::info("gateway", "slow PingCount",
              {{log::trace_id_key, trace_field(c.trace)},
               {"ms", std::to_string(ms)},
               {"read", std::to_string(res->read)},
               {"source", res->source},
               {"suppressed", std::to_string(held)}});
  else
    log::info("gateway", "slow PingCount",
              {{log::trace_id_key, trace_field(c.trace)},
               {"ms", std::to_string(ms)},
               {"error", to_string(res.error())},
               {"suppressed", std::to_string(held)}});
}

void finish_count(self_ptr self, uint64_t call, caf::expected<count_result> res) {
  auto& st = self->state;
  auto i = st.counts_waiting.find(call);
  if (i == st.counts_waiting.end())
    return;
  auto to = std::move(i->second.to);
  auto now = clock::now();
  std::chrono::duration<double> took = now - i->second.started;
  if (now - i->second.started >= st.cfg.slow_count)
    slow_count(st, i->second, now, res);
  st.counts_waiting.erase(i);
  if (res)
    (res->source == "postgres" ? st.count_from_postgres : st.count_from_cache)
      ->observe(took.count());
  answer_count(st, to, std::move(res));
  flush_later(self);
}

// A rejected ping: debug (the client has the reason; the metrics count it).
void rejected(const trace::context& tc, const caf::error& err) {
  if (log::enabled(log::level::debug))
    log::debug("gateway", "ping rejected",
               {{log::trace_id_key, trace_field(tc)}, {"error", to_string(err)}});
}

// Validates and stores one ping (its key, if any, travels with the row);
// the caller waits until `until`. Answers of batched calls wait for flush.
// `tc` is the call's trace: its id is on every line about the ping, and
// travels with the row when the client sent it; a trace started here lends
// the ping its id (a UUIDv7 of the call's arrival).
// With `collect` set, the row is added to it (with its call) instead of
// being sent: the caller stores the turn's rows in one request
// (store_rows).
void accept_ping(self_ptr self, int64_t timestamp_ms, std::string key, trace::context tc,
                 clock::time_point until, answer_to<ping_ack> to,
                 std::vector<std::pair<uint64_t, ping_row>>* collect = nullptr) {
  auto& st = self->state;
  auto reject = [&](caf::error err) {
    rejected(tc, err);
    answer_ping(self->state, to, std::move(err));
  };
  if (st.draining) {
    reject(caf::make_error(ping_errc::shutting_down, "server is shutting down"));
    return;
  }
  if (auto valid = idempotency_key(key, nullptr); !valid) {
    (*st.rejected_invalid)++;
    reject(std::move(valid.error()));
    return;
  }
  auto now = now_ms();
  auto ts = resolve_timestamp(timestamp_ms, now);
  if (!ts) {
    (*st.rejected_invalid)++;
    reject(std::move(ts.error()));
    return;
  }
  if (st.pings.size() >= st.cfg.max_in_flight) {
    (*st.rejected_busy)++;
    auto err = caf::make_error(ping_errc::resource_exhausted,
                               "too many pings in flight; retry later");
    if (uint64_t held = 0; st.busy_warnings.allow(clock::now(), held))
      log::warn("gateway", "too many pings in flight; rejecting",
                {{log::trace_id_key, trace_field(tc)},
                 {"in_flight", std::to_string(st.pings.size())},
                 {"suppressed", std::to_string(held)}});
    else
      rejected(tc, err);
    answer_ping(st, to, std::move(err));
    return;
  }
  auto started = clock::now();
  auto deadline = std::min(until, started + st.cfg.store_timeout);
  ping_row row{tc.started ? trace::uuid_text(tc) : make_uuid_v7(now), *ts, now, 0};
  if (!tc.started) {
    row.trace_hi = tc.trace_hi;
    row.trace_lo = tc.trace_lo;
  }
  if (!key.empty()) {
    row.key = std::move(key);
    row.key_ttl_ms
      = std::chrono::duration_cast<std::chrono::milliseconds>(st.cfg.idempotency_ttl).count();
  }
  row.partition = partition_of(row.id, st.cfg.partitions);
  if (log::enabled(log::level::debug))
    log::debug("gateway", "ping accepted",
               {{log::trace_id_key, trace_field(tc)},
                {"id", row.id},
                {"partition", std::to_string(row.partition)},
                {"timestamp_ms", std::to_string(row.pinged_at_ms)}});
  auto call = st.next_call++;
  st.pings.emplace(call, pending_ping{std::move(to), deadline, ping_ack{row.id, row.pinged_at_ms},
                                      started, tc});
  note_in_flight(st);
  track(self, call, deadline);
  if (collect) {
    collect->emplace_back(call, std::move(row));
    return;
  }
  // No per-call timer: the sweep answers at the deadline, and a late
  // commit then finds no call waiting.
  self->request(st.persistence, caf::infinite, store_atom::value, std::move(row))
    .then([self, call](int64_t) { finish_ping(self, call, caf::none); },
          [self, call](caf::error& err) { finish_ping(self, call, std::move(err)); });
}

// Stores the rows of one batch in one request; each call is finished with
// its row's outcome. No timeout on the request either: the sweep answers
// every call at its deadline, and a persistence that stopped answers the
// request with an error (CAF's answer for a terminated receiver). What a
// wedged persistence leaves behind is bounded: one response handler per
// request (per front-end batch), while max_in_flight bounds the calls.
void store_rows(self_ptr self, std::vector<std::pair<uint64_t, ping_row>>& collected) {
  if (collected.empty())
    return;
  auto& st = self->state;
  std::vector<uint64_t> calls;
  std::vector<ping_row> rows;
  calls.reserve(collected.size());
  rows.reserve(collected.size());
  for (auto& [call, row] : collected) {
    calls.push_back(call);
    rows.push_back(std::move(row));
  }
  self->request(st.persistence, caf::infinite, store_atom::value, std::move(rows))
    .then(
      [self, calls](std::vector<caf::error>& outcomes) {
        for (size_t i = 0; i < calls.size(); ++i)
          finish_ping(self, calls[i],
                      i < outcomes.size()
                        ? std::move(outcomes[i])
                        : caf::make_error(ping_errc::internal, "persistence lost the outcome"));
      },
      [self, calls](caf::error& err) {
        for (auto call : calls)
          finish_ping(self, call, err);
      });
}

// Validates and asks the count reader; the caller waits until `until`.
// `tc`: the call's trace (invalid: a new one). With `collect` set, the
// range is added to it (with its call) instead of being sent: the caller
// asks the turn's ranges in one request (count_ranges).
void accept_count(self_ptr self, const time_range& range, clock::time_point until,
                  answer_to<count_result> to, trace::context tc = {},
                  std::vector<std::pair<uint64_t, time_range>>* collect = nullptr) {
  auto& st = self->state;
  if (auto err = validate_range(range)) {
    answer_count(st, to, std::move(err));
    return;
  }
  auto started = clock::now();
  auto deadline = std::min(until, started + st.cfg.count_timeout);
  auto call = st.next_call++;
  st.counts_waiting.emplace(call, pending_count{std::move(to), deadline, started,
                                                tc.valid() ? tc : trace::start(nullptr, now_ms())});
  track(self, call, deadline);
  if (collect) {
    collect->emplace_back(call, range);
    return;
  }
  self->request(st.counts, caf::infinite, count_atom::value, range)
    .then([self, call](count_result& r) { finish_count(self, call, std::move(r)); },
          [self, call](caf::error& err) { finish_count(self, call, std::move(err)); });
}

// Asks the ranges of one batch in one request; each call is finished with
// its range's outcome (its count, with the read that answered it, or its
// error). No timeout, as for the rows: the sweep answers every call at its
// deadline; the count reader bounds what waits (max_waiting, per range).
void count_ranges(self_ptr self, std::vector<std::pair<uint64_t, time_range>>& collected) {
  if (collected.empty())
    return;
  auto& st = self->state;
  std::vector<uint64_t> calls;
  std::vector<time_range> ranges;
  calls.reserve(collected.size());
  ranges.reserve(collected.size());
  for (auto& [call, range] : collected) {
    calls.push_back(call);
    ranges.push_back(range);
  }
  self->request(st.counts, caf::infinite, count_atom::value, std::move(ranges))
    .then(
      [self, calls](std::vector<counts::count_outcome>& outcomes) {
        for (size_t i = 0; i < calls.size(); ++i) {
          if (i >= outcomes.size())
            finish_count(self, calls[i],
                         caf::make_error(ping_errc::internal, "the count reader lost the outcome"));
          else if (outcomes[i].err)
            finish_count(self, calls[i], std::move(outcomes[i].err));
          else
            finish_count(self, calls[i], std::move(outcomes[i].result));
        }
      },
      [self, calls](caf::error& err) {
        for (auto call : calls)
          finish_count(self, call, err);
      });
}

impl_actor::behavior_type gateway(self_ptr self, settings cfg,
                                  persistence::persistence_actor persistence,
                                  publisher::publisher_actor publisher, counts::counts_actor counts,
                                  telemetry::registry* reg) {
  auto& st = self->state;
  st.cfg = cfg;
  // The first ack nudges at once (a default time_point would hold it back
  // while the steady clock, which starts near boot, is below the interval).
  st.last_nudge = clock::now() - cfg.nudge_interval;
  st.persistence = std::move(persistence);
  st.publisher = std::move(publisher);
  st.counts = std::move(counts);
  auto m = metrics::registered_in(*reg);
  st.stats = m.actor;
  st.accepted = &m.accepted;
  st.rejected_invalid = &m.rejected_invalid;
  st.rejected_busy = &m.rejected_busy;
  st.failed = &m.failed;
  st.expired = &m.deadline_exceeded;
  st.latency = &m.ping_seconds;
  st.count_from_cache = &m.count_from_cache_seconds;
  st.count_from_postgres = &m.count_from_postgres_seconds;
  auto note = telemetry::noter(self);
  return {
    [=](ping_atom, int64_t timestamp_ms, ping_reply& reply) {
      note();
      auto until = reply.deadline();
      accept_ping(self, timestamp_ms, std::string{}, trace::start(nullptr, now_ms()), until,
                  {std::move(reply), nullptr, 0});
    },
    [=](ping_atom, int64_t timestamp_ms, std::string& key, ping_reply& reply) {
      note();
      auto until = reply.deadline();
      accept_ping(self, timestamp_ms, std::move(key), trace::start(nullptr, now_ms()), until,
                  {std::move(reply), nullptr, 0});
    },
    [=](ping_atom, int64_t timestamp_ms, std::string& key, trace::context tc, ping_reply& reply) {
      note();
      auto until = reply.deadline();
      accept_ping(self, timestamp_ms, std::move(key), tc, until, {std::move(reply), nullptr, 0});
    },
    [=](count_atom, time_range range, count_reply& reply) {
      note();
      auto until = reply.deadline();
      accept_count(self, range, until, {std::move(reply), nullptr, 0});
    },
    [=](count_atom, time_range range, trace::context tc, count_reply& reply) {
      note();
      auto until = reply.deadline();
      accept_count(self, range, until, {std::move(reply), nullptr, 0}, tc);
    },
    [=](batch_atom, call_batch& batch) {
      note();
      if (batch.take)
        batch.take(batch);
      if (!batch.reply)
        return;
      // The batch's pings go to persistence as one request, its counts to
      // the count reader as one.
      std::vector<std::pair<uint64_t, ping_row>> rows;
      std::vector<std::pair<uint64_t, time_range>> ranges;
      for (uint32_t i = 0; i < batch.calls.size() && i < batch.reply->size(); ++i) {
        auto& c = batch.calls[i];
        if (c.count)
          accept_count(self, c.range, c.deadline, {{}, batch.reply, i}, c.trace, &ranges);
        else
          accept_ping(self, c.timestamp_ms, std::move(c.key),
                      c.trace.valid() ? c.trace : trace::start(nullptr, now_ms()), c.deadline,
                      {{}, batch.reply, i}, &rows);
      }
      store_rows(self, rows);
      count_ranges(self, ranges);
      flush(self->state);
    },
    [=](count_atom, const count_round& r) {
      note();
      auto& st = self->state;
      if (r.read)
        self->send(st.counts, count_atom::value);
      if (r.wake_at)
        self->delayed_send(
          self, std::max<caf::timespan>(*r.wake_at - clock::now(), st.cfg.deadline_granularity),
          count_atom::value, tick_atom::value);
    },
    [=](count_atom, tick_atom) {
      if (self->state.cfg.board)
        self->state.cfg.board->wake_all();
    },
    [=](drain_atom) {
      note();
      self->state.draining = true;
    },
    [=](tick_atom) {
      auto& st = self->state;
      st.sweep_armed = false;
      auto now = clock::now();
      while (!st.deadlines.empty() && st.deadlines.top().at <= now) {
        auto call = st.deadlines.top().call;
        st.deadlines.pop();
        if (auto i = st.pings.find(call); i != st.pings.end()) {
          (*st.failed)++;
          (*st.expired)++;
          if (uint64_t held = 0; st.deadline_warnings.allow(now, held))
            log::warn("gateway", "ping not committed by its deadline",
                      {{log::trace_id_key, trace_field(i->second.trace)},
                       {"id", i->second.ack.id},
                       {"suppressed", std::to_string(held)}});
          answer_ping(st, i->second.to, deadline_error());
          st.pings.erase(i);
        } else if (auto j = st.counts_waiting.find(call); j != st.counts_waiting.end()) {
          (*st.expired)++;
          if (now - j->second.started >= st.cfg.slow_count)
            slow_count(st, j->second, now, caf::expected<count_result>{deadline_error()});
          answer_count(st, j->second.to, deadline_error());
          st.counts_waiting.erase(j);
        }
      }
      flush(st);
      note_in_flight(st);
      arm_sweep(self);
    },
    [=](flush_atom) {
      auto& st = self->state;
      st.flush_armed = false;
      flush(st);
    },
    [=](publish_atom) {
      auto& st = self->state;
      auto now = clock::now();
      auto since = now - st.last_nudge;
      if (!st.nudge_timer && since < st.cfg.nudge_interval) {
        st.nudge_timer = true;
        self->delayed_send(self, st.cfg.nudge_interval - since, publish_atom::value);
        return;
      }
      st.nudge_timer = false;
      st.nudge_armed = false;
      st.last_nudge = now;
      self->send(st.publisher, publish_atom::value);
    },
  };
}

} // namespace

gateway_actor spawn_gateway(caf::actor_system& sys, settings cfg,
                            persistence::persistence_actor persistence,
                            publisher::publisher_actor publisher, counts::counts_actor counts,
                            telemetry::registry& reg) {
  auto impl = sys.spawn(gateway, std::move(cfg), std::move(persistence), std::move(publisher),
                        std::move(counts), &reg);
  return caf::actor_cast<gateway_actor>(impl);
}

} // namespace ping::gateway
