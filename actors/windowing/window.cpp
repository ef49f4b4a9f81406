#include "actors/windowing/window.hpp"
#include "actors/windowing/metrics.hpp"

#include <deque>
#include <functional>
#include <map>
#include <set>

#include <caf/all.hpp>

#include "actors/cache/schema.hpp"
#include "actors/common/backoff.hpp"
#include "actors/common/errors.hpp"
#include "actors/common/log.hpp"
#include "actors/common/note.hpp"
#include "actors/common/supervision.hpp"
#include "actors/common/trace.hpp"
#include "actors/windowing/window_state.hpp"

namespace ping::windowing {

namespace {

using clock = window_state::clock;
using cache::schema::write_outcome;

using window_impl = window_actor::extend<
  caf::reacts_to<tick_atom>,                    // timer: due flushes, heartbeats, verify
  caf::reacts_to<heal_atom, int32_t, uint64_t>, // retry a resync (partition, generation)
  caf::reacts_to<respawn_atom, int32_t>>;       // start child 0 (writer) or 1 (rebuilder)

/// Why a partition is resynced; each has its counter.
enum class repair { lost, conflict, gap, checksum, cold, admin, stall, diverged };

const char* to_string(repair r) {
  switch (r) {
    case repair::lost:
      return "lost";
    case repair::conflict:
      return "conflict";
    case repair::gap:
      return "gap";
    case repair::checksum:
      return "checksum";
    case repair::cold:
      return "cold";
    case repair::admin:
      return "admin";
    case repair::stall:
      return "stall";
    case repair::diverged:
      return "diverged";
  }
  return "unknown";
}

constexpr repair all_repairs[] = {repair::lost, repair::conflict, repair::gap,   repair::checksum,
                                  repair::cold, repair::admin,    repair::stall, repair::diverged};

struct partition {
  window_state w;
  uint64_t gen = 0; // replies of another generation are ignored
  bool resyncing = false;
  // Delay before the next resync round after a conflicting one: 0 for the
  // first conflict (usually a race with a finishing owner), then
  // exponential up to backoff_max; back to 0 once a resync is applied.
  caf::timespan conflict_backoff{0};
  clock::time_point last_write{};
  clock::time_point retry_after{};
  // The stall check: the sequence the window stood at when PostgreSQL's
  // head was first seen above it (-1: not behind), and since when.
  int64_t stall_seq = -1;
  clock::time_point stall_since{};
  // The divergence check: (relay_seq, identity) points PostgreSQL must
  // still hold. The first is the last point verified (or adopted from the
  // cache); after it, where the window stood when records at or below its
  // sequence came (re-sends, or sequences PostgreSQL handed out again after
  // losing them: then this point is one it lost). At most `max_marks`.
  std::vector<std::pair<int64_t, int64_t>> marks{};
};

constexpr size_t max_marks = 16;

// Points to verify start from a known one (identity 0: unknown, none).
void mark_from(partition& x, int64_t seq, int64_t ident) {
  x.marks.clear();
  if (seq > 0 && ident != 0)
    x.marks.emplace_back(seq, ident);
}

struct held_batch {
  std::vector<record_batch> batches;
  caf::typed_response_promise<window_credit> rp;
};

struct waiter {
  std::set<int32_t> partitions; // must be clean (nothing pending, nothing in flight)
  bool forget;                  // revoke: drop the partitions afterwards
  clock::time_point deadline;
  std::function<void(bool clean)> done;
};

// An admin rebuild: answered once none of its partitions is resyncing.
struct rebuild_waiter {
  std::set<int32_t> partitions;
  clock::time_point deadline;
  caf::typed_response_promise<int32_t> rp;
};

struct state {
  window_settings cfg;
  window_children make;
  std::optional<supervised<cache::writer_actor>> writer;
  std::optional<supervised<rebuilder_actor>> rebuilder;
  std::map<int32_t, partition> parts;
  uint64_t next_gen = 0;
  std::deque<held_batch> held;
  // Batches of partitions that are resyncing (or have older batches parked),
  // in order; applied once the resync is done. Counted with the unflushed
  // records against max_unflushed, so a long resync holds credits, not
  // memory.
  std::map<int32_t, std::deque<record_batch>> parked;
  size_t parked_records = 0;
  std::vector<waiter> waiters;
  std::vector<rebuild_waiter> rebuild_waiters;
  clock::time_point last_verify{};
  bool verifying = false;
  clock::time_point last_check{};
  bool check_due = true;   // check at the next tick (new partitions)
  bool checking = false;   // a head check is in flight
  bool recounting = false; // dropping the cache: PostgreSQL lost commits
  bool paused = false;     // consumption paused (admin): nothing stalls
  // Partitions counted before assignment (`heal_before_assignment`), until
  // their write is answered.
  std::set<int32_t> early;
  std::shared_ptr<telemetry::actor_stats> stats;
  std::atomic<uint64_t>* counted = nullptr;
  std::atomic<uint64_t>* skipped = nullptr;
  std::map<repair, std::atomic<uint64_t>*> repairs;
  static inline const char* name = "windowing.window";

