#include "actors/windowing/rebuilder.hpp"
#include "actors/windowing/metrics.hpp"

#include <caf/all.hpp>
#include <pqxx/pqxx>

#include "actors/cache/schema.hpp"
#include "actors/common/dsn.hpp"
#include "actors/common/errors.hpp"
#include "actors/common/ids.hpp"
#include "actors/common/log.hpp"
#include "actors/common/note.hpp"
#include "actors/persistence/sql.hpp"

namespace ping::windowing {

namespace {

struct rebuilder_state {
  std::unique_ptr<pqxx::connection> conn;
  std::shared_ptr<telemetry::actor_stats> stats;
  static inline const char* name = "windowing.rebuilder";

  void connect(const rebuild_settings& cfg) {
    if (conn)
      return;
    auto c = std::make_unique<pqxx::connection>(
      with_timeouts(cfg.dsn, cfg.connect_timeout, cfg.statement_timeout));
    persistence::sql::prepare_count_statements(*c);
    persistence::sql::prepare_head_mark(*c);
    conn = std::move(c);
  }
};

// The head of `partition` (0 without one) and the identity of its ping at
// `seq` (0 when it holds none there).
template <class Txn>
head_mark mark_of(Txn& txn, int32_t partition, int64_t seq) {
  auto r = persistence::sql::head_mark(txn, partition, seq);
  head_mark m;
  m.partition = partition;
  m.head = r.head.value_or(0);
  if (r.id)
    m.ident_at = cache::schema::ident_of(*r.id);
  return m;
}

rebuilder_actor::behavior_type rebuilder(rebuilder_actor::stateful_pointer<rebuilder_state> self,
                                         rebuild_settings cfg, telemetry::registry* reg) {
  self->state.stats = metrics::registered_in(*reg).rebuilder;
  auto note = telemetry::noter(self);
  return {
    [=](fill_atom, int32_t partition, int64_t from_seq) -> caf::result<write_request> {
      note();
      auto& st = self->state;
      try {
        st.connect(cfg);
        pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::readwrite_policy::read_only>
          txn{*st.conn};
        auto retention_ms
          = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.retention).count();
        auto counted = persistence::sql::count_sequences(
          txn, partition, from_seq, cache::schema::minute_of(now_ms() - retention_ms));
        // The identity at the new head; none when the write does not move (it
        // must not vouch for what the cache counted below `from_seq`).
        auto to_ident = counted.head > from_seq ? mark_of(txn, partition, counted.head).ident_at
                                                : 0;
        txn.commit();
        st.stats->up = true;
        write_request req;
        req.to_ident = to_ident;
        req.partition = partition;
        req.from_seq = from_seq;
        req.to_seq = counted.head;
        req.count = counted.count;
        req.minutes = std::move(counted.minutes);
        log::info("rebuilder", "counted missing sequences",
                  {{"partition", std::to_string(partition)},
                   {"from_seq", std::to_string(from_seq)},
                   {"to_seq", std::to_string(req.to_seq)},
                   {"count", std::to_string(req.count)}});
        return req;
      } catch (const persistence::sql::raw_rows_dropped& e) {
        log::error("rebuilder", "cannot recount: raw rows dropped",
                   {{"partition", std::to_string(partition)}, {"error", e.what()}});
        return caf::make_error(ping_errc::failed_precondition, e.what());
      } catch (const std::exception& e) {
        st.conn.reset();
        st.stats->up = false;
        log::warn("rebuilder", "count failed",
                  {{"partition", std::to_string(partition)}, {"error", e.what()}});
        return caf::make_error(ping_errc::unavailable, e.what());
      }
    },
    [=](heads_atom, const std::vector<std::pair<int32_t, int64_t>>& where)
      -> caf::result<std::vector<head_mark>> {
      note();
      auto& st = self->state;
      try {
        st.connect(cfg);
        pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::readwrite_policy::read_only>
          txn{*st.conn};
        std::vector<head_mark> out;
        out.reserve(where.size());
        for (auto [p, seq] : where)
          out.push_back(mark_of(txn, p, seq));
        txn.commit();
        st.stats->up = true;
        return out;
      } catch (const std::exception& e) {
        st.conn.reset();
        st.stats->up = false;
        log::debug("rebuilder", "head check failed", {{"error", e.what()}});
        return caf::make_error(ping_errc::unavailable, e.what());
      }
    },
  };
}

} // namespace

rebuilder_actor spawn_rebuilder(caf::actor_system& sys, rebuild_settings cfg,
                                telemetry::registry& reg) {
  return sys.spawn<caf::detached>(rebuilder, std::move(cfg), &reg);
}

} // namespace ping::windowing
