#include "admin/sampler.hpp"

namespace ping::admin {

sampler::sampler(const telemetry::registry& reg) : reg_(reg) {
  ring_.push_back(take());
}

sampler::~sampler() {
  stop(); // also when start() failed half-way: no joinable thread left behind
}

sampler::sample sampler::take() const {
  sample s;
  s.at = clock::now();
  for (auto& [name, value] : reg_.counters())
    s.counters[name] = value;
  for (auto& a : reg_.actors())
    s.handled[a->name] = a->handled.load();
  for (auto& [name, h] : reg_.histograms())
    s.histograms[name] = h->snapshot();
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
