#include "actors/persistence/sql.hpp"

#include <map>
#include <stdexcept>

#include "actors/common/log.hpp"
#include "actors/persistence/migrations.hpp"

namespace ping::persistence::sql {

namespace {

// Takes the next relay sequence numbers of the batch's partitions. The row
// locks are held until commit, so transactions of every writer (of every
// replica) commit in sequence order per partition: a relay reading
// `relay_seq > N` can never miss a lower number that commits later.
// Locks are taken in partition order (no deadlocks between writers).
constexpr const char* reserve_seqs_sql = R"sql(
WITH wanted AS (
  SELECT part, count(*) AS n FROM unnest($1::int2[]) AS t(part) GROUP BY part
), locked AS (
  SELECT s.kafka_partition, s.next_seq
  FROM relay_state s JOIN wanted w ON w.part = s.kafka_partition
  ORDER BY s.kafka_partition
  FOR UPDATE OF s
)
UPDATE relay_state s SET next_seq = l.next_seq + w.n
FROM locked l JOIN wanted w ON w.part = l.kafka_partition
WHERE s.kafka_partition = l.kafka_partition
RETURNING s.kafka_partition, l.next_seq
)sql";

constexpr const char* insert_batch_sql = R"sql(
WITH input AS (
  SELECT * FROM unnest($1::uuid[], $2::int8[], $3::int8[], $4::int2[], $5::int8[])
    AS t(id, pinged_ms, received_ms, part, seq)
), stored AS (
  INSERT INTO pings (id, pinged_at, received_at, kafka_partition, relay_seq)
  SELECT id, ms_to_timestamptz(pinged_ms), ms_to_timestamptz(received_ms), part, seq
  FROM input
)
INSERT INTO outbox (ping_id, kafka_partition, pinged_at_ms, received_at_ms, relay_seq)
SELECT id, part, pinged_ms, received_ms, seq FROM input
)sql";

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
    txn.exec("INSERT INTO relay_state (kafka_partition) SELECT generate_series(0, "
             + std::to_string(partitions - 1) + ") ON CONFLICT DO NOTHING");
    txn.commit();
  }
  c.prepare("reserve_seqs", reserve_seqs_sql);
  c.prepare("insert_batch", insert_batch_sql);
  c.prepare("count_all", "SELECT count(*) FROM pings");
  c.prepare("count_range",
            "SELECT count(*) FROM pings WHERE pinged_at >= ms_to_timestamptz($1) "
            "AND pinged_at < ms_to_timestamptz($2)");
}

void insert_batch(pqxx::work& txn, const std::vector<ping_row>& rows) {
  std::vector<std::string> ids;
  std::vector<int64_t> pinged, received, parts, seqs;
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
  // Number the batch's pings per partition, in batch order.
  std::map<int64_t, int64_t> next;
  for (const auto& row : txn.exec_prepared("reserve_seqs", array_literal(parts)))
    next[row[0].as<int64_t>()] = row[1].as<int64_t>();
  seqs.reserve(rows.size());
  for (auto p : parts) {
    auto it = next.find(p);
    if (it == next.end())
      throw std::logic_error("no relay_state row for partition " + std::to_string(p));
    seqs.push_back(it->second++);
  }
  txn.exec_prepared("insert_batch", array_literal(ids), array_literal(pinged),
                    array_literal(received), array_literal(parts),
                    array_literal(seqs));
}

int64_t count(pqxx::transaction_base& txn, const time_range& range) {
  auto res = range.bounded
               ? txn.exec_prepared("count_range", range.start_ms, range.end_ms)
               : txn.exec_prepared("count_all");
  return res[0][0].as<int64_t>();
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
