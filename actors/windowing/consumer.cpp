#include "actors/windowing/consumer.hpp"

#include <map>
#include <thread>

#include <caf/all.hpp>
#include <librdkafka/rdkafkacpp.h>

#include "actors/common/log.hpp"
#include "ping/v1/event.pb.h"

namespace ping::windowing {

namespace {

class rebalance_handler : public RdKafka::RebalanceCb, public RdKafka::EventCb {
public:
  rebalance_handler(caf::blocking_actor* self, window_actor window,
                    const consumer_settings& cfg, std::atomic<int64_t>& assigned)
    : self_(self), window_(std::move(window)), cfg_(cfg), assigned_(assigned) {
  }

  /// Paused by the operator: partitions assigned meanwhile start paused too.
  bool paused = false;
  /// The next offset to consume per assigned partition (where each
  /// partition was started, then advanced by the loop): exact, unlike
  /// librdkafka's position before the first fetch.
  std::map<int32_t, int64_t> positions;

  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& parts) override {
    std::vector<int32_t> ids;
    for (auto* tp : parts)
      ids.push_back(tp->partition());
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      assign(consumer, parts, ids);
    } else {
      // Flush what the window holds for these partitions before letting go.
      bool flushed = false;
      self_->request(window_, cfg_.window_timeout, revoke_atom::value, ids)
        .receive([&](bool ok) { flushed = ok; }, [&](caf::error&) {});
      log::info("consumer", "partitions revoked",
                {{"partitions", caf::deep_to_string(ids)},
                 {"flushed", flushed ? "true" : "false"}});
      consumer->unassign();
      for (auto p : ids)
        positions.erase(p);
      assigned_ = 0;
    }
  }

  void event_cb(RdKafka::Event& ev) override {
    if (ev.type() == RdKafka::Event::EVENT_ERROR)
      log::warn("consumer", "kafka error", {{"error", RdKafka::err2str(ev.err())},
                                            {"detail", ev.str()}});
  }

private:
  void assign(RdKafka::KafkaConsumer* consumer,
              std::vector<RdKafka::TopicPartition*>& parts,
              const std::vector<int32_t>& ids) {
    std::vector<partition_state> states;
    bool ok = false;
    // Retry until the cache answers: without its offsets we cannot count.
    for (int attempt = 0; !ok; ++attempt) {
      self_->request(window_, cfg_.window_timeout, assign_atom::value, ids)
        .receive(
          [&](std::vector<partition_state>& xs) {
            states = std::move(xs);
            ok = true;
          },
          [&](caf::error& e) {
            log::warn("consumer", "cannot load offsets from the cache; retrying",
                      {{"error", to_string(e)}});
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
          });
    }
    for (auto* tp : parts) {
      for (auto& ps : states) {
        if (ps.partition != tp->partition())
          continue;
        if (ps.stored) {
          tp->set_offset(ps.next_offset);
          positions[tp->partition()] = ps.next_offset;
          continue;
        }
        // No stored offset: fix the start at the current end *before* the
        // recount's snapshot, so every ping the recount misses comes after.
        int64_t low = 0, high = 0;
        auto err = consumer->query_watermark_offsets(cfg_.topic, tp->partition(), &low,
                                                     &high, 10000);
        if (err != RdKafka::ERR_NO_ERROR)
          high = 0; // empty or unknown: from the beginning (skips by relay_seq)
        tp->set_offset(high);
        positions[tp->partition()] = high;
        self_->request(window_, cfg_.window_timeout, rebuild_atom::value,
                       tp->partition(), high)
          .receive([](bool) {}, [](caf::error&) {});
      }
    }
    log::info("consumer", "partitions assigned", {{"partitions", caf::deep_to_string(ids)}});
    consumer->assign(parts);
    if (paused)
      consumer->pause(parts);
    assigned_ = static_cast<int64_t>(parts.size());
  }

  caf::blocking_actor* self_;
  window_actor window_;
  const consumer_settings& cfg_;
  std::atomic<int64_t>& assigned_;
};

