#include "actors/common/telemetry.hpp"

#include <algorithm>
#include <cmath>

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

std::shared_ptr<actor_stats> registry::find_actor(const std::string& name) const {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& a : actors_)
    if (a->name == name)
      return a;
  return nullptr;
}

std::vector<std::shared_ptr<actor_stats>> registry::actors() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return actors_;
}

std::atomic<uint64_t>& registry::counter(const std::string& name) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [n, c] : counters_)
    if (n == name)
      return *c;
  counters_.emplace_back(name, std::make_unique<std::atomic<uint64_t>>(0));
  return *counters_.back().second;
}

std::atomic<int64_t>& registry::gauge(const std::string& name) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [n, g] : gauges_)
    if (n == name)
      return *g;
  gauges_.emplace_back(name, std::make_unique<std::atomic<int64_t>>(0));
  return *gauges_.back().second;
}

std::vector<std::pair<std::string, int64_t>> registry::gauges() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::pair<std::string, int64_t>> out;
  for (auto& [n, g] : gauges_)
    out.emplace_back(n, g->load(std::memory_order_relaxed));
  return out;
}

namespace {

std::vector<double> latency_bounds() {
  return {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,  0.5,   1,     2.5,  5,     10};
}

std::vector<double> size_bounds() {
  return {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
}

} // namespace

histogram& registry::latency(const std::string& name) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [n, h] : histograms_)
    if (n == name)
      return *h;
  histograms_.emplace_back(name, std::make_unique<histogram>(latency_bounds()));
  return *histograms_.back().second;
}

histogram& registry::sizes(const std::string& name) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [n, h] : histograms_)
    if (n == name)
      return *h;
  histograms_.emplace_back(name, std::make_unique<histogram>(size_bounds()));
  return *histograms_.back().second;
}

std::vector<std::pair<std::string, uint64_t>> registry::counters() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::pair<std::string, uint64_t>> out;
  for (auto& [n, c] : counters_)
    out.emplace_back(n, c->load(std::memory_order_relaxed));
  return out;
}

std::vector<std::pair<std::string, const histogram*>>
registry::histograms() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::pair<std::string, const histogram*>> out;
  for (auto& [n, h] : histograms_)
    out.emplace_back(n, h.get());
  return out;
}

void registry::set_family(const std::string& name, family values) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [n, f] : families_)
    if (n == name) {
      f = std::move(values);
      return;
    }
  families_.emplace_back(name, std::move(values));
}

registry::family registry::get_family(const std::string& name) const {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [n, f] : families_)
    if (n == name)
      return f;
  return {};
}

std::vector<std::pair<std::string, registry::family>> registry::families() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return families_;
}

} // namespace ping::telemetry
