#pragma once
// The SQL of the persistence workers, kept apart from their actor logic.

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <pqxx/pqxx>

#include "actors/common/errors.hpp"
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
  std::string sql;
  std::vector<std::string> example_args;
};
const std::vector<statement>& count_statements();

/// Prepares `count_statements()` on a connection (the workers and the
/// rebuilder call it on every fresh connection).
void prepare_count_statements(pqxx::connection& c);

/// What a committed batch stored: the number of pings, and each row's
/// outbox position (relay_seq in its partition), in the batch's order; 0
/// for a row not stored (an unexpired ping held its idempotency key).
struct stored_batch {
  int64_t stored = 0;
  std::vector<int64_t> seqs;
};

/// Inserts and commits the pings with the next outbox positions of their
/// partitions: one statement, one round trip (store_pings() or, when some
/// ping carries an idempotency key, store_keyed_pings(); migration 0013).
/// Returns the positions the transaction gave them.
stored_batch store_batch(pqxx::connection& c, const std::vector<ping_row>& rows);

/// store_batch(), the number of pings stored.
int64_t insert_batch(pqxx::connection& c, const std::vector<ping_row>& rows);

/// A PostgreSQL int8[] in text form ("{1,NULL,3}", or "[2:3]={5,7}" with
/// its bounds): `lower` gets its lower bound, NULL elements are nullopt.
/// Throws std::invalid_argument on anything else.
std::vector<std::optional<int64_t>> parse_int8_array(std::string_view text, int64_t& lower);

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

/// What the shared read asks PostgreSQL for many ranges at once: each
/// bucket row and each edge probe at most once. Per grain, the bucket
/// ranges of all the ranges are split at every one of their ends into
/// disjoint pieces, each read once (a 400-day and a 30-day range ending
/// at the same floor read the 30 days' buckets once, not twice); equal
/// edges are probed once. Range i is the sum of its pieces
/// (range_pieces[i]) and of its edges (range_edges[i]).
struct read_plan {
  std::vector<int32_t> grains;      // per piece
  std::vector<int64_t> lo, hi;      // per piece: first minutes [lo, hi)
  std::vector<int64_t> edge_minute; // per distinct edge
  std::vector<int64_t> edge_lo, edge_hi;
  std::vector<std::vector<int32_t>> range_pieces; // per asked range
  std::vector<std::vector<int32_t>> range_edges;  // per asked range
};
read_plan plan_read(const std::vector<time_range>& ranges);

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

/// store_batch() for a batch where some pings carry an idempotency key
/// (store_batch() hands such batches here): one statement, one
/// transaction; a ping whose key an unexpired earlier ping holds (or an
/// earlier ping of the batch claims) is not stored (position 0).
stored_batch store_keyed_batch(pqxx::connection& c, const std::vector<ping_row>& rows);

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
///
/// `edge_pings` is the caller's hint: the most pings any partial edge
/// minute of `ranges` holds over all partitions (the cache's count), or -1
/// when not known. Above `sparse_minute_pings`, the edges are counted by
/// read_counts. Else they are first counted from their raw rows alone
/// (read_counts_sparse: no node of the seconds of dense minutes to start),
/// reading at most `sparse_minute_pings` + 1 rows per edge, partition and
/// raw range; an edge with more (a dense minute), or whose raw rows
/// retention dropped, sends the read to read_counts (a second statement).
/// So a wrong or missing hint costs time, never a count. A read without
/// edges is read_counts_whole.
/// What a read ran (`ran`, when given; the workers count them): the heads
/// alone, one of the three forms, or the sparse form and then read_counts.
enum class read_form : uint8_t { heads, whole, sparse, any, sparse_then_any };
read_counts read(pqxx::transaction_base& txn, const std::vector<int64_t>& seqs, bool per_minute,
                 const std::vector<time_range>& ranges, int64_t edge_pings = -1,
                 read_form* ran = nullptr);

/// Pings per minute (all partitions) up to which no partition keeps the
/// minute's seconds: ping_seconds_from() of migration 0019 (600, per
/// partition).
inline constexpr int64_t sparse_minute_pings = 600;

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

