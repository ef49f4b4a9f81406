#pragma once
// The rebuilder: a detached actor with its own PostgreSQL connection that
// counts what a partition's cache state lacks, in one REPEATABLE READ
// snapshot: the pings with relay_seq above the sequence the cache stands at,
// up to the partition's highest committed relay_seq (per retained minute
// too). Every ping above that head commits after the snapshot, so it is
// produced to Kafka after the window's position was fixed, and counted from
// the stream (docs/counts.md, "Resync").

#include <chrono>
#include <string>

#include <caf/actor_system.hpp>

#include "actors/common/telemetry.hpp"
#include "actors/windowing/protocol.hpp"

namespace ping::windowing {

struct rebuild_settings {
  std::string dsn; // secret
  caf::timespan retention = std::chrono::hours(24 * 7);
  caf::timespan connect_timeout = std::chrono::seconds(5);
  caf::timespan statement_timeout = std::chrono::seconds(60);
};

rebuilder_actor spawn_rebuilder(caf::actor_system& sys, rebuild_settings cfg,
                                telemetry::registry& reg);

} // namespace ping::windowing
