#pragma once
// Typed protocol of the windowing subsystem (ping-processor): consumer ->
// window -> cache writer (actors/cache), plus the rebuilder that counts a
// partition's missing sequences in PostgreSQL when the window resyncs it,
// and tells the window where PostgreSQL stands (its stall and divergence
// checks).

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/cache/protocol.hpp"
#include "actors/common/atoms.hpp"

namespace ping::windowing {

/// One consumed ping event, reduced to what counting needs.
struct record {
  int64_t offset;       // Kafka offset
  int64_t relay_seq;    // outbox position (de-duplication)
  int64_t timestamp_ms; // event time
  // The event's trace id (its `traceparent` header; zero: none), for the
  // repair a gap starts (actors/common/trace.hpp).
  uint64_t trace_hi = 0;
  uint64_t trace_lo = 0;
  friend bool operator==(const record&, const record&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record& x) {
  return f(caf::meta::type_name("record"), x.offset, x.relay_seq, x.timestamp_ms, x.trace_hi,
           x.trace_lo);
}

/// Consecutive records of one partition; `next_offset` is the offset after
/// the last record consumed (records that failed to decode are skipped but
/// still advance it).
struct record_batch {
  int32_t partition = 0;
  int64_t next_offset = 0;
  std::vector<record> records;
  // The highest relay_seq among the records and the identity of its ping
  // (cache::schema::ident_of its id, the record's key; 0 when unknown).
  int64_t top_seq = 0;
  int64_t top_ident = 0;
  friend bool operator==(const record_batch&, const record_batch&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record_batch& x) {
  return f(caf::meta::type_name("record_batch"), x.partition, x.next_offset, x.records, x.top_seq,
           x.top_ident);
}

/// Where PostgreSQL stands on a partition, against a sequence a window
/// stands at: its committed head, and the identity of its ping at that
/// sequence (0 when it holds none there).
struct head_mark {
  int32_t partition = 0;
  int64_t head = 0;
  int64_t ident_at = 0;
  friend bool operator==(const head_mark&, const head_mark&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, head_mark& x) {
  return f(caf::meta::type_name("head_mark"), x.partition, x.head, x.ident_at);
}

using cache::partition_state;
using cache::write_request;

/// The rebuilder: counts sequence ranges of a partition in PostgreSQL
/// (detached).
using rebuilder_actor = caf::typed_actor<
  // The partition's pings with relay_seq in (from_seq, head], head being its
  // highest committed relay_seq in one snapshot, as a write on top of
  // `from_seq` (its `next_offset` is for the caller to set).
  caf::replies_to<fill_atom, int32_t, int64_t>::with<write_request>,
  // For each (partition, sequence) a window stands at: PostgreSQL's
  // committed head and the identity of its ping at that sequence (the
  // window's stall and divergence checks), in one snapshot.
  caf::replies_to<heads_atom,
                  std::vector<std::pair<int32_t, int64_t>>>::with<std::vector<head_mark>>>;

/// The window's answer to a batch of records: room for another batch (a
/// credit), and how many records it holds unflushed.
struct window_credit {
  int64_t held = 0;
  friend bool operator==(const window_credit&, const window_credit&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, window_credit& x) {
  return f(caf::meta::type_name("window_credit"), x.held);
}

/// The window actor: aggregates and flushes (cooperative).
using window_actor = caf::typed_actor<
  // Consumed records, one batch per partition; the reply comes once the
  // window has room again, which is how the consumer is paced. Records at
  // or below a partition's counted sequence are skipped, so handing the
  // same records over twice is harmless.
  caf::replies_to<records_atom, std::vector<record_batch>>::with<window_credit>,
  // Partitions assigned; the reply is where to start consuming each one.
  caf::replies_to<assign_atom, std::vector<int32_t>>::with<std::vector<partition_state>>,
  // A partition without state in the cache starts at this offset: count it
  // from PostgreSQL first (asynchronously; its records wait meanwhile).
  caf::replies_to<rebuild_atom, int32_t, int64_t>::with<bool>,
  // The topic's partitions and their end offsets, asked at the processor's
  // start, before the group assigns anything: each partition without state
  // in the cache and not assigned here is counted from PostgreSQL at once
  // and written from sequence 0 with that offset (a compare-and-set like
  // every write: it lands only while the partition still has no state), so
  // a cold cache is exact before the group forms. Replies with the number
  // of partitions it wrote.
  caf::replies_to<heal_atom, std::vector<std::pair<int32_t, int64_t>>>::with<int32_t>,
  // Partitions revoked: flush their deltas, then forget them.
  caf::replies_to<revoke_atom, std::vector<int32_t>>::with<bool>,
  // Flush everything now (admin, shutdown); replies with the number of
  // partitions flushed, or an error when the cache did not take everything
  // in time.
  caf::replies_to<flush_atom>::with<int32_t>,
  // Drop the cache's counters and state and recount the assigned
  // partitions from PostgreSQL (admin); replies with the number of
  // partitions recounted once all of them are.
  caf::replies_to<reset_atom>::with<int32_t>,
  // Consumption paused (true) or resumed (false) by the admin: a paused
  // partition is not a stalled one.
  caf::reacts_to<pause_atom, bool>>;

/// The consumer (detached; drives the Kafka source).
using consumer_actor = caf::typed_actor<
  // Stop fetching every assigned partition (and the ones assigned later);
  // replies with the number assigned.
  caf::replies_to<pause_atom>::with<int32_t>,
  // Fetch again.
  caf::replies_to<resume_atom>::with<int32_t>>;

} // namespace ping::windowing
