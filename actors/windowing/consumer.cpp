#include "actors/windowing/consumer.hpp"

#include <condition_variable>
#include <fcntl.h>
#include <poll.h>
#include <stdexcept>
#include <unistd.h>
#include <map>
#include <mutex>
#include <thread>

#include <caf/all.hpp>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include "actors/common/log.hpp"
#include "actors/windowing/event_fields.hpp"

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
  /// Each assigned partition's own fetch queue. Taken out of the consumer
  /// queue before the assignment starts fetching, so librdkafka bounds
  /// prefetch per partition (queued.max.messages.kbytes), as for a plain
  /// assign consumer, instead of for all partitions together: with one
  /// shared bound, librdkafka 2.0 backs every fetcher off for a second
  /// whenever the shared queue is full.
  std::map<int32_t, rd_kafka_queue_t*> queues;
  /// Written to by librdkafka when a partition queue gets records.
  int wake_fd = -1;

  ~rebalance_handler() override {
    drop_queues();
  }

  void drop_queues() {
    for (auto& [p, q] : queues)
      rd_kafka_queue_destroy(q);
    queues.clear();
  }

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
      drop_queues();
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
    drop_queues();
    for (auto* tp : parts) {
      auto* q = rd_kafka_queue_get_partition(consumer->c_ptr(), tp->topic().c_str(),
                                             tp->partition());
      rd_kafka_queue_forward(q, nullptr); // the application's: assign() keeps it
      if (wake_fd >= 0)
        rd_kafka_queue_io_event_enable(q, wake_fd, "p", 1);
      queues[tp->partition()] = q;
    }
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

// librdkafka 2.0 stops fetching a partition whose queue is full, and a
// broker thread left with only full partitions sleeps until something wakes
// it, up to a second, even after the queues drained (2.1 added
// fetch.queue.backoff.ms for this). A small prefetch, which keeps memory
// low, makes that common. So a partition that has had nothing queued for
// `stall_after` although the broker has more (its end offset is above our
// position) gets a request sent to its leader, a watermark query: any
// request wakes the broker thread, which then sees the room and fetches.
// The query runs on a thread of its own, as the broker may answer only
// after a pending long-poll fetch: the consumer never waits for it.
class fetch_waker {
public:
  fetch_waker(RdKafka::KafkaConsumer& consumer, std::string topic)
    : consumer_(consumer), topic_(std::move(topic)), thread_([this] { run(); }) {
  }

  ~fetch_waker() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      stopping_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

  /// Asks for a wake-up of the broker leading `partition`; never blocks.
  void wake(int32_t partition) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      pending_ = partition;
    }
    cv_.notify_one();
  }

private:
  void run() {
    std::unique_lock<std::mutex> lock{mtx_};
    for (;;) {
      cv_.wait(lock, [this] { return stopping_ || pending_ >= 0; });
      if (stopping_)
        return;
      auto p = pending_;
      pending_ = -1;
      lock.unlock();
      int64_t low = 0, high = 0;
      consumer_.query_watermark_offsets(topic_, p, &low, &high, 1000);
      lock.lock();
    }
  }

  RdKafka::KafkaConsumer& consumer_;
  std::string topic_;
  std::mutex mtx_;
  std::condition_variable cv_;
  int32_t pending_ = -1;
  bool stopping_ = false;
  std::thread thread_;
};

// Returns true when some partition has records at the broker not consumed
// yet (then the caller looks again soon).
bool wake_stalled_fetchers(RdKafka::KafkaConsumer& consumer, const rebalance_handler& handler,
                           const consumer_settings& cfg, fetch_waker& waker,
                           std::map<int32_t, std::chrono::steady_clock::time_point>& last_data) {
  auto now = std::chrono::steady_clock::now();
  bool lagging = false, woken = false;
  for (auto [p, position] : handler.positions) {
    int64_t low = 0, high = -1;
    if (consumer.get_watermark_offsets(cfg.topic, p, &low, &high) != RdKafka::ERR_NO_ERROR
        || high <= position)
      continue; // caught up (or unknown): nothing to wake for
    lagging = true;
    auto& seen = last_data[p]; // epoch (long ago) for a new partition
    if (woken || now - seen < cfg.stall_after)
      continue;
    seen = now; // at most one wake-up per partition every stall_after
    waker.wake(p);
    woken = true; // one request wakes a whole broker thread: one per pass
  }
  return lagging;
}

