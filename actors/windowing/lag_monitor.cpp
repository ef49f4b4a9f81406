#include "actors/windowing/lag_monitor.hpp"

#include <algorithm>

namespace ping::windowing {

void lag_monitor::publish(kafka_source& source) {
  telemetry::registry::family end_f{"partition", {}}, pos_f{"partition", {}},
    lag_f{"partition", {}};
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
    end_f.values.emplace_back(key, known);
    pos_f.values.emplace_back(key, position);
    lag_f.values.emplace_back(key, lag);
  }
  for (auto it = ends_.begin(); it != ends_.end();)
    it = positions.count(it->first) ? std::next(it) : ends_.erase(it);
  reg_.set_family("processor_partition_end_offset", std::move(end_f));
  reg_.set_family("processor_partition_position", std::move(pos_f));
  reg_.set_family("processor_consumer_lag", std::move(lag_f));
  reg_.gauge("processor_consumer_lag_total") = total;
}

} // namespace ping::windowing
