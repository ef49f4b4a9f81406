#include "actors/common/telemetry.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string_view>

namespace ping::telemetry {

histogram::histogram(std::vector<double> bounds)
  : bounds_(std::move(bounds)),
    counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i)
    counts_[i] = 0;
}

void histogram::observe(double value) {
  auto i = static_cast<size_t>(
    std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  auto cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + value,
                                     std::memory_order_relaxed))
    ;
}

histogram::snapshot_t histogram::snapshot() const {
  snapshot_t s;
  uint64_t acc = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    acc += counts_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(acc);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  s.count = acc;
  return s;
}

double histogram::quantile(double q) const {
  return quantile(q, snapshot_t{std::vector<uint64_t>(bounds_.size() + 1, 0), 0, 0},
                  snapshot());
}

double histogram::quantile(double q, const snapshot_t& older,
                           const snapshot_t& newer) const {
  auto count = newer.count - older.count;
  if (count == 0 || newer.cumulative.size() != older.cumulative.size())
    return 0;
  auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count)));
  for (size_t i = 0; i < newer.cumulative.size(); ++i)
    if (newer.cumulative[i] - older.cumulative[i] >= rank)
      return i < bounds_.size() ? bounds_[i] : bounds_.back();
  return bounds_.back();
}

void gauge_family::set(values_t values) {
  std::lock_guard<std::mutex> guard{mtx_};
  values_ = std::move(values);
}

gauge_family::values_t gauge_family::values() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return values_;
}

namespace {

std::vector<double> latency_bounds() {
  return {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,  0.5,   1,     2.5,  5,     10};
}

std::vector<double> size_bounds() {
  return {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
}

template <class Entries>
auto* find(Entries& entries, const std::string& name) {
  for (auto& [n, x] : entries)
    if (n == name)
      return x.get();
  return static_cast<decltype(entries.front().second.get())>(nullptr);
}

[[noreturn]] void unknown(const char* kind, const std::string& name) {
  throw std::logic_error("telemetry: no " + std::string{kind} + " named '" + name
                         + "' was registered (a subsystem's metrics.hpp registers each name)");
}

} // namespace

void registry::check_kind(const std::string& name, const char* kind) const {
  const char* found = nullptr;
  if (find(counters_, name))
    found = "counter";
  else if (find(gauges_, name))
    found = "gauge";
  else if (find(histograms_, name))
    found = "histogram";
  else if (find(families_, name))
    found = "gauge family";
  if (found && std::string_view{found} != kind)
    throw std::logic_error("telemetry: '" + name + "' is registered as a " + found
                           + ", not as a " + kind);
}

std::shared_ptr<actor_stats> registry::actor(const std::string& name,
                                             const std::string& kind,
                                             const std::string& parent) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& a : actors_)
    if (a->name == name)
      return a; // a restarted actor keeps its stats (and restart count)
  auto a = std::make_shared<actor_stats>(name, kind, parent);
  actors_.push_back(a);
  return a;
}

std::vector<std::shared_ptr<actor_stats>> registry::actors() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return actors_;
}

counter& registry::add_counter(const std::string& name) {
  std::lock_guard<std::mutex> guard{mtx_};
  check_kind(name, "counter");
  if (auto* c = find(counters_, name))
    return *c;
  counters_.emplace_back(name, std::make_unique<counter>(0));
  return *counters_.back().second;
}

gauge& registry::add_gauge(const std::string& name) {
  std::lock_guard<std::mutex> guard{mtx_};
  check_kind(name, "gauge");
  if (auto* g = find(gauges_, name))
    return *g;
  gauges_.emplace_back(name, std::make_unique<gauge>(0));
  return *gauges_.back().second;
}

histogram& registry::add_histogram(const std::string& name, std::vector<double> bounds) {
  std::lock_guard<std::mutex> guard{mtx_};
  check_kind(name, "histogram");
  if (auto* h = find(histograms_, name)) {
    if (h->bounds() != bounds)
      throw std::logic_error("telemetry: histogram '" + name
                             + "' is registered with other buckets");
    return *h;
  }
  histograms_.emplace_back(name, std::make_unique<histogram>(std::move(bounds)));
  return *histograms_.back().second;
}

histogram& registry::add_latency(const std::string& name) {
  return add_histogram(name, latency_bounds());
}

histogram& registry::add_sizes(const std::string& name) {
  return add_histogram(name, size_bounds());
}

gauge_family& registry::add_family(const std::string& name, const std::string& label) {
  std::lock_guard<std::mutex> guard{mtx_};
  check_kind(name, "gauge family");
  if (auto* f = find(families_, name)) {
    if (f->label() != label)
      throw std::logic_error("telemetry: gauge family '" + name
                             + "' is registered with another label");
    return *f;
  }
  families_.emplace_back(name, std::make_unique<gauge_family>(label));
  return *families_.back().second;
}

const counter& registry::counter_at(const std::string& name) const {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto* c = find(counters_, name))
    return *c;
  unknown("counter", name);
}

const gauge& registry::gauge_at(const std::string& name) const {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto* g = find(gauges_, name))
    return *g;
  unknown("gauge", name);
}

const histogram& registry::histogram_at(const std::string& name) const {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto* h = find(histograms_, name))
    return *h;
  unknown("histogram", name);
}

const gauge_family& registry::family_at(const std::string& name) const {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto* f = find(families_, name))
    return *f;
  unknown("gauge family", name);
}

const actor_stats& registry::actor_at(const std::string& name) const {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& a : actors_)
    if (a->name == name)
      return *a;
  unknown("actor", name);
}

std::vector<std::pair<std::string, uint64_t>> registry::counters() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::pair<std::string, uint64_t>> out;
  for (auto& [n, c] : counters_)
    out.emplace_back(n, c->load(std::memory_order_relaxed));
  return out;
}

std::vector<std::pair<std::string, int64_t>> registry::gauges() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::pair<std::string, int64_t>> out;
  for (auto& [n, g] : gauges_)
    out.emplace_back(n, g->load(std::memory_order_relaxed));
  return out;
}

std::vector<std::pair<std::string, const histogram*>> registry::histograms() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::pair<std::string, const histogram*>> out;
  for (auto& [n, h] : histograms_)
    out.emplace_back(n, h.get());
  return out;
}

std::vector<std::pair<std::string, registry::family>> registry::families() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::pair<std::string, family>> out;
  for (auto& [n, f] : families_)
    out.emplace_back(n, family{f->label(), f->values()});
  return out;
}

} // namespace ping::telemetry
