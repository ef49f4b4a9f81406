#pragma once
// Snapshots of the registry, one per second, the last few kept: the admin
// API's rates and recent latency quantiles are differences between the
// oldest kept snapshot and a fresh one.
//
// Owns one thread (start() .. stop()), which only reads atomics; window()
// may be called from any thread (the admin server's I/O thread). Bounded:
// `kept` snapshots. Never fails; stop() is idempotent and joins.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "actors/common/telemetry.hpp"

namespace ping::admin {

class sampler {
public:
  using clock = std::chrono::steady_clock;

  struct sample {
    clock::time_point at;
    std::map<std::string, uint64_t> counters;
    std::map<std::string, uint64_t> handled; // per actor
    std::map<std::string, telemetry::histogram::snapshot_t> histograms;
  };

  static constexpr size_t kept = 6; // a 5-second window

  explicit sampler(const telemetry::registry& reg);
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
