#include "actors/windowing/rebuilder.hpp"
#include "actors/windowing/metrics.hpp"

#include <caf/all.hpp>
#include <pqxx/pqxx>

#include "actors/cache/schema.hpp"
#include "actors/common/dsn.hpp"
#include "actors/common/errors.hpp"
#include "actors/common/ids.hpp"
#include "actors/common/log.hpp"
#include "actors/persistence/sql.hpp"

namespace ping::windowing {

namespace {

struct rebuilder_state {
  std::unique_ptr<pqxx::connection> conn;
  std::shared_ptr<telemetry::actor_stats> stats;
  static inline const char* name = "windowing.rebuilder";
};

rebuilder_actor::behavior_type
rebuilder(rebuilder_actor::stateful_pointer<rebuilder_state> self, rebuild_settings cfg,
          telemetry::registry* reg) {
  self->state.stats = metrics::registered_in(*reg).rebuilder;
  return {
    [=](fill_atom, int32_t partition, int64_t from_seq) -> caf::result<write_request> {
      auto& st = self->state;
      st.stats->handled++;
      try {
        if (!st.conn) {
          auto c = std::make_unique<pqxx::connection>(
            with_timeouts(cfg.dsn, cfg.connect_timeout, cfg.statement_timeout));
          persistence::sql::prepare_count_statements(*c);
          st.conn = std::move(c);
        }
        pqxx::transaction<pqxx::isolation_level::repeatable_read,
                          pqxx::readwrite_policy::read_only>
          txn{*st.conn};
        auto retention_ms
          = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.retention).count();
        auto counted = persistence::sql::count_sequences(
          txn, partition, from_seq, cache::schema::minute_of(now_ms() - retention_ms));
        txn.commit();
        st.stats->up = true;
        write_request req;
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
        log::warn("rebuilder", "count failed", {{"partition", std::to_string(partition)},
                                                {"error", e.what()}});
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