// A pipe librdkafka writes to when one of our queues gets something while
// empty (rd_kafka_queue_io_event_enable): the loop sleeps in poll() on it
// and wakes as soon as records or events arrive.
struct wake_pipe {
  int fds[2] = {-1, -1};
  wake_pipe() {
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
      throw std::runtime_error("cannot create the consumer's wake-up pipe");
  }
  ~wake_pipe() {
    close(fds[0]);
    close(fds[1]);
  }
  int write_end() const { return fds[1]; }
  /// Waits until something arrived or `timeout` passed; clears the pipe.
  void wait(std::chrono::milliseconds timeout) const {
    pollfd pfd{fds[0], POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(timeout.count())) > 0) {
      char buf[256];
      while (read(fds[0], buf, sizeof buf) > 0) {
      }
    }
  }
};

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
  // Bounded prefetch, per partition (each has its own queue, see
  // rebalance_handler::queues): librdkafka's defaults (100,000 records,
  // 64 MiB) dwarf everything else in the process. librdkafka keeps a few
  // hundred bytes per queued record besides the payload, so for small
  // events the record count is the bound that matters.
  set("queued.min.messages", std::to_string(cfg.prefetch_records));
  set("queued.max.messages.kbytes", std::to_string(cfg.prefetch_kbytes));
  set("max.partition.fetch.bytes", std::to_string(cfg.fetch_partition_kbytes * 1024));
  set("fetch.max.bytes", std::to_string(std::max(cfg.fetch_partition_kbytes * 1024, 1048576)));
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
  event_fields ev;
  reg->gauge("processor_paused") = 0;
  // Batches handed to the window and not answered yet. The window answers a
  // batch once it has room again; with up to `credits` outstanding, the
  // consumer polls the next batch while the window counts the last one, and
  // stops polling while the window is full.
  size_t outstanding = 0;
  auto& backpressure = reg->counter("processor_consumer_backpressure_total");
  auto window_handle = caf::actor_cast<caf::actor>(window);
  // Nothing to consume and nothing waiting at the broker: sleep until
  // librdkafka signals new records or events, or this long.
  const auto idle_wait = std::chrono::milliseconds(50);
  wake_pipe wakeup;
  handler.wake_fd = wakeup.write_end();
  std::unique_ptr<rd_kafka_queue_t, void (*)(rd_kafka_queue_t*)> events{
    rd_kafka_queue_get_consumer(consumer->c_ptr()), rd_kafka_queue_destroy};
  rd_kafka_queue_io_event_enable(events.get(), wakeup.write_end(), "c", 1);
  std::vector<rd_kafka_message_t*> polled(512);
  std::map<int32_t, std::chrono::steady_clock::time_point> last_data; // per partition
  fetch_waker waker{*consumer, cfg.topic};
  while (running) {
    // Messages to this actor: the window's answers, pause and resume from
    // the admin endpoint; an exit ends the loop. Drains the mailbox without
    // waiting, unless every credit is out: then waits for an answer.
    bool changed = false;
    for (bool more = true; more && running;) {
      more = false;
      auto full = outstanding >= cfg.credits;
      self->receive(
        [&](int64_t held) {
          more = true;
          stats->backlog = held;
          if (outstanding > 0)
            --outstanding;
        },
        [&](pause_atom) -> int32_t {
          more = changed = true;
          return set_paused(*consumer, handler, true, *reg);
        },
        [&](resume_atom) -> int32_t {
          more = changed = true;
          return set_paused(*consumer, handler, false, *reg);
        },
        [&](caf::exit_msg& msg) {
          log::info("consumer", "stopping", {{"reason", to_string(msg.reason)}});
          running = false;
        },
        caf::after(full ? cfg.poll_wait : caf::timespan{0}) >> [] {});
    }
    if (!running)
      break;
    if (auto now = std::chrono::steady_clock::now();
        changed || now - last_lag >= std::chrono::seconds(1)) {
      last_lag = now;
      publish_lag(*consumer, handler, cfg, ends, *reg);
    }
    if (outstanding >= cfg.credits) {
      ++backpressure; // the window is behind: no polling until it answers
      continue;
    }
    // Consume a batch from the partition queues; with nothing there, sleep
    // on the wake-up pipe (briefly when the broker has more: a stalled
    // fetcher is woken meanwhile); then serve the consumer queue
    // (rebalance callbacks, errors).
    batches.clear();
    size_t n = 0;
    auto take = [&](int32_t partition, int64_t offset, const void* payload, size_t len) {
      auto& b = batches[partition];
      b.partition = partition;
      b.next_offset = offset + 1;
      if (decode_event_fields(payload, len, ev) && ev.relay_seq > 0)
        b.records.push_back({offset, ev.relay_seq, ev.timestamp_ms});
      else
        log::warn("consumer", "skipping undecodable record",
                  {{"partition", std::to_string(partition)}, {"offset", std::to_string(offset)}});
      ++n;
    };
    // Every partition gets its share of a batch, so none of them fills up
    // while others are drained (librdkafka stops fetching a full partition,
    // and a broker with only full partitions idles for up to a second).
    auto share = std::max<size_t>(64, cfg.batch / std::max<size_t>(1, handler.queues.size()));
    for (auto& [p, q] : handler.queues) {
      for (size_t taken = 0; taken < share;) {
        auto got = rd_kafka_consume_batch_queue(q, 0, polled.data(),
                                                std::min(polled.size(), share - taken));
        if (got <= 0)
          break;
        taken += static_cast<size_t>(got);
        last_data[p] = std::chrono::steady_clock::now();
        for (ssize_t i = 0; i < got; ++i) {
          auto* m = polled[static_cast<size_t>(i)];
          if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
            take(m->partition, m->offset, m->payload, m->len);
          else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            log::warn("consumer", "consume error", {{"partition", std::to_string(p)},
                                                    {"error", rd_kafka_message_errstr(m)}});
          rd_kafka_message_destroy(m);
        }
      }
    }
    bool lagging = !handler.paused
                   && wake_stalled_fetchers(*consumer, handler, cfg, waker, last_data);
    if (n == 0) {
      auto stall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.stall_after);
      wakeup.wait(lagging ? std::max(stall_ms, std::chrono::milliseconds(1)) : idle_wait);
    }
    {
      std::unique_ptr<RdKafka::Message> msg{consumer->consume(0)};
      if (msg->err() == RdKafka::ERR_NO_ERROR) // only before a partition queue exists
        take(msg->partition(), msg->offset(), msg->payload(), msg->len());
      else if (msg->err() != RdKafka::ERR__TIMED_OUT
               && msg->err() != RdKafka::ERR__PARTITION_EOF)
        log::warn("consumer", "consume error", {{"error", msg->errstr()}});
    }
    consumed += n;
    stats->handled += n;
    for (auto& [p, b] : batches)
      if (handler.positions.count(p))
        handler.positions[p] = b.next_offset;
    // Hand over in one message, without waiting: the answer comes back as a
    // message (handled above). Messages between two local actors are not
    // lost, and the window takes them in the order sent.
    if (!batches.empty()) {
      std::vector<record_batch> all;
      all.reserve(batches.size());
      for (auto& [p, b] : batches)
        all.push_back(std::move(b));
      self->send(window_handle, records_atom::value, std::move(all));
      ++outstanding;
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
  // librdkafka must not write to the pipe once it is closed.
  rd_kafka_queue_io_event_enable(events.get(), -1, nullptr, 0);
  handler.drop_queues();
  log::info("consumer", "closed");
}

} // namespace

caf::actor spawn_consumer(caf::actor_system& sys, consumer_settings cfg,
                          window_actor window, telemetry::registry& reg) {
  return sys.spawn<caf::detached>(consumer_loop, std::move(cfg), std::move(window), &reg);
}

} // namespace ping::windowing
