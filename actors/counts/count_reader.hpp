#pragma once
// The count reader (cooperative pool, never blocks): answers PingCount
// exactly, read-your-writes, from the cache plus the stream's tail.
//
// One read is: a snapshot of the cache (per partition the highest relay_seq
// it applied, the total, the asked buckets; actors/cache), then one
// PostgreSQL statement (actors/persistence, sql::read) that reads every
// partition's committed head, the pings above the snapshot's sequences (an
// index range per partition, empty when the processor is caught up) and
// every part of the asked ranges the cache does not hold (their partial
// edge minutes, what lies outside the cache's window). One statement is
// one PostgreSQL snapshot: every part of every answer is taken at the same
// committed heads, after every request of the read arrived. When the cache
// cannot answer (unreachable, cold, rebuilding, failing its checksum, or
// claiming more than PostgreSQL holds) one statement counts every range of
// the read from PostgreSQL's buckets and the total from its heads. The
// argument is in docs/counts.md. When the cache is not moving (the last two
// snapshots had the same sequences) and every range of a read was summed
// before, the statement is asked beside the snapshot, with those sequences
// and spans, and stands only if the snapshot shows the same (`guess_ahead`).
//
// Concurrent requests share the work, like a group commit for reads:
// requests that arrive while a read is in flight wait for the next read
// (a second one in flight, `max_reads`, on its own tail reader, once as
// many wait as the last read started with), which answers all of them (its snapshot and statement
// start after they arrived: read-your-writes). Reads in flight are independent: each answer is
// exact at its own read's moment, which lies after its request arrived. So one cache round trip and
// one statement answer every request waiting at that moment, with all their edge minutes; PingCount
// {} alone reads the heads only (read_heads).
//
// A range is split (actors/cache/range_plan.hpp): the part the cache holds
// comes from the fewest day/hour/minute buckets plus the tail in those
// minutes; its partial edge minutes, and any part outside the cache's
// buckets, are counted by the read's statement.
//
// Rounds (actors/counts/board.hpp): `count_atom` alone asks for a read of
// the total whose number and answer are published on the board, where the
// front-ends answer PingCount {} on their own threads. A round is one
// waiting request however many calls it answers (at most one waits). When
// calls arrived on the board during a round, the reader starts the next
// round itself once it published that one (no ask per round while calls
// keep coming). When the reader ends, the board is closed: its parked
// calls are answered unavailable at once.
//
// Bounds: at most `max_waiting` requests wait for the next read (beyond:
// resource_exhausted at once); one read holds at most
// `max_ranges_per_read` distinct ranges (so at most twice as many parts
// for PostgreSQL); each step has its deadline (one watchdog timer for all
// of them, armed for the earliest: actors/common/watchdog.hpp); at most
// `max_reads` reads, hence statements, are in flight. The console's minutes,
// when the cache cannot answer them, are at most `max_fallbacks` PostgreSQL reads at once
// (beyond: unavailable).

#include <chrono>

#include <caf/actor_system.hpp>

#include "actors/cache/protocol.hpp"
#include "actors/common/telemetry.hpp"
#include "actors/counts/board.hpp"
#include "actors/counts/protocol.hpp"
#include "actors/persistence/protocol.hpp"

namespace ping::counts {

struct settings {
  size_t max_waiting = 4096;
  // The console's per-minute PostgreSQL reads outstanding at once (counts
  // share one statement per read). Persistence's readers queue at most
  // `postgres.max-reads-waiting` (32) each.
  size_t max_fallbacks = 32;
  // Distinct ranges one read asks of the cache (its buckets are fetched in
  // one HMGET) and of PostgreSQL (their parts, in one statement); requests
  // beyond them wait for the next read.
  size_t max_ranges_per_read = 128;
  // Shared reads in flight at once, each a cache snapshot then one
  // statement on its own PostgreSQL tail reader (postgres.tail-readers).
  // Beside a read in flight another starts only once as many requests
  // wait as the last read started with (a read costs about the same
  // however few it answers); requests wait for the next read meanwhile.
  // A round for the board is one of them, one round at a time. 1 by
  // default: on two cores a second read cost PostgreSQL more per range
  // than it gained (docs/counts.md, "Concurrent reads share the work").
  size_t max_reads = 1;
  // A read asks its statement beside its cache snapshot rather than after
  // it, with the sequences and cached spans of the snapshots before, when
  // the last two snapshots had the same sequences and every range of the
  // read was summed before; the answer stands only if the snapshot shows
  // the same sequences and parts (else the statement is asked again after
  // it). A read then takes the longer of the two round trips, not their
  // sum (docs/counts.md, "A statement beside the snapshot").
  bool guess_ahead = true;
  // A read of totals alone (PingCount {}: the rounds) takes the last cache
  // snapshot's sequences and total while that snapshot is younger than
  // this, and asks PostgreSQL only for the heads above them. Exact at any
  // age: the cache's total counts exactly the pings at or below its
  // sequences, and the heads' distance from them is the rest (docs/counts.md,
  // "Totals from the last snapshot"). 0: every read takes a snapshot.
  caf::timespan totals_snapshot_age = std::chrono::seconds(1);
  caf::timespan snapshot_timeout = std::chrono::milliseconds(200); // the reader answers sooner
  caf::timespan tail_timeout = std::chrono::seconds(5);
  caf::timespan fallback_timeout = std::chrono::seconds(5);
  // A shared read taking longer than this is logged (info: its id,
  // duration, requests answered, tail rows); the gateway logs each
  // PingCount answered later than it with its trace id and read id. 0: all.
  caf::timespan slow_threshold = std::chrono::milliseconds(100);
  // Where rounds for PingCount {} are published (none: no rounds; the
  // front-ends then ask through the gateway). A round is one waiting
  // request for the total, asked by `count_atom` alone; its read's number
  // and answer go to the board (actors/counts/board.hpp).
  std::shared_ptr<count_board> board;
  // The board's bound on an unanswered ask (count_board::ask_again_after;
  // the binary builds the board with it): a lost ask delays the calls
  // parked behind it by this much, not until their deadline.
  caf::timespan ask_again_after = std::chrono::milliseconds(500);
  // A round starts no sooner than this after the previous round started
  // (0: as soon as it is asked). Larger rounds answer more calls each
  // (fewer statements per call) for up to this much more latency under
  // load; an idle board's first round is not delayed. With rounds of one
  // statement (totals_snapshot_age), 500us cost the gateway the least CPU
  // per PingCount {} at 32 connections of 250us, 500us, 1ms and 2ms; from
  // 1ms on, rounds capped the rate (docs/cost.md, "Rounds of one statement").
  caf::timespan round_gap = std::chrono::microseconds(500);
};

counts_actor spawn_count_reader(caf::actor_system& sys, settings cfg, cache::reader_actor cache,
                                persistence::persistence_actor persistence,
                                telemetry::registry& reg);

} // namespace ping::counts
