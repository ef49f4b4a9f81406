#pragma once
// The gateway actor: the one entry point of the network front-ends.
//
// Runs on the cooperative pool and never blocks. It validates input,
// resolves "now", assigns the ping's id and partition, asks persistence to
// store it (a front-end's batch of calls: its pings in one request),
// answers the front-end only after the commit, and then nudges
// the publisher (once per turn with acks; at most once per
// `nudge_interval` when one is set). At most
// `max_in_flight` pings wait for persistence at once; beyond that new pings
// get resource_exhausted at once instead of queueing.
//
// Every call is answered exactly once through its reply, at the latest at
// its deadline: the caller's, capped at `store_timeout` (pings) or
// `count_timeout` (counts). One timer sweeps all deadlines, so a deadline
// is noticed up to `deadline_granularity` late; a commit that lands after
// its ping was answered deadline_exceeded is stored all the same (as with
// any failed call, the client cannot tell).
//
// Pings may carry an idempotency key: PostgreSQL stores a keyed ping only
// if no earlier ping holds its key (kept for `idempotency_ttl`), in the
// same transaction as the ping, so a retry is counted once and answered as
// the first attempt was.
//
// Counts are the count reader's (actors/counts): exact and read-your-writes,
// from the cache plus the stream's tail, else from PostgreSQL.
//
// The one exception to "every call through the gateway" is PingCount {}
// on the Connect front-end: a read of published state. The front-end
// parks it on the count board (actors/counts/board.hpp) and answers it on
// its own thread from the first round that started after it arrived; the
// gateway forwards the front-end's ask for a round to the count reader
// (only from an idle board: under load the count reader chains rounds
// itself) and keeps the parked calls' timer (count_round: their deadline,
// or an overdue ask).

#include <chrono>

#include <caf/actor_system.hpp>

#include "actors/common/telemetry.hpp"
#include "actors/counts/board.hpp"
#include "actors/counts/protocol.hpp"
#include "actors/gateway/protocol.hpp"
#include "actors/persistence/protocol.hpp"
#include "actors/publisher/protocol.hpp"

namespace ping::gateway {

struct settings {
  int32_t partitions = 3;       // Kafka partitions of ping-events
  size_t max_in_flight = 20000; // pings waiting for their commit
  caf::timespan store_timeout = std::chrono::seconds(5);
  caf::timespan count_timeout = std::chrono::seconds(5);
  caf::timespan deadline_granularity = std::chrono::milliseconds(10);
  // Least time between two nudges of the publisher; a nudge held back
  // waits for a timer (a wake-up of CAF's clock thread). 0, the default:
  // each commit's acks nudge at once, and the publisher coalesces (one
  // pass at a time, one more if nudged meanwhile).
  caf::timespan nudge_interval{0};
  // How long PostgreSQL remembers an idempotency key: a retry within it is
  // not stored again.
  caf::timespan idempotency_ttl = std::chrono::hours(24);
  // A PingCount answered later than this is logged (info) with its trace id
  // and the count reader's read that answered it; 0: every one
  // (counts.slow-threshold, the count reader's own).
  caf::timespan slow_count = std::chrono::milliseconds(100);
  // The count board the front-ends park PingCount {} on (none: they do
  // not): its deadline wake-ups are the gateway's timers.
  std::shared_ptr<counts::count_board> board;
};

/// Validation of a ping timestamp; returns the stored timestamp ("now" for
/// 0) or an invalid_argument error.
caf::expected<int64_t> resolve_timestamp(int64_t timestamp_ms, int64_t now_ms);

/// Validation of a count range.
caf::error validate_range(const time_range& range);

gateway_actor spawn_gateway(caf::actor_system& sys, settings cfg,
                            persistence::persistence_actor persistence,
                            publisher::publisher_actor publisher, counts::counts_actor counts,
                            telemetry::registry& reg);

} // namespace ping::gateway
