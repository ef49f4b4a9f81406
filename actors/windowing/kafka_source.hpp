#pragma once
// The Kafka source: librdkafka's KafkaConsumer of group `ping-processor`,
// and everything librdkafka 2.0.2 needs to keep up with kcat in little
// memory (docs/windowing.md). No actors here: it blocks, so only the
// consumer actor's thread (detached) drives it, and the rebalance decisions
// go to the owner through `rebalance_hooks`.
//
// What it does:
// - per-partition queues, taken out of the consumer queue before assign(),
//   so librdkafka bounds prefetch per partition (`prefetch_records`,
//   `prefetch_kbytes`);
// - `take` drains every partition's queue in turn (a share of the batch
//   each) and decodes the two fields counting needs;
// - `wait` sleeps on a pipe librdkafka writes to when a queue gets records,
//   waking stalled fetchers meanwhile (a watermark query to a partition's
//   leader, from a side thread); `take` also serves rebalance callbacks and
//   errors;
// - pause/resume, positions (exact, unlike librdkafka's before the first
//   fetch), broker end offsets for the lag, advisory commits.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "actors/windowing/consumer_settings.hpp"
#include "actors/windowing/protocol.hpp"

namespace ping::windowing {

/// What the source asks its owner when the group rebalances. They run on
/// the thread that drives the source, inside `wait` or `close`.
struct rebalance_hooks {
  /// Partitions assigned: where each stands (stored or not); nullopt when
  /// it cannot say now: asked again after `assign_retry`.
  std::function<std::optional<std::vector<partition_state>>(const std::vector<int32_t>&)> assign;
  /// A partition with no stored position starts at `start_offset` (its end
  /// when assigned): the owner counts what lies before it elsewhere.
  std::function<void(int32_t partition, int64_t start_offset)> cold;
  /// Partitions about to be revoked: the owner flushes them first.
  std::function<void(const std::vector<int32_t>&)> revoke;
};

class kafka_source {
public:
  /// Connects and subscribes; throws std::runtime_error if librdkafka
  /// refuses the configuration.
  kafka_source(const consumer_settings& cfg, rebalance_hooks hooks);
  /// Closes (revoking the partitions: the revoke hook runs).
  ~kafka_source();
  kafka_source(const kafka_source&) = delete;
  kafka_source& operator=(const kafka_source&) = delete;

  /// Up to `batch` queued records, per partition, without waiting, then
  /// serves rebalance callbacks and errors; returns how many records were
  /// taken (undecodable ones are skipped but advance the position).
  /// Positions advance to after the last record taken.
  size_t take(std::map<int32_t, record_batch>& out);

  /// Sleeps until records or events arrive: at most `idle` when the broker
  /// has nothing more, `stall_after` when it has (a stalled fetcher is
  /// woken meanwhile). Call when `take` found nothing.
  void wait(std::chrono::milliseconds idle);

  /// Pauses or resumes every assigned partition (partitions assigned while
  /// paused start paused); returns how many are assigned.
  int32_t set_paused(bool paused);
  bool paused() const;

  /// The next offset to read per assigned partition.
  const std::map<int32_t, int64_t>& positions() const;

  /// The broker's end offset of a partition: the last one fetch responses
  /// told (`cached`), or asked from the broker with a deadline.
  std::optional<int64_t> end_offset(int32_t partition, bool ask_broker,
                                    std::chrono::milliseconds timeout);

  /// Every partition of the topic and its end offset, asked from the
  /// broker (metadata, then each partition's leader) with a deadline per
  /// request; partitions it could not learn are left out (all of them when
  /// the topic is unknown). Works before the group assigns anything.
  std::vector<std::pair<int32_t, int64_t>> end_offsets(std::chrono::milliseconds timeout);

  /// Commits the positions (advisory: lag monitoring only, never read back).
  void commit_positions();

  /// Leaves the group (the revoke hook runs for the assigned partitions).
  void close();

private:
  struct impl;
  std::unique_ptr<impl> d_;
};

} // namespace ping::windowing
