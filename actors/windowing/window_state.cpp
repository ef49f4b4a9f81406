#include "actors/windowing/window_state.hpp"

namespace ping::windowing {

window_state::window_state(int32_t partition, size_t max_records,
                           clock::duration max_delay)
  : partition_(partition), max_records_(max_records), max_delay_(max_delay) {
}

void window_state::reset(int64_t next_offset, int64_t watermark) {
  next_offset_ = flushed_offset_ = next_offset;
  watermark_ = watermark;
  total_ = 0;
  minutes_.clear();
  seen_ = 0;
  first_.reset();
  in_flight_.reset();
}

size_t window_state::add(const record_batch& batch, clock::time_point now) {
  size_t counted = 0;
  for (auto& r : batch.records) {
    if (r.offset < next_offset_)
      continue; // replayed before our position: already in the stored offset
    if (r.relay_seq > watermark_) {
      watermark_ = r.relay_seq;
      ++total_;
      ++minutes_[minute_of(r.timestamp_ms)];
      ++counted;
    }
    next_offset_ = r.offset + 1;
    if (!first_)
      first_ = now;
    ++seen_;
  }
  if (batch.next_offset > next_offset_)
    next_offset_ = batch.next_offset;
  return counted;
}

bool window_state::due(clock::time_point now) const {
  if (in_flight_ || !dirty())
    return false;
  if (seen_ >= max_records_)
    return true;
  return first_ && now - *first_ >= max_delay_;
}

flush_request window_state::begin_flush() {
  flush_request req;
  req.partition = partition_;
  req.from_offset = flushed_offset_;
  req.to_offset = next_offset_;
  req.watermark = watermark_;
  req.total = total_;
  req.minutes.assign(minutes_.begin(), minutes_.end());
  total_ = 0;
  minutes_.clear();
  seen_ = 0;
  first_.reset();
  flushed_offset_ = next_offset_;
  in_flight_ = req;
  return req;
}

void window_state::flush_done() {
  in_flight_.reset();
}

void window_state::flush_failed() {
  if (!in_flight_)
    return;
  // Merge back: the next flush covers both, from the older offset.
  auto& req = *in_flight_;
  total_ += req.total;
  for (auto& [minute, delta] : req.minutes)
    minutes_[minute] += delta;
  flushed_offset_ = req.from_offset;
  seen_ = std::max<size_t>(seen_, 1);
  first_ = clock::time_point{}; // overdue: the caller decides when to retry
  in_flight_.reset();
}

void window_state::drop_all() {
  total_ = 0;
  minutes_.clear();
  seen_ = 0;
  first_.reset();
  in_flight_.reset();
}

} // namespace ping::windowing
