#pragma once
// Typed protocol of the publisher subsystem (the outbox relay to Kafka).

#include <cstdint>
#include <vector>

#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>

#include "actors/common/atoms.hpp"
#include "actors/persistence/protocol.hpp"

namespace ping::publisher {

/// What one relay pass did.
struct relay_report {
  int64_t sent = 0;      // events handed to the producer in this pass
  int64_t acked = 0;     // positions the broker acknowledged (cursor advanced)
  int64_t in_flight = 0; // events sent but not yet acknowledged
  bool more = false;     // a batch limit was hit: run again right away
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, relay_report& x) {
  return f(caf::meta::type_name("relay_report"), x.sent, x.acked, x.in_flight, x.more);
}

/// What a relay pass gets from the facade: the pings this gateway's writers
/// committed since the last pass, with their positions (the fast path,
/// docs/outbox-relay.md), and what the relay must not take on trust.
struct relay_feed {
  std::vector<persistence::committed_ping> events; // in commit order
  bool lost = false; // hand-offs were dropped (a bound, a failed pass): read PostgreSQL
  bool full = false; // read PostgreSQL for every held partition (drain)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, relay_feed& x) {
  return f(caf::meta::type_name("relay_feed"), x.events, x.lost, x.full);
}

/// The publisher facade: the stable handle other subsystems hold.
using publisher_actor = caf::typed_actor<
  // New outbox rows were committed. Coalesced: at most one pass runs, and
  // one more follows if nudged meanwhile.
  caf::reacts_to<publish_atom>,
  // Relays what is left within the given time; replies true when nothing is
  // pending or in flight any more, false when the time ran out first.
  caf::replies_to<drain_atom, caf::timespan>::with<bool>>;

/// The relay worker: owns the Kafka producer and a PostgreSQL session
/// (detached: both block).
using relay_actor = caf::typed_actor<
  // One relay pass over the partitions this relay holds, with what the
  // writers handed over since the last one.
  caf::replies_to<relay_atom, relay_feed>::with<relay_report>>;

} // namespace ping::publisher
