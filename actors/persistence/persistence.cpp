#include "actors/persistence/persistence.hpp"
#include "actors/persistence/metrics.hpp"

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <pqxx/pqxx>

#include "actors/common/backoff.hpp"
#include "actors/common/supervision.hpp"
#include "actors/common/dsn.hpp"
#include "actors/common/errors.hpp"
#include "actors/common/log.hpp"
#include "actors/common/note.hpp"
#include "actors/persistence/sql.hpp"

namespace ping::persistence {

std::string effective_dsn(const settings& cfg) {
  return with_timeouts(cfg.dsn, cfg.connect_timeout, cfg.statement_timeout);
}

namespace {

// -- worker: one connection, blocking calls, detached thread ----------------

struct worker_state {
  std::unique_ptr<pqxx::connection> conn;
  std::shared_ptr<telemetry::actor_stats> stats;
  static inline const char* name = "persistence.worker";
};

pqxx::connection& connection(worker_state& st, const settings& cfg) {
  if (!st.conn) {
    auto c = std::make_unique<pqxx::connection>(effective_dsn(cfg));
    sql::prepare_writer_statements(*c, cfg.partitions);
    st.conn = std::move(c);
    st.stats->up = true;
  }
  return *st.conn;
}

// Runs `f` against the worker's connection, turning database failures into
// ping errors. Connection-level failures drop the connection; the next call
// reconnects.
template <class F>
auto guarded(worker_state& st, const settings& cfg, const char* what, F f)
  -> caf::result<decltype(f(std::declval<pqxx::connection&>()))> {
  try {
    return f(connection(st, cfg));
  } catch (const pqxx::broken_connection& e) {
    st.conn.reset();
    st.stats->up = false;
    log::warn("persistence", "connection lost", {{"op", what}, {"error", e.what()}});
    return caf::make_error(ping_errc::unavailable, "PostgreSQL is unreachable");
  } catch (const pqxx::in_doubt_error& e) {
    st.conn.reset();
    log::warn("persistence", "commit outcome unknown", {{"op", what}});
    return caf::make_error(ping_errc::unavailable, "commit outcome unknown");
  } catch (const pqxx::sql_error& e) {
    auto state = e.sqlstate();
    if (sql::connection_failure(e)) {
      st.conn.reset();
      st.stats->up = false;
      log::warn("persistence", "database unavailable",
                {{"op", what}, {"sqlstate", state}});
      return caf::make_error(ping_errc::unavailable, "PostgreSQL is unavailable");
    }
    log::error("persistence", "sql error",
               {{"op", what}, {"sqlstate", state}, {"error", e.what()}});
    return caf::make_error(ping_errc::internal, "database error " + state);
  } catch (const std::exception& e) {
    st.conn.reset();
    log::error("persistence", "unexpected error", {{"op", what}, {"error", e.what()}});
    return caf::make_error(ping_errc::unavailable, "database error");
  }
}

worker_actor::behavior_type
worker(worker_actor::stateful_pointer<worker_state> self, settings cfg,
       std::shared_ptr<telemetry::actor_stats> stats,
       telemetry::registry* reg) {
  self->state.stats = std::move(stats);
  auto m = metrics::registered_in(*reg);
  auto& commit_latency = m.commit_seconds;
  auto& batch_sizes = m.commit_batch_size;
  auto& committed = m.pings_committed;
  auto note = telemetry::noter(self);
  return {
    [=, &commit_latency, &batch_sizes, &committed](write_atom,
                                       const std::vector<ping_row>& rows)
      -> caf::result<int64_t> {
      note();
      auto start = std::chrono::steady_clock::now();
      auto res = guarded(self->state, cfg, "write", [&](pqxx::connection& c) {
        return sql::insert_batch(c, rows);
      });
      if (res.flag == caf::rt_value) {
        std::chrono::duration<double> took
          = std::chrono::steady_clock::now() - start;
        commit_latency.observe(took.count());
        batch_sizes.observe(static_cast<double>(rows.size()));
        committed += rows.size();
      }
      return res;
    },
    [=](count_atom, const time_range& range) -> caf::result<int64_t> {
      note();
      return guarded(self->state, cfg, "count", [&](pqxx::connection& c) {
        pqxx::read_transaction txn{c};
        return sql::count(txn, range);
      });
    },
    [=](tail_atom, const std::vector<int64_t>& seqs, bool per_minute)
      -> caf::result<tail_counts> {
      note();
      return guarded(self->state, cfg, "tail", [&](pqxx::connection& c) {
        pqxx::nontransaction txn{c}; // one statement: one snapshot
        return sql::tail(txn, seqs, per_minute);
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
      auto res = guarded(self->state, cfg, "probe", [&](pqxx::connection& c) {
        pqxx::nontransaction txn{c};
        txn.exec("SELECT 1");
        return true;
      });
      if (res.flag == caf::rt_value)
        return true;
      return false;
    },
  };
}

// -- facade: group commit, bounds, health, supervision ----------------------

using facade_actor = persistence_actor::extend<
  caf::reacts_to<probe_atom>,            // timer: probe PostgreSQL again
  caf::reacts_to<respawn_atom, int32_t>>; // timer: restart worker slot i

struct pending_store {
  ping_row row;
  caf::typed_response_promise<int64_t> rp;
};

struct worker_slot {
  supervised<worker_actor> child;
  std::shared_ptr<telemetry::actor_stats> stats;
  bool busy = false;
};

struct facade_state {
  settings cfg;
  telemetry::registry* reg = nullptr;
  std::shared_ptr<telemetry::actor_stats> stats;
  // One queue per writer: writer i stores the pings of partitions p with
  // p % writers == i, so writers never wait for each other's partition locks.
  std::vector<std::deque<pending_store>> queues;
  size_t pending = 0;
  std::vector<worker_slot> slots; // writers first, the reader last
  bool healthy = true;
  bool probe_scheduled = false;
  caf::timespan probe_backoff{0};
  static inline const char* name = "persistence";
};

using facade_ptr = facade_actor::stateful_pointer<facade_state>;

caf::error unavailable_error() {
  return caf::make_error(ping_errc::unavailable, "PostgreSQL is unavailable");
}

void spawn_worker(facade_ptr self, int32_t index) {
  auto& slot = self->state.slots[static_cast<size_t>(index)];
  slot.child.start(self, [self, &slot] {
    return self->spawn<caf::detached>(worker, self->state.cfg, slot.stats, self->state.reg);
  });
  slot.busy = false;
}

void schedule_probe(facade_ptr self) {
  auto& st = self->state;
  if (st.probe_scheduled)
    return;
  st.probe_scheduled = true;
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
      p.rp.deliver(unavailable_error());
    q.clear();
  }
  st.pending = 0;
  st.stats->backlog = 0;
  schedule_probe(self);
}

void dispatch(facade_ptr self) {
  auto& st = self->state;
  auto writers = st.slots.size() - 1;
  for (size_t i = 0; i < writers && st.healthy; ++i) {
    auto& slot = st.slots[i];
    auto& queue = st.queues[i];
    if (slot.busy || !slot.child.running() || queue.empty())
      continue;
    auto n = std::min(queue.size(), st.cfg.max_batch);
    std::vector<ping_row> rows;
    auto promises
      = std::make_shared<std::vector<caf::typed_response_promise<int64_t>>>();
    rows.reserve(n);
    promises->reserve(n);
    for (size_t k = 0; k < n; ++k) {
      rows.push_back(std::move(queue.front().row));
      promises->push_back(std::move(queue.front().rp));
      queue.pop_front();
    }
    st.pending -= n;
    st.stats->backlog = static_cast<int64_t>(st.pending);
    slot.busy = true;
    self->request(slot.child.get(), st.cfg.write_timeout, write_atom::value,
                  std::move(rows))
      .then(
        [self, i, promises](int64_t committed) {
          self->state.slots[i].busy = false;
          self->state.slots[i].child.healthy();
          for (auto& rp : *promises)
            rp.deliver(committed);
          dispatch(self);
        },
        [self, i, promises](caf::error& err) {
          self->state.slots[i].busy = false;
          auto reply = err.category() == caf::atom("ping")
                           && err.code() != static_cast<uint8_t>(ping_errc::unavailable)
                         ? err
                         : unavailable_error();
          for (auto& rp : *promises)
            rp.deliver(reply);
          if (reply == ping_errc::unavailable)
            mark_unhealthy(self);
          dispatch(self);
        });
  }
}

facade_actor::behavior_type facade(facade_ptr self, settings cfg,
                                   telemetry::registry* reg) {
  auto& st = self->state;
  st.cfg = cfg;
  st.reg = reg;
  st.stats = metrics::registered_in(*reg).facade;
  auto writers = std::max(1, cfg.writers);
  auto add_slot = [&](const std::string& name) {
    auto stats = reg->actor(name, "detached", "persistence");
    st.slots.push_back({supervised<worker_actor>{name, stats, cfg.backoff_min, cfg.backoff_max},
                        stats, false});
  };
  for (int i = 0; i < writers; ++i)
    add_slot("persistence.writer-" + std::to_string(i + 1));
  st.queues.resize(static_cast<size_t>(writers));
  add_slot("persistence.reader");
  for (int32_t i = 0; i < static_cast<int32_t>(st.slots.size()); ++i)
    spawn_worker(self, i);
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
      if (!st.healthy)
        return unavailable_error();
      if (st.pending >= st.cfg.max_pending)
        return caf::make_error(ping_errc::resource_exhausted,
                               "too many pings waiting for PostgreSQL");
      auto rp = self->make_response_promise<int64_t>();
      auto writer = static_cast<size_t>(row.partition) % st.queues.size();
      st.queues[writer].push_back({std::move(row), rp});
      st.stats->backlog = static_cast<int64_t>(++st.pending);
      dispatch(self);
      return rp;
    },
    [=](count_atom, time_range range) -> caf::result<int64_t> {
      note();
      auto& st = self->state;
      auto& reader = st.slots.back();
      if (!st.healthy || !reader.child.running())
        return unavailable_error();
      auto rp = self->make_response_promise<int64_t>();
      self
        ->request(reader.child.get(), st.cfg.statement_timeout + st.cfg.connect_timeout,
                  count_atom::value, range)
        .then([rp](int64_t n) mutable { rp.deliver(n); },
              [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](tail_atom, std::vector<int64_t>& seqs, bool per_minute)
      -> caf::result<tail_counts> {
      note();
      auto& st = self->state;
      auto& reader = st.slots.back();
      if (!st.healthy || !reader.child.running())
        return unavailable_error();
      // The reader answers the caller directly (one hop less); the caller's
      // request carries the deadline.
      return self->delegate(reader.child.get(), tail_atom::value, std::move(seqs), per_minute);
    },
    [=](minutes_atom, int64_t first_minute, int32_t n)
      -> caf::result<std::vector<int64_t>> {
      note();
      auto& st = self->state;
      auto& reader = st.slots.back();
      if (!st.healthy || !reader.child.running())
        return unavailable_error();
      auto rp = self->make_response_promise<std::vector<int64_t>>();
      self
        ->request(reader.child.get(), st.cfg.statement_timeout + st.cfg.connect_timeout,
                  minutes_atom::value, first_minute, n)
        .then([rp](std::vector<int64_t>& xs) mutable { rp.deliver(std::move(xs)); },
              [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](heads_atom) -> caf::result<std::vector<outbox_position>> {
      note();
      auto& st = self->state;
      auto& reader = st.slots.back();
      if (!st.healthy || !reader.child.running())
        return unavailable_error();
      // The reader answers the caller directly; the caller's request
      // carries the deadline.
      return self->delegate(reader.child.get(), heads_atom::value);
    },
    [=](probe_atom) {
      note();
      auto& st = self->state;
      st.probe_scheduled = false;
      // Probe through the reader: it is never busy with a batch.
      auto& reader = st.slots.back();
      if (!reader.child.running()) {
        schedule_probe(self);
        return;
      }
      self
        ->request(reader.child.get(), st.cfg.connect_timeout * 2, probe_atom::value)
        .then(
          [self](bool ok) {
            auto& st = self->state;
            if (!ok) {
              schedule_probe(self);
              return;
            }
            if (!st.healthy)
              log::info("persistence", "PostgreSQL is back; accepting stores");
            st.healthy = true;
            st.stats->up = true;
            st.probe_backoff = caf::timespan{0};
            dispatch(self);
          },
          [self](caf::error&) { schedule_probe(self); });
    },
    [=](respawn_atom, int32_t index) {
      note();
      spawn_worker(self, index);
      dispatch(self);
    },
  };
}

} // namespace

persistence_actor spawn_persistence(caf::actor_system& sys, settings cfg,
                                    telemetry::registry& reg) {
  metrics::registered_in(reg); // visible (readiness, console) as soon as this returns
  auto impl = sys.spawn(facade, std::move(cfg), &reg);
  return caf::actor_cast<persistence_actor>(impl);
}

} // namespace ping::persistence
