#include "actors/persistence/sql.hpp"

#include <algorithm>

#include <stdexcept>

#include "actors/common/log.hpp"
#include "actors/persistence/migrations.hpp"

namespace ping::persistence::sql {

namespace {

// One statement, so one round trip and one implicit transaction (see
// insert_pings() in migrations/0002_outbox.sql for the ordering guarantee).
constexpr const char* insert_batch_sql
  = "SELECT insert_pings($1::uuid[], $2::int8[], $3::int8[], $4::int2[])";

template <class T, class F>
std::string join(const std::vector<T>& xs, F f) {
  std::string out = "{";
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i > 0)
      out.push_back(',');
    out.append(f(xs[i]));
  }
  out.push_back('}');
  return out;
}

} // namespace

std::string array_literal(const std::vector<std::string>& values) {
  return join(values, [](const std::string& s) { return s; });
}

std::string array_literal(const std::vector<int64_t>& values) {
  return join(values, [](int64_t v) { return std::to_string(v); });
}

void prepare_writer_statements(pqxx::connection& c, int32_t partitions) {
  {
    // Every partition needs its sequence row before the first insert.
    pqxx::work txn{c};
    auto parts = "SELECT generate_series(0, " + std::to_string(partitions - 1) + ")";
    txn.exec("INSERT INTO outbox_head (kafka_partition) " + parts
             + " ON CONFLICT DO NOTHING");
    txn.exec("INSERT INTO outbox_cursor (kafka_partition) " + parts
             + " ON CONFLICT DO NOTHING");
    txn.commit();
  }
  c.prepare("insert_batch", insert_batch_sql);
  c.prepare("count_all", "SELECT count(*) FROM pings");
  c.prepare("count_range",
            "SELECT count(*) FROM pings WHERE pinged_at >= ms_to_timestamptz($1) "
            "AND pinged_at < ms_to_timestamptz($2)");
  c.prepare("per_minute",
            "SELECT div(timestamptz_to_ms(pinged_at), 60000), count(*) FROM pings "
            "WHERE pinged_at >= ms_to_timestamptz($1) AND pinged_at < ms_to_timestamptz($2) "
            "GROUP BY 1");
}

int64_t insert_batch(pqxx::connection& c, const std::vector<ping_row>& rows) {
  std::vector<std::string> ids;
  std::vector<int64_t> pinged, received, parts;
  ids.reserve(rows.size());
  pinged.reserve(rows.size());
  received.reserve(rows.size());
  parts.reserve(rows.size());
  for (auto& r : rows) {
    ids.push_back(r.id);
    pinged.push_back(r.pinged_at_ms);
    received.push_back(r.received_at_ms);
    parts.push_back(r.partition);
  }
  pqxx::nontransaction txn{c}; // autocommit: the statement is the transaction
  auto res = txn.exec_prepared("insert_batch", array_literal(ids), array_literal(pinged),
                               array_literal(received), array_literal(parts));
  return res[0][0].as<int64_t>();
}

int64_t count(pqxx::transaction_base& txn, const time_range& range) {
  auto res = range.bounded
               ? txn.exec_prepared("count_range", range.start_ms, range.end_ms)
               : txn.exec_prepared("count_all");
  return res[0][0].as<int64_t>();
}

std::vector<int64_t> per_minute(pqxx::transaction_base& txn, int64_t first_minute,
                                int32_t n) {
  std::vector<int64_t> out(static_cast<size_t>(std::max(0, n)), 0);
  constexpr int64_t minute_ms = 60'000;
  for (const auto& row : txn.exec_prepared("per_minute", first_minute * minute_ms,
                                           (first_minute + n) * minute_ms)) {
    auto i = row[0].as<int64_t>() - first_minute;
    if (i >= 0 && i < n)
      out[static_cast<size_t>(i)] = row[1].as<int64_t>();
  }
  return out;
}

} // namespace ping::persistence::sql

namespace ping::persistence {

int migrate(const std::string& dsn) {
  // One arbitrary, fixed key for "Ping schema migrations".
  constexpr int64_t lock_key = 0x50494e47'4d494752; // "PINGMIGR"
  pqxx::connection conn{dsn};
  pqxx::nontransaction session{conn};
  session.exec("SELECT pg_advisory_lock(" + std::to_string(lock_key) + ")");
  int applied = 0;
  try {
    session.exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " version integer PRIMARY KEY,"
                 " name text NOT NULL,"
                 " applied_at timestamptz NOT NULL DEFAULT now())");
    for (auto& m : migrations()) {
      auto done = session.exec("SELECT 1 FROM schema_migrations WHERE version = "
                               + std::to_string(m.version));
      if (!done.empty())
        continue;
      session.exec("BEGIN");
      try {
        session.exec(m.sql);
        session.exec("INSERT INTO schema_migrations (version, name) VALUES ("
                     + std::to_string(m.version) + ", " + session.quote(m.name)
                     + ")");
        session.exec("COMMIT");
      } catch (...) {
        session.exec("ROLLBACK");
        throw;
      }
      ++applied;
      log::info("migrate", "applied migration",
                {{"version", std::to_string(m.version)}, {"name", m.name}});
    }
  } catch (...) {
    session.exec("SELECT pg_advisory_unlock(" + std::to_string(lock_key) + ")");
    throw;
  }
  session.exec("SELECT pg_advisory_unlock(" + std::to_string(lock_key) + ")");
  return applied;
}

} // namespace ping::persistence
