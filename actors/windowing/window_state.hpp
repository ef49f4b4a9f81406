#pragma once
// The counting logic of one partition, without actors or I/O, so it can be
// tested with a hand-driven clock.
//
// A partition's events carry gapless relay sequences (docs/outbox-relay.md).
// The state counts exactly the sequences after the one the cache stands at,
// one by one: a record at or below the last counted sequence is a re-send
// or a replay and is skipped; the next sequence is counted; a later one
// means events are missing from the stream (a relay that lost its session,
// a Kafka offset reset, retention): counting stops there and the caller
// resyncs the partition from PostgreSQL (docs/counts.md). Kafka offsets are
// only positions to restart from, never used to decide what to count.
//
// Deltas accumulate until a flush is due: `max_records` records seen, or
// `max_delay` since the first unflushed record, whichever comes first. One
// flush at a time is in flight; records arriving meanwhile start the next
// set of deltas. A flush covers the sequences (flushed_seq, seq] and holds
// exactly seq - flushed_seq pings.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>

#include "actors/cache/schema.hpp"
#include "actors/windowing/protocol.hpp"

namespace ping::windowing {

using cache::schema::minute_of;

class window_state {
public:
  using clock = std::chrono::steady_clock;

  window_state(int32_t partition, size_t max_records, clock::duration max_delay);

  /// Starts (or restarts) counting where the cache stands; `ident` is the
  /// identity of the ping at `seq` (0: unknown).
  void reset(int64_t next_offset, int64_t seq, int64_t ident = 0);

  struct added {
    size_t counted = 0;
    size_t skipped = 0;
    bool gap = false; // a sequence is missing before `gap_seq`
    int64_t gap_seq = 0;
    uint64_t gap_trace_hi = 0; // the trace id of the record at gap_seq
    uint64_t gap_trace_lo = 0;
  };

  /// Adds a batch. On a gap, the rest of the batch is not counted (the
  /// resync covers it) and the position moves to the batch's end.
  added add(const record_batch& batch, clock::time_point now);

  /// True when a flush should start now.
  bool due(clock::time_point now) const;

  /// True when there is anything to flush (deltas or a position to record).
  bool dirty() const { return seen_ > 0 || next_offset_ != flushed_offset_; }

  /// Moves the pending deltas into a write and marks it in flight.
  /// Precondition: !in_flight().
  write_request begin_flush();

  /// The flush in flight was applied (or found applied already).
  void flush_done();

  /// The flush in flight failed transiently: its deltas go back to pending,
  /// and the next flush covers both from the older sequence.
  void flush_failed();

  /// Drops every delta, pending and in flight (a resync covers them).
  void drop_all();

  bool in_flight() const { return in_flight_.has_value(); }
  int64_t next_offset() const { return next_offset_; }
  int64_t seq() const { return seq_; }
  int64_t flushed_seq() const { return flushed_seq_; }
  /// The identity of the ping at seq() (cache::schema::ident_of), 0 when
  /// unknown.
  int64_t ident() const { return ident_; }
  size_t pending_records() const { return seen_; }
  int32_t partition() const { return partition_; }

private:
  int32_t partition_;
  size_t max_records_;
  clock::duration max_delay_;
  int64_t next_offset_ = 0;    // after the last record added
  int64_t flushed_offset_ = 0; // in the cache (or in flight)
  int64_t seq_ = 0;            // highest sequence counted
  int64_t flushed_seq_ = 0;    // where the cache stands (or will, in flight)
  int64_t ident_ = 0;          // identity of the ping at seq_ (0: unknown)
  std::map<int64_t, int64_t> minutes_;
  size_t seen_ = 0; // records added since the last flush began
  std::optional<clock::time_point> first_;
  std::optional<write_request> in_flight_;
};

} // namespace ping::windowing
