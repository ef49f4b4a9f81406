#include "actors/windowing/rebuilder.hpp"

#include <caf/all.hpp>
#include <pqxx/pqxx>

#include "actors/common/dsn.hpp"
#include "actors/common/errors.hpp"
#include "actors/common/ids.hpp"
#include "actors/common/log.hpp"
#include "actors/windowing/window_state.hpp"

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
  self->state.stats = reg->actor("windowing.rebuilder", "detached", "windowing");
  return {
    [=](rebuild_atom, int32_t partition) -> caf::result<recount> {
      auto& st = self->state;
      st.stats->handled++;
      try {
        if (!st.conn)
          st.conn = std::make_unique<pqxx::connection>(
            with_timeouts(cfg.dsn, std::chrono::seconds(5), cfg.statement_timeout));
        pqxx::transaction<pqxx::isolation_level::repeatable_read,
                          pqxx::readwrite_policy::read_only>
          txn{*st.conn};
        recount rc;
        rc.partition = partition;
        auto p = std::to_string(partition);
        auto head = txn.exec("SELECT coalesce(max(relay_seq), 0), count(*) FROM pings "
                             "WHERE kafka_partition = " + p);
        rc.watermark = head[0][0].as<int64_t>();
        rc.total = head[0][1].as<int64_t>();
        auto retention_ms
          = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.retention).count();
        auto cutoff_ms = minute_of(now_ms() - retention_ms) * ms_per_minute;
        auto rows = txn.exec("SELECT div(timestamptz_to_ms(pinged_at), 60000), count(*) "
                             "FROM pings WHERE kafka_partition = " + p
                             + " AND pinged_at >= ms_to_timestamptz("
                             + std::to_string(cutoff_ms) + ") GROUP BY 1");
        for (const auto& r : rows)
          rc.minutes.emplace_back(r[0].as<int64_t>(), r[1].as<int64_t>());
        txn.commit();
        log::info("rebuilder", "recounted partition",
                  {{"partition", p}, {"watermark", std::to_string(rc.watermark)},
                   {"total", std::to_string(rc.total)}});
        return rc;
      } catch (const std::exception& e) {
        st.conn.reset();
        log::warn("rebuilder", "recount failed", {{"partition", std::to_string(partition)},
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
