#include "actors/gateway/gateway.hpp"
#include "actors/gateway/metrics.hpp"

#include <atomic>

#include <caf/all.hpp>

#include "actors/common/errors.hpp"
#include "actors/common/ids.hpp"

namespace ping::gateway {

caf::expected<int64_t> resolve_timestamp(int64_t timestamp_ms, int64_t now) {
  if (timestamp_ms == 0)
    return now;
  if (timestamp_ms < 0)
    return caf::make_error(ping_errc::invalid_argument,
                           "timestamp_ms must not be negative");
  if (timestamp_ms > max_timestamp_ms)
    return caf::make_error(ping_errc::invalid_argument,
                           "timestamp_ms must not be past 9999-12-31T23:59:59.999Z");
  return timestamp_ms;
}

caf::error validate_range(const time_range& range) {
  if (!range.bounded)
    return caf::none;
  if (range.start_ms < 0 || range.end_ms < 0)
    return caf::make_error(ping_errc::invalid_argument,
                           "time_range start and end must not be negative");
  if (range.start_ms > max_timestamp_ms + 1 || range.end_ms > max_timestamp_ms + 1)
    return caf::make_error(ping_errc::invalid_argument,
                           "time_range start and end must not be past "
                           "9999-12-31T23:59:59.999Z (plus one millisecond for end)");
  if (range.start_ms > range.end_ms)
    return caf::make_error(ping_errc::invalid_argument,
                           "time_range start must not be after end");
  return caf::none;
}

namespace {

struct state {
  settings cfg;
  persistence::persistence_actor persistence;
  publisher::publisher_actor publisher;
  counts::counts_actor counts;
  std::shared_ptr<telemetry::actor_stats> stats;
  size_t in_flight = 0;
  bool draining = false;
  std::atomic<uint64_t>* accepted = nullptr;
  std::atomic<uint64_t>* rejected_invalid = nullptr;
  std::atomic<uint64_t>* rejected_busy = nullptr;
  std::atomic<uint64_t>* failed = nullptr;
  telemetry::histogram* latency = nullptr;
  static inline const char* name = "gateway";
};

gateway_actor::behavior_type
gateway(gateway_actor::stateful_pointer<state> self, settings cfg,
        persistence::persistence_actor persistence,
        publisher::publisher_actor publisher, counts::counts_actor counts,
        telemetry::registry* reg) {
  auto& st = self->state;
  st.cfg = cfg;
  st.persistence = std::move(persistence);
  st.publisher = std::move(publisher);
  st.counts = std::move(counts);
  auto m = metrics::registered_in(*reg);
  st.stats = m.actor;
  st.accepted = &m.accepted;
  st.rejected_invalid = &m.rejected_invalid;
  st.rejected_busy = &m.rejected_busy;
  st.failed = &m.failed;
  st.latency = &m.ping_seconds;
  auto note = [self] {
    self->state.stats->handled++;
    self->state.stats->mailbox = static_cast<int64_t>(self->mailbox().size());
  };
  return {
    [=](ping_atom, int64_t timestamp_ms) -> caf::result<ping_ack> {
      note();
      auto& st = self->state;
      if (st.draining)
        return caf::make_error(ping_errc::shutting_down, "server is shutting down");
      auto now = now_ms();
      auto ts = resolve_timestamp(timestamp_ms, now);
      if (!ts) {
        (*st.rejected_invalid)++;
        return std::move(ts.error());
      }
      if (st.in_flight >= st.cfg.max_in_flight) {
        (*st.rejected_busy)++;
        return caf::make_error(ping_errc::resource_exhausted,
                               "too many pings in flight; retry later");
      }
      ping_row row{make_uuid_v7(now), *ts, now, 0};
      row.partition = partition_of(row.id, st.cfg.partitions);
      ping_ack ack{row.id, row.pinged_at_ms};
      auto rp = self->make_response_promise<ping_ack>();
      ++st.in_flight;
      st.stats->backlog = static_cast<int64_t>(st.in_flight);
      auto started = std::chrono::steady_clock::now();
      self->request(st.persistence, st.cfg.store_timeout, store_atom::value,
                    std::move(row))
        .then(
          [self, rp, ack, started](int64_t) mutable {
            auto& st = self->state;
            --st.in_flight;
            st.stats->backlog = static_cast<int64_t>(st.in_flight);
            (*st.accepted)++;
            std::chrono::duration<double> took
              = std::chrono::steady_clock::now() - started;
            st.latency->observe(took.count());
            rp.deliver(std::move(ack));
            self->send(st.publisher, publish_atom::value);
          },
          [self, rp](caf::error& err) mutable {
            auto& st = self->state;
            --st.in_flight;
            st.stats->backlog = static_cast<int64_t>(st.in_flight);
            (*st.failed)++;
            rp.deliver(std::move(err));
          });
      return rp;
    },
    [=](count_atom, time_range range) -> caf::result<count_result> {
      note();
      auto& st = self->state;
      if (auto err = validate_range(range))
        return err;
      // The count reader answers the front-end directly (one hop less);
      // the front-end's request carries the deadline.
      return self->delegate(st.counts, count_atom::value, range);
    },
    [=](drain_atom) {
      note();
      self->state.draining = true;
    },
  };
}

} // namespace

gateway_actor spawn_gateway(caf::actor_system& sys, settings cfg,
                            persistence::persistence_actor persistence,
                            publisher::publisher_actor publisher,
                            counts::counts_actor counts, telemetry::registry& reg) {
  return sys.spawn(gateway, std::move(cfg), std::move(persistence),
                   std::move(publisher), std::move(counts), &reg);
}

} // namespace ping::gateway
