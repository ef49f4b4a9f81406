#include "actors/persistence/retention.hpp"

#include <memory>

#include <caf/all.hpp>
#include <pqxx/pqxx>

#include "actors/common/log.hpp"
#include "actors/persistence/sql.hpp"

namespace ping::persistence {

namespace {

struct retention_state {
  std::unique_ptr<pqxx::connection> conn;
  static inline const char* name = "persistence.retention";
};

} // namespace

int32_t drop_old_ranges(pqxx::connection& conn, int32_t days) {
  pqxx::work txn{conn};
  auto n = sql::drop_old_pings(txn, days);
  txn.commit();
  return n;
}

retention_actor spawn_retention(caf::actor_system& sys, settings cfg) {
  auto impl
    = [cfg](
        retention_actor::stateful_pointer<retention_state> self) -> retention_actor::behavior_type {
    self->send(self, tick_atom::value);
    return {
      [=](tick_atom) {
        auto& st = self->state;
        try {
          if (!st.conn)
            st.conn = std::make_unique<pqxx::connection>(effective_dsn(cfg));
          auto dropped = drop_old_ranges(*st.conn, cfg.retention_days);
          if (dropped > 0)
            log::info("retention", "dropped raw ranges",
                      {{"ranges", std::to_string(dropped)},
                       {"retention_days", std::to_string(cfg.retention_days)}});
        } catch (const std::exception& e) {
          st.conn.reset();
          log::warn("retention", "pass failed; trying again later", {{"error", e.what()}});
        }
        self->delayed_send(self, cfg.retention_interval, tick_atom::value);
      },
    };
  };
  return sys.spawn<caf::detached>(impl);
}

} // namespace ping::persistence
