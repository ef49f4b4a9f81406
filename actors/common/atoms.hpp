#pragma once
// Every atom used in Ping's actor protocols, listed once. CAF 0.17 atoms are
// at most 10 characters.

#include <caf/atom.hpp>

namespace ping {

using ping_atom = caf::atom_constant<caf::atom("ping")>;         // accept one ping
using count_atom = caf::atom_constant<caf::atom("count")>;       // count pings
using store_atom = caf::atom_constant<caf::atom("store")>;       // persist one ping
using write_atom = caf::atom_constant<caf::atom("write")>;       // persist a batch
using probe_atom = caf::atom_constant<caf::atom("probe")>;       // is the dependency back?
using publish_atom = caf::atom_constant<caf::atom("publish")>;   // outbox has new rows
using relay_atom = caf::atom_constant<caf::atom("relay")>;       // run one relay pass
using drain_atom = caf::atom_constant<caf::atom("drain")>;       // finish work, then stop
using tick_atom = caf::atom_constant<caf::atom("tick")>;         // periodic timer
using respawn_atom = caf::atom_constant<caf::atom("respawn")>;   // restart a child
using records_atom = caf::atom_constant<caf::atom("records")>;   // consumed records
using flush_atom = caf::atom_constant<caf::atom("flush")>;       // write deltas now
using load_atom = caf::atom_constant<caf::atom("load")>;         // read stored state
using assign_atom = caf::atom_constant<caf::atom("assign")>;     // partitions assigned
using revoke_atom = caf::atom_constant<caf::atom("revoke")>;     // partitions revoked
using rebuild_atom = caf::atom_constant<caf::atom("rebuild")>;   // recount from PostgreSQL
using pause_atom = caf::atom_constant<caf::atom("pause")>;       // stop consuming
using resume_atom = caf::atom_constant<caf::atom("resume")>;     // consume again
using reset_atom = caf::atom_constant<caf::atom("reset")>;       // drop cached state
using minutes_atom = caf::atom_constant<caf::atom("minutes")>;   // per-minute counts
using snapshot_atom = caf::atom_constant<caf::atom("snapshot")>; // read the cache at once
using verify_atom = caf::atom_constant<caf::atom("verify")>;     // check the cache checksum
using tail_atom = caf::atom_constant<caf::atom("tail")>;         // count what the cache lacks
using heal_atom = caf::atom_constant<caf::atom("heal")>;         // resync a partition
using fill_atom = caf::atom_constant<caf::atom("fill")>;         // count a sequence range
using heads_atom = caf::atom_constant<caf::atom("heads")>;       // outbox heads and cursors
using batch_atom = caf::atom_constant<caf::atom("batch")>;       // several calls in one message
// The pings a commit stored, with their outbox positions (writer to relay).
using committed_atom = caf::atom_constant<caf::atom("committed")>;

} // namespace ping
