#pragma once
// Raw-row retention: a detached actor with its own PostgreSQL connection
// that, every `retention_interval`, drops the raw ranges of `pings` whose
// last ping arrived more than `retention_days` ago (drop_old_pings() in
// migrations/0003_history.sql). Dropping is a DROP TABLE of whole ranges,
// O(1) per range; a range goes only when every sequence in it was relayed,
// and only the lowest range of a partition, so each partition keeps its raw
// rows exactly from outbox_head.raw_from on. Counts do not change: the
// heads and ping_buckets hold them (docs/counts.md, "Retention of raw
// rows"). Runs only when retention_days > 0 (the default keeps everything).
// A failed pass is logged and tried again at the next tick.

#include <caf/actor_system.hpp>
#include <caf/typed_actor.hpp>
#include <pqxx/connection>

#include "actors/common/atoms.hpp"
#include "actors/persistence/persistence.hpp"

namespace ping::persistence {

using retention_actor = caf::typed_actor<
  // Timer: one pass, then the next tick.
  caf::reacts_to<tick_atom>>;

/// Spawns the retention actor (detached) and its first pass.
retention_actor spawn_retention(caf::actor_system& sys, settings cfg);

/// One retention pass on `conn`: drops the ranges whose last ping arrived
/// more than `days` days ago. Returns the ranges dropped.
int32_t drop_old_ranges(pqxx::connection& conn, int32_t days);

} // namespace ping::persistence
