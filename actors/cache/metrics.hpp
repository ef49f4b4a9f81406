#pragma once
// The cache subsystem's metrics, named once here: the reader's (gateway:
// PingCount snapshots; processor: the console's minute counts) and the
// writer's (processor: flushes to ping:counters). The writer registers its
// own stats under the name its settings give. Registration is idempotent:
// every caller gets the same objects.

#include <memory>

#include "actors/common/telemetry.hpp"

namespace ping::cache {

struct reader_metrics {
  std::shared_ptr<telemetry::actor_stats> facade; // "cache"
  std::shared_ptr<telemetry::actor_stats> worker; // "cache.reader"
  telemetry::counter& hits;
  telemetry::counter& misses;
  telemetry::histogram& read_seconds;

  static reader_metrics registered_in(telemetry::registry& reg) {
    return {
      reg.actor("cache", "pool"), reg.actor("cache.reader", "detached", "cache"),
      reg.add_counter("cache_hits_total", "Cache reads that found the counters (ping:counters)."),
      reg.add_counter("cache_misses_total",
                      "Cache reads that failed or found no counters (then PostgreSQL counts)."),
      reg.add_latency("cache_read_seconds", "Seconds per cache read (one snapshot).")};
  }
};

struct writer_metrics {
  telemetry::histogram& flush_seconds; // one Lua script
  telemetry::histogram& flush_records; // records per flush
  telemetry::counter& records_flushed;

  static writer_metrics registered_in(telemetry::registry& reg) {
    return {reg.add_latency("processor_flush_seconds",
                            "Seconds per flush of counted deltas into the cache (one Lua script)."),
            reg.add_sizes("processor_flush_records", "Records whose deltas one flush carries."),
            reg.add_counter("processor_records_flushed_total",
                            "Counted records whose deltas reached the cache.")};
  }
};

} // namespace ping::cache
