#pragma once
// Counters every actor keeps, readable from any thread (admin console,
// Prometheus exporter). Writers are the owning actors; values are relaxed
// atomics, so reading never blocks an actor.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ping::telemetry {

/// A fixed-bucket histogram (bucket upper bounds given at construction).
class histogram {
public:
  explicit histogram(std::vector<double> bounds);
  void observe(double value);
  const std::vector<double>& bounds() const { return bounds_; }
  /// Cumulative counts per bucket (last = +Inf), plus sum and count.
  struct snapshot_t {
    std::vector<uint64_t> cumulative;
    double sum;
    uint64_t count;
  };
  snapshot_t snapshot() const;
  /// Approximate quantile from the buckets (upper bound of the bucket).
  double quantile(double q) const;
  /// The same over the observations between two snapshots (`older` taken
  /// first): the quantile of a recent window rather than of all time.
  double quantile(double q, const snapshot_t& older, const snapshot_t& newer) const;

private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

/// Per-actor counters.
struct actor_stats {
  actor_stats(std::string name, std::string kind, std::string parent)
    : name(std::move(name)), kind(std::move(kind)), parent(std::move(parent)) {
  }
  const std::string name;   // unique, e.g. "persistence.writer-1"
  const std::string kind;   // "pool" (cooperative) or "detached"
  const std::string parent; // supervisor's name, "" for the root
  std::atomic<uint64_t> handled{0};  // messages handled
  std::atomic<uint64_t> restarts{0}; // times restarted by its supervisor
  std::atomic<int64_t> mailbox{0};   // depth seen at its last message
  std::atomic<int64_t> backlog{0};   // own queue (pending requests, outbox)
  std::atomic<bool> up{true};        // false while down / reconnecting
};

/// The process-wide set of actor stats and stage histograms.
class registry {
public:
  std::shared_ptr<actor_stats> actor(const std::string& name,
                                     const std::string& kind,
                                     const std::string& parent = "");
  std::vector<std::shared_ptr<actor_stats>> actors() const;
  /// The stats of an actor that registered itself; nullptr if none did (a
  /// lookup never creates an entry, so a misspelt name is never "up").
  std::shared_ptr<actor_stats> find_actor(const std::string& name) const;

  /// Named counter / histogram, created on first use.
  std::atomic<uint64_t>& counter(const std::string& name);
  std::atomic<int64_t>& gauge(const std::string& name);
  histogram& latency(const std::string& name); // seconds
  histogram& sizes(const std::string& name);   // counts (batch sizes)

  /// A family of gauges told apart by one label (e.g. lag per partition).
  /// The owner replaces the whole family at once, so members that went away
  /// (revoked partitions) disappear.
  struct family {
    std::string label;
    std::vector<std::pair<std::string, int64_t>> values; // label value, gauge
  };
  void set_family(const std::string& name, family values);
  family get_family(const std::string& name) const;

  std::vector<std::pair<std::string, uint64_t>> counters() const;
  std::vector<std::pair<std::string, int64_t>> gauges() const;
  std::vector<std::pair<std::string, const histogram*>> histograms() const;
  std::vector<std::pair<std::string, family>> families() const;

private:
  mutable std::mutex mtx_;
  std::vector<std::shared_ptr<actor_stats>> actors_;
  std::vector<std::pair<std::string, std::unique_ptr<std::atomic<uint64_t>>>>
    counters_;
  std::vector<std::pair<std::string, std::unique_ptr<std::atomic<int64_t>>>> gauges_;
  std::vector<std::pair<std::string, std::unique_ptr<histogram>>> histograms_;
  std::vector<std::pair<std::string, family>> families_;
};

} // namespace ping::telemetry
