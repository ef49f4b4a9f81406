#pragma once
// Typed protocol of the persistence subsystem.

#include <cstdint>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/common/atoms.hpp"
#include "actors/common/types.hpp"

namespace ping::persistence {

/// The pings a cache snapshot has not applied yet: per partition p, those
/// with relay_seq above the snapshot's seqs[p].
struct tail_counts {
  // False when the snapshot claims more than PostgreSQL holds (a sequence
  // above a partition's head, or a partition with pings it does not list):
  // then it cannot be made exact and must not be used.
  bool consistent = true;
  int64_t total = 0;
  std::vector<std::pair<int64_t, int64_t>> minutes; // (epoch minute, count), if asked

  friend bool operator==(const tail_counts&, const tail_counts&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tail_counts& x) {
  return f(caf::meta::type_name("tail_counts"), x.consistent, x.total, x.minutes);
}

/// One shared read of many counts (the count reader's group read): the
/// tail above a cache snapshot's sequences and every asked range, all
/// counted by one statement, so in one PostgreSQL snapshot, at one set of
/// committed heads (docs/counts.md, "One moment").
struct read_counts {
  // Above the snapshot's sequences; with no sequences asked, above 0 in
  // every partition: `total` is then every stored ping.
  tail_counts tail;
  // Per asked range, in order: its exact count, or -1 when it starts or
  // ends inside a minute whose raw rows retention dropped.
  std::vector<int64_t> ranges;

  friend bool operator==(const read_counts&, const read_counts&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, read_counts& x) {
  return f(caf::meta::type_name("read_counts"), x.tail, x.ranges);
}

/// Where one partition's outbox stands (the admin's exactness check).
struct outbox_position {
  int32_t partition = 0;
  int64_t head = 0;  // outbox_head.next_seq - 1: the highest committed relay_seq
  int64_t acked = 0; // outbox_cursor.acked_seq: relayed and acknowledged by Kafka

  friend bool operator==(const outbox_position&, const outbox_position&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, outbox_position& x) {
  return f(caf::meta::type_name("outbox_position"), x.partition, x.head, x.acked);
}

/// One ping as its transaction committed it, with the outbox position it
/// got: exactly what the outbox relay would read back from PostgreSQL
/// (docs/outbox-relay.md, "The fast path"). Plain integers: the id and the
/// trace id as 128 bits each, so the relay writes their canonical text as
/// PostgreSQL would (`id::text`).
struct committed_ping {
  int32_t partition = 0;
  int64_t seq = 0; // relay_seq in the partition
  uint64_t id_hi = 0;
  uint64_t id_lo = 0;
  int64_t pinged_ms = 0;
  int64_t received_ms = 0;
  uint64_t trace_hi = 0; // the client's trace id; zero: none (pings.trace_id NULL)
  uint64_t trace_lo = 0;

  friend bool operator==(const committed_ping&, const committed_ping&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, committed_ping& x) {
  return f(caf::meta::type_name("committed_ping"), x.partition, x.seq, x.id_hi, x.id_lo,
           x.pinged_ms, x.received_ms, x.trace_hi, x.trace_lo);
}

/// A writer's answer for a committed batch: how many pings it stored, and
/// the pings with their outbox positions for the relay's fast path (empty
/// when nobody is told, or the batch cannot be described exactly). One
/// message back per commit: the facade hands `committed` to the outbox
/// sink before the batch's callers hear of the commit.
struct write_report {
  int64_t stored = 0;
  std::vector<committed_ping> committed;

  friend bool operator==(const write_report&, const write_report&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, write_report& x) {
  return f(caf::meta::type_name("write_report"), x.stored, x.committed);
}

/// Where the pings of each commit go, after the commit (the outbox relay's
/// facade; publisher::outbox_of): the persistence facade sends each
/// writer's write_report.committed, in commit order; a
/// batch it cannot describe exactly is not sent (the relay then reads
/// PostgreSQL).
using outbox_sink = caf::typed_actor<caf::reacts_to<committed_atom, std::vector<committed_ping>>>;

/// The persistence facade: the stable handle other subsystems hold.
using persistence_actor = caf::typed_actor<
  // Stores one ping. The reply (the size of the group commit that held it)
  // is sent only after that transaction committed; an error means the ping
  // may or may not be stored and was not acknowledged.
  caf::replies_to<store_atom, ping_row>::with<int64_t>,
  // Stores several pings, each as the single store above (same queue,
  // bounds and deadlines), and answers once, when every one of them has
  // its outcome: per ping, in order, none when its transaction committed,
  // else its error. One message each way for a batch of calls.
  caf::replies_to<store_atom, std::vector<ping_row>>::with<std::vector<caf::error>>,
  // Counts stored pings in the range, exactly, from PostgreSQL.
  caf::replies_to<count_atom, time_range>::with<int64_t>,
  // Counts the pings above each partition's sequence (index ranges; empty
  // when the processor is caught up), per minute when asked.
  caf::replies_to<tail_atom, std::vector<int64_t>, bool>::with<tail_counts>,
  // The same tail (sequences may be empty: then above 0 everywhere) and
  // the exact count of every range, in one statement: one snapshot, one
  // set of heads, however many ranges (the count reader's shared read).
  // The last argument is the most pings the cache saw in any partial edge
  // minute of the ranges, -1 when unknown: a hint for the statement's
  // form, never for its answer (sql::read).
  caf::replies_to<tail_atom, std::vector<int64_t>, bool, std::vector<time_range>,
                  int64_t>::with<read_counts>,
  // Pings per epoch minute for n minutes from the first (admin console).
  caf::replies_to<minutes_atom, int64_t, int32_t>::with<std::vector<int64_t>>,
  // Every partition's committed head and relay cursor, in partition order
  // (admin: the exactness check).
  caf::replies_to<heads_atom>::with<std::vector<outbox_position>>>;

/// A worker owning one PostgreSQL connection (detached: libpqxx blocks).
using worker_actor = caf::typed_actor<
  // Inserts the batch (pings and their outbox rows) in one transaction,
  // unless its deadline (steady_clock nanoseconds since the clock's epoch)
  // has passed when the worker gets to it: then nothing is sent to
  // PostgreSQL and the answer is deadline_exceeded. The answer carries the
  // committed pings for the outbox sink (write_report).
  caf::replies_to<write_atom, std::vector<ping_row>, int64_t>::with<write_report>,
  // Counts pings in the range.
  caf::replies_to<count_atom, time_range>::with<int64_t>,
  // The tail beyond a cache snapshot.
  caf::replies_to<tail_atom, std::vector<int64_t>, bool>::with<tail_counts>,
  // The tail and the ranges at one moment (read_counts), with the edge
  // hint.
  caf::replies_to<tail_atom, std::vector<int64_t>, bool, std::vector<time_range>,
                  int64_t>::with<read_counts>,
  // Pings per epoch minute for n minutes from the first.
  caf::replies_to<minutes_atom, int64_t, int32_t>::with<std::vector<int64_t>>,
  // Every partition's committed head and relay cursor.
  caf::replies_to<heads_atom>::with<std::vector<outbox_position>>,
  // Connects if needed and runs `SELECT 1`; true when PostgreSQL answers.
  caf::replies_to<probe_atom>::with<bool>>;

} // namespace ping::persistence