/// What a database failure is, for the caller: whether to drop the
/// connection, and the ping error it answers.
enum class failure_kind {
  connection_lost, // broken connection, SQLSTATE class 08, 57 but 57014
  outcome_unknown, // the commit's outcome is in doubt
  read_only,       // 25006: a write on a standby or a demoted primary
  timeout,         // 57014: cancelled by statement_timeout
  transient,       // a fault of the database, retryable_sqlstate()
  statement,       // an error of the statement itself
  other,           // not an error from PostgreSQL (no SQLSTATE)
};

struct failure {
  failure_kind kind = failure_kind::other;
  /// connection_failure(): drop the connection and reconnect.
  bool reconnect = false;
  std::string sqlstate; // empty unless an SQL error
  /// The one translation into ping_errc: unavailable (connection lost,
  /// outcome unknown, read-only, transient, other), deadline_exceeded
  /// (timeout), internal (statement).
  caf::error error;
};

/// The one translation of database errors (pqxx exceptions) into a failure.
failure classify(const std::exception& e);

/// classify(e).error.
caf::error to_error(const std::exception& e);

/// One statement: true when the session can write (a primary, and not a
/// read-only transaction default). Used by the persistence workers' health
/// check and by the relay before it holds partitions.
bool writable(pqxx::transaction_base& txn);

// -- the outbox relay's statements (actors/publisher/relay.cpp) -------------

/// The relay's statements, with example arguments for EXPLAIN (the
/// history test plans them on a million rows).
const std::vector<statement>& relay_statements();

/// Prepares the relay's statements on a fresh connection.
void prepare_relay_statements(pqxx::connection& c);

/// One outbox entry not yet handed to the producer.
struct pending_row {
  int32_t partition = 0;
  std::string id;
  int64_t pinged_ms = 0, received_ms = 0, seq = 0;
  std::optional<std::string> trace_id; // uuid text
};

/// Outbox log entries after `after[i]` in partition `parts[i]`, up to
/// `batch` per partition, for every partition at once: one statement, one
/// snapshot, one round trip (an index range per partition). Not ordered:
/// the caller puts them in (partition, position) order.
std::vector<pending_row> pending(pqxx::transaction_base& txn, const std::vector<int64_t>& parts,
                                 const std::vector<int64_t>& after, int64_t batch);

/// Moves outbox_cursor.acked_seq up to `seqs[i]` for partition `parts[i]`,
/// every partition in one statement (never down).
void advance_cursors(pqxx::transaction_base& txn, const std::vector<int64_t>& parts,
                     const std::vector<int64_t>& seqs);

/// pg_try_advisory_lock on the relay's lock of `partition` (session level:
/// held until the session ends). True when taken.
bool try_lock_partition(pqxx::transaction_base& txn, int32_t partition);

/// Makes sure `partition` has an outbox_cursor row and returns its
/// acked_seq: two statements, one index lookup each.
int64_t claim_cursor(pqxx::transaction_base& txn, int32_t partition);

/// Pings committed and not yet acknowledged by Kafka, every partition:
/// one statement over outbox_head and outbox_cursor (O(partitions)).
int64_t outbox_backlog(pqxx::transaction_base& txn);

// -- the window rebuilder's statement (actors/windowing/rebuilder.cpp) ------

/// Prepares head_mark() on a fresh connection.
void prepare_head_mark(pqxx::connection& c);

/// A partition's committed head (nullopt without a head row) and the id of
/// its ping at `seq` (nullopt when it holds none there): two index lookups.
struct head_id {
  std::optional<int64_t> head;
  std::optional<std::string> id;
};
head_id head_mark(pqxx::transaction_base& txn, int32_t partition, int64_t seq);

// -- retention (actors/persistence/retention.cpp) ---------------------------

/// Drops the raw ranges of pings older than `days` days (drop_old_pings(),
/// migrations), waiting at most 2 s for a range's lock. Returns the ranges
/// dropped. The caller commits.
int32_t drop_old_pings(pqxx::transaction_base& txn, int32_t days);

/// PostgreSQL array literals ("{a,b,c}") for the batch columns. The values
/// are generated by the gateway (UUIDs, integers): no quoting is needed.
std::string array_literal(const std::vector<std::string>& values);
std::string array_literal(const std::vector<int64_t>& values);

} // namespace ping::persistence::sql
