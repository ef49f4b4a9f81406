#pragma once
// What the admin endpoint knows of the binary it runs in: one typed
// interface instead of callbacks and metric names. Each binary implements
// it in one small file (apps/ping-gateway/gateway_node.*,
// apps/ping-processor/processor_node.*); the admin library reads and
// commands the node only through it.
//
// Owner: the binary's run(); it outlives the admin server. Threads: every
// member is called on the admin server's I/O thread (or the sampler's) and
// must not block: reads come from atomics; the asynchronous members send a
// message to the actor concerned and complete `done` exactly once, from any
// thread, when it replied or its deadline passed. Failure: an actor's
// error reaches the caller through failure::of (the gateways' one table);
// what the node does not do answers `unimplemented`.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <caf/error.hpp>
#include <connectrpc/status.hpp>

#include "actors/common/telemetry.hpp"

namespace ping::admin {

/// What GetStatus reports about the node.
struct node_info {
  std::string binary; // "ping-gateway"
  std::string version;
  std::vector<std::string> config; // "category.name=value", secrets redacted
};

/// Why a node could not do what was asked, as the caller will see it.
struct failure {
  connectrpc::code code = connectrpc::code::internal;
  std::string message;

  /// An actor's error (ping_errc, or CAF's own such as a request timeout),
  /// mapped by the gateways' one table (gateways/common/status.hpp).
  static failure of(const caf::error& err);
};

template <class T>
using outcome = std::variant<T, failure>;

/// Completes an asynchronous node call, exactly once, from any thread.
template <class T>
using reply = std::function<void(outcome<T>)>;

/// One stage of the node's pipeline, by reference into the node's metrics
/// (they live in the registry, which outlives the admin server).
struct stage {
  std::string name;                              // "commit"
  std::string description;                       // one line
  const telemetry::counter* items = nullptr;     // items through the stage
  const telemetry::histogram* latency = nullptr; // seconds; nullptr: none
  const telemetry::gauge* backlog = nullptr;     // a gauge or an actor's backlog; nullptr: none
};

/// Counter repairs of one kind (the processor's resyncs from PostgreSQL).
struct repair {
  std::string reason;
  const telemetry::counter* total = nullptr;
};

/// Consumer lag of one partition.
struct partition_lag {
  int32_t partition = 0;
  int64_t end_offset = 0;
  int64_t position = 0;
  int64_t lag = 0;
};

/// One change of the consumer's partition assignment (processor).
struct rebalance {
  int64_t time_ms = 0; // wall clock, epoch milliseconds
  std::vector<int32_t> assigned;
  std::vector<int32_t> revoked;
};

/// One partition of the live exactness check (gateway): PostgreSQL's
/// committed head against the cache's applied relay sequence.
struct exactness_row {
  int32_t partition = 0;
  int64_t head = 0;        // outbox_head.next_seq - 1
  int64_t cache_seq = -1;  // ping:offsets seq:<p>; -1 unknown
  int64_t relay_acked = 0; // outbox_cursor.acked_seq
};

struct exactness_report {
  std::vector<exactness_row> rows; // by partition
  std::string cache_note;          // why cache_seq is unknown, if it is
};

/// Pings per minute, oldest first, and where they came from ("cache",
/// "postgres").
struct minute_series {
  std::vector<int64_t> counts;
  std::string source;
};

/// The commands of the admin API a node may carry out.
enum class command { flush, pause, resume, rebuild_cache };

/// The RPC that runs a command ("Flush", "PauseConsumption", ...).
std::string_view method_of(command c);

class node {
public:
  virtual ~node() = default;

  virtual const node_info& info() const = 0;

  /// /readyz and GetStatus: dependencies reachable and not draining.
  virtual bool ready() const = 0;

  /// /healthz (liveness): false once the process cannot recover by itself
  /// (a top-level actor ended), so the orchestrator restarts it.
  virtual bool live() const;

  /// Whether consumption is paused (processor); false elsewhere.
  virtual bool paused() const;

  /// The pipeline, in data-path order; the same stages for the node's life.
  virtual std::vector<stage> pipeline() const = 0;

  /// Counter repairs by reason (processor); none elsewhere.
  virtual std::vector<repair> repairs() const;

  /// Consumer lag by partition, in partition order (processor); none elsewhere.
  virtual std::vector<partition_lag> lag() const;

  /// The consumer's last assignment changes, newest first (processor);
  /// none elsewhere.
  virtual std::vector<rebalance> rebalances() const;

  /// The commands this node carries out; the others answer unimplemented.
  virtual std::vector<command> commands() const;

  /// Pings per minute of `n` epoch minutes from `first_minute` on.
  virtual void minute_counts(int64_t first_minute, int32_t n, reply<minute_series> done);

  /// The live exactness check, per partition (gateway); unimplemented
  /// elsewhere.
  virtual void exactness(reply<exactness_report> done);

  /// The commands; each answers the number of partitions it acted on.
  virtual void flush(reply<int32_t> done);
  virtual void pause(reply<int32_t> done);
  virtual void resume(reply<int32_t> done);
  virtual void rebuild_cache(reply<int32_t> done);

  /// The answer of a command (or GetMinuteCounts) this node does not offer.
  failure unimplemented(command c) const;
  failure unimplemented_minute_counts() const;
};

} // namespace ping::admin
