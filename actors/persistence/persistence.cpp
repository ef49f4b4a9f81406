#include "actors/persistence/persistence.hpp"
#include "actors/persistence/metrics.hpp"

#include <algorithm>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/all.hpp>
#include <pqxx/pqxx>

#include "actors/common/backoff.hpp"
#include "actors/common/dsn.hpp"
#include "actors/common/errors.hpp"
#include "actors/common/ids.hpp"
#include "actors/common/log.hpp"
#include "actors/common/note.hpp"
#include "actors/common/socket_handle.hpp"
#include "actors/common/supervision.hpp"
#include "actors/common/trace.hpp"
#include "actors/common/watchdog.hpp"
#include "actors/persistence/retention.hpp"
#include "actors/persistence/sql.hpp"

namespace ping::persistence {

std::string effective_dsn(const settings& cfg) {
  return with_timeouts(cfg.dsn, cfg.connect_timeout, cfg.statement_timeout);
}

namespace {

// The trace id a row's log lines carry (the client's, else the ping's id).
std::string trace_id_of(const ping_row& r) {
  return trace::trace_id_of(r.trace_hi, r.trace_lo, r.id);
}

// -- worker: one connection, blocking calls, detached thread ----------------

struct worker_state {
  std::unique_ptr<pqxx::connection> conn;
  std::shared_ptr<telemetry::actor_stats> stats;
  socket_handle_ptr socket; // shared with the facade (replace: interrupt)
  static inline const char* name = "persistence.worker";

  ~worker_state() { drop(); }

  void drop() {
    if (socket)
      socket->clear();
    conn.reset();
  }
};

// Whether the session may write: false on a standby or a server that is
// read-only by default (a switchover's demoted primary). Connecting checks
// this too (target_session_attrs, actors/common/dsn.hpp); an open session
// learns it here or through SQLSTATE 25006.
bool writable(pqxx::connection& c) {
  pqxx::nontransaction txn{c};
  return sql::writable(txn);
}

pqxx::connection& connection(worker_state& st, const settings& cfg) {
  if (!st.conn) {
    auto c = std::make_unique<pqxx::connection>(effective_dsn(cfg));
    // One socket for the connection's life: a reconnect is always ours
    // (a new connection object), so the descriptor the facade may
    // interrupt never changes underneath it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    c->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    if (st.socket)
      st.socket->set(c->sock());
    st.conn = std::move(c);
    try {
      sql::prepare_writer_statements(*st.conn, cfg.partitions);
    } catch (...) {
      st.drop();
      throw;
    }
    st.stats->up = true;
  }
  return *st.conn;
}

// Runs `f` against the worker's connection, turning database failures into
// ping errors. Connection-level failures drop the connection; the next call
// reconnects. The classes (sql::classify, the one translation):
//   * lost connection (broken, class 08, 57 but 57014, outcome in doubt):
//     unavailable, reconnect;
//   * 25006, a write on a read-only server (the session landed on a standby
//     or the primary was demoted): unavailable, reconnect (the new
//     connection insists on a read-write server);
//   * 57014, the statement timeout: deadline_exceeded, the connection stays
//     (the server cancelled the statement, the session is fine);
//   * a transient fault of the database (sql::retryable_sqlstate):
//     unavailable, the connection stays;
//   * anything else from SQL: internal.
template <class F>
auto guarded(worker_state& st, const settings& cfg, const char* what, F f)
  -> caf::result<decltype(f(std::declval<pqxx::connection&>()))> {
  try {
    return f(connection(st, cfg));
  } catch (const std::exception& e) {
    // The one translation of database errors (sql::classify). An exception
    // that is not PostgreSQL's leaves the session in an unknown state: it is
    // dropped too.
    auto f = sql::classify(e);
    using kind = sql::failure_kind;
    if (f.reconnect || f.kind == kind::other)
      st.drop();
    if (f.kind == kind::connection_lost || f.kind == kind::read_only)
      st.stats->up = false;
    switch (f.kind) {
      case kind::connection_lost:
      case kind::read_only:
        if (f.sqlstate.empty())
          log::warn("persistence", "connection lost", {{"op", what}, {"error", e.what()}});
        else
          log::warn("persistence", "database unavailable",
                    {{"op", what}, {"sqlstate", f.sqlstate}});
        break;
      case kind::outcome_unknown:
        log::warn("persistence", "commit outcome unknown", {{"op", what}});
        break;
      case kind::timeout:
        log::warn("persistence", "statement timed out", {{"op", what}});
        break;
      case kind::transient:
        // A fault of the database, not of the statement: retryable.
        log::warn("persistence", "transient database error",
                  {{"op", what}, {"sqlstate", f.sqlstate}});
        break;
      case kind::statement:
        log::error("persistence", "sql error",
                   {{"op", what}, {"sqlstate", f.sqlstate}, {"error", e.what()}});
        break;
      case kind::other:
        log::error("persistence", "unexpected error", {{"op", what}, {"error", e.what()}});
        break;
    }
    return std::move(f.error);
  }
}

// A UUID in canonical text (8-4-4-4-12 hex digits) as 128 bits; false for
// any other form. PostgreSQL accepts other forms too, and prints them all
// canonical: a ping whose id is in another form is not handed over, so the
// relay never writes an id other than PostgreSQL's `id::text`.
bool uuid_bits(std::string_view s, uint64_t& hi, uint64_t& lo) {
  if (s.size() != 36)
    return false;
  uint64_t half[2] = {0, 0};
  int digits = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-')
        return false;
      continue;
    }
    uint64_t v = 0;
    if (c >= '0' && c <= '9')
      v = static_cast<uint64_t>(c - '0');
    else if (c >= 'a' && c <= 'f')
      v = static_cast<uint64_t>(c - 'a') + 10;
    else if (c >= 'A' && c <= 'F')
      v = static_cast<uint64_t>(c - 'A') + 10;
    else
      return false;
    auto& h = half[digits / 16];
    h = (h << 4) | v;
    ++digits;
  }
  hi = half[0];
  lo = half[1];
  return true;
}

