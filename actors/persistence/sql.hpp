#pragma once
// The SQL of the persistence workers, kept apart from their actor logic.

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "actors/common/types.hpp"
#include "actors/persistence/protocol.hpp"

namespace ping::persistence::sql {

/// Prepares the statements a worker uses on a fresh connection, and makes
/// sure every partition has its outbox head and cursor rows.
void prepare_writer_statements(pqxx::connection& c, int32_t partitions);

/// One count statement: its prepared name, its text, and arguments for an
/// example call (SQL literals). Every statement that counts pings, on the
/// request path or in a repair, is in `count_statements()`, and only these
/// count pings: tests/integration/history_test.cpp EXPLAINs each of them on
/// a million rows under `plan_cache_mode = force_generic_plan` and fails on
/// any sequential scan of the history.
struct statement {
  const char* name;
  const char* sql;
  std::vector<std::string> example_args;
};
const std::vector<statement>& count_statements();

/// Prepares `count_statements()` on a connection (the workers and the
/// rebuilder call it on every fresh connection).
void prepare_count_statements(pqxx::connection& c);

/// Inserts and commits the pings with the next outbox positions of their
/// partitions: one statement, one round trip. Returns the rows inserted.
int64_t insert_batch(pqxx::connection& c, const std::vector<ping_row>& rows);

/// The buckets and edges that make up a bounded range [start_ms, end_ms):
/// the fewest day, hour and minute buckets covering its whole minutes
/// (grains[i] minutes per bucket, first minutes in [lo[i], hi[i])), and
/// its partial edge minutes (edge_minute[j], counted by pinged_at in
/// [edge_lo[j], edge_hi[j])). At most 3 + 2 + 2 bucket ranges, 2 edges.
struct range_cover {
  std::vector<int32_t> grains;
  std::vector<int64_t> lo, hi;
  std::vector<int64_t> edge_minute, edge_lo, edge_hi;
};
range_cover cover_range(int64_t start_ms, int64_t end_ms);

/// Exact count of pings in the range (all pings when unbounded), from the
/// partitions' heads (unbounded) or the buckets plus the two partial edge
/// minutes (bounded): O(partitions x buckets + pings in the edge minutes),
/// whatever the range and the history. Nullopt when an edge minute lies in
/// raw rows that retention dropped (its exact share cannot be known).
std::optional<int64_t> count(pqxx::transaction_base& txn, const time_range& range);

/// Thrown by count_sequences when the raw rows it needs were dropped by
/// retention.
struct raw_rows_dropped : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// insert_batch() for a batch where some pings carry an idempotency key
/// (insert_batch() hands such batches here): one statement, one
/// transaction; a ping whose key an unexpired earlier ping holds (or an
/// earlier ping of the batch claims) is not stored. Returns the rows stored.
int64_t insert_keyed_batch(pqxx::connection& c, const std::vector<ping_row>& rows);

/// An SQLSTATE of a transient fault of the database, not of the statement:
/// serialization failure or deadlock (class 40), insufficient resources
/// (53), lock not available (55P03), read-only transaction (25006: a
/// demoted primary), system error (58). The caller answers `unavailable`
/// (retryable), not `internal` (issue 19 item 10).
bool retryable_sqlstate(const std::string& sqlstate);

/// The pings above `seqs[p]` in each partition p (the unapplied tail of a
/// cache snapshot), per minute when `per_minute`.
tail_counts tail(pqxx::transaction_base& txn, const std::vector<int64_t>& seqs, bool per_minute);

/// The count reader's shared read, one statement (so one snapshot, one set
/// of committed heads): the tail above `seqs` (per minute when
/// `per_minute`; with `seqs` empty, above 0 in every partition, so its
/// total is every stored ping) and the exact count of every range
/// (buckets plus partial edge minutes, as count(); the total when
/// unbounded; -1 when an edge minute's raw rows were dropped). When only
/// totals are asked it reads the heads alone (`read_heads`, one row per
/// partition). O(partitions x (1 + bucket ranges) + edge-minute rows +
/// tail rows), whatever the history.
read_counts read(pqxx::transaction_base& txn, const std::vector<int64_t>& seqs, bool per_minute,
                 const std::vector<time_range>& ranges);

/// One partition's pings with relay_seq in (from_seq, head], where head is
/// the partition's highest relay_seq in the caller's snapshot: their number
/// (head - from_seq: sequences are gapless) and, for minutes at or above
/// `min_minute`, their count per minute: from the minute buckets when
/// from_seq is 0 (O(minutes retained)), else from the rows (from_seq, head]
/// (one index range, O(head - from_seq)); throws raw_rows_dropped when
/// retention dropped some of those rows.
struct sequence_counts {
  int64_t head = 0;
  int64_t count = 0;
  std::vector<std::pair<int64_t, int64_t>> minutes; // (epoch minute, count)
};
sequence_counts count_sequences(pqxx::transaction_base& txn, int32_t partition, int64_t from_seq,
                                int64_t min_minute);

/// Pings per epoch minute for the `n` minutes from `first_minute` on,
/// zeros included, oldest first.
std::vector<int64_t> per_minute(pqxx::transaction_base& txn, int64_t first_minute, int32_t n);

/// Every partition's committed head (outbox_head.next_seq - 1) and relay
/// cursor (outbox_cursor.acked_seq), in partition order: one statement.
std::vector<outbox_position> outbox_positions(pqxx::transaction_base& txn);

/// SQLSTATE of a statement cancelled by `statement_timeout`.
inline constexpr const char* statement_timeout_state = "57014";
/// SQLSTATE of a write on a read-only server (a standby, a demoted primary).
inline constexpr const char* read_only_state = "25006";

/// The one classification of database failures: true when the connection
/// is unusable (lost, a commit in doubt, SQLSTATE class 08 connection
/// exception or 57 operator intervention such as a shutdown) or points at
/// the wrong server (25006: read-only, e.g. a reconnect that landed on a
/// standby after a switchover), so the caller drops it, reconnects and the
/// database counts as unavailable meanwhile; false for an error of the
/// statement itself, and for 57014 (statement timeout: the server
/// cancelled the statement, the session is fine).
bool connection_failure(const std::exception& e);

/// PostgreSQL array literals ("{a,b,c}") for the batch columns. The values
/// are generated by the gateway (UUIDs, integers): no quoting is needed.
std::string array_literal(const std::vector<std::string>& values);
std::string array_literal(const std::vector<int64_t>& values);

} // namespace ping::persistence::sql