// Pauses or resumes every assigned partition; returns how many there are.
int32_t set_paused(RdKafka::KafkaConsumer& consumer, rebalance_handler& handler,
                   bool paused, telemetry::registry& reg) {
  handler.paused = paused;
  std::vector<RdKafka::TopicPartition*> parts;
  consumer.assignment(parts);
  if (!parts.empty()) {
    auto err = paused ? consumer.pause(parts) : consumer.resume(parts);
    if (err != RdKafka::ERR_NO_ERROR)
      log::warn("consumer", paused ? "cannot pause" : "cannot resume",
                {{"error", RdKafka::err2str(err)}});
  }
  auto n = static_cast<int32_t>(parts.size());
  RdKafka::TopicPartition::destroy(parts);
  reg.gauge("processor_paused") = paused ? 1 : 0;
  log::info("consumer", paused ? "consumption paused" : "consumption resumed",
            {{"partitions", std::to_string(n)}});
  return n;
}

// Publishes end offset, position and lag per assigned partition. The ends
// come from the last fetch responses; while paused nothing is fetched, so
// they are asked from the broker (bounded wait; a broker that does not
// answer leaves the last known end).
void publish_lag(RdKafka::KafkaConsumer& consumer, const rebalance_handler& handler,
                 const consumer_settings& cfg, std::map<int32_t, int64_t>& ends,
                 telemetry::registry& reg) {
  telemetry::registry::family end_f{"partition", {}}, pos_f{"partition", {}},
    lag_f{"partition", {}};
  int64_t total = 0;
  bool broker_answers = true;
  for (auto [p, position] : handler.positions) {
    int64_t low = 0, high = -1;
    auto err = RdKafka::ERR_NO_ERROR;
    if (!handler.paused)
      err = consumer.get_watermark_offsets(cfg.topic, p, &low, &high);
    if (handler.paused || err != RdKafka::ERR_NO_ERROR || high < 0) {
      high = -1;
      if (broker_answers
          && consumer.query_watermark_offsets(cfg.topic, p, &low, &high, 500)
               != RdKafka::ERR_NO_ERROR)
        broker_answers = false;
    }
    if (high >= 0)
      ends[p] = high;
    auto end = ends.count(p) ? ends[p] : position;
    auto lag = std::max<int64_t>(0, end - position);
    total += lag;
    auto key = std::to_string(p);
    end_f.values.emplace_back(key, end);
    pos_f.values.emplace_back(key, position);
    lag_f.values.emplace_back(key, lag);
  }
  for (auto it = ends.begin(); it != ends.end();)
    it = handler.positions.count(it->first) ? std::next(it) : ends.erase(it);
  reg.set_family("processor_partition_end_offset", std::move(end_f));
  reg.set_family("processor_partition_position", std::move(pos_f));
  reg.set_family("processor_consumer_lag", std::move(lag_f));
  reg.gauge("processor_consumer_lag_total") = total;
}

