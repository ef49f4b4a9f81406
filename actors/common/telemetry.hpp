#pragma once
// Counters every actor keeps, readable from any thread (admin console,
// Prometheus exporter). Writers are the owning actors; values are relaxed
// atomics, so reading never blocks an actor.
//
// Each subsystem names its metrics once, in its `metrics.hpp`
// (`metrics::registered_in(reg)`), and hands out typed references: the
// actors update them, the admin endpoint's node reads them. Registration
// (`add_*`, `actor`) is idempotent, as respawned actors register again; a
// name registered as another kind (or a histogram with other buckets) is a
// programming error (std::logic_error). Each name carries one HELP text (the
// first registration's) and may have several series told apart by labels
// (`processor_repairs_total{reason="gap"}`): one metric per concept, never a
// dimension spelled into the name. Lookups by name (`*_at`, for tests
// and tools) never create anything: an unknown name is a programming error
// too (std::logic_error), never a silently created gauge.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace ping::telemetry {

using counter = std::atomic<uint64_t>; // only goes up
using gauge = std::atomic<int64_t>;
/// A series' labels (name, value), in the order given at registration.
using labels = std::vector<std::pair<std::string, std::string>>;

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

/// A family of gauges told apart by one label (e.g. lag per partition).
/// The owner replaces the whole family at once, so members that went away
/// (revoked partitions) disappear. Thread-safe.
class gauge_family {
public:
  using values_t = std::vector<std::pair<std::string, int64_t>>; // label value, gauge

  explicit gauge_family(std::string label) : label_(std::move(label)) {}
  const std::string& label() const { return label_; }
  void set(values_t values);
  values_t values() const;

private:
  const std::string label_;
  mutable std::mutex mtx_;
  values_t values_;
};

/// Per-actor counters.
struct actor_stats {
  actor_stats(std::string name, std::string kind, std::string parent)
    : name(std::move(name)), kind(std::move(kind)), parent(std::move(parent)) {}
  const std::string name;            // unique, e.g. "persistence.writer-1"
  const std::string kind;            // "pool" (cooperative) or "detached"
  const std::string parent;          // supervisor's name, "" for the root
  std::atomic<uint64_t> handled{0};  // messages handled
  std::atomic<uint64_t> restarts{0}; // times restarted by its supervisor
  std::atomic<int64_t> mailbox{0};   // depth seen at its last message
  std::atomic<int64_t> backlog{0};   // own queue (pending requests, outbox)
  std::atomic<bool> up{true};        // false while down / reconnecting
};

/// The process-wide set of actor stats and metrics. Entries are never
/// removed: references stay valid for the registry's life.
class registry {
public:
  /// Registers an actor's stats; a restarted actor keeps its stats (and
  /// restart count).
  std::shared_ptr<actor_stats> actor(const std::string& name, const std::string& kind,
                                     const std::string& parent = "");
  std::vector<std::shared_ptr<actor_stats>> actors() const;

  // Registration, in a subsystem's metrics.hpp: a name, its HELP text (what
  // is counted, in a sentence), and the series' labels.
  counter& add_counter(const std::string& name, const std::string& help, const labels& lbls = {});
  gauge& add_gauge(const std::string& name, const std::string& help, const labels& lbls = {});
  histogram& add_latency(const std::string& name, const std::string& help,
                         const labels& lbls = {}); // seconds
  histogram& add_sizes(const std::string& name, const std::string& help,
                       const labels& lbls = {}); // counts (batch sizes)
  gauge_family& add_family(const std::string& name, const std::string& help,
                           const std::string& label);

  // Lookups by name and labels: std::logic_error when nothing of that kind
  // was registered.
  const counter& counter_at(const std::string& name, const labels& lbls = {}) const;
  const gauge& gauge_at(const std::string& name, const labels& lbls = {}) const;
  const histogram& histogram_at(const std::string& name, const labels& lbls = {}) const;
  const gauge_family& family_at(const std::string& name) const;
  const actor_stats& actor_at(const std::string& name) const;

  /// A family's values at one moment.
  struct family {
    std::string label;
    gauge_family::values_t values;
  };

  /// One series for exporters: the metric's name, the series' labels, its value.
  template <class T>
  struct series {
    std::string name;
    telemetry::labels labels;
    T value;
  };

  // Everything, for exporters, in registration order (series of one name
  // are not necessarily adjacent).
  std::vector<series<uint64_t>> counters() const;
  std::vector<series<int64_t>> gauges() const;
  std::vector<series<const histogram*>> histograms() const;
  std::vector<std::pair<std::string, family>> families() const;
  /// The HELP text registered with `name` ("" for an unknown name).
  std::string help(const std::string& name) const;

private:
  template <class T>
  struct entry {
    std::string name;
    telemetry::labels labels;
    std::unique_ptr<T> value;
  };

  histogram& add_histogram(const std::string& name, const std::string& help, const labels& lbls,
                           std::vector<double> bounds);
  // Throws when `name` is registered as a kind other than `kind`.
  void check_kind(const std::string& name, const char* kind) const;
  // Records the name's HELP text (the first one wins).
  void note_help(const std::string& name, const std::string& help);

  mutable std::mutex mtx_;
  std::vector<std::shared_ptr<actor_stats>> actors_;
  std::vector<entry<counter>> counters_;
  std::vector<entry<gauge>> gauges_;
  std::vector<entry<histogram>> histograms_;
  std::vector<entry<gauge_family>> families_;
  std::vector<std::pair<std::string, std::string>> help_; // name, HELP
};

} // namespace ping::telemetry