// The stored pings of a committed batch with their positions, for the
// relay's fast path. Empty when one of them cannot be described exactly (an
// id not in canonical form, a timestamp outside the range whose conversion
// to timestamptz and back is exact: the gateway refuses those anyway); the
// relay then finds a gap and reads the batch from PostgreSQL.
std::vector<committed_ping> committed_pings(const std::vector<ping_row>& rows,
                                            const std::vector<int64_t>& seqs) {
  std::vector<committed_ping> out;
  if (seqs.size() != rows.size())
    return out;
  out.reserve(rows.size());
  auto exact = [](int64_t ms) { return ms >= 0 && ms <= max_timestamp_ms; };
  for (size_t i = 0; i < rows.size(); ++i) {
    if (seqs[i] <= 0)
      continue; // not stored (its idempotency key was held)
    const auto& r = rows[i];
    committed_ping c;
    if (!uuid_bits(r.id, c.id_hi, c.id_lo) || !exact(r.pinged_at_ms) || !exact(r.received_at_ms))
      return {};
    c.partition = r.partition;
    c.seq = seqs[i];
    c.pinged_ms = r.pinged_at_ms;
    c.received_ms = r.received_at_ms;
    c.trace_hi = r.trace_hi;
    c.trace_lo = r.trace_lo;
    out.push_back(c);
  }
  return out;
}

