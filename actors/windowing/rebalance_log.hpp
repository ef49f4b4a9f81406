#pragma once
// The processor's rebalance history: each change of the consumer's
// partition assignment (when, what was assigned, what was revoked), the
// last `capacity` of them, for the admin endpoint (GetLag, the cluster
// view).
//
// Owner: the binary's run(), which hands it to the consumer (writer) and to
// the processor node (reader); it outlives both. Threads: record() runs on
// the consumer's detached thread inside librdkafka's rebalance callback,
// recent() on the admin server's I/O thread; a mutex guards a short copy,
// nothing blocks under it. Bounds: `capacity` events (oldest dropped).
// Never fails.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

namespace ping::windowing {

struct rebalance_event {
  int64_t time_ms = 0; // wall clock, epoch milliseconds
  std::vector<int32_t> assigned;
  std::vector<int32_t> revoked;

  friend bool operator==(const rebalance_event&, const rebalance_event&) = default;
};

class rebalance_log {
public:
  static constexpr size_t default_capacity = 50;

  explicit rebalance_log(size_t capacity = default_capacity);

  /// Appends an event stamped with the wall clock; drops the oldest beyond
  /// the capacity.
  void record(std::vector<int32_t> assigned, std::vector<int32_t> revoked);

  /// Appends `e` as is (tests).
  void record(rebalance_event e);

  /// The kept events, newest first.
  std::vector<rebalance_event> recent() const;

private:
  size_t capacity_;
  mutable std::mutex mtx_;
  std::deque<rebalance_event> events_; // oldest first
};

} // namespace ping::windowing
