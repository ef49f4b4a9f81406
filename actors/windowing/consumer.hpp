#pragma once
// The consumer actor: detached (it drives the blocking Kafka source,
// kafka_source.hpp), typed (`consumer_actor`: pause and resume from the
// admin endpoint). Its loop is short:
//
//   1. handle its messages: the window's credits, pause, resume, exit;
//   2. publish the lag once a second (lag_monitor.hpp);
//   3. with a credit left: take the queued records and hand them to the
//      window, one message for all partitions, without waiting; with
//      nothing queued, wait for records (kafka_source::wait);
//   4. commit the positions every few seconds (advisory).
//
// Back-pressure: at most `credits` batches are handed to the window and
// not answered yet; the window answers a batch once it has room again, so
// memory stays bounded at any input rate while the consumer polls ahead.
// Rebalances ask the window where each partition stands (and seek there),
// let it count a partition that has no stored position from PostgreSQL,
// and wait until it flushed partitions before they are revoked; each
// assignment change is recorded in the rebalance log, when given. An exit
// message ends the loop; closing the source flushes first.

#include <memory>

#include <caf/actor_system.hpp>

#include "actors/common/telemetry.hpp"
#include "actors/windowing/consumer_settings.hpp"
#include "actors/windowing/protocol.hpp"
#include "actors/windowing/rebalance_log.hpp"

namespace ping::windowing {

consumer_actor spawn_consumer(caf::actor_system& sys, consumer_settings cfg, window_actor window,
                              telemetry::registry& reg,
                              std::shared_ptr<rebalance_log> history = nullptr);

} // namespace ping::windowing