int64_t steady_ns(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

worker_actor::behavior_type worker(worker_actor::stateful_pointer<worker_state> self, settings cfg,
                                   std::shared_ptr<telemetry::actor_stats> stats,
                                   socket_handle_ptr socket, telemetry::registry* reg) {
  self->state.stats = std::move(stats);
  self->state.socket = std::move(socket);
  auto m = metrics::registered_in(*reg);
  auto& commit_latency = m.commit_seconds;
  auto& batch_sizes = m.commit_batch_size;
  auto& committed = m.pings_committed;
  auto shared_reads = m.shared_reads;
  auto note = telemetry::noter(self);
  return {
    [=, &commit_latency, &batch_sizes, &committed](write_atom, const std::vector<ping_row>& rows,
                                                   int64_t deadline) -> caf::result<write_report> {
      note();
      auto start = std::chrono::steady_clock::now();
      // Its callers were told the outcome already: sending it now could
      // store pings whose clients were answered `unavailable`.
      if (steady_ns(start) >= deadline)
        return caf::make_error(ping_errc::deadline_exceeded,
                               "the batch's deadline passed before it was sent");
      std::vector<int64_t> seqs;
      auto res = guarded(self->state, cfg, "write", [&](pqxx::connection& c) {
        auto stored = sql::store_batch(c, rows);
        seqs = std::move(stored.seqs);
        return stored.stored;
      });
      if (res.flag != caf::rt_value) {
        if (!rows.empty())
          log::warn("persistence", "batch not stored",
                    {{"rows", std::to_string(rows.size())},
                     {"first_trace_id", trace_id_of(rows.front())},
                     {"last_trace_id", trace_id_of(rows.back())}});
        return std::move(res.err);
      }
      // Committed: the pings for the relay ride on the answer (one message
      // back per commit, not one to the relay and one to the facade); the
      // facade hands them on before their callers hear of the commit, so
      // the nudge that follows the acks finds them.
      write_report report;
      report.stored = res.value.get_as<int64_t>(0);
      if (cfg.outbox)
        report.committed = committed_pings(rows, seqs);
      std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
      commit_latency.observe(took.count());
      batch_sizes.observe(static_cast<double>(rows.size()));
      committed += rows.size();
      if (log::enabled(log::level::debug) && !rows.empty())
        log::debug("persistence", "batch committed",
                   {{"rows", std::to_string(rows.size())},
                    {"first_trace_id", trace_id_of(rows.front())},
                    {"last_trace_id", trace_id_of(rows.back())}});
      return report;
    },
    [=](count_atom, const time_range& range) -> caf::result<int64_t> {
      note();
      std::optional<int64_t> n;
      auto res = guarded(self->state, cfg, "count", [&](pqxx::connection& c) {
        pqxx::read_transaction txn{c};
        n = sql::count(txn, range);
        return int64_t{0};
      });
      if (res.flag != caf::rt_value)
        return res;
      if (!n)
        return caf::make_error(ping_errc::failed_precondition,
                               "the range starts or ends inside a minute whose raw pings "
                               "retention dropped; only whole minutes can be counted there");
      return *n;
    },
    [=](tail_atom, const std::vector<int64_t>& seqs, bool per_minute) -> caf::result<tail_counts> {
      note();
      return guarded(self->state, cfg, "tail", [&](pqxx::connection& c) {
        pqxx::nontransaction txn{c}; // one statement: one snapshot
        return sql::tail(txn, seqs, per_minute);
      });
    },
    [=](tail_atom, const std::vector<int64_t>& seqs, bool per_minute,
        const std::vector<time_range>& ranges, int64_t edge_pings) -> caf::result<read_counts> {
      note();
      return guarded(self->state, cfg, "read", [&](pqxx::connection& c) {
        // One statement, one snapshot (two when the hint was wrong: the
        // second one later, sql::read).
        pqxx::nontransaction txn{c};
        sql::read_form form{};
        auto out = sql::read(txn, seqs, per_minute, ranges, edge_pings, &form);
        ++*shared_reads[static_cast<size_t>(form)];
        return out;
      });
    },
    [=](minutes_atom, int64_t first_minute, int32_t n) -> caf::result<std::vector<int64_t>> {
      note();
      return guarded(self->state, cfg, "minutes", [&](pqxx::connection& c) {
        pqxx::read_transaction txn{c};
        return sql::per_minute(txn, first_minute, n);
      });
    },
    [=](heads_atom) -> caf::result<std::vector<outbox_position>> {
      note();
      return guarded(self->state, cfg, "heads", [&](pqxx::connection& c) {
        pqxx::nontransaction txn{c}; // one statement: one snapshot
        return sql::outbox_positions(txn);
      });
    },
    [=](probe_atom) -> caf::result<bool> {
      note();
      // Reachable and writable: a session on a server that turned
      // read-only is dropped, so the next attempt connects anew.
      auto res = guarded(self->state, cfg, "probe",
                         [&](pqxx::connection& c) { return writable(c); });
      if (res.flag != caf::rt_value)
        return false;
      if (!res.value.get_as<bool>(0)) {
        log::warn("persistence", "PostgreSQL session is read-only; reconnecting");
        self->state.drop();
        return false;
      }
      return true;
    },
  };
}

// -- facade: group commit, bounds, health, supervision ----------------------

using facade_actor
  = persistence_actor::extend<caf::reacts_to<tick_atom>, // timer: the watchdog of requests out
                              caf::reacts_to<tick_atom, int32_t>, // timer: writer i's linger
                              caf::reacts_to<probe_atom>,         // timer: probe PostgreSQL again
                              caf::reacts_to<respawn_atom, int32_t>>; // timer: restart worker slot
                                                                      // i

using steady = std::chrono::steady_clock;

// The pings of one batch store (store_atom, std::vector<ping_row>): their
// outcomes, in order, go back in one answer once the last one is known.
struct store_group {
  caf::typed_response_promise<std::vector<caf::error>> rp;
  std::vector<caf::error> outcomes;
  size_t left = 0;

  void settle(uint32_t index, caf::error err) {
    outcomes[index] = std::move(err);
    if (--left == 0)
      rp.deliver(std::move(outcomes));
  }
};

// Where one ping's outcome goes: its own promise (a single store), or its
// place in a batch store (`group` set). Settled exactly once.
struct store_reply {
  caf::typed_response_promise<int64_t> rp;
  std::shared_ptr<store_group> group;
  uint32_t index = 0;

  void committed(int64_t group_size) {
    if (group)
      group->settle(index, caf::none);
    else
      rp.deliver(group_size);
  }

  void failed(caf::error err) {
    if (group)
      group->settle(index, std::move(err));
    else
      rp.deliver(std::move(err));
  }
};

struct pending_store {
  ping_row row;
  store_reply reply;
  steady::time_point deadline; // arrival + write_timeout: never sent later
};

// A read waiting for its lane: `run` sends it to the lane's worker (due
// back within the time given) and calls `done(timed_out)` once the worker
// answered or the watchdog found it overdue; `fail` answers the caller
// without asking PostgreSQL.
struct read_job {
  steady::time_point deadline; // still waiting then: dropped
  std::function<void(const worker_actor&, caf::timespan, std::function<void(bool)>)> run;
  std::function<void(caf::error)> fail;
};

struct worker_slot {
  supervised<worker_actor> child;
  std::shared_ptr<telemetry::actor_stats> stats;
  socket_handle_ptr socket = std::make_shared<socket_handle>();
  bool busy = false;
};

// Reader workers and their queue: one request at a time per worker, so a
// slot is free again only when PostgreSQL answered (or the worker was
// replaced), never merely because a caller gave up.
struct lane {
  std::vector<size_t> slots;
  size_t max_waiting = 0;
  std::deque<read_job> queue;
};

struct facade_state {
  settings cfg;
  worker_factory make; // empty: the real, detached workers
  telemetry::registry* reg = nullptr;
  std::shared_ptr<telemetry::actor_stats> stats;
  // One queue per writer: writer i stores the pings of partitions p with
  // p % writers == i, so writers never wait for each other's partition locks.
  std::vector<std::deque<pending_store>> queues;
  // Per writer: the Kafka partition its next batch goes to. Every ping of a
  // batch goes to one partition, the writer's partitions in turn, so a
  // commit moves one outbox head and one bucket per grain and minute
  // (migrations/0014; docs/cost.md, "PostgreSQL per ping, third round").
  std::vector<int32_t> turn;
  // Per writer, after a commit (settings::commit_linger): the pings its
  // next batch waits for, until when, and whether a timer is armed.
  std::vector<size_t> want;
  std::vector<steady::time_point> linger_until;
  std::vector<bool> linger_armed;
  size_t pending = 0;
  std::vector<worker_slot> slots; // writers, then the count reader, then the tail readers
  lane counts;                    // count, minutes: may scan much
  lane tails;                     // tail, heads, probe: index ranges, short
  // Requests out to workers, unanswered: at most one per slot, plus those
  // of replaced workers until their deadline. They carry no CAF timeout
  // each; one timer armed for the earliest deadline times them out
  // (actors/common/watchdog.hpp).
  ping::watchdog watch;
  bool healthy = true;
  bool probe_scheduled = false;
  bool probing = false;
  caf::timespan probe_backoff{0};
  static inline const char* name = "persistence";

  // How long a reader may take before its worker counts as stuck: the
  // server cancels a statement after statement_timeout, so no answer by
  // then means the connection is gone.
  caf::timespan read_deadline() const {
    return cfg.statement_timeout + cfg.connect_timeout + std::chrono::seconds(1);
  }
};

using facade_ptr = facade_actor::stateful_pointer<facade_state>;

caf::error unavailable_error() {
  return caf::make_error(ping_errc::unavailable, "PostgreSQL is unavailable");
}

void dispatch(facade_ptr self);
void dispatch_lane(facade_ptr self, lane& l);
void run_job(facade_ptr self, lane& l, size_t index);

// Asks worker `w`, due back within `within`: `on_value` gets its answer,
// `on_error` its error, or request_timeout once the watchdog finds it
// overdue. The timeout is CAF's own message: it consumes the response
// handler, so a worker that never answers leaves nothing behind, and a
// late answer is dropped as after a CAF request timeout. An answer already
// queued when the deadline's tick is handled comes first and counts (a
// batch is sent only before its deadline: its commit is reported).
template <class R, class OnValue, class OnError, class... Ts>
void ask(facade_ptr self, const worker_actor& w, caf::timespan within, OnValue on_value,
         OnError on_error, Ts&&... xs) {
  timed_request<R>(self, self->state.watch, w, within, std::move(on_value), std::move(on_error),
                   std::forward<Ts>(xs)...);
}

void spawn_worker(facade_ptr self, int32_t index) {
  auto& slot = self->state.slots[static_cast<size_t>(index)];
  slot.socket = std::make_shared<socket_handle>(); // the old one may still be interrupted
  slot.child.start(self, [self, &slot]() -> worker_actor {
    auto& st = self->state;
    if (st.make)
      return st.make(self->home_system(), st.cfg, slot.socket);
    return self->spawn<caf::detached>(worker, st.cfg, slot.stats, slot.socket, st.reg);
  });
  slot.busy = false;
}

// A worker that did not answer within its deadline is stuck on a
// connection that went silent (a primary that vanished without a reset):
// it is never sent anything again. Its socket is shut down so its blocked
// call fails now, it is told to exit, and a new worker (new connection)
// takes the slot after the backoff.
void replace_worker(facade_ptr self, size_t index, const std::string& why) {
  auto& slot = self->state.slots[index];
  if (!slot.child.running())
    return;
  slot.socket->interrupt();
  auto delay = slot.child.replace(self, why);
  slot.busy = false;
  self->delayed_send(self, delay, respawn_atom::value, static_cast<int32_t>(index));
}

// A worker got no answer: the server it reached went silent, and so, most
// likely, did every connection opened to it. The idle workers reconnect
// now rather than each losing a request to the same silence later (busy
// ones are replaced when their own deadline passes).
void replace_silent(facade_ptr self, size_t index, const std::string& why) {
  replace_worker(self, index, why);
  auto& slots = self->state.slots;
  for (size_t i = 0; i < slots.size(); ++i)
    if (i != index && !slots[i].busy)
      replace_worker(self, i, "another connection went silent; reconnecting");
}

// The probe runs every `health_interval` while PostgreSQL is healthy (so
// readiness follows a server that went away or turned read-only even with
// no traffic), and with backoff while it is not.
void schedule_probe(facade_ptr self) {
  auto& st = self->state;
  if (st.probe_scheduled || st.probing)
    return;
  st.probe_scheduled = true;
  if (st.healthy) {
    self->delayed_send(self, st.cfg.health_interval, probe_atom::value);
    return;
  }
  st.probe_backoff = next_backoff(st.probe_backoff, st.cfg.backoff_min, st.cfg.backoff_max);
  self->delayed_send(self, st.probe_backoff, probe_atom::value);
}

void mark_unhealthy(facade_ptr self) {
  auto& st = self->state;
  if (st.healthy)
    log::warn("persistence", "PostgreSQL unavailable; failing stores fast");
  st.healthy = false;
  st.stats->up = false;
  // Fail fast: nothing waits for a database that is not there.
  for (auto& q : st.queues) {
    for (auto& p : q)
      p.reply.failed(unavailable_error());
    q.clear();
  }
  st.pending = 0;
  st.stats->backlog = 0;
  schedule_probe(self);
}

// Queues a read on `l`; full: resource_exhausted at once.
template <class T, class... Ts>
caf::result<T> enqueue_read(facade_ptr self, lane& l, Ts... xs) {
  auto& st = self->state;
  if (!st.healthy)
    return unavailable_error();
  if (l.queue.size() >= l.max_waiting)
    return caf::make_error(ping_errc::resource_exhausted, "too many reads waiting for PostgreSQL");
  auto rp = self->make_response_promise<T>();
  read_job job;
  job.deadline = steady::now() + st.cfg.statement_timeout;
  job.run = [self, rp, xs...](const worker_actor& w, caf::timespan timeout,
                              std::function<void(bool)> done) mutable {
    ask<T>(
      self, w, timeout,
      [rp, done](T& x) mutable {
        rp.deliver(std::move(x));
        done(false);
      },
      [rp, done](caf::error& err) mutable {
        auto timed_out = err == caf::sec::request_timeout;
        rp.deliver(timed_out ? unavailable_error() : std::move(err));
        done(timed_out);
      },
      xs...);
  };
  job.fail = [rp](caf::error err) mutable { rp.deliver(std::move(err)); };
  l.queue.push_back(std::move(job));
  dispatch_lane(self, l);
  return rp;
}

// A lane's worker that is running and idle, if any.
std::optional<size_t> idle_slot(facade_state& st, const lane& l) {
  for (auto i : l.slots)
    if (!st.slots[i].busy && st.slots[i].child.running())
      return i;
  return std::nullopt;
}

void dispatch_lane(facade_ptr self, lane& l) {
  auto& st = self->state;
  auto now = steady::now();
  while (!l.queue.empty() && l.queue.front().deadline <= now) {
    l.queue.front().fail(
      caf::make_error(ping_errc::deadline_exceeded, "waited too long for a PostgreSQL reader"));
    l.queue.pop_front();
  }
  while (!l.queue.empty()) {
    auto index = idle_slot(st, l);
    if (!index)
      return;
    run_job(self, l, *index);
  }
}

void run_job(facade_ptr self, lane& l, size_t index) {
  auto& st = self->state;
  auto& slot = st.slots[index];
  auto job = std::move(l.queue.front());
  l.queue.pop_front();
  slot.busy = true;
  auto generation = slot.child.generation();
  auto* lp = &l; // lanes live in the state, as long as the actor
  job.run(slot.child.get(), st.read_deadline(), [self, index, generation, lp](bool timed_out) {
    auto& slot = self->state.slots[index];
    if (slot.child.generation() != generation)
      return; // replaced meanwhile: the new worker is not busy
    slot.busy = false;
    if (timed_out)
      replace_silent(self, index, "a read got no answer within its deadline");
    else
      slot.child.healthy();
    dispatch_lane(self, *lp);
  });
}

// The Kafka partition of writer i's next batch: its partitions (p % writers
// == i) one after the other. A writer that owns none (more writers than
// partitions; its queue gets no pings then) keeps the pings' own.
std::optional<int32_t> next_partition(facade_state& st, size_t i) {
  auto writers = static_cast<int32_t>(st.queues.size());
  auto& p = st.turn[i];
  if (p < 0 || p >= st.cfg.partitions)
    return std::nullopt;
  auto now = p;
  p = p + writers < st.cfg.partitions ? p + writers : static_cast<int32_t>(i);
  return now;
}

void dispatch(facade_ptr self) {
  auto& st = self->state;
  auto writers = st.queues.size();
  auto now = steady::now();
  for (size_t i = 0; i < writers && st.healthy; ++i) {
    auto& slot = st.slots[i];
    auto& queue = st.queues[i];
    // Pings whose deadline passed in the queue are answered, never sent.
    while (!queue.empty() && queue.front().deadline <= now) {
      queue.front().reply.failed(
        caf::make_error(ping_errc::deadline_exceeded, "waited too long for PostgreSQL"));
      queue.pop_front();
      --st.pending;
    }
    st.stats->backlog = static_cast<int64_t>(st.pending);
    if (slot.busy || !slot.child.running() || queue.empty())
      continue;
    if (queue.size() < st.want[i] && now < st.linger_until[i]) {
      // Lingering: the callers just answered have not sent again yet.
      if (!st.linger_armed[i]) {
        st.linger_armed[i] = true;
        self->delayed_send(self, st.linger_until[i] - now, tick_atom::value,
                           static_cast<int32_t>(i));
      }
      continue;
    }
    st.want[i] = 0;
    auto n = std::min(queue.size(), st.cfg.max_batch);
    std::vector<ping_row> rows;
    auto promises = std::make_shared<std::vector<store_reply>>();
    rows.reserve(n);
    promises->reserve(n);
    // The batch is due when its earliest ping is: nothing of it may reach
    // PostgreSQL after a caller could have been told `unavailable`.
    auto deadline = queue.front().deadline;
    auto partition = next_partition(st, i);
    for (size_t k = 0; k < n; ++k) {
      deadline = std::min(deadline, queue.front().deadline);
      rows.push_back(std::move(queue.front().row));
      if (partition)
        rows.back().partition = *partition;
      promises->push_back(std::move(queue.front().reply));
      queue.pop_front();
    }
    st.pending -= n;
    st.stats->backlog = static_cast<int64_t>(st.pending);
    slot.busy = true;
    auto generation = slot.child.generation();
    ask<write_report>(
      self, slot.child.get(), deadline - now,
      [self, i, generation, promises](write_report& report) {
        auto& st = self->state;
        // The relay gets the pings before their callers hear of the commit.
        if (st.cfg.outbox && !report.committed.empty())
          self->send(st.cfg.outbox, committed_atom::value, std::move(report.committed));
        auto committed = report.stored;
        auto& slot = st.slots[i];
        if (slot.child.generation() == generation) {
          slot.busy = false;
          slot.child.healthy();
        }
        if (st.cfg.commit_linger > caf::timespan{0}) {
          st.want[i] = std::min(st.cfg.max_batch, st.queues[i].size() + promises->size());
          st.linger_until[i] = steady::now() + st.cfg.commit_linger;
        }
        for (auto& rp : *promises)
          rp.committed(committed);
        dispatch(self);
      },
      [self, i, generation, promises](caf::error& err) {
        auto& slot = self->state.slots[i];
        auto timed_out = err == caf::sec::request_timeout;
        if (slot.child.generation() == generation) {
          slot.busy = false;
          // A write that got no answer by its deadline: the worker is
          // stuck (the primary vanished, or a COMMIT waits for a
          // synchronous standby that is gone); it is replaced, never
          // reused, so no later batch queues behind it.
          if (timed_out)
            replace_silent(self, i, "a write got no answer within its deadline");
        }
        auto reply = err.category() == caf::atom("ping")
                         && err.code() != static_cast<uint8_t>(ping_errc::unavailable)
                       ? err
                       : unavailable_error();
        for (auto& rp : *promises)
          rp.failed(reply);
        if (reply == ping_errc::unavailable)
          mark_unhealthy(self);
        dispatch(self);
      },
      write_atom::value, std::move(rows), steady_ns(deadline));
  }
}

// Why a store is refused at once, if it is: PostgreSQL unavailable, or
// max_pending stores already waiting.
caf::error refuse_store(const facade_state& st) {
  if (!st.healthy)
    return unavailable_error();
  if (st.pending >= st.cfg.max_pending)
    return caf::make_error(ping_errc::resource_exhausted, "too many pings waiting for PostgreSQL");
  return caf::none;
}

// Queues a store for the writer of its partition.
void enqueue_store(facade_state& st, ping_row row, store_reply reply, steady::time_point deadline) {
  auto writer = static_cast<size_t>(row.partition) % st.queues.size();
  st.queues[writer].push_back({std::move(row), std::move(reply), deadline});
  st.stats->backlog = static_cast<int64_t>(++st.pending);
}

facade_actor::behavior_type facade(facade_ptr self, settings cfg, telemetry::registry* reg,
                                   worker_factory make) {
  auto& st = self->state;
  st.cfg = cfg;
  st.make = std::move(make);
  st.reg = reg;
  st.stats = metrics::registered_in(*reg).facade;
  auto writers = std::max(1, cfg.writers);
  auto add_slot = [&](const std::string& name) {
    auto stats = reg->actor(name, "detached", "persistence");
    st.slots.push_back(
      {supervised<worker_actor>{name, stats, cfg.backoff_min, cfg.backoff_max}, stats});
  };
  for (int i = 0; i < writers; ++i)
    add_slot("persistence.writer-" + std::to_string(i + 1));
  st.queues.resize(static_cast<size_t>(writers));
  for (int i = 0; i < writers; ++i)
    st.turn.push_back(i);
  st.want.resize(static_cast<size_t>(writers), 0);
  st.linger_until.resize(static_cast<size_t>(writers));
  st.linger_armed.resize(static_cast<size_t>(writers), false);
  add_slot("persistence.reader");
  st.counts.slots = {st.slots.size() - 1};
  st.counts.max_waiting = std::max<size_t>(1, cfg.max_reads_waiting);
  for (int i = 0; i < std::max(1, cfg.tail_readers); ++i) {
    st.tails.slots.push_back(st.slots.size());
    add_slot(i == 0 ? "persistence.tail-reader"
                    : "persistence.tail-reader-" + std::to_string(i + 1));
  }
  st.tails.max_waiting = std::max<size_t>(1, cfg.max_reads_waiting);
  for (int32_t i = 0; i < static_cast<int32_t>(st.slots.size()); ++i)
    spawn_worker(self, i);
  schedule_probe(self); // health checks while healthy
  // Supervision (actors/common/supervision.hpp): a worker that exits is
  // started again with backoff. Any other exit (shutdown) ends the facade
  // and, through the links, its workers.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    for (int32_t i = 0; i < static_cast<int32_t>(st.slots.size()); ++i) {
      auto& slot = st.slots[static_cast<size_t>(i)];
      if (auto delay = slot.child.failed(msg)) {
        slot.busy = false;
        self->delayed_send(self, *delay, respawn_atom::value, i);
        return;
      }
    }
    self->quit(msg.reason);
  });
  auto note = telemetry::noter(self);
  return {
    [=](store_atom, ping_row& row) -> caf::result<int64_t> {
      note();
      auto& st = self->state;
      if (auto err = refuse_store(st))
        return err;
      auto rp = self->make_response_promise<int64_t>();
      enqueue_store(st, std::move(row), {rp, nullptr, 0}, steady::now() + st.cfg.write_timeout);
      dispatch(self);
      return rp;
    },
    // A batch: each ping as above; one answer when all have their outcome.
    [=](store_atom, std::vector<ping_row>& rows) -> caf::result<std::vector<caf::error>> {
      note();
      auto& st = self->state;
      auto group = std::make_shared<store_group>();
      group->rp = self->make_response_promise<std::vector<caf::error>>();
      group->outcomes.resize(rows.size());
      group->left = rows.size() + 1; // + 1: held until every row is queued
      auto deadline = steady::now() + st.cfg.write_timeout;
      for (uint32_t i = 0; i < rows.size(); ++i) {
        if (auto err = refuse_store(st))
          group->settle(i, std::move(err));
        else
          enqueue_store(st, std::move(rows[i]), {{}, group, i}, deadline);
      }
      auto rp = group->rp;
      dispatch(self);
      if (--group->left == 0) // every row already has its outcome
        group->rp.deliver(std::move(group->outcomes));
      return rp;
    },
    // Counts that scan (unaligned ranges, the admin's minutes) have their
    // own reader, so they never delay the tails every PingCount needs.
    [=](count_atom, time_range range) -> caf::result<int64_t> {
      note();
      return enqueue_read<int64_t>(self, self->state.counts, count_atom::value, range);
    },
    [=](tail_atom, std::vector<int64_t>& seqs, bool per_minute) -> caf::result<tail_counts> {
      note();
      return enqueue_read<tail_counts>(self, self->state.tails, tail_atom::value, std::move(seqs),
                                       per_minute);
    },
    // The count reader's shared read: short like a tail (index ranges and
    // the edge minutes), on the same reader.
    [=](tail_atom, std::vector<int64_t>& seqs, bool per_minute, std::vector<time_range>& ranges,
        int64_t edge_pings) -> caf::result<read_counts> {
      note();
      return enqueue_read<read_counts>(self, self->state.tails, tail_atom::value, std::move(seqs),
                                       per_minute, std::move(ranges), edge_pings);
    },
    [=](minutes_atom, int64_t first_minute, int32_t n) -> caf::result<std::vector<int64_t>> {
      note();
      return enqueue_read<std::vector<int64_t>>(self, self->state.counts, minutes_atom::value,
                                                first_minute, n);
    },
    [=](heads_atom) -> caf::result<std::vector<outbox_position>> {
      note();
      return enqueue_read<std::vector<outbox_position>>(self, self->state.tails, heads_atom::value);
    },
    [=](probe_atom) {
      note();
      auto& st = self->state;
      st.probe_scheduled = false;
      // Probe through the tail reader: its requests are short. A probe
      // that gets no answer replaces it (its connection may be the one
      // that went silent).
      auto free = idle_slot(st, st.tails);
      if (!free) {
        schedule_probe(self);
        return;
      }
      auto index = *free;
      auto& slot = st.slots[index];
      st.probing = true;
      slot.busy = true;
      auto generation = slot.child.generation();
      ask<bool>(
        self, slot.child.get(), st.cfg.connect_timeout + std::chrono::milliseconds(500),
        [self, index, generation](bool ok) {
          auto& st = self->state;
          st.probing = false;
          auto& slot = st.slots[index];
          if (slot.child.generation() == generation)
            slot.busy = false;
          if (!ok) {
            if (st.healthy)
              mark_unhealthy(self); // unreachable or read-only, with no traffic
            schedule_probe(self);
            dispatch_lane(self, st.tails);
            return;
          }
          if (!st.healthy)
            log::info("persistence", "PostgreSQL is back; accepting stores");
          st.healthy = true;
          st.stats->up = true;
          st.probe_backoff = caf::timespan{0};
          schedule_probe(self);
          dispatch(self);
          dispatch_lane(self, st.tails);
          dispatch_lane(self, st.counts);
        },
        [self, index, generation](caf::error& err) {
          auto& st = self->state;
          st.probing = false;
          if (st.slots[index].child.generation() == generation) {
            st.slots[index].busy = false;
            if (err == caf::sec::request_timeout) {
              replace_silent(self, index, "a probe got no answer within its deadline");
              if (st.healthy)
                mark_unhealthy(self);
            }
          }
          schedule_probe(self);
        },
        probe_atom::value);
    },
    [=](tick_atom) { self->state.watch.on_tick(self); },
    // A linger's timer ends the linger it finds (one timer per writer at
    // most, so a linger never lasts longer than commit_linger).
    [=](tick_atom, int32_t writer) {
      auto i = static_cast<size_t>(writer);
      self->state.linger_armed[i] = false;
      self->state.want[i] = 0;
      dispatch(self);
    },
    [=](respawn_atom, int32_t index) {
      note();
      spawn_worker(self, index);
      dispatch(self);
      dispatch_lane(self, self->state.counts);
      dispatch_lane(self, self->state.tails);
    },
  };
}

} // namespace

persistence_actor spawn_persistence(caf::actor_system& sys, settings cfg, telemetry::registry& reg,
                                    worker_factory make) {
  metrics::registered_in(reg); // visible (readiness, console) as soon as this returns
  std::optional<retention_actor> retention;
  if (cfg.retention_days > 0)
    retention = spawn_retention(sys, cfg);
  auto impl = sys.spawn(facade, std::move(cfg), &reg, std::move(make));
  if (retention) // it stops with the facade
    impl->attach_functor(
      [r = *retention] { caf::anon_send_exit(r, caf::exit_reason::user_shutdown); });
  return caf::actor_cast<persistence_actor>(impl);
}

} // namespace ping::persistence
