#include "actors/windowing/lag_monitor.hpp"

#include <algorithm>

namespace ping::windowing {

void lag_monitor::publish(kafka_source& source) {
  telemetry::gauge_family::values_t end_f, pos_f, lag_f;
  int64_t total = 0;
  bool broker_answers = true;
  const auto& positions = source.positions();
  for (auto [p, position] : positions) {
    std::optional<int64_t> end;
    if (!source.paused())
      end = source.end_offset(p, false, ask_timeout_);
    if (!end && broker_answers) {
      end = source.end_offset(p, true, ask_timeout_);
      broker_answers = end.has_value();
    }
    if (end)
      ends_[p] = *end;
    auto known = ends_.count(p) ? ends_[p] : position;
    auto lag = std::max<int64_t>(0, known - position);
    total += lag;
    auto key = std::to_string(p);
    end_f.emplace_back(key, known);
    pos_f.emplace_back(key, position);
    lag_f.emplace_back(key, lag);
  }
  for (auto it = ends_.begin(); it != ends_.end();)
    it = positions.count(it->first) ? std::next(it) : ends_.erase(it);
  m_.end_offsets.set(std::move(end_f));
  m_.positions.set(std::move(pos_f));
  m_.lag.set(std::move(lag_f));
  m_.lag_total = total;
}

} // namespace ping::windowing
