#pragma once
// The persistence subsystem: group commit of pings into PostgreSQL.
//
// `spawn_persistence` starts a facade actor (cooperative pool, never blocks)
// that supervises `writers` detached worker actors plus detached readers:
// one for counts that may scan (unaligned ranges, the admin's minutes),
// and `tail_readers` for the short index-range reads every PingCount needs
// (tails, the count reader's shared reads, heads) and the health probe, so
// a storm of slow counts never delays them. Each worker owns its own libpqxx connection.
//
// Group commit: stores queue in the facade, one queue per writer (writer i
// owns the Kafka partitions p with p % writers == i, so writers never wait
// for each other's outbox locks; a ping's own partition picks its queue);
// an idle writer takes up to `max_batch` pings of its queue and writes them
// in one transaction, so pings that arrive while a commit is under way
// share the next one. Every ping of a batch goes to one Kafka partition,
// the writer's partitions in turn (the facade sets `ping_row::partition`),
// so a commit locks and moves one outbox head. With `commit_linger` set, a
// writer that just committed waits (at most that long, one timer) for the
// callers it answered to send again before its next batch: fewer, larger
// commits under a closed loop of callers; off by default. Each ping's promise
// is delivered only after its transaction committed. A batch store (a
// front-end's batch of calls) queues its pings the same way and answers
// once, when every one has its outcome.
//
// Bounds: at most `max_pending` stores wait (beyond: resource_exhausted);
// each reader runs one request at a time, and at most `max_reads_waiting`
// wait for it (beyond: resource_exhausted). A reader's slot is free again
// when PostgreSQL answers, not when the caller gives up.
// Deadlines: a ping is due `write_timeout` after it arrived; a batch is due
// with its earliest ping, is sent with that deadline and is refused by the
// worker once it passed, so no batch reaches PostgreSQL after its callers
// may have been answered. A read waits at most `statement_timeout` for its
// reader. Requests to the workers carry no CAF timeout each (in CAF 0.17
// each would post a timer and its cancellation to the clock thread): the
// shared watchdog (actors/common/watchdog.hpp), one timer armed for the
// earliest request out, gives a request past its due time CAF's own
// request_timeout, which consumes its response handler (a worker that
// never answers leaves nothing behind; a late answer reaches nobody).
// A statement timeout (57014) answers deadline_exceeded and keeps the
// connection.
// The facade probes PostgreSQL (reachable and writable) every
// `health_interval` while healthy, so readiness follows it without traffic.
// When PostgreSQL is unreachable, or answers read-only (25006: a standby,
// a demoted primary), the facade fails stores fast with `unavailable` and
// probes with exponential backoff until it answers again. A worker that does not answer within its
// deadline (a primary that vanished without a reset) is replaced, never reused: its socket is shut
// down and a new worker with a new connection takes its slot. A worker that
// dies is restarted with backoff; its batch was not acknowledged, so nothing
// acknowledged is lost. A worker that got no answer makes the idle workers
// reconnect too: their connections went to the same silent server.

#include <chrono>
#include <functional>
#include <string>

#include <caf/actor_system.hpp>

#include "actors/common/socket_handle.hpp"
#include "actors/common/telemetry.hpp"
#include "actors/persistence/protocol.hpp"

namespace ping::persistence {

struct settings {
  std::string dsn;         // libpq connection string (secret)
  int32_t partitions = 3;  // Kafka partitions (relay sequences)
  int writers = 1;         // concurrent transactions (more = smaller batches)
  size_t max_batch = 2000; // pings per transaction
  // After a commit, a writer waits up to this long for as many pings as
  // were queued plus those it just answered (their callers' next pings)
  // before it sends the next batch: fewer, larger commits (one WAL flush
  // each) under a closed loop of callers. 0: send at once.
  caf::timespan commit_linger{0};
  size_t max_pending = 20000;    // queued stores before rejecting
  size_t max_reads_waiting = 32; // per reader: queued reads before rejecting
  // Tail readers: connections for the short reads (tails, the count
  // reader's shared reads, heads, the probe), each one statement at a
  // time; as many as the count reader has reads in flight (counts.max-reads).
  int tail_readers = 1;
  caf::timespan write_timeout = std::chrono::seconds(5);
  caf::timespan connect_timeout = std::chrono::seconds(2);
  caf::timespan statement_timeout = std::chrono::seconds(5);
  caf::timespan health_interval = std::chrono::seconds(1); // probe while healthy
  caf::timespan backoff_min = std::chrono::milliseconds(100);
  caf::timespan backoff_max = std::chrono::seconds(2);
  // Raw-row retention (actors/persistence/retention.hpp): raw ranges whose
  // last ping arrived more than this many days ago are dropped; 0 keeps
  // every raw row. Counts never change.
  int32_t retention_days = 0;
  caf::timespan retention_interval = std::chrono::minutes(10);
  // After each commit, the facade hands the stored pings with their
  // outbox positions (from the writer's answer) here, before the commit's
  // callers hear of it (the relay's fast path, docs/outbox-relay.md);
  // unset: nobody is told.
  outbox_sink outbox;
};

/// Spawns one worker for a slot; the seam in front of the blocking
/// workers, so tests drive the facade's deadlines, replacements and lanes
/// with fakes on the test coordinator. `socket` is the handle the facade
/// interrupts when it replaces the worker.
using worker_factory
  = std::function<worker_actor(caf::actor_system&, const settings&, socket_handle_ptr socket)>;

/// `make` empty: the real workers (detached, one libpqxx connection each).
persistence_actor spawn_persistence(caf::actor_system& sys, settings cfg, telemetry::registry& reg,
                                    worker_factory make = {});

/// libpq connection string with connect and statement timeouts, keepalives
/// and a read-write target applied (actors/common/dsn.hpp).
std::string effective_dsn(const settings& cfg);

} // namespace ping::persistence
