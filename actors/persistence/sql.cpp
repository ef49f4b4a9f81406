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

// A batch with idempotency keys: insert_keyed_pings() claims each key and
// stores only the pings that claimed theirs (or carry none).
constexpr const char* insert_keyed_batch_sql
  = "SELECT insert_keyed_pings($1::uuid[], $2::int8[], $3::int8[], $4::int2[], $5::text[],"
    " $6::int8[])";

// The tail of a cache snapshot: $1 partitions, $2 their applied sequences.
// `ok` is false when the snapshot claims a sequence above a partition's
// committed head, or PostgreSQL has pings in a partition it does not list.
constexpr const char* tail_prefix
  = "WITH w AS (SELECT * FROM unnest($1::int2[], $2::int8[]) AS w(part, seq)),"
    " ok AS (SELECT coalesce(bool_and(coalesce(h.next_seq - 1, 0) >= w.seq), true)"
    "   AND NOT EXISTS (SELECT 1 FROM outbox_head h2 WHERE h2.next_seq > 1"
    "                   AND h2.kafka_partition NOT IN (SELECT part FROM w)) AS ok"
    "   FROM w LEFT JOIN outbox_head h ON h.kafka_partition = w.part) ";

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

bool connection_failure(const std::exception& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) || dynamic_cast<const pqxx::in_doubt_error*>(&e))
    return true;
  if (auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    auto state = sql->sqlstate();
    if (state == statement_timeout_state)
      return false; // the server cancelled one statement; the session is fine
    return state.rfind("08", 0) == 0 || state.rfind("57", 0) == 0
           || state == read_only_state;
  }
  return false;
}

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
  c.prepare("tail_total", std::string{tail_prefix}
            + "SELECT ok.ok, NULL::int8, (SELECT count(*) FROM w JOIN pings p"
              " ON p.kafka_partition = w.part AND p.relay_seq > w.seq) FROM ok");
  c.prepare("tail_minutes", std::string{tail_prefix}
            + "SELECT ok.ok, t.m, t.n FROM ok LEFT JOIN ("
              "SELECT div(timestamptz_to_ms(p.pinged_at), 60000) AS m, count(*) AS n"
              " FROM w JOIN pings p ON p.kafka_partition = w.part AND p.relay_seq > w.seq"
              " GROUP BY 1) t ON true");
  c.prepare("insert_keyed_batch", insert_keyed_batch_sql);
  c.prepare("per_minute",
            "SELECT div(timestamptz_to_ms(pinged_at), 60000), count(*) FROM pings "
            "WHERE pinged_at >= ms_to_timestamptz($1) AND pinged_at < ms_to_timestamptz($2) "
            "GROUP BY 1");
}

int64_t insert_batch(pqxx::connection& c, const std::vector<ping_row>& rows) {
  if (std::any_of(rows.begin(), rows.end(), [](const ping_row& r) { return !r.key.empty(); }))
    return insert_keyed_batch(c, rows);
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

tail_counts tail(pqxx::transaction_base& txn, const std::vector<int64_t>& seqs,
                 bool per_minute) {
  std::vector<int64_t> parts(seqs.size());
  for (size_t p = 0; p < parts.size(); ++p)
    parts[p] = static_cast<int64_t>(p);
  auto res = txn.exec_prepared(per_minute ? "tail_minutes" : "tail_total",
                               array_literal(parts), array_literal(seqs));
  tail_counts out;
  for (const auto& row : res) {
    out.consistent = out.consistent && row[0].as<bool>();
    if (per_minute) {
      if (row[1].is_null())
        continue; // an empty tail: the one row says only `ok`
      auto n = row[2].as<int64_t>();
      out.minutes.emplace_back(row[1].as<int64_t>(), n);
      out.total += n;
    } else {
      out.total += row[2].as<int64_t>();
    }
  }
  return out;
}

sequence_counts count_sequences(pqxx::transaction_base& txn, int32_t partition,
                                int64_t from_seq, int64_t min_minute) {
  sequence_counts out;
  auto p = std::to_string(partition);
  out.head = txn.exec("SELECT coalesce(max(relay_seq), 0) FROM pings WHERE kafka_partition = "
                      + p)[0][0]
               .as<int64_t>();
  if (out.head <= from_seq) {
    out.head = from_seq; // nothing above it (or PostgreSQL holds less: nothing to add)
    return out;
  }
  auto range = " FROM pings WHERE kafka_partition = " + p + " AND relay_seq > "
               + std::to_string(from_seq) + " AND relay_seq <= " + std::to_string(out.head);
  out.count = txn.exec("SELECT count(*)" + range)[0][0].as<int64_t>();
  for (const auto& row :
       txn.exec("SELECT div(timestamptz_to_ms(pinged_at), 60000), count(*)" + range
                + " AND pinged_at >= ms_to_timestamptz(" + std::to_string(min_minute * ms_per_minute)
                + ") GROUP BY 1"))
    out.minutes.emplace_back(row[0].as<int64_t>(), row[1].as<int64_t>());
  return out;
}

std::vector<outbox_position> outbox_positions(pqxx::transaction_base& txn) {
  std::vector<outbox_position> out;
  for (const auto& row : txn.exec("SELECT h.kafka_partition, h.next_seq - 1, coalesce(c.acked_seq, 0) "
                                  "FROM outbox_head h LEFT JOIN outbox_cursor c USING (kafka_partition) "
                                  "ORDER BY h.kafka_partition"))
    out.push_back({row[0].as<int32_t>(), row[1].as<int64_t>(), row[2].as<int64_t>()});
  return out;
}

std::vector<int64_t> per_minute(pqxx::transaction_base& txn, int64_t first_minute,
                                int32_t n) {
  std::vector<int64_t> out(static_cast<size_t>(std::max(0, n)), 0);
  for (const auto& row : txn.exec_prepared("per_minute", first_minute * ms_per_minute,
                                           (first_minute + n) * ms_per_minute)) {
    auto i = row[0].as<int64_t>() - first_minute;
    if (i >= 0 && i < n)
      out[static_cast<size_t>(i)] = row[1].as<int64_t>();
  }
  return out;
}

// Idempotency keys (issue 19 item 13; migrations/0010_ping_keys.sql).
// Keys are validated by the gateway (gateway::idempotency_key: letters,
// digits and - _ . : ~ + / =), so quoting each element is enough for the
// array literal.
int64_t insert_keyed_batch(pqxx::connection& c, const std::vector<ping_row>& rows) {
  std::vector<std::string> ids, keys;
  std::vector<int64_t> pinged, received, parts, keep;
  for (auto& r : rows) {
    ids.push_back(r.id);
    pinged.push_back(r.pinged_at_ms);
    received.push_back(r.received_at_ms);
    parts.push_back(r.partition);
    keys.push_back('"' + r.key + '"');
    keep.push_back(r.key_ttl_ms);
  }
  pqxx::nontransaction txn{c}; // autocommit: the statement is the transaction
  auto res = txn.exec_prepared("insert_keyed_batch", array_literal(ids), array_literal(pinged),
                               array_literal(received), array_literal(parts),
                               array_literal(keys), array_literal(keep));
  return res[0][0].as<int64_t>();
}

bool retryable_sqlstate(const std::string& s) {
  auto cls = s.substr(0, 2);
  return cls == "40" || cls == "53" || cls == "58" || s == "55P03" || s == "25006";
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
        session.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                            m.version, std::string{m.name});
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
