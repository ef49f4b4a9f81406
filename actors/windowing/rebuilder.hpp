#pragma once
// The rebuilder: a detached actor with its own PostgreSQL connection that
// recounts one partition in a single REPEATABLE READ snapshot: the
// partition's pings (all of them, and per retained minute) and the highest
// relay_seq among them. Every ping with a larger relay_seq commits after the
// snapshot, so it is produced to Kafka after the consumer's start offset
// was fixed, and counted from the stream; everything else is in the recount
// (docs/outbox-relay.md, "Rebuilding counters").

#include <chrono>
#include <string>

#include <caf/actor_system.hpp>

#include "actors/common/telemetry.hpp"
#include "actors/windowing/protocol.hpp"

namespace ping::windowing {

struct rebuild_settings {
  std::string dsn; // secret
  caf::timespan retention = std::chrono::hours(24 * 7);
  caf::timespan statement_timeout = std::chrono::seconds(60);
};

rebuilder_actor spawn_rebuilder(caf::actor_system& sys, rebuild_settings cfg,
                                telemetry::registry& reg);

} // namespace ping::windowing
