#include "actors/common/telemetry.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string_view>

namespace ping::telemetry {

histogram::histogram(std::vector<double> bounds)
  : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i)
    counts_[i] = 0;
}

void histogram::observe(double value) {
  auto i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value)
                               - bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  auto cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + value, std::memory_order_relaxed))
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
  return quantile(q, snapshot_t{std::vector<uint64_t>(bounds_.size() + 1, 0), 0, 0}, snapshot());
}

double histogram::quantile(double q, const snapshot_t& older, const snapshot_t& newer) const {
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
  return {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::vector<double> size_bounds() {
  return {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
}

template <class Entries>
auto* find(Entries& entries, const std::string& name, const labels& lbls) {
  for (auto& e : entries)
    if (e.name == name && e.labels == lbls)
      return e.value.get();
  return static_cast<decltype(entries.front().value.get())>(nullptr);
}

template <class Entries>
bool has_name(const Entries& entries, const std::string& name) {
  for (auto& e : entries)
    if (e.name == name)
      return true;
  return false;
}

[[noreturn]] void unknown(const char* kind, const std::string& name) {
  throw std::logic_error("telemetry: no " + std::string{kind} + " named '" + name
                         + "' was registered (a subsystem's metrics.hpp registers each name)");
}

} // namespace

void registry::check_kind(const std::string& name, const char* kind) const {
  const char* found = nullptr;
  if (has_name(counters_, name))
    found = "counter";
  else if (has_name(gauges_, name))
    found = "gauge";
  else if (has_name(histograms_, name))
    found = "histogram";
  else if (has_name(families_, name))
    found = "gauge family";
  if (found && std::string_view{found} != kind)
    throw std::logic_error("telemetry: '" + name + "' is registered as a " + found + ", not as a "
                           + kind);
}

void registry::note_help(const std::string& name, const std::string& help) {
  for (auto& [n, h] : help_)
    if (n == name)
      return;
  help_.emplace_back(name, help);
}

std::shared_ptr<actor_stats> registry::actor(const std::string& name, const std::string& kind,
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

counter& registry::add_counter(const std::string& name, const std::string& help,
                               const labels& lbls) {
  std::lock_guard<std::mutex> guard{mtx_};
  check_kind(name, "counter");
  if (auto* c = find(counters_, name, lbls))
    return *c;
  note_help(name, help);
  counters_.push_back({name, lbls, std::make_unique<counter>(0)});
  return *counters_.back().value;
}

gauge& registry::add_gauge(const std::string& name, const std::string& help, const labels& lbls) {
  std::lock_guard<std::mutex> guard{mtx_};
  check_kind(name, "gauge");
  if (auto* g = find(gauges_, name, lbls))
    return *g;
  note_help(name, help);
  gauges_.push_back({name, lbls, std::make_unique<gauge>(0)});
  return *gauges_.back().value;
}

histogram& registry::add_histogram(const std::string& name, const std::string& help,
                                   const labels& lbls, std::vector<double> bounds) {
  std::lock_guard<std::mutex> guard{mtx_};
  check_kind(name, "histogram");
  for (auto& e : histograms_)
    if (e.name == name && e.value->bounds() != bounds)
      throw std::logic_error("telemetry: histogram '" + name
                             + "' is registered with other buckets");
  if (auto* h = find(histograms_, name, lbls))
    return *h;
  note_help(name, help);
  histograms_.push_back({name, lbls, std::make_unique<histogram>(std::move(bounds))});
  return *histograms_.back().value;
}

histogram& registry::add_latency(const std::string& name, const std::string& help,
                                 const labels& lbls) {
  return add_histogram(name, help, lbls, latency_bounds());
}

histogram& registry::add_sizes(const std::string& name, const std::string& help,
                               const labels& lbls) {
  return add_histogram(name, help, lbls, size_bounds());
}

gauge_family& registry::add_family(const std::string& name, const std::string& help,
                                   const std::string& label) {
  std::lock_guard<std::mutex> guard{mtx_};
  check_kind(name, "gauge family");
  if (auto* f = find(families_, name, {})) {
    if (f->label() != label)
      throw std::logic_error("telemetry: gauge family '" + name
                             + "' is registered with another label");
    return *f;
  }
  note_help(name, help);
  families_.push_back({name, {}, std::make_unique<gauge_family>(label)});
  return *families_.back().value;
}

const counter& registry::counter_at(const std::string& name, const labels& lbls) const {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto* c = find(counters_, name, lbls))
    return *c;
  unknown("counter", name);
}

const gauge& registry::gauge_at(const std::string& name, const labels& lbls) const {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto* g = find(gauges_, name, lbls))
    return *g;
  unknown("gauge", name);
}

const histogram& registry::histogram_at(const std::string& name, const labels& lbls) const {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto* h = find(histograms_, name, lbls))
    return *h;
  unknown("histogram", name);
}

const gauge_family& registry::family_at(const std::string& name) const {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto* f = find(families_, name, {}))
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

std::vector<registry::series<uint64_t>> registry::counters() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<series<uint64_t>> out;
  for (auto& e : counters_)
    out.push_back({e.name, e.labels, e.value->load(std::memory_order_relaxed)});
  return out;
}

std::vector<registry::series<int64_t>> registry::gauges() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<series<int64_t>> out;
  for (auto& e : gauges_)
    out.push_back({e.name, e.labels, e.value->load(std::memory_order_relaxed)});
  return out;
}

std::vector<registry::series<const histogram*>> registry::histograms() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<series<const histogram*>> out;
  for (auto& e : histograms_)
    out.push_back({e.name, e.labels, e.value.get()});
  return out;
}

std::string registry::help(const std::string& name) const {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [n, h] : help_)
    if (n == name)
      return h;
  return {};
}

std::vector<std::pair<std::string, registry::family>> registry::families() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::pair<std::string, family>> out;
  for (auto& e : families_)
    out.emplace_back(e.name, family{e.value->label(), e.value->values()});
  return out;
}

} // namespace ping::telemetry
