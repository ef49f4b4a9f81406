#include "admin/sampler.hpp"

namespace ping::admin {

uint64_t sampler::sample::counter(counter_ref c) const {
  auto it = counters.find(c);
  return it == counters.end() ? 0 : it->second;
}

uint64_t sampler::sample::handled_by(const std::string& actor) const {
  auto it = handled.find(actor);
  return it == handled.end() ? 0 : it->second;
}

sampler::sampler(const telemetry::registry& reg, const std::vector<stage>& stages) : reg_(reg) {
  for (auto& s : stages) {
    if (s.items)
      counters_.push_back(s.items);
    if (s.latency)
      histograms_.push_back(s.latency);
  }
  ring_.push_back(take());
}

sampler::~sampler() {
  stop(); // also when start() failed half-way: no joinable thread left behind
}

sampler::sample sampler::take() const {
  sample s;
  s.at = clock::now();
  for (auto* c : counters_)
    s.counters[c] = c->load(std::memory_order_relaxed);
  for (auto* h : histograms_)
    s.histograms[h] = h->snapshot();
  for (auto& a : reg_.actors())
    s.handled[a->name] = a->handled.load();
  return s;
}

std::pair<sampler::sample, sampler::sample> sampler::window() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return {ring_.front(), take()};
}

void sampler::start() {
  thread_ = std::thread{[this] {
    std::unique_lock<std::mutex> lock{mtx_};
    while (!cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; })) {
      lock.unlock();
      auto s = take();
      lock.lock();
      ring_.push_back(std::move(s));
      while (ring_.size() > kept)
        ring_.pop_front();
    }
  }};
}

void sampler::stop() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

double seconds_between(const sampler::sample& older, const sampler::sample& newer) {
  return std::chrono::duration<double>(newer.at - older.at).count();
}

double rate(uint64_t older, uint64_t newer, double seconds) {
  return seconds > 0 && newer >= older ? static_cast<double>(newer - older) / seconds : 0;
}

} // namespace ping::admin
