#pragma once
// The counting logic of one partition, without actors or I/O, so it can be
// tested with a hand-driven clock.
//
// Records arrive in offset order. A record whose relay_seq is at or below
// the watermark is a re-send of an event already counted and is skipped
// (docs/outbox-relay.md); every record still advances the offset. Deltas
// accumulate until a flush is due: `max_records` records seen, or
// `max_delay` since the first unflushed record, whichever comes first.
// One flush at a time is in flight; records arriving meanwhile start the
// next set of deltas.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>

#include "actors/windowing/protocol.hpp"

namespace ping::windowing {

inline constexpr int64_t ms_per_minute = 60'000;

/// The epoch minute of a timestamp (timestamps are never negative).
constexpr int64_t minute_of(int64_t timestamp_ms) {
  return timestamp_ms / ms_per_minute;
}

class window_state {
public:
  using clock = std::chrono::steady_clock;

  window_state(int32_t partition, size_t max_records, clock::duration max_delay);

  /// Starts (or restarts) counting from a stored position.
  void reset(int64_t next_offset, int64_t watermark);

  /// Adds a batch; returns the number of records counted (not skipped).
  size_t add(const record_batch& batch, clock::time_point now);

  /// True when a flush should start now.
  bool due(clock::time_point now) const;

  /// True when there is anything to flush (deltas or offsets to record).
  bool dirty() const { return seen_ > 0 || next_offset_ != flushed_offset_; }

  /// Moves the pending deltas into a request and marks it in flight.
  /// Precondition: !in_flight().
  flush_request begin_flush();

  /// The flush in flight was applied (or found already applied).
  void flush_done();

  /// The flush in flight failed transiently: its deltas go back to pending.
  void flush_failed();

  /// The partition must be recounted: drop every delta (a recount covers
  /// them, see docs) and wait for reset().
  void drop_all();

  bool in_flight() const { return in_flight_.has_value(); }
  int64_t next_offset() const { return next_offset_; }
  int64_t flushed_offset() const { return flushed_offset_; }
  int64_t watermark() const { return watermark_; }
  size_t pending_records() const { return seen_; }
  int32_t partition() const { return partition_; }

private:
  int32_t partition_;
  size_t max_records_;
  clock::duration max_delay_;
  int64_t next_offset_ = 0;    // after the last record added
  int64_t flushed_offset_ = 0; // stored in the cache (or in flight)
  int64_t watermark_ = 0;      // highest relay_seq counted
  int64_t total_ = 0;
  std::map<int64_t, int64_t> minutes_;
  size_t seen_ = 0; // records added since the last flush began
  std::optional<clock::time_point> first_;
  std::optional<flush_request> in_flight_;
};

} // namespace ping::windowing
