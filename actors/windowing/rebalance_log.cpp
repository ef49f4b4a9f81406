#include "actors/windowing/rebalance_log.hpp"

#include <algorithm>
#include <chrono>

namespace ping::windowing {

rebalance_log::rebalance_log(size_t capacity) : capacity_(std::max<size_t>(1, capacity)) {}

void rebalance_log::record(std::vector<int32_t> assigned, std::vector<int32_t> revoked) {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  record(rebalance_event{now, std::move(assigned), std::move(revoked)});
}

void rebalance_log::record(rebalance_event e) {
  std::lock_guard<std::mutex> guard{mtx_};
  events_.push_back(std::move(e));
  while (events_.size() > capacity_)
    events_.pop_front();
}

std::vector<rebalance_event> rebalance_log::recent() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return {events_.rbegin(), events_.rend()};
}

} // namespace ping::windowing