void consumer_loop(caf::blocking_actor* self, consumer_settings cfg, window_actor window,
                   telemetry::registry* reg) {
  auto stats = reg->actor("windowing.consumer", "detached", "windowing");
  auto& consumed = reg->counter("processor_records_consumed_total");
  rebalance_handler handler{self, window, cfg, reg->gauge("processor_assigned_partitions")};
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf{RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL)};
  auto set = [&](const std::string& k, const std::string& v) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK)
      log::error("consumer", "bad kafka setting", {{"key", k}, {"error", err}});
  };
  set("bootstrap.servers", cfg.bootstrap);
  set("group.id", cfg.group);
  set("client.id", "ping-processor");
  set("enable.auto.commit", "false");
  set("enable.auto.offset.store", "false");
  set("auto.offset.reset", "earliest");
  set("fetch.wait.max.ms", std::to_string(cfg.fetch_wait_ms));
  set("session.timeout.ms", std::to_string(cfg.session_timeout_ms));
  set("partition.assignment.strategy", "range,roundrobin");
  // Bounded prefetch: librdkafka's default queue (64 MiB) dwarfs everything
  // else in the process; a few MiB keep the fetcher ahead of the window.
  // The bound is in bytes: in librdkafka 2.0 a fetcher that finds its queue
  // above queued.min.messages backs off for a whole second, so that count
  // is set out of the way.
  set("queued.max.messages.kbytes", std::to_string(cfg.prefetch_kbytes));
  set("queued.min.messages", "1000000");
  set("fetch.max.bytes", "4194304");
  set("max.partition.fetch.bytes", "262144");
  for (size_t pos = 0; pos < cfg.extra.size();) {
    auto end = cfg.extra.find(',', pos);
    auto item = cfg.extra.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (auto eq = item.find('='); eq != std::string::npos)
      set(item.substr(0, eq), item.substr(eq + 1));
    pos = end == std::string::npos ? cfg.extra.size() : end + 1;
  }
  conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(&handler), err);
  conf->set("event_cb", static_cast<RdKafka::EventCb*>(&handler), err);
  std::unique_ptr<RdKafka::KafkaConsumer> consumer{RdKafka::KafkaConsumer::create(conf.get(), err)};
  if (!consumer) {
    log::error("consumer", "cannot create consumer", {{"error", err}});
    return;
  }
  consumer->subscribe({cfg.topic});
  log::info("consumer", "subscribed", {{"topic", cfg.topic}, {"group", cfg.group}});
  bool running = true;
  auto last_commit = std::chrono::steady_clock::now();
  auto last_lag = std::chrono::steady_clock::time_point{};
  std::map<int32_t, record_batch> batches;
  std::map<int32_t, int64_t> ends;
  v1::PingEvent ev;
  reg->gauge("processor_paused") = 0;
  while (running) {
    // Messages to this actor: pause and resume from the admin endpoint; an
    // exit ends the loop.
    bool changed = false;
    self->receive(
      [&](pause_atom) -> int32_t {
        changed = true;
        return set_paused(*consumer, handler, true, *reg);
      },
      [&](resume_atom) -> int32_t {
        changed = true;
        return set_paused(*consumer, handler, false, *reg);
      },
      [&](caf::exit_msg& msg) {
        log::info("consumer", "stopping", {{"reason", to_string(msg.reason)}});
        running = false;
      },
      caf::after(std::chrono::seconds(0)) >> [] {});
    if (!running)
      break;
    if (auto now = std::chrono::steady_clock::now();
        changed || now - last_lag >= std::chrono::seconds(1)) {
      last_lag = now;
      publish_lag(*consumer, handler, cfg, ends, *reg);
    }
    // Consume a batch: wait for the first record, then drain what is there.
    batches.clear();
    size_t n = 0;
    auto wait_ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(cfg.poll_wait).count());
    while (n < cfg.batch) {
      std::unique_ptr<RdKafka::Message> msg{consumer->consume(n == 0 ? wait_ms : 0)};
      if (msg->err() == RdKafka::ERR__TIMED_OUT || msg->err() == RdKafka::ERR__PARTITION_EOF)
        break;
      if (msg->err() != RdKafka::ERR_NO_ERROR) {
        log::warn("consumer", "consume error", {{"error", msg->errstr()}});
        break;
      }
      auto& b = batches[msg->partition()];
      b.partition = msg->partition();
      b.next_offset = msg->offset() + 1;
      if (ev.ParseFromArray(msg->payload(), static_cast<int>(msg->len())) && ev.relay_seq() > 0)
        b.records.push_back({msg->offset(), ev.relay_seq(), ev.timestamp_ms()});
      else
        log::warn("consumer", "skipping undecodable record",
                  {{"partition", std::to_string(msg->partition())},
                   {"offset", std::to_string(msg->offset())}});
      ++n;
    }
    consumed += n;
    stats->handled += n;
    for (auto& [p, b] : batches)
      if (handler.positions.count(p))
        handler.positions[p] = b.next_offset;
    // Hand over in one message; the window answers when it has room again.
    if (!batches.empty()) {
      std::vector<record_batch> all;
      all.reserve(batches.size());
      for (auto& [p, b] : batches)
        all.push_back(std::move(b));
      bool delivered = false;
      while (!delivered && running) {
        self->request(window, cfg.window_timeout, records_atom::value, all)
          .receive([&](int64_t held) {
                     stats->backlog = held;
                     delivered = true;
                   },
                   [&](caf::error& e) {
                     log::warn("consumer", "window did not take a batch; retrying",
                               {{"error", to_string(e)}});
                   });
      }
    }
    // Advisory commits of the consumed positions (lag monitoring only).
    if (std::chrono::steady_clock::now() - last_commit > std::chrono::seconds(5)) {
      last_commit = std::chrono::steady_clock::now();
      std::vector<RdKafka::TopicPartition*> positions;
      consumer->assignment(positions);
      consumer->position(positions);
      consumer->commitAsync(positions);
      RdKafka::TopicPartition::destroy(positions);
    }
  }
  consumer->close(); // revokes (and so flushes) the assigned partitions
  log::info("consumer", "closed");
}

} // namespace

caf::actor spawn_consumer(caf::actor_system& sys, consumer_settings cfg,
                          window_actor window, telemetry::registry& reg) {
  return sys.spawn<caf::detached>(consumer_loop, std::move(cfg), std::move(window), &reg);
}

} // namespace ping::windowing
