#include "apps/ping-processor/processor_node.hpp"

#include <map>

#include "actors/common/atoms.hpp"
#include "actors/common/errors.hpp"
#include "actors/common/ids.hpp"
#include "gateways/common/ask.hpp"

namespace ping::apps {

namespace {

// A command's answer: the number of partitions, or the actor's error.
std::function<void(int32_t&)> partitions(admin::reply<int32_t> done) {
  return [done](int32_t& n) { done(n); };
}

std::function<void(caf::error&)> failed(admin::reply<int32_t> done) {
  return [done](caf::error& e) { done(admin::failure::of(e)); };
}

} // namespace

processor_node::processor_node(caf::actor_system& sys, telemetry::registry& reg, deadlines limits,
                               windowing::window_actor window, windowing::consumer_actor consumer,
                               cache::reader_actor reader,
                               std::shared_ptr<const windowing::rebalance_log> history,
                               admin::node_info info)
  : sys_(sys),
    windowing_(windowing::metrics::registered_in(reg)),
    writer_(cache::writer_metrics::registered_in(reg)),
    limits_(limits),
    window_(std::move(window)),
    consumer_(std::move(consumer)),
    reader_(std::move(reader)),
    history_(std::move(history)),
    info_(std::move(info)) {}

void processor_node::start_draining() {
  draining_ = true;
}

const admin::node_info& processor_node::info() const {
  return info_;
}

bool processor_node::ready() const {
  // Partitions assigned, the cache reachable, not draining.
  return !draining_ && live() && windowing_.assigned.load() > 0
         && windowing_.cache_writer->up.load();
}

bool processor_node::live() const {
  return !watch_ || watch_->alive();
}

bool processor_node::paused() const {
  return windowing_.paused.load() != 0;
}

std::vector<admin::stage> processor_node::pipeline() const {
  return {
    {"consume", "records fetched from ping-events", &windowing_.consumed, nullptr,
     &windowing_.lag_total},
    {"count", "re-sends skipped by relay_seq; the rest counted into minute deltas",
     &windowing_.counted, nullptr, &windowing_.window->backlog},
    {"flush", "deltas written to ping:counters with their sequences, one Lua script each",
     &writer_.records_flushed, &writer_.flush_seconds, nullptr},
  };
}

std::vector<admin::repair> processor_node::repairs() const {
  std::vector<admin::repair> out; // by reason
  for (auto& [reason, total] : windowing_.repairs)
    out.push_back({reason, total});
  return out;
}

std::vector<admin::partition_lag> processor_node::lag() const {
  // The families are replaced one after another: match them by partition,
  // not by position in the list.
  auto by_partition = [](const telemetry::gauge_family& family) {
    std::map<int32_t, int64_t> out; // in partition order
    for (auto& [label, value] : family.values())
      out[std::stoi(label)] = value;
    return out;
  };
  auto at = [](const std::map<int32_t, int64_t>& m, int32_t partition) {
    auto it = m.find(partition);
    return it == m.end() ? int64_t{0} : it->second;
  };
  auto ends = by_partition(windowing_.end_offsets);
  auto positions = by_partition(windowing_.positions);
  std::vector<admin::partition_lag> out;
  for (auto& [partition, lag] : by_partition(windowing_.lag))
    out.push_back({partition, at(ends, partition), at(positions, partition), lag});
  return out;
}

std::vector<admin::rebalance> processor_node::rebalances() const {
  std::vector<admin::rebalance> out;
  if (history_)
    for (auto& e : history_->recent())
      out.push_back({e.time_ms, e.assigned, e.revoked});
  return out;
}

std::vector<admin::command> processor_node::commands() const {
  return {admin::command::flush, admin::command::pause, admin::command::resume,
          admin::command::rebuild_cache};
}

void processor_node::minute_counts(int64_t first_minute, int32_t n,
                                   admin::reply<admin::minute_series> done) {
  // The cache's buckets only: the processor has no PostgreSQL read path.
  time_range range{true, first_minute * ms_per_minute, (first_minute + n) * ms_per_minute};
  gateways::ask<cache::snapshot>(
    sys_, reader_, limits_.minute_counts,
    [done](cache::snapshot& s) {
      if (s.usable && !s.ranges.empty() && s.ranges[0].covered)
        done(admin::minute_series{std::move(s.ranges[0].buckets), "cache"});
      else
        done(admin::failure::of(
          caf::make_error(ping_errc::unavailable,
                          "the cache cannot answer right now: "
                            + (s.why.empty() ? std::string{"range not retained"} : s.why))));
    },
    [done](caf::error& e) { done(admin::failure::of(e)); }, snapshot_atom::value,
    std::vector<time_range>{range});
}

void processor_node::flush(admin::reply<int32_t> done) {
  gateways::ask<int32_t>(sys_, window_, limits_.command, partitions(done), failed(done),
                         flush_atom::value);
}

void processor_node::pause(admin::reply<int32_t> done) {
  gateways::ask<int32_t>(sys_, consumer_, limits_.command, partitions(done), failed(done),
                         pause_atom::value);
}

void processor_node::resume(admin::reply<int32_t> done) {
  gateways::ask<int32_t>(sys_, consumer_, limits_.command, partitions(done), failed(done),
                         resume_atom::value);
}

void processor_node::rebuild_cache(admin::reply<int32_t> done) {
  gateways::ask<int32_t>(sys_, window_, limits_.rebuild, partitions(done), failed(done),
                         reset_atom::value);
}

} // namespace ping::apps
