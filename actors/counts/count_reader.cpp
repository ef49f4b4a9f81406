#include "actors/counts/count_reader.hpp"
#include "actors/counts/metrics.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <tuple>

#include <caf/all.hpp>

#include "actors/cache/range_plan.hpp"
#include "actors/common/errors.hpp"
#include "actors/common/log.hpp"
#include "actors/common/note.hpp"
#include "actors/common/watchdog.hpp"

namespace ping::counts {

namespace {

// A batch of ranges asked in one message: answered once, when its last
// range has its outcome.
struct batch_answer {
  std::optional<caf::typed_response_promise<std::vector<count_outcome>>> rp;
  std::vector<count_outcome> outcomes;
  size_t left = 0;
};

// A request waiting for a read: a count (its own promise, or its place in
// a batch) or the console's minutes.
struct waiter {
  time_range range;
  std::optional<caf::typed_response_promise<count_result>> count_rp;
  std::optional<caf::typed_response_promise<minute_counts>> minutes_rp;
  std::shared_ptr<batch_answer> group;
  size_t index = 0;
  std::shared_ptr<count_board> board; // a round: the answer is published there
  uint64_t round = 0;                 // ...numbered (its read's id) when it started

  bool counts() const { return !minutes_rp; }
};

// Answers a count waiter: its promise, or its place in its batch (which is
// answered with its last outcome).
void settle_count(waiter& w, caf::expected<count_result> res) {
  if (w.board) {
    published_total p;
    p.round = w.round;
    if (res)
      p.result = std::move(*res);
    else
      p.err = std::move(res.error());
    w.board->publish(std::move(p));
    return;
  }
  if (!w.group) {
    if (res)
      w.count_rp->deliver(std::move(*res));
    else
      w.count_rp->deliver(std::move(res.error()));
    return;
  }
  auto& g = *w.group;
  auto& out = g.outcomes[w.index];
  if (res)
    out.result = std::move(*res);
  else
    out.err = std::move(res.error());
  if (--g.left == 0 && g.rp)
    g.rp->deliver(std::move(g.outcomes));
}

using steady = std::chrono::steady_clock;

// A read in flight: its id (the `read` log field and count_result::read),
// its requests, when it and its statement started, and the tail's rows.
struct read {
  uint64_t id = 0;
  std::vector<waiter> batch;
  steady::time_point started;
  std::optional<steady::time_point> statement_started;
  std::optional<int64_t> tail_rows;
  bool round = false; // it answers the board
};

// The reader's own interface: the watchdog's timer besides counts_actor.
using impl_actor = counts_actor::extend<caf::reacts_to<tick_atom>,              // the watchdog
                                        caf::reacts_to<count_atom, tick_atom>>; // a round's gap

struct state {
  settings cfg;
  cache::reader_actor cache;
  persistence::persistence_actor store;
  std::vector<waiter> waiting; // for the next read
  bool round_waiting = false;  // a round (for the board) among them
  bool round_timer = false;    // ...or asked when round_gap has passed (a timer)
  // When the last round started (the actor's clock), and that time when
  // the gap's timer was armed.
  std::optional<caf::actor_clock::time_point> last_round;
  std::optional<caf::actor_clock::time_point> round_timer_after;
  // The gap's end a front-end was asked to time (count_board::ask_at).
  std::optional<caf::actor_clock::time_point> round_asked_at;
  size_t reads = 0;            // reads (snapshot, then its one statement) in flight
  bool round_reading = false;  // ...one of them a round (at most one at a time)
  size_t fallbacks = 0;        // per-minute PostgreSQL counts outstanding
  std::string fallback_reason; // of the last read; logged when it changes
  std::shared_ptr<telemetry::actor_stats> stats;
  std::atomic<uint64_t>* from_cache = nullptr;
  std::atomic<uint64_t>* from_postgres = nullptr;
  telemetry::histogram* read_latency = nullptr;
  telemetry::histogram* read_size = nullptr;
  std::atomic<uint64_t>* guesses_held = nullptr;
  std::atomic<uint64_t>* guesses_missed = nullptr;
  std::atomic<uint64_t>* snapshots_reused = nullptr;
  // For reads of totals alone (settings::totals_snapshot_age): the last
  // usable snapshot's sequences and total, and when it was read (the
  // actor's clock); none after a read that fell back.
  std::shared_ptr<cache::snapshot> totals;
  caf::actor_clock::time_point totals_at;
  // For statements asked before their snapshot (settings::guess_ahead):
  // the sequences of the last usable snapshot, whether the one before had
  // the same, and the cached span each summed range got last (at most
  // `max_remembered_spans`, forgotten all at once beyond).
  std::vector<int64_t> last_seqs;
  bool seqs_steady = false;
  std::map<std::tuple<bool, int64_t, int64_t>, cache::range_sum> spans;
  uint64_t next_read = 1; // the next read's id (the `read` log field, count_result::read)
  size_t last_batch = 0;  // the requests the last read started with
  // The deadlines of its requests to the cache and to persistence: one
  // timer for all of them, not a CAF timer each (actors/common/watchdog.hpp).
  watchdog watch;
  static inline const char* name = "counts";
};

using self_ptr = impl_actor::stateful_pointer<state>;
using read_ptr = std::shared_ptr<read>;

constexpr size_t max_remembered_spans = 1024;

std::tuple<bool, int64_t, int64_t> key_of(const time_range& r) {
  return {r.bounded, r.start_ms, r.end_ms};
}

int64_t first_minute(const time_range& r) {
  return r.start_ms / ms_per_minute;
}

int32_t minutes_in(const time_range& r) {
  return static_cast<int32_t>((r.end_ms - r.start_ms) / ms_per_minute);
}

void fail(waiter& w, const caf::error& err) {
  if (w.counts())
    settle_count(w, err);
  else
    w.minutes_rp->deliver(err);
}

caf::error raw_rows_dropped() {
  return caf::make_error(ping_errc::failed_precondition,
                         "the range starts or ends inside a minute whose raw pings "
                         "retention dropped; only whole minutes can be counted there");
}

int index_of(std::vector<time_range>& xs, const time_range& r) {
  auto it = std::find(xs.begin(), xs.end(), r);
  auto i = static_cast<int>(it - xs.begin());
  if (it == xs.end())
    xs.push_back(r);
  return i;
}

// The console's minutes when the cache cannot answer: PostgreSQL's minute
// buckets, at most `max_fallbacks` at once, refused beyond.
void minutes_from_postgres(self_ptr self, waiter w) {
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
  auto rp = *w.minutes_rp;
  timed_request<std::vector<int64_t>>(
    self, st.watch, st.store, st.cfg.fallback_timeout,
    [rp, settle](std::vector<int64_t>& xs) mutable {
      settle();
      rp.deliver(minute_counts{std::move(xs), "postgres"});
    },
    [rp, settle](caf::error& err) mutable {
      settle();
      rp.deliver(std::move(err));
    },
    minutes_atom::value, first_minute(w.range), minutes_in(w.range));
}

void note_reason(self_ptr self, const std::string& reason) {
  auto& st = self->state;
  if (reason == st.fallback_reason)
    return;
  if (reason.empty())
    log::info("counts", "counts served from the cache again");
  else
    log::warn("counts", "the cache cannot answer; counting in PostgreSQL", {{"reason", reason}});
  st.fallback_reason = reason;
}

void start_read(self_ptr self);

// A round for the board waits for the next read: one waiting request,
// however many calls it answers; asked again while one waits, it is that
// one. Within `round_gap` of the last round's start it waits until the gap
// has passed: a front-end that keeps timers asks again then (the board's
// ask_at, once per gap), or else a timer of its own (one at a time).
void want_round(self_ptr self) {
  auto& st = self->state;
  if (!st.cfg.board || st.round_waiting)
    return;
  if (st.last_round && st.cfg.round_gap > caf::timespan{0}) {
    auto due = *st.last_round + st.cfg.round_gap;
    auto now = self->clock().now(); // the actor's clock, as its timers
    if (now < due) {
      if (st.round_asked_at == due)
        return;
      if (!st.round_timer && st.cfg.board->ask_at(due)) {
        st.round_asked_at = due;
        return;
      }
      if (!st.round_timer) {
        st.round_timer = true;
        st.round_timer_after = st.last_round;
        self->delayed_send(self, due - now, count_atom::value, tick_atom::value);
      }
      return;
    }
  }
  st.round_waiting = true;
  st.waiting.push_back({time_range{}, std::nullopt, std::nullopt, nullptr, 0, st.cfg.board, 0});
  st.stats->backlog = static_cast<int64_t>(st.waiting.size());
}

// A read slower than `slow_threshold`: one line with its id, which the
// gateway's line about each slow PingCount it answered names. The tail's
// rows when the cache answered (PostgreSQL counted alone otherwise).
void log_slow_read(const state& st, const read& r, steady::time_point now) {
  auto took = now - r.started;
  if (took < st.cfg.slow_threshold || !log::enabled(log::level::info))
    return;
  auto ms = [](steady::duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  };
  auto statement = r.statement_started ? ms(now - *r.statement_started) : "0";
  if (r.tail_rows)
    log::info("counts", "slow count read",
              {{"read", std::to_string(r.id)},
               {"ms", ms(took)},
               {"requests", std::to_string(r.batch.size())},
               {"statement_ms", statement},
               {"tail_rows", std::to_string(*r.tail_rows)},
               {"source", "cache"}});
  else
    log::info("counts", "slow count read",
              {{"read", std::to_string(r.id)},
               {"ms", ms(took)},
               {"requests", std::to_string(r.batch.size())},
               {"statement_ms", statement},
               {"source", "postgres"}});
}

void read_done(self_ptr self, const read_ptr& r) {
  auto& st = self->state;
  auto now = steady::now();
  std::chrono::duration<double> took = now - r->started;
  st.read_latency->observe(took.count());
  log_slow_read(st, *r, now);
  --st.reads;
  if (r->round) {
    st.round_reading = false;
    // Calls arrived on the board during its round: the next round, without
    // a message from the front-ends.
    if (st.cfg.board && st.cfg.board->next_wanted())
      want_round(self);
  }
  start_read(self);
}

// The cache cannot answer this read: PostgreSQL counts every range of the
// batch (and the total, from its heads) in one statement, started after
// every request of the batch arrived; the console's minutes come from its
// minute buckets. The read ends when that statement answered, so a read
// has at most one statement in flight.
void fall_back_all(self_ptr self, const read_ptr& r, const std::string& reason) {
  note_reason(self, reason);
  self->state.totals = nullptr; // the next read of totals takes a snapshot
  auto ranges = std::make_shared<std::vector<time_range>>();
  auto slots = std::make_shared<std::vector<int>>();
  for (auto& w : r->batch) {
    if (w.counts()) {
      slots->push_back(index_of(*ranges, w.range));
    } else {
      slots->push_back(-1);
      minutes_from_postgres(self, std::move(w));
    }
  }
  if (ranges->empty()) {
    read_done(self, r);
    return;
  }
  auto& st = self->state;
  r->statement_started = steady::now();
  timed_request<persistence::read_counts>(
    self, st.watch, st.store, st.cfg.fallback_timeout,
    [self, r, slots](persistence::read_counts& rc) {
      auto& st = self->state;
      for (size_t i = 0; i < r->batch.size(); ++i) {
        auto slot = (*slots)[i];
        auto& w = r->batch[i];
        if (slot < 0 || !w.counts())
          continue;
        auto n = static_cast<size_t>(slot) < rc.ranges.size() ? rc.ranges[static_cast<size_t>(slot)]
                                                              : -1;
        if (n < 0) {
          settle_count(w, raw_rows_dropped());
          continue;
        }
        (*st.from_postgres)++;
        settle_count(w, count_result{n, "postgres", r->id});
      }
      read_done(self, r);
    },
    [self, r, slots](caf::error& err) {
      for (size_t i = 0; i < r->batch.size(); ++i)
        if ((*slots)[i] >= 0 && r->batch[i].counts())
          settle_count(r->batch[i], err);
      read_done(self, r);
    },
    tail_atom::value, std::vector<int64_t>{}, false, *ranges, int64_t{-1});
}

// Pings of the tail in the minutes [first, end).
int64_t tail_in(const std::map<int64_t, int64_t>& tail, int64_t first, int64_t end) {
  int64_t n = 0;
  for (auto it = tail.lower_bound(first); it != tail.end() && it->first < end; ++it)
    n += it->second;
  return n;
}

// Which ranges of a batch are asked of the cache, each once: per minute
// (the console's minutes) or summed (bounded counts); and, once the
// snapshot is in, which parts of the summed ones PostgreSQL counts.
struct batch_ranges {
  std::vector<time_range> per_minute;
  std::vector<time_range> summed;
  std::vector<int> slot;            // per waiter: its index in per_minute or summed; -1 for totals
  std::vector<time_range> postgres; // the parts outside the cached spans, each once
  std::vector<std::vector<int>> parts; // per waiter: its indices in `postgres`
};

// Answers the batch from the snapshot plus the read (docs/counts.md):
// totals are the cache's total plus the tail; a summed range is its cached
// span's buckets plus the tail in that span, plus its parts outside the
// span counted by the same statement as the tail; a range per minute is
// its buckets plus the tail, minute by minute.
void answer(self_ptr self, read& r, const batch_ranges& asked, const cache::snapshot& snap,
            const persistence::read_counts& rc) {
  auto& st = self->state;
  auto& tail = rc.tail;
  std::map<int64_t, int64_t> tail_minutes(tail.minutes.begin(), tail.minutes.end());
  for (size_t i = 0; i < r.batch.size(); ++i) {
    auto& w = r.batch[i];
    auto slot = static_cast<size_t>(asked.slot[i]);
    if (!w.range.bounded) {
      (*st.from_cache)++;
      settle_count(w, count_result{snap.total + tail.total, "cache", r.id});
      continue;
    }
    if (w.counts()) {
      auto& sum = snap.sums[slot];
      cache::minute_span span{sum.first_minute, sum.end_minute};
      auto n = span.empty() ? 0 : sum.count + tail_in(tail_minutes, span.lo, span.hi);
      bool dropped = false;
      for (auto k : asked.parts[i]) {
        auto part = static_cast<size_t>(k) < rc.ranges.size() ? rc.ranges[static_cast<size_t>(k)]
                                                              : -1;
        dropped |= part < 0;
        n += part;
      }
      if (dropped) {
        settle_count(w, raw_rows_dropped());
        continue;
      }
      (*(span.empty() ? st.from_postgres : st.from_cache))++;
      settle_count(w, count_result{n, span.empty() ? "postgres" : "cache", r.id});
      continue;
    }
    auto& view = snap.ranges[slot];
    if (!view.covered) {
      minutes_from_postgres(self, std::move(w)); // not in minute buckets: PostgreSQL
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

// What a read asks of PostgreSQL besides its sequences and parts: whether
// the tail is wanted per minute, and the edge hint (sql::read).
struct statement_args {
  bool per_minute = false;
  int64_t edge_pings = 0;
};

// Adds a summed range's parts outside its cached span to what the read asks
// of PostgreSQL (each part once in `postgres`; their indices returned), and
// its edge minutes to the edge hint.
std::vector<int> leave_to_postgres(const time_range& range, const cache::range_sum& sum,
                                   std::vector<time_range>& postgres, statement_args& a) {
  std::vector<int> parts;
  for (auto& part : cache::outside(range, {sum.first_minute, sum.end_minute}))
    parts.push_back(index_of(postgres, part));
  if (a.edge_pings >= 0)
    a.edge_pings = sum.edge_pings < 0 ? -1 : std::max(a.edge_pings, sum.edge_pings);
  return parts;
}

// The read's one statement, from its snapshot: the tail above the
// snapshot's sequences and every part the cache does not hold.
void run_statement(self_ptr self, const read_ptr& r, std::shared_ptr<batch_ranges> asked,
                   std::shared_ptr<cache::snapshot> snap, statement_args a) {
  auto& st = self->state;
  r->statement_started = steady::now();
  timed_request<persistence::read_counts>(
    self, st.watch, st.store, st.cfg.tail_timeout,
    [self, r, asked, snap](persistence::read_counts& rc) {
      if (!rc.tail.consistent) {
        fall_back_all(self, r, "the cache claims sequences PostgreSQL does not hold");
        return;
      }
      note_reason(self, "");
      r->tail_rows = rc.tail.total;
      answer(self, *r, *asked, *snap, rc);
      read_done(self, r);
    },
    [self, r](caf::error& err) { fall_back_all(self, r, "tail query failed: " + to_string(err)); },
    tail_atom::value, snap->seqs, a.per_minute, asked->postgres, a.edge_pings);
}

// A statement asked beside the read's snapshot instead of after it
// (settings::guess_ahead): with the sequences of the last snapshot and the
// parts the cached spans of the last snapshots leave to PostgreSQL. It
// answers the read only if the snapshot has those very sequences and leaves
// those very parts (docs/counts.md, "A statement beside the snapshot");
// otherwise the read's statement is asked after the snapshot, as always.
struct guess {
  std::vector<int64_t> seqs;
  std::vector<time_range> postgres;
  statement_args args;
  bool answered = false;                      // its statement answered, or failed
  std::optional<persistence::read_counts> rc; // ...with this
  std::shared_ptr<cache::snapshot> snap;      // the snapshot, when it showed the guess holds
  statement_args actual;                      // ...and what it asks of PostgreSQL
  bool dropped = false;                       // the snapshot showed it does not, or failed
};
using guess_ptr = std::shared_ptr<guess>;

// The snapshot's sequences and each summed range's cached span, for the
// guesses of the reads after it.
void remember(state& st, const batch_ranges& asked, const cache::snapshot& snap) {
  st.seqs_steady = snap.seqs == st.last_seqs;
  st.last_seqs = snap.seqs;
  if (st.spans.size() + asked.summed.size() > max_remembered_spans)
    st.spans.clear();
  for (size_t i = 0; i < asked.summed.size() && i < snap.sums.size(); ++i)
    st.spans[key_of(asked.summed[i])] = snap.sums[i];
}

// A guess for this read, when the last two snapshots had the same sequences
// (the cache is not moving) and every range of it was summed by a snapshot
// before; none for the console's minutes, nor for a read of totals alone
// (a round): its statement reads the heads only, so little time is won,
// and shorter rounds would each answer fewer calls.
guess_ptr guess_read(self_ptr self, const read& r, const batch_ranges& asked) {
  auto& st = self->state;
  if (!st.cfg.guess_ahead || !st.seqs_steady || !asked.per_minute.empty() || asked.summed.empty())
    return nullptr;
  auto g = std::make_shared<guess>();
  g->seqs = st.last_seqs;
  for (auto& w : r.batch) {
    if (!w.counts())
      return nullptr;
    if (!w.range.bounded)
      continue;
    auto it = st.spans.find(key_of(w.range));
    if (it == st.spans.end())
      return nullptr;
    leave_to_postgres(w.range, it->second, g->postgres, g->args);
    g->args.per_minute |= it->second.first_minute < it->second.end_minute;
  }
  return g;
}

// Both the guessed statement and a snapshot that holds it are in: the read
// is answered from them, or, if the statement failed or found the
// sequences inconsistent, its statement is asked again after the snapshot.
void finish_guess(self_ptr self, const read_ptr& r, std::shared_ptr<batch_ranges> asked,
                  const guess_ptr& g) {
  auto& st = self->state;
  if (g->rc && g->rc->tail.consistent) {
    (*st.guesses_held)++;
    note_reason(self, "");
    r->tail_rows = g->rc->tail.total;
    answer(self, *r, *asked, *g->snap, *g->rc);
    read_done(self, r);
    return;
  }
  (*st.guesses_missed)++;
  run_statement(self, r, std::move(asked), g->snap, g->actual);
}

// A usable snapshot's sequences and total, for the reads of totals after
// it (settings::totals_snapshot_age).
void keep_totals(self_ptr self, const cache::snapshot& snap) {
  auto& st = self->state;
  if (st.cfg.totals_snapshot_age <= caf::timespan{0})
    return;
  auto kept = std::make_shared<cache::snapshot>();
  kept->usable = true;
  kept->seqs = snap.seqs;
  kept->total = snap.total;
  st.totals = std::move(kept);
  st.totals_at = self->clock().now();
}

// The snapshot a read of totals alone may take instead of reading one:
// the last one kept, while younger than totals_snapshot_age. Its total
// counts exactly the pings at or below its sequences, whenever it was
// read, so its total plus the heads' distance from those sequences, read
// after every request of this read arrived, is exact now.
std::shared_ptr<cache::snapshot> reusable_totals(self_ptr self, const batch_ranges& asked) {
  auto& st = self->state;
  if (!st.totals || !asked.per_minute.empty() || !asked.summed.empty())
    return nullptr;
  if (self->clock().now() - st.totals_at >= st.cfg.totals_snapshot_age)
    return nullptr;
  return st.totals;
}

// One read: the waiters present now, one cache snapshot, then one
// PostgreSQL statement for the tail above the snapshot and every part the
// cache does not hold (actors/persistence sql::read). Requests arriving
// meanwhile wait for the next read: its snapshot and statement start after
// they arrived (read-your-writes).
void start_one_read(self_ptr self) {
  auto& st = self->state;
  auto r = std::make_shared<read>();
  r->id = st.next_read++;
  r->started = steady::now();
  // The waiters of this read, in arrival order, until it holds
  // `max_ranges_per_read` distinct ranges (so one read, and the buckets it
  // fetches, stays small); the others wait for the next read. A round
  // waits while another round is in flight (the board numbers one round
  // at a time).
  auto asked = std::make_shared<batch_ranges>();
  std::vector<waiter> later;
  size_t taken = 0;
  for (; taken < st.waiting.size(); ++taken) {
    auto& w = st.waiting[taken];
    if (w.board && st.round_reading) {
      later.push_back(std::move(w));
      continue;
    }
    int slot = -1;
    if (w.range.bounded) {
      auto& xs = w.counts() ? asked->summed : asked->per_minute;
      auto known = std::find(xs.begin(), xs.end(), w.range) != xs.end();
      if (!known && !r->batch.empty()
          && asked->summed.size() + asked->per_minute.size() >= st.cfg.max_ranges_per_read)
        break;
      slot = index_of(xs, w.range);
    }
    if (w.board) {
      // A round: numbered before its snapshot and statement start, so
      // only calls that arrived before now take its answer.
      w.round = w.board->begin();
      st.round_waiting = false;
      st.round_reading = true;
      r->round = true;
      st.last_round = self->clock().now();
    }
    asked->slot.push_back(slot);
    r->batch.push_back(std::move(w));
  }
  st.waiting.erase(st.waiting.begin(), st.waiting.begin() + static_cast<ptrdiff_t>(taken));
  st.waiting.insert(st.waiting.begin(), std::make_move_iterator(later.begin()),
                    std::make_move_iterator(later.end()));
  st.stats->backlog = static_cast<int64_t>(st.waiting.size());
  ++st.reads;
  st.last_batch = r->batch.size();
  st.read_size->observe(static_cast<double>(r->batch.size()));
  if (auto snap = reusable_totals(self, *asked)) {
    (*st.snapshots_reused)++;
    run_statement(self, r, asked, std::move(snap), statement_args{});
    return;
  }
  auto g = guess_read(self, *r, *asked);
  if (g) {
    r->statement_started = steady::now();
    auto in = [self, r, asked, g] {
      g->answered = true;
      if (!g->dropped && g->snap)
        finish_guess(self, r, asked, g);
    };
    timed_request<persistence::read_counts>(
      self, st.watch, st.store, st.cfg.tail_timeout,
      [g, in](persistence::read_counts& rc) {
        g->rc = std::move(rc);
        in();
      },
      [in](caf::error&) { in(); }, tail_atom::value, g->seqs, g->args.per_minute, g->postgres,
      g->args.edge_pings);
  }
  timed_request<cache::snapshot>(
    self, st.watch, st.cache, st.cfg.snapshot_timeout,
    [self, r, asked, g](cache::snapshot& snap) {
      if (!snap.usable || snap.ranges.size() != asked->per_minute.size()
          || snap.sums.size() != asked->summed.size()) {
        if (g)
          g->dropped = true;
        fall_back_all(self, r, snap.usable ? "malformed snapshot" : snap.why);
        return;
      }
      statement_args a;
      for (auto& view : snap.ranges)
        a.per_minute |= view.covered;
      for (auto& sum : snap.sums)
        a.per_minute |= sum.first_minute < sum.end_minute;
      // The parts of each summed range outside its cached span (edge
      // minutes, what lies outside the cache's window), each once, and
      // the most pings the cache holds in one of their edge minutes (-1:
      // not known), which tells PostgreSQL how to count them.
      asked->parts.resize(r->batch.size());
      for (size_t i = 0; i < r->batch.size(); ++i) {
        auto& w = r->batch[i];
        if (!w.counts() || !w.range.bounded)
          continue;
        asked->parts[i] = leave_to_postgres(w.range, snap.sums[static_cast<size_t>(asked->slot[i])],
                                            asked->postgres, a);
      }
      auto& st = self->state;
      remember(st, *asked, snap);
      keep_totals(self, snap);
      auto shared = std::make_shared<cache::snapshot>(std::move(snap));
      if (g && shared->seqs == g->seqs && asked->postgres == g->postgres
          && a.per_minute == g->args.per_minute) {
        // The statement asked ahead read what this snapshot needs.
        g->snap = shared;
        g->actual = a;
        if (g->answered)
          finish_guess(self, r, asked, g);
        return;
      }
      if (g) {
        g->dropped = true;
        (*st.guesses_missed)++;
      }
      run_statement(self, r, asked, shared, a);
    },
    [self, r, g](caf::error& err) {
      if (g)
        g->dropped = true;
      fall_back_all(self, r, "cache read failed: " + to_string(err));
    },
    snapshot_atom::value, asked->per_minute, asked->summed);
}

// Starts a read when requests wait and none is in flight. Beside reads in
// flight (fewer than `max_reads`), another starts only once as many
// requests wait as the last read started with: a read costs PostgreSQL
// about the same however few requests it answers (docs/counts.md), so a
// second read must not split the requests one read would have answered;
// it serves requests that pile up faster than one read clears them. A
// round waits for the round in flight.
void start_read(self_ptr self) {
  auto& st = self->state;
  auto limit = std::max<size_t>(1, st.cfg.max_reads);
  while (st.reads < limit && !st.waiting.empty()) {
    if (st.round_reading && st.waiting.size() == 1 && st.waiting.front().board)
      return; // only a round waits, behind the round in flight
    if (st.reads > 0 && st.waiting.size() < st.last_batch)
      return; // beside a read in flight: not yet worth a read of its own
    start_one_read(self);
  }
}

bool admit(self_ptr self) {
  telemetry::noter(self)();
  auto& st = self->state;
  return st.waiting.size() < st.cfg.max_waiting;
}

caf::error busy() {
  return caf::make_error(ping_errc::resource_exhausted, "too many counts waiting; retry later");
}

impl_actor::behavior_type count_reader(self_ptr self, settings cfg, cache::reader_actor cache,
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
  st.guesses_held = &m.guesses_held;
  st.guesses_missed = &m.guesses_missed;
  st.snapshots_reused = &m.snapshots_reused;
  // Gone (an escaped exception, shutdown): the calls parked on the board
  // get an error at once, not their deadline (no round would come).
  if (auto board = cfg.board)
    self->attach_functor([board](const caf::error& reason) {
      board->close(
        caf::make_error(ping_errc::unavailable, "the count reader stopped: " + to_string(reason)));
    });
  return {
    [=](count_atom, const time_range& range) -> caf::result<count_result> {
      if (!admit(self))
        return busy();
      if (range.bounded && range.start_ms >= range.end_ms)
        return count_result{0, "cache"}; // empty: nothing to read
      auto rp = self->make_response_promise<count_result>();
      self->state.waiting.push_back({range, rp, std::nullopt, nullptr, 0, nullptr, 0});
      self->state.stats->backlog = static_cast<int64_t>(self->state.waiting.size());
      start_read(self);
      return rp;
    },
    [=](count_atom,
        const std::vector<time_range>& ranges) -> caf::result<std::vector<count_outcome>> {
      // Each range as if asked alone (admitted while fewer than max_waiting
      // wait, an empty one answered at once), answered together.
      telemetry::noter(self)();
      auto& st = self->state;
      auto group = std::make_shared<batch_answer>();
      group->outcomes.resize(ranges.size());
      for (size_t i = 0; i < ranges.size(); ++i) {
        auto& range = ranges[i];
        if (st.waiting.size() >= st.cfg.max_waiting) {
          group->outcomes[i].err = busy();
          continue;
        }
        if (range.bounded && range.start_ms >= range.end_ms) {
          group->outcomes[i].result = count_result{0, "cache"};
          continue;
        }
        st.waiting.push_back({range, std::nullopt, std::nullopt, group, i, nullptr, 0});
        ++group->left;
      }
      if (group->left == 0)
        return std::move(group->outcomes);
      group->rp = self->make_response_promise<std::vector<count_outcome>>();
      st.stats->backlog = static_cast<int64_t>(st.waiting.size());
      start_read(self);
      return *group->rp;
    },
    [=](minutes_atom, int64_t first, int32_t n) -> caf::result<minute_counts> {
      if (!admit(self))
        return busy();
      if (n <= 0 || n > 7 * 24 * 60)
        return caf::make_error(ping_errc::invalid_argument,
                               "minutes must be between 1 and one week");
      auto rp = self->make_response_promise<minute_counts>();
      time_range range{true, first * ms_per_minute, (first + n) * ms_per_minute};
      self->state.waiting.push_back({range, std::nullopt, rp, nullptr, 0, nullptr, 0});
      self->state.stats->backlog = static_cast<int64_t>(self->state.waiting.size());
      start_read(self);
      return rp;
    },
    [=](count_atom) {
      telemetry::noter(self)();
      want_round(self);
      start_read(self);
    },
    [=](count_atom, tick_atom) {
      auto& st = self->state;
      st.round_timer = false;
      if (st.last_round != st.round_timer_after)
        return; // a round started meanwhile: its calls are its own
      want_round(self);
      start_read(self);
    },
    [=](tick_atom) { self->state.watch.on_tick(self); },
  };
}

} // namespace

counts_actor spawn_count_reader(caf::actor_system& sys, settings cfg, cache::reader_actor cache,
                                persistence::persistence_actor persistence,
                                telemetry::registry& reg) {
  metrics::registered_in(reg);
  auto impl = sys.spawn(count_reader, std::move(cfg), std::move(cache), std::move(persistence),
                        &reg);
  return caf::actor_cast<counts_actor>(impl);
}

} // namespace ping::counts
