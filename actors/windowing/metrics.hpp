#pragma once
// The windowing subsystem's metrics (ping-processor), named once here: the
// actors' stats, counting and repairs (window), consumption and lag
// (consumer, lag_monitor). The admin endpoint reads them
// (apps/ping-processor/processor_node.*). Registration is idempotent:
// every caller gets the same objects.

#include <map>
#include <memory>
#include <string>

#include "actors/common/telemetry.hpp"

namespace ping::windowing {

struct metrics {
  std::shared_ptr<telemetry::actor_stats> window;       // "windowing.window"
  std::shared_ptr<telemetry::actor_stats> cache_writer; // up: the cache is reachable
  std::shared_ptr<telemetry::actor_stats> rebuilder;
  std::shared_ptr<telemetry::actor_stats> consumer;
  telemetry::counter& counted;          // records counted into minute deltas
  telemetry::counter& skipped;          // re-sends skipped by relay_seq
  telemetry::counter& consumed;         // records fetched from ping-events
  telemetry::counter& backpressure;     // fetches held back: no credit left
  telemetry::gauge& assigned;           // partitions assigned to this consumer
  telemetry::gauge& paused;             // 1 while consumption is paused
  telemetry::gauge_family& end_offsets; // per partition: the broker's end
  telemetry::gauge_family& positions;   // per partition: our position
  telemetry::gauge_family& lag;         // per partition: end - position
  telemetry::gauge& lag_total;          // the lag of every assigned partition together
  /// Resyncs from PostgreSQL by reason (the window's `repair`), by name.
  std::map<std::string, telemetry::counter*> repairs;

  static constexpr const char* repair_reasons[] = {"lost", "conflict", "gap",   "checksum",
                                                   "cold", "admin",    "stall", "diverged"};

  static metrics registered_in(telemetry::registry& reg) {
    metrics m{reg.actor("windowing.window", "pool", "windowing"),
              reg.actor("windowing.cache-writer", "detached", "windowing"),
              reg.actor("windowing.rebuilder", "detached", "windowing"),
              reg.actor("windowing.consumer", "detached", "windowing"),
              reg.add_counter("processor_records_counted_total",
                              "Records counted into minute deltas (new relay_seq values)."),
              reg.add_counter("processor_records_skipped_total",
                              "Records skipped as re-sends (relay_seq already applied)."),
              reg.add_counter("processor_records_consumed_total",
                              "Records fetched from ping-events."),
              reg.add_counter("processor_consumer_backpressure_total",
                              "Fetches held back because the window had no credit left."),
              reg.add_gauge("processor_assigned_partitions",
                            "Partitions of ping-events assigned to this consumer."),
              reg.add_gauge("processor_paused", "1 while consumption is paused (admin), else 0."),
              reg.add_family("processor_partition_end_offset",
                             "The broker's end offset per assigned partition.", "partition"),
              reg.add_family("processor_partition_position",
                             "The consumer's position per assigned partition.", "partition"),
              reg.add_family("processor_consumer_lag",
                             "Records behind the end of each assigned partition "
                             "(end offset minus position).",
                             "partition"),
              reg.add_gauge("processor_consumer_lag_records",
                            "Records behind the end of every assigned partition together."),
              {}};
    for (auto* reason : repair_reasons)
      m.repairs[reason] = &reg.add_counter(
        "processor_repairs_total",
        "Counter repairs (resyncs of a partition from PostgreSQL), by reason: lost, "
        "conflict, gap, checksum, cold, admin, stall or diverged (see docs/windowing.md).",
        {{"reason", reason}});
    return m;
  }
};

} // namespace ping::windowing
