#include "actors/windowing/window_state.hpp"

#include <algorithm>

namespace ping::windowing {

window_state::window_state(int32_t partition, size_t max_records, clock::duration max_delay)
  : partition_(partition), max_records_(max_records), max_delay_(max_delay) {}

void window_state::reset(int64_t next_offset, int64_t seq, int64_t ident) {
  next_offset_ = flushed_offset_ = next_offset;
  seq_ = flushed_seq_ = seq;
  ident_ = ident;
  minutes_.clear();
  seen_ = 0;
  first_.reset();
  in_flight_.reset();
}

window_state::added window_state::add(const record_batch& batch, clock::time_point now) {
  added out;
  auto before = seq_;
  // The identity of the ping at the new sequence: known when it is the
  // batch's highest.
  auto moved = [&] {
    if (seq_ != before)
      ident_ = batch.top_seq == seq_ ? batch.top_ident : 0;
  };
  for (auto& r : batch.records) {
    if (r.relay_seq <= seq_) {
      ++out.skipped; // a re-send or a replay: counted already
    } else if (r.relay_seq == seq_ + 1) {
      seq_ = r.relay_seq;
      ++minutes_[minute_of(r.timestamp_ms)];
      ++out.counted;
    } else {
      out.gap = true;
      out.gap_seq = r.relay_seq;
      out.gap_trace_hi = r.trace_hi;
      out.gap_trace_lo = r.trace_lo;
      next_offset_ = batch.next_offset;
      moved();
      return out;
    }
    next_offset_ = r.offset + 1;
    if (!first_)
      first_ = now;
    ++seen_;
  }
  next_offset_ = std::max(next_offset_, batch.next_offset);
  moved();
  return out;
}

bool window_state::due(clock::time_point now) const {
  if (in_flight_ || !dirty())
    return false;
  if (seen_ >= max_records_)
    return true;
  return first_ && now - *first_ >= max_delay_;
}

write_request window_state::begin_flush() {
  write_request req;
  req.partition = partition_;
  req.from_seq = flushed_seq_;
  req.to_seq = seq_;
  req.next_offset = next_offset_;
  req.count = seq_ - flushed_seq_;
  req.to_ident = ident_;
  req.minutes.assign(minutes_.begin(), minutes_.end());
  minutes_.clear();
  seen_ = 0;
  first_.reset();
  flushed_offset_ = next_offset_;
  flushed_seq_ = seq_;
  in_flight_ = req;
  return req;
}

void window_state::flush_done() {
  in_flight_.reset();
}

void window_state::flush_failed() {
  if (!in_flight_)
    return;
  auto& req = *in_flight_;
  for (auto& [minute, delta] : req.minutes)
    minutes_[minute] += delta;
  flushed_seq_ = req.from_seq;
  flushed_offset_ = -1; // dirty: the position is recorded again
  seen_ = std::max<size_t>(seen_, 1);
  first_ = clock::time_point{}; // overdue: the caller decides when to retry
  in_flight_.reset();
}

void window_state::drop_all() {
  minutes_.clear();
  seen_ = 0;
  first_.reset();
  in_flight_.reset();
  flushed_seq_ = seq_;
  flushed_offset_ = next_offset_;
}

} // namespace ping::windowing