  size_t unflushed() const {
    size_t n = 0;
    for (auto& [p, x] : parts)
      n += x.w.pending_records();
    return n;
  }

  partition* find(int32_t p) {
    auto it = parts.find(p);
    return it == parts.end() ? nullptr : &it->second;
  }

  // The partition if it is still resyncing in generation `gen`.
  partition* resync_of(int32_t p, uint64_t gen) {
    auto* x = find(p);
    return x && x->resyncing && x->gen == gen ? x : nullptr;
  }
};

using self_ptr = window_impl::stateful_pointer<state>;

void flush(self_ptr self, int32_t p);
void settle(self_ptr self);
void run_resync(self_ptr self, int32_t p, uint64_t gen);

// Starts counting partition `p` where the cache stands.
partition& adopt(self_ptr self, int32_t p, int64_t next_offset, int64_t seq, int64_t ident = 0) {
  auto& st = self->state;
  auto it = st.parts.find(p);
  if (it == st.parts.end())
    it
      = st.parts.emplace(p, partition{window_state{p, st.cfg.max_records, st.cfg.max_delay}}).first;
  auto& x = it->second;
  x.w.reset(next_offset, seq, ident);
  x.gen = ++st.next_gen;
  x.resyncing = false;
  x.stall_seq = -1;
  mark_from(x, seq, ident);
  return x;
}

void resync(self_ptr self, int32_t p, repair why, const std::string& detail,
            const trace::context* cause = nullptr) {
  auto& st = self->state;
  auto* x = st.find(p);
  if (!x || x->resyncing)
    return;
  x->resyncing = true;
  x->gen = ++st.next_gen;
  x->stall_seq = -1;
  x->w.drop_all();
  (*st.repairs[why])++;
  if (cause) // a gap: the trace of the event that revealed it
    log::warn("window", "partition disagrees with the cache; resyncing from PostgreSQL",
              {{"partition", std::to_string(p)},
               {"reason", to_string(why)},
               {"detail", detail},
               {"seq", std::to_string(x->w.seq())},
               {log::trace_id_key, trace::trace_id_string(*cause)}});
  else
    log::warn("window", "partition disagrees with the cache; resyncing from PostgreSQL",
              {{"partition", std::to_string(p)},
               {"reason", to_string(why)},
               {"detail", detail},
               {"seq", std::to_string(x->w.seq())}});
  run_resync(self, p, x->gen);
}

// An admin rebuild waiting for partition `p` learns that its resync failed
// (it goes on in the background, with backoff): the operator gets an answer
// now rather than at the deadline.
void resync_failed(self_ptr self, int32_t p, const std::string& err) {
  auto& waiters = self->state.rebuild_waiters;
  for (auto it = waiters.begin(); it != waiters.end();) {
    if (it->partitions.count(p)) {
      it->rp.deliver(caf::make_error(ping_errc::unavailable, "recounting partition "
                                                               + std::to_string(p)
                                                               + " from PostgreSQL failed (" + err
                                                               + "); retrying in the background"));
      it = waiters.erase(it);
    } else {
      ++it;
    }
  }
}

void retry_resync(self_ptr self, int32_t p, uint64_t gen, const std::string& err) {
  resync_failed(self, p, err);
  log::debug("window", "resync step failed; retrying",
             {{"partition", std::to_string(p)}, {"error", err}});
  self->delayed_send(self, self->state.cfg.backoff, heal_atom::value, p, gen);
}

void fill_from(self_ptr self, int32_t p, uint64_t gen, int64_t from);

// True when PostgreSQL does not hold what the cache (or a window) counted
// up to `seq`: its head is below it, or its ping there is another one
// (`ident` 0: unknown, only the head is checked).
bool lost_commits(const head_mark& m, int64_t seq, int64_t ident) {
  return seq > 0 && (m.head < seq || (ident != 0 && m.ident_at != ident));
}

std::string describe_loss(const head_mark& m, int64_t seq, int64_t ident) {
  if (m.head < seq)
    return "PostgreSQL's committed head " + std::to_string(m.head)
           + " is below the counted relay_seq " + std::to_string(seq);
  return "PostgreSQL holds another ping at relay_seq " + std::to_string(seq) + " (identity "
         + std::to_string(m.ident_at) + ", counted " + std::to_string(ident) + ")";
}

// PostgreSQL lost commits the cache counted (issue 19, item 3): the
// cache's buckets hold pings PostgreSQL no longer has, and sequences will
// be (or were) reused by other pings, so no partition's prefix can be
// trusted to be PostgreSQL's. Drops the cache, as RebuildCache does (every
// processor then recounts its partitions from PostgreSQL; readers fall
// back to PostgreSQL meanwhile), and recounts this window's partitions.
// False when the writer cannot take it now (the caller retries).
bool recount_all(self_ptr self, int32_t p, const std::string& detail) {
  auto& st = self->state;
  if (st.recounting)
    return true;
  if (!st.writer->running())
    return false;
  st.recounting = true;
  log::error("window", "PostgreSQL lost commits the cache counted; recounting the cache",
             {{"partition", std::to_string(p)}, {"detail", detail}});
  self->request(st.writer->get(), st.cfg.writer_timeout, reset_atom::value)
    .then(
      [self](bool) {
        auto& st = self->state;
        st.recounting = false;
        std::vector<int32_t> mine;
        for (auto& [q, x] : st.parts)
          mine.push_back(q);
        for (auto q : mine) {
          auto& x = st.parts.at(q);
          if (x.resyncing) { // restart it from the dropped cache
            x.gen = ++st.next_gen;
            (*st.repairs[repair::diverged])++;
            run_resync(self, q, x.gen);
          } else {
            resync(self, q, repair::diverged, "PostgreSQL lost commits the cache counted");
          }
        }
        settle(self);
      },
      [self](caf::error& err) {
        self->state.recounting = false; // the next check finds it again
        log::warn("window", "dropping the cache failed", {{"error", to_string(err)}});
      });
  return true;
}

// Resync, step by step: where does the cache stand; what does PostgreSQL
// hold above that; apply it on top of exactly that (docs/counts.md).
void run_resync(self_ptr self, int32_t p, uint64_t gen) {
  auto& st = self->state;
  if (!st.resync_of(p, gen))
    return;
  if (!st.writer->running() || !st.rebuilder->running()) {
    retry_resync(self, p, gen, "a child is restarting");
    return;
  }
  auto fail = [self, p, gen](caf::error& err) {
    if (self->state.resync_of(p, gen))
      retry_resync(self, p, gen, to_string(err));
  };
  self->request(st.writer->get(), st.cfg.writer_timeout, load_atom::value, std::vector<int32_t>{p})
    .then(
      [self, p, gen, fail](std::vector<partition_state>& ps) {
        auto& st = self->state;
        if (!st.resync_of(p, gen))
          return;
        auto from = !ps.empty() && ps[0].stored ? ps[0].seq : 0;
        auto ident = !ps.empty() && ps[0].stored ? ps[0].ident : 0;
        if (from == 0) {
          fill_from(self, p, gen, from);
          return;
        }
        // A recount adds on top of what the cache counted: first make sure
        // PostgreSQL still holds it (the same ping at `from`).
        self
          ->request(st.rebuilder->get(), st.cfg.writer_timeout, heads_atom::value,
                    std::vector<std::pair<int32_t, int64_t>>{{p, from}})
          .then(
            [self, p, gen, from, ident](std::vector<head_mark>& ms) {
              if (!self->state.resync_of(p, gen))
                return;
              if (ms.size() == 1 && lost_commits(ms[0], from, ident)) {
                if (!recount_all(self, p, describe_loss(ms[0], from, ident)))
                  retry_resync(self, p, gen, "the cache writer is restarting");
                return;
              }
              fill_from(self, p, gen, from);
            },
            fail);
      },
      fail);
}

// The recount of (from, head] and its write on top of `from`.
void fill_from(self_ptr self, int32_t p, uint64_t gen, int64_t from) {
  auto& st = self->state;
  auto fail = [self, p, gen](caf::error& err) {
    if (self->state.resync_of(p, gen))
      retry_resync(self, p, gen, to_string(err));
  };
  self->request(st.rebuilder->get(), st.cfg.rebuild_timeout, fill_atom::value, p, from)
    .then(
      [self, p, gen, fail](write_request& req) {
        auto& st = self->state;
        auto* x = st.resync_of(p, gen);
        if (!x)
          return;
        req.next_offset = x->w.next_offset();
        self->request(st.writer->get(), st.cfg.writer_timeout, write_atom::value, req)
          .then(
            [self, p, gen, req](cache::write_result& res) {
              auto& st = self->state;
              auto* x = st.resync_of(p, gen);
              if (!x)
                return;
              auto outcome = static_cast<write_outcome>(res.outcome);
              if (outcome != write_outcome::applied && outcome != write_outcome::duplicate) {
                // The cache moved meanwhile (another processor, a
                // restart): start over from where it stands now, at
                // once the first time, then with backoff.
                auto delay = x->conflict_backoff;
                x->conflict_backoff = next_backoff(delay, st.cfg.backoff, st.cfg.backoff_max);
                if (delay.count() == 0)
                  self->send(self, heal_atom::value, p, gen);
                else
                  self->delayed_send(self, delay, heal_atom::value, p, gen);
                return;
              }
              x->w.reset(req.next_offset, req.to_seq, req.to_ident);
              mark_from(*x, req.to_seq, req.to_ident);
              x->resyncing = false;
              x->conflict_backoff = caf::timespan{0};
              x->gen = ++st.next_gen;
              log::info("window", "partition resynced",
                        {{"partition", std::to_string(p)},
                         {"from_seq", std::to_string(req.from_seq)},
                         {"to_seq", std::to_string(req.to_seq)},
                         {"counted", std::to_string(req.count)}});
              settle(self);
            },
            fail);
      },
      fail);
}

// The processor's start (docs/windowing.md, *Before the group forms*):
// every partition of `ends` without state in the cache, and not assigned
// here, is counted from sequence 0 in PostgreSQL and written with its end
// offset, without waiting for the group to assign it. The write is a
// compare-and-set from sequence 0 like every write: it lands only while the
// partition still has no state, so an owner that counted it meanwhile (or
// this window, assigned meanwhile) is never counted twice; the loser of
// that race conflicts and resyncs from where the winner stands. The
// offset was fixed before the count's snapshot, so every record below it
// is at or below the count's head (skipped when read again) and every ping
// above the head is read from the stream later. Answers with the number of
// partitions written; a failure leaves the partition to its assignment.
void heal_before_assignment(self_ptr self, const std::vector<std::pair<int32_t, int64_t>>& ends,
                            caf::typed_response_promise<int32_t> rp) {
  auto& st = self->state;
  if (ends.empty() || !st.writer->running() || !st.rebuilder->running()) {
    rp.deliver(int32_t{0});
    return;
  }
  std::vector<int32_t> ps;
  ps.reserve(ends.size());
  for (auto& [p, end] : ends)
    ps.push_back(p);
  self->request(st.writer->get(), st.cfg.writer_timeout, load_atom::value, ps)
    .then(
      [self, ends, rp](std::vector<partition_state>& states) mutable {
        auto& st = self->state;
        std::map<int32_t, int64_t> cold;
        for (auto& s : states)
          if (!s.stored && !st.parts.count(s.partition) && !st.early.count(s.partition))
            for (auto& [p, end] : ends)
              if (p == s.partition)
                cold.emplace(p, end);
        if (cold.empty()) {
          rp.deliver(int32_t{0});
          return;
        }
        struct progress {
          size_t left;
          int32_t written = 0;
        };
        auto n = std::make_shared<progress>(progress{cold.size()});
        auto done = [self, n, rp](int32_t p, bool written) mutable {
          self->state.early.erase(p);
          n->written += written ? 1 : 0;
          if (--n->left == 0)
            rp.deliver(n->written);
        };
        for (const auto& kv : cold) {
          auto p = kv.first;
          auto end = kv.second;
          st.early.insert(p);
          (*st.repairs[repair::cold])++;
          log::info("window", "partition has no state in the cache; counting it before assignment",
                    {{"partition", std::to_string(p)}, {"offset", std::to_string(end)}});
          self
            ->request(st.rebuilder->get(), st.cfg.rebuild_timeout, fill_atom::value, p, int64_t{0})
            .then(
              [self, p, end, done](write_request& req) mutable {
                auto& st = self->state;
                if (!st.writer->running()) {
                  done(p, false);
                  return;
                }
                req.next_offset = end;
                self->request(st.writer->get(), st.cfg.writer_timeout, write_atom::value, req)
                  .then(
                    [p, req, done](cache::write_result& res) mutable {
                      auto outcome = static_cast<write_outcome>(res.outcome);
                      bool written = outcome == write_outcome::applied;
                      if (written)
                        log::info("window", "partition counted before assignment",
                                  {{"partition", std::to_string(p)},
                                   {"to_seq", std::to_string(req.to_seq)},
                                   {"counted", std::to_string(req.count)},
                                   {"offset", std::to_string(req.next_offset)}});
                      else // its owner (or this window, assigned meanwhile) was first
                        log::info("window", "partition was counted by its owner first",
                                  {{"partition", std::to_string(p)},
                                   {"stored_seq", std::to_string(res.stored_seq)}});
                      done(p, written);
                    },
                    [p, done](caf::error& err) mutable {
                      log::warn("window", "writing a partition before assignment failed",
                                {{"partition", std::to_string(p)}, {"error", to_string(err)}});
                      done(p, false);
                    });
              },
              [p, done](caf::error& err) mutable {
                log::warn("window", "counting a partition before assignment failed",
                          {{"partition", std::to_string(p)}, {"error", to_string(err)}});
                done(p, false);
              });
        }
      },
      [rp](caf::error& err) mutable {
        log::warn("window", "cannot read the cache before assignment", {{"error", to_string(err)}});
        rp.deliver(int32_t{0});
      });
}

void count_batch(self_ptr self, const record_batch& b, clock::time_point now) {
  auto& st = self->state;
  auto* x = st.find(b.partition);
  if (!x)
    return; // not (or no longer) assigned here
  auto before = std::make_pair(x->w.seq(), x->w.ident());
  auto added = x->w.add(b, now);
  if (added.skipped > 0 && before.second != 0 && x->marks.size() < max_marks
      && (x->marks.empty() || x->marks.back() != before))
    x->marks.push_back(before); // verified at the next check
  (*st.counted) += added.counted;
  (*st.skipped) += added.skipped;
  if (added.gap) {
    trace::context cause;
    cause.trace_hi = added.gap_trace_hi;
    cause.trace_lo = added.gap_trace_lo;
    resync(self, b.partition, repair::gap,
           "expected relay_seq " + std::to_string(x->w.seq() + 1) + ", got "
             + std::to_string(added.gap_seq),
           &cause);
    return;
  }
  if (x->w.due(now))
    flush(self, b.partition);
}

// Applies held batches that may go now, and answers waiters that are done.
// A partition that resyncs holds only its own batches (parked), never the
// other partitions' (issue 19, item 5).
void settle(self_ptr self) {
  auto& st = self->state;
  auto now = self->clock().now();
  for (auto it = st.parked.begin(); it != st.parked.end();) {
    auto& q = it->second;
    while (!q.empty()) {
      auto* x = st.find(it->first);
      if (x && x->resyncing)
        break;
      st.parked_records -= q.front().records.size();
      if (x) // else revoked meanwhile: dropped
        count_batch(self, q.front(), now);
      q.pop_front();
    }
    it = q.empty() ? st.parked.erase(it) : std::next(it);
  }
  while (!st.held.empty()) {
    auto& h = st.held.front();
    if (st.unflushed() + st.parked_records >= st.cfg.max_unflushed)
      break;
    for (auto& b : h.batches) {
      auto* x = st.find(b.partition);
      if (x && (x->resyncing || st.parked.count(b.partition))) {
        st.parked_records += b.records.size();
        st.parked[b.partition].push_back(std::move(b));
      } else {
        count_batch(self, b, now);
      }
    }
    h.rp.deliver(window_credit{static_cast<int64_t>(st.unflushed() + st.parked_records)});
    st.held.pop_front();
  }
  for (auto it = st.waiters.begin(); it != st.waiters.end();) {
    bool clean = true;
    for (auto p : it->partitions) {
      auto* x = st.find(p);
      if (!x || x->resyncing)
        continue;
      if (x->w.in_flight() || x->w.dirty()) {
        clean = false;
        if (!x->w.in_flight())
          flush(self, p);
      }
    }
    if (clean || now >= it->deadline) {
      if (it->forget)
        for (auto p : it->partitions)
          st.parts.erase(p); // later replies find no partition, or a newer generation
      it->done(clean);
      it = st.waiters.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = st.rebuild_waiters.begin(); it != st.rebuild_waiters.end();) {
    bool done = true;
    for (auto p : it->partitions)
      if (auto* x = st.find(p))
        done &= !x->resyncing;
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
  auto* x = st.find(p);
  if (!x || x->w.in_flight() || x->resyncing || !st.writer->running())
    return;
  auto req = x->w.begin_flush();
  auto gen = x->gen;
  x->last_write = self->clock().now();
  self->request(st.writer->get(), st.cfg.writer_timeout, write_atom::value, req)
    .then(
      [self, p, gen](cache::write_result& res) {
        auto& st = self->state;
        auto* x = st.find(p);
        if (!x || x->gen != gen)
          return; // resynced or revoked meanwhile
        switch (static_cast<write_outcome>(res.outcome)) {
          case write_outcome::applied:
          case write_outcome::duplicate: // landed before, e.g. after a timeout
            x->w.flush_done();
            break;
          case write_outcome::lost:
            resync(self, p, repair::lost, "the cache has no state for the partition");
            break;
          case write_outcome::conflict:
            resync(self, p, repair::conflict,
                   "the cache stands at relay_seq " + std::to_string(res.stored_seq)
                     + ", the window at " + std::to_string(x->w.flushed_seq()));
            break;
        }
        settle(self);
      },
      [self, p, gen](caf::error& err) {
        auto& st = self->state;
        auto* x = st.find(p);
        if (!x || x->gen != gen)
          return;
        log::warn("window", "flush failed; will retry",
                  {{"partition", std::to_string(p)}, {"error", to_string(err)}});
        x->w.flush_failed();
        x->retry_after = self->clock().now() + st.cfg.backoff;
        settle(self);
      });
}

void verify(self_ptr self) {
  auto& st = self->state;
  if (st.verifying || !st.writer->running() || st.parts.empty())
    return;
  st.verifying = true;
  self->request(st.writer->get(), st.cfg.writer_timeout, verify_atom::value)
    .then(
      [self](bool reset) {
        auto& st = self->state;
        st.verifying = false;
        if (!reset)
          return;
        std::vector<int32_t> mine;
        for (auto& [p, x] : st.parts)
          mine.push_back(p);
        for (auto p : mine)
          resync(self, p, repair::checksum, "cache total != sum of the partitions' counts");
        settle(self);
      },
      [self](caf::error&) { self->state.verifying = false; });
}

// Where PostgreSQL stands on the partitions (issue 19, items 3 and 12):
// lost commits drop the cache; a head above a window that counts nothing
// for `stall_after` is a stream that lost events: that partition resyncs.
// False when no check could start now.
bool check(self_ptr self) {
  auto& st = self->state;
  if (st.checking || st.recounting || !st.rebuilder->running())
    return false;
  struct asked {
    int32_t p;
    uint64_t gen;
    int64_t seq, ident;
    size_t marks; // points of x.marks asked (the current point comes last)
  };
  std::vector<asked> asks;
  std::vector<std::pair<int32_t, int64_t>> where;
  for (auto& [p, x] : st.parts) {
    if (x.resyncing)
      continue;
    for (auto& [seq, ident] : x.marks)
      where.emplace_back(p, seq);
    where.emplace_back(p, x.w.seq());
    asks.push_back({p, x.gen, x.w.seq(), x.w.ident(), x.marks.size()});
  }
  if (asks.empty())
    return false;
  st.checking = true;
  self->request(st.rebuilder->get(), st.cfg.writer_timeout, heads_atom::value, where)
    .then(
      [self, asks](std::vector<head_mark>& marks) {
        auto& st = self->state;
        st.checking = false;
        auto now = self->clock().now();
        // Batches held back (the window paces the consumer) or consumption
        // paused: nothing stalls.
        bool paced = !st.held.empty() || st.paused;
        size_t i = 0;
        for (auto& a : asks) {
          auto n = a.marks + 1;
          if (i + n > marks.size())
            break;
          auto first = i;
          i += n;
          auto* x = st.find(a.p);
          if (!x || x->resyncing || x->gen != a.gen)
            continue;
          for (size_t k = 0; k < a.marks; ++k) {
            auto [seq, ident] = x->marks[k];
            if (lost_commits(marks[first + k], seq, ident)) {
              recount_all(self, a.p, describe_loss(marks[first + k], seq, ident));
              return;
            }
          }
          auto& m = marks[first + a.marks]; // the current point
          if (lost_commits(m, a.seq, a.ident)) {
            recount_all(self, a.p, describe_loss(m, a.seq, a.ident));
            return;
          }
          // Verified: the current point is the new anchor (when its identity
          // is known), followed by the points added since the request.
          std::vector<std::pair<int64_t, int64_t>> rest(
            x->marks.begin() + static_cast<ptrdiff_t>(a.marks), x->marks.end());
          if (a.ident != 0 || a.marks > 0) {
            auto anchor = a.ident != 0 ? std::make_pair(a.seq, a.ident) : x->marks.front();
            rest.insert(rest.begin(), anchor);
          }
          x->marks = std::move(rest);
          if (m.head <= x->w.seq() || paced || st.parked.count(a.p)) {
            x->stall_seq = -1;
          } else if (x->stall_seq != x->w.seq()) {
            x->stall_seq = x->w.seq();
            x->stall_since = now;
          } else if (now - x->stall_since >= st.cfg.stall_after) {
            resync(self, a.p, repair::stall,
                   "PostgreSQL's committed head is " + std::to_string(m.head)
                     + " and nothing was consumed for "
                     + std::to_string(
                       std::chrono::duration_cast<std::chrono::milliseconds>(now - x->stall_since)
                         .count())
                     + " ms");
          }
        }
        settle(self);
      },
      [self](caf::error&) { self->state.checking = false; });
  return true;
}

void start_child(self_ptr self, int32_t which) {
  auto& st = self->state;
  if (which == 0)
    st.writer->start(self, st.make.writer);
  else
    st.rebuilder->start(self, st.make.rebuilder);
}

window_impl::behavior_type window(self_ptr self, window_settings cfg, window_children children,
                                  telemetry::registry* reg) {
  auto& st = self->state;
  st.cfg = cfg;
  st.make = std::move(children);
  auto m = metrics::registered_in(*reg);
  st.writer.emplace("windowing.cache-writer", m.cache_writer, cfg.backoff, cfg.backoff_max);
  st.rebuilder.emplace("windowing.rebuilder", m.rebuilder, cfg.backoff, cfg.backoff_max);
  start_child(self, 0);
  start_child(self, 1);
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    if (auto delay = st.writer->failed(msg))
      self->delayed_send(self, *delay, respawn_atom::value, int32_t{0});
    else if (auto delay = st.rebuilder->failed(msg))
      self->delayed_send(self, *delay, respawn_atom::value, int32_t{1});
    else
      self->quit(msg.reason);
  });
  st.stats = m.window;
  st.counted = &m.counted;
  st.skipped = &m.skipped;
  for (auto r : all_repairs)
    st.repairs[r] = m.repairs.at(to_string(r));
  self->delayed_send(self, cfg.tick, tick_atom::value);
  auto note = telemetry::noter(self);
  return {
    [=](records_atom, std::vector<record_batch>& batches) -> caf::result<window_credit> {
      note();
      auto rp = self->make_response_promise<window_credit>();
      self->state.held.push_back({std::move(batches), rp});
      settle(self);
      return rp;
    },
    [=](assign_atom,
        std::vector<int32_t>& partitions) -> caf::result<std::vector<partition_state>> {
      note();
      auto& st = self->state;
      if (!st.writer->running())
        return caf::make_error(ping_errc::unavailable, "the cache writer is restarting");
      auto rp = self->make_response_promise<std::vector<partition_state>>();
      self->request(st.writer->get(), st.cfg.writer_timeout, load_atom::value, partitions)
        .then(
          [self, rp](std::vector<partition_state>& states) mutable {
            for (auto& ps : states)
              if (ps.stored)
                adopt(self, ps.partition, ps.next_offset, ps.seq, ps.ident);
            self->state.check_due = true; // check the new partitions at once
            rp.deliver(std::move(states));
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](rebuild_atom, int32_t p, int64_t start_offset) -> bool {
      note();
      adopt(self, p, start_offset, 0);
      resync(self, p, repair::cold, "no state in the cache at assignment");
      return true;
    },
    [=](heal_atom, const std::vector<std::pair<int32_t, int64_t>>& ends) -> caf::result<int32_t> {
      note();
      auto rp = self->make_response_promise<int32_t>();
      heal_before_assignment(self, ends, rp);
      return rp;
    },
    [=](heal_atom, int32_t p, uint64_t gen) {
      note();
      run_resync(self, p, gen);
    },
    [=](revoke_atom, std::vector<int32_t>& partitions) -> caf::result<bool> {
      note();
      auto rp = self->make_response_promise<bool>();
      self->state.waiters.push_back({{partitions.begin(), partitions.end()},
                                     true,
                                     self->clock().now() + self->state.cfg.revoke_timeout,
                                     [rp](bool clean) mutable { rp.deliver(clean); }});
      settle(self);
      return rp;
    },
    [=](flush_atom) -> caf::result<int32_t> {
      note();
      auto rp = self->make_response_promise<int32_t>();
      std::set<int32_t> all;
      for (auto& [p, x] : self->state.parts)
        all.insert(p);
      auto n = static_cast<int32_t>(all.size());
      self->state.waiters.push_back(
        {all, false, self->clock().now() + self->state.cfg.writer_timeout,
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
      if (!st.writer->running())
        return caf::make_error(ping_errc::unavailable, "the cache writer is restarting");
      log::warn("window", "rebuilding the cache from PostgreSQL (admin)");
      self->request(st.writer->get(), st.cfg.writer_timeout, reset_atom::value)
        .then(
          [self, rp](bool) mutable {
            // Replies from the writer come in order: a flush it applied
            // before the reset has been answered already.
            auto& st = self->state;
            std::set<int32_t> all;
            for (auto& [p, x] : st.parts)
              all.insert(p);
            for (auto p : all)
              resync(self, p, repair::admin, "RebuildCache");
            st.rebuild_waiters.push_back(
              {std::move(all), self->clock().now() + st.cfg.rebuild_timeout, rp});
            settle(self);
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](pause_atom, bool paused) {
      note();
      self->state.paused = paused;
      if (!paused) // stalls are measured from now on
        for (auto& [p, x] : self->state.parts)
          x.stall_seq = -1;
    },
    [=](respawn_atom, int32_t which) {
      note();
      start_child(self, which);
    },
    [=](tick_atom) {
      note();
      auto& st = self->state;
      self->delayed_send(self, st.cfg.tick, tick_atom::value);
      auto now = self->clock().now();
      std::vector<int32_t> due;
      for (auto& [p, x] : st.parts) {
        if (x.resyncing || x.w.in_flight() || now < x.retry_after)
          continue;
        // Due deltas, or an empty write on idle partitions: it notices a
        // cache that lost the partition or stands elsewhere.
        if (x.w.due(now) || (!x.w.dirty() && now - x.last_write >= st.cfg.heartbeat))
          due.push_back(p);
      }
      for (auto p : due)
        flush(self, p);
      if (now - st.last_verify >= st.cfg.verify_interval) {
        st.last_verify = now;
        verify(self);
      }
      if ((st.check_due || now - st.last_check >= st.cfg.check_interval) && check(self)) {
        st.check_due = false;
        st.last_check = now;
      }
      settle(self);
    },
  };
}

} // namespace

window_actor spawn_window(caf::actor_system& sys, window_settings cfg, window_children children,
                          telemetry::registry& reg) {
  return caf::actor_cast<window_actor>(
    sys.spawn(window, std::move(cfg), std::move(children), &reg));
}

window_actor spawn_window(caf::actor_system& sys, window_settings cfg, cache::writer_settings cache,
                          rebuild_settings rebuild, telemetry::registry& reg) {
  window_children children;
  children.writer = [&sys, cache, &reg] { return cache::spawn_cache_writer(sys, cache, reg); };
  children.rebuilder = [&sys, rebuild, &reg] { return spawn_rebuilder(sys, rebuild, reg); };
  return spawn_window(sys, std::move(cfg), std::move(children), reg);
}

} // namespace ping::windowing
