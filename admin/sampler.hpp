#pragma once
// Snapshots of what the admin API turns into rates and recent latencies,
// one per second, the last few kept: the node's pipeline counters and
// histograms and every actor's handled count. A rate or a recent quantile
// is the difference between the oldest kept snapshot and a fresh one.
//
// Owns one thread (start() .. stop()), which only reads atomics; window()
// may be called from any thread (the admin server's I/O thread). Bounded:
// `kept` snapshots of a fixed set of metrics. Never fails; stop() is
// idempotent and joins.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "actors/common/telemetry.hpp"
#include "admin/node.hpp"

namespace ping::admin {

class sampler {
public:
  using clock = std::chrono::steady_clock;
  using counter_ref = const telemetry::counter*;

  struct sample {
    clock::time_point at;
    std::map<counter_ref, uint64_t> counters;
    std::map<const telemetry::histogram*, telemetry::histogram::snapshot_t> histograms;
    std::map<std::string, uint64_t> handled; // per actor

    uint64_t counter(counter_ref c) const;
    uint64_t handled_by(const std::string& actor) const;
  };

  static constexpr size_t kept = 6; // a 5-second window

  /// Watches the stages' counters and histograms, and every actor of `reg`.
  sampler(const telemetry::registry& reg, const std::vector<stage>& stages);
  ~sampler();
  sampler(const sampler&) = delete;
  sampler& operator=(const sampler&) = delete;

  /// The oldest kept snapshot and a fresh one.
  std::pair<sample, sample> window() const;

  void start();
  void stop();

private:
  sample take() const;

  const telemetry::registry& reg_;
  std::vector<counter_ref> counters_;
  std::vector<const telemetry::histogram*> histograms_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::deque<sample> ring_;
  std::thread thread_;
};

/// Seconds between two samples.
double seconds_between(const sampler::sample& older, const sampler::sample& newer);

/// Items per second from two readings of a counter; 0 when it went back.
double rate(uint64_t older, uint64_t newer, double seconds);

} // namespace ping::admin
