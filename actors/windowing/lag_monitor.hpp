#pragma once
// Consumer lag per partition, for the console and Prometheus: the broker's
// end offset, the position and their difference, as the gauge families
// processor_partition_end_offset, processor_partition_position and
// processor_consumer_lag, and their total processor_consumer_lag_records.
// Ends come from the last fetch responses; while paused nothing is
// fetched, so they are asked from the broker (bounded wait; a broker that
// does not answer leaves the last known end).

#include <chrono>
#include <map>

#include "actors/windowing/kafka_source.hpp"
#include "actors/windowing/metrics.hpp"

namespace ping::windowing {

class lag_monitor {
public:
  explicit lag_monitor(const metrics& m,
                       std::chrono::milliseconds ask_timeout = std::chrono::milliseconds(500))
    : m_(m), ask_timeout_(ask_timeout) {}

  /// Publishes the families for the source's assigned partitions.
  void publish(kafka_source& source);

private:
  const metrics& m_;
  std::chrono::milliseconds ask_timeout_;
  std::map<int32_t, int64_t> ends_; // last known end per partition
};

} // namespace ping::windowing
