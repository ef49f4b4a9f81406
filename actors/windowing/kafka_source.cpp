#include "actors/windowing/kafka_source.hpp"

#include "actors/cache/schema.hpp"

#include <condition_variable>
#include <fcntl.h>
#include <mutex>
#include <poll.h>
#include <stdexcept>
#include <thread>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include "actors/common/log.hpp"
#include "actors/common/trace.hpp"
#include "actors/windowing/event_fields.hpp"

namespace ping::windowing {

namespace {

using steady = std::chrono::steady_clock;

// A pipe librdkafka writes to when one of our queues gets something while
// empty (rd_kafka_queue_io_event_enable): `wait` sleeps in poll() on it and
// wakes as soon as records or events arrive.
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
  void wait(std::chrono::milliseconds timeout) const {
    pollfd pfd{fds[0], POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(timeout.count())) > 0) {
      char buf[256];
      while (read(fds[0], buf, sizeof buf) > 0) {
      }
    }
  }
};

// librdkafka 2.0 stops fetching a partition whose queue is full, and a
// broker thread left with only full partitions sleeps until something wakes
// it, up to a second, even after the queues drained (2.1 added
// fetch.queue.backoff.ms for this). A small prefetch makes that common. So
// a partition that has had nothing queued for `stall_after` although the
// broker has more gets a request sent to its leader, a watermark query: any
// request wakes the broker thread, which then sees the room and fetches.
// The query runs on a thread of its own, as the broker may answer only
// after a pending long-poll fetch: the consumer never waits for it.
class fetch_waker {
public:
  fetch_waker(RdKafka::KafkaConsumer& consumer, std::string topic)
    : consumer_(consumer), topic_(std::move(topic)), thread_([this] { run(); }) {}

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

} // namespace

struct kafka_source::impl : RdKafka::RebalanceCb, RdKafka::EventCb {
  consumer_settings cfg;
  rebalance_hooks hooks;
  bool paused = false;
  /// The next offset to consume per assigned partition: where it was
  /// started, then advanced by `take`.
  std::map<int32_t, int64_t> positions;
  /// Each assigned partition's own fetch queue (see the file comment).
  std::map<int32_t, rd_kafka_queue_t*> queues;
  std::map<int32_t, steady::time_point> last_data; // per partition
  std::unique_ptr<wake_pipe> wakeup = std::make_unique<wake_pipe>();
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
  std::unique_ptr<rd_kafka_queue_t, void (*)(rd_kafka_queue_t*)> events{nullptr,
                                                                        rd_kafka_queue_destroy};
  std::unique_ptr<fetch_waker> waker;
  std::vector<rd_kafka_message_t*> polled = std::vector<rd_kafka_message_t*>(512);
  event_fields ev;
  bool closed = false;

  ~impl() override { drop_queues(); }

  void drop_queues() {
    for (auto& [p, q] : queues)
      rd_kafka_queue_destroy(q);
    queues.clear();
  }

  void rebalance_cb(RdKafka::KafkaConsumer* c, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& parts) override {
    std::vector<int32_t> ids;
    ids.reserve(parts.size());
    for (auto* tp : parts)
      ids.push_back(tp->partition());
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      assign(c, parts, ids);
      return;
    }
    hooks.revoke(ids); // flush before letting go
    log::info("consumer", "partitions revoked", {{"partitions", describe(ids)}});
    c->unassign();
    for (auto p : ids)
      positions.erase(p);
    drop_queues();
  }

  void event_cb(RdKafka::Event& e) override {
    if (e.type() == RdKafka::Event::EVENT_ERROR)
      log::warn("consumer", "kafka error",
                {{"error", RdKafka::err2str(e.err())}, {"detail", e.str()}});
  }

  static std::string describe(const std::vector<int32_t>& ids) {
    std::string out = "[";
    for (size_t i = 0; i < ids.size(); ++i)
      out += (i ? ", " : "") + std::to_string(ids[i]);
    return out + "]";
  }

  void assign(RdKafka::KafkaConsumer* c, std::vector<RdKafka::TopicPartition*>& parts,
              const std::vector<int32_t>& ids) {
    std::optional<std::vector<partition_state>> states;
    while (!(states = hooks.assign(ids))) {
      log::warn("consumer", "cannot learn where the partitions stand; retrying");
      std::this_thread::sleep_for(cfg.assign_retry);
    }
    for (auto* tp : parts) {
      for (auto& ps : *states) {
        if (ps.partition != tp->partition())
          continue;
        if (ps.stored && ps.next_offset == cache::schema::unknown_offset) {
          // State without an offset (cache::schema::has_state): from the
          // group's committed offset, else the earliest; records at or
          // below the partition's seq are skipped, a gap is recounted.
          tp->set_offset(RdKafka::Topic::OFFSET_STORED);
          continue;
        }
        if (ps.stored) {
          tp->set_offset(ps.next_offset);
          positions[tp->partition()] = ps.next_offset;
          continue;
        }
        // No stored position: fix the start at the current end *before*
        // the owner counts the partition, so everything it misses comes
        // after.
        int64_t low = 0, high = 0;
        if (c->query_watermark_offsets(cfg.topic, tp->partition(), &low, &high, 10000)
            != RdKafka::ERR_NO_ERROR)
          high = 0; // empty or unknown: from the beginning (skips by relay_seq)
        tp->set_offset(high);
        positions[tp->partition()] = high;
        hooks.cold(tp->partition(), high);
      }
    }
    log::info("consumer", "partitions assigned", {{"partitions", describe(ids)}});
    drop_queues();
    for (auto* tp : parts) {
      auto* q = rd_kafka_queue_get_partition(c->c_ptr(), tp->topic().c_str(), tp->partition());
      rd_kafka_queue_forward(q, nullptr); // the application's: assign() keeps it
      rd_kafka_queue_io_event_enable(q, wakeup->write_end(), "p", 1);
      queues[tp->partition()] = q;
    }
    c->assign(parts);
    if (paused)
      c->pause(parts);
  }

  // Adds one record; true when it is the batch's new highest sequence (the
  // caller then sets `top_ident` from its key, the ping's id: hashed once
  // per batch, not per record).
  bool record(std::map<int32_t, record_batch>& out, rd_kafka_message_t* m) {
    auto partition = m->partition;
    auto offset = m->offset;
    auto& b = out[partition];
    b.partition = partition;
    b.next_offset = offset + 1;
    // The trace the relay put in the event's headers (none from an older relay).
    trace::context tc;
    rd_kafka_headers_t* headers = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR
        && rd_kafka_header_get_last(headers, "traceparent", &value, &size)
             == RD_KAFKA_RESP_ERR_NO_ERROR
        && value != nullptr)
      trace::parse({static_cast<const char*>(value), size}, tc);
    if (decode_event_fields(m->payload, m->len, ev) && ev.relay_seq > 0) {
      b.records.push_back({offset, ev.relay_seq, ev.timestamp_ms, tc.trace_hi, tc.trace_lo});
      if (log::enabled(log::level::debug))
        log::debug("consumer", "event consumed",
                   {{log::trace_id_key, trace::trace_id_string(tc)},
                    {"partition", std::to_string(partition)},
                    {"offset", std::to_string(offset)},
                    {"relay_seq", std::to_string(ev.relay_seq)}});
      if (ev.relay_seq > b.top_seq) {
        b.top_seq = ev.relay_seq;
        b.top_ident = 0;
        return true;
      }
      return false;
    }
    log::warn("consumer", "skipping undecodable record",
              {{log::trace_id_key, trace::trace_id_string(tc)},
               {"partition", std::to_string(partition)},
               {"offset", std::to_string(offset)}});
    return false;
  }

  // True when some partition has records at the broker not consumed yet
  // (then `wait` looks again soon); wakes one stalled fetcher per call.
  bool wake_stalled_fetchers() {
    auto now = steady::now();
    bool lagging = false, woken = false;
    for (auto [p, position] : positions) {
      int64_t low = 0, high = -1;
      if (consumer->get_watermark_offsets(cfg.topic, p, &low, &high) != RdKafka::ERR_NO_ERROR
          || high <= position)
        continue; // caught up (or unknown): nothing to wake for
      lagging = true;
      auto& seen = last_data[p]; // epoch (long ago) for a new partition
      if (woken || now - seen < cfg.stall_after)
        continue;
      seen = now; // at most one wake-up per partition every stall_after
      waker->wake(p);
      woken = true; // one request wakes a whole broker thread: one per pass
    }
    return lagging;
  }
};

kafka_source::kafka_source(const consumer_settings& cfg, rebalance_hooks hooks)
  : d_(std::make_unique<impl>()) {
  d_->cfg = cfg;
  d_->hooks = std::move(hooks);
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
  // Bounded prefetch, per partition (each has its own queue): librdkafka's
  // defaults (100,000 records, 64 MiB) dwarf everything else in the
  // process. librdkafka keeps a few hundred bytes per queued record besides
  // the payload, so for small events the record count is the bound that
  // matters.
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
  conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(d_.get()), err);
  conf->set("event_cb", static_cast<RdKafka::EventCb*>(d_.get()), err);
  d_->consumer.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!d_->consumer)
    throw std::runtime_error("cannot create the Kafka consumer: " + err);
  d_->events.reset(rd_kafka_queue_get_consumer(d_->consumer->c_ptr()));
  rd_kafka_queue_io_event_enable(d_->events.get(), d_->wakeup->write_end(), "c", 1);
  d_->waker = std::make_unique<fetch_waker>(*d_->consumer, cfg.topic);
  d_->consumer->subscribe({cfg.topic});
  log::info("consumer", "subscribed", {{"topic", cfg.topic}, {"group", cfg.group}});
}

kafka_source::~kafka_source() {
  close();
}

void kafka_source::close() {
  if (d_->closed)
    return;
  d_->closed = true;
  d_->waker.reset();
  d_->consumer->close(); // revokes (and so flushes) the assigned partitions
  // librdkafka must not write to the pipe once it is closed.
  rd_kafka_queue_io_event_enable(d_->events.get(), -1, nullptr, 0);
  d_->drop_queues();
  log::info("consumer", "closed");
}

size_t kafka_source::take(std::map<int32_t, record_batch>& out) {
  auto& d = *d_;
  size_t n = 0;
  // Every partition gets its share of a batch, so none of them fills up
  // while others are drained (librdkafka stops fetching a full partition,
  // and a broker with only full partitions idles for up to a second).
  auto share = std::max<size_t>(64, d.cfg.batch / std::max<size_t>(1, d.queues.size()));
  for (auto& [p, q] : d.queues) {
    for (size_t taken = 0; taken < share;) {
      auto got = rd_kafka_consume_batch_queue(q, 0, d.polled.data(),
                                              std::min(d.polled.size(), share - taken));
      if (got <= 0)
        break;
      taken += static_cast<size_t>(got);
      d.last_data[p] = steady::now();
      rd_kafka_message_t* top = nullptr; // the highest sequence so far
      for (ssize_t i = 0; i < got; ++i) {
        auto* m = d.polled[static_cast<size_t>(i)];
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
          if (d.record(out, m))
            top = m;
          ++n;
        } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          log::warn("consumer", "consume error",
                    {{"partition", std::to_string(p)}, {"error", rd_kafka_message_errstr(m)}});
        }
      }
      if (top && top->key)
        out[top->partition].top_ident = cache::schema::ident_of(
          std::string_view{static_cast<const char*>(top->key), top->key_len});
      for (ssize_t i = 0; i < got; ++i)
        rd_kafka_message_destroy(d.polled[static_cast<size_t>(i)]);
    }
  }
  // The consumer queue: rebalance callbacks and errors (records come
  // there only for a partition whose own queue does not exist yet).
  std::unique_ptr<RdKafka::Message> msg{d.consumer->consume(0)};
  if (msg->err() == RdKafka::ERR_NO_ERROR) {
    if (d.record(out, msg->c_ptr()) && msg->key_pointer())
      out[msg->partition()].top_ident = cache::schema::ident_of(
        std::string_view{static_cast<const char*>(msg->key_pointer()), msg->key_len()});
    ++n;
  } else if (msg->err() != RdKafka::ERR__TIMED_OUT && msg->err() != RdKafka::ERR__PARTITION_EOF) {
    log::warn("consumer", "consume error", {{"error", msg->errstr()}});
  }
  for (auto& [p, b] : out)
    if (d.positions.count(p))
      d.positions[p] = b.next_offset;
  return n;
}

void kafka_source::wait(std::chrono::milliseconds idle) {
  auto& d = *d_;
  bool lagging = !d.paused && d.wake_stalled_fetchers();
  auto stall = std::chrono::duration_cast<std::chrono::milliseconds>(d.cfg.stall_after);
  d.wakeup->wait(lagging ? std::max(stall, std::chrono::milliseconds(1)) : idle);
}

int32_t kafka_source::set_paused(bool paused) {
  auto& d = *d_;
  d.paused = paused;
  std::vector<RdKafka::TopicPartition*> parts;
  d.consumer->assignment(parts);
  if (!parts.empty()) {
    auto err = paused ? d.consumer->pause(parts) : d.consumer->resume(parts);
    if (err != RdKafka::ERR_NO_ERROR)
      log::warn("consumer", paused ? "cannot pause" : "cannot resume",
                {{"error", RdKafka::err2str(err)}});
  }
  auto n = static_cast<int32_t>(parts.size());
  RdKafka::TopicPartition::destroy(parts);
  log::info("consumer", paused ? "consumption paused" : "consumption resumed",
            {{"partitions", std::to_string(n)}});
  return n;
}

bool kafka_source::paused() const {
  return d_->paused;
}

const std::map<int32_t, int64_t>& kafka_source::positions() const {
  return d_->positions;
}

std::optional<int64_t> kafka_source::end_offset(int32_t partition, bool ask_broker,
                                                std::chrono::milliseconds timeout) {
  auto& d = *d_;
  int64_t low = 0, high = -1;
  auto err = ask_broker ? d.consumer->query_watermark_offsets(d.cfg.topic, partition, &low, &high,
                                                              static_cast<int>(timeout.count()))
                        : d.consumer->get_watermark_offsets(d.cfg.topic, partition, &low, &high);
  if (err != RdKafka::ERR_NO_ERROR || high < 0)
    return std::nullopt;
  return high;
}

std::vector<std::pair<int32_t, int64_t>> kafka_source::end_offsets(
  std::chrono::milliseconds timeout) {
  auto& d = *d_;
  std::vector<std::pair<int32_t, int64_t>> out;
  auto ms = static_cast<int>(timeout.count());
  std::string err;
  std::unique_ptr<RdKafka::Topic> topic{
    RdKafka::Topic::create(d.consumer.get(), d.cfg.topic, nullptr, err)};
  RdKafka::Metadata* raw = nullptr;
  if (!topic || d.consumer->metadata(false, topic.get(), &raw, ms) != RdKafka::ERR_NO_ERROR)
    return out;
  std::unique_ptr<RdKafka::Metadata> md{raw};
  for (auto* t : *md->topics()) {
    if (t->topic() != d.cfg.topic || t->err() != RdKafka::ERR_NO_ERROR)
      continue;
    for (auto* pm : *t->partitions()) {
      int64_t low = 0, high = -1;
      if (d.consumer->query_watermark_offsets(d.cfg.topic, pm->id(), &low, &high, ms)
            == RdKafka::ERR_NO_ERROR
          && high >= 0)
        out.emplace_back(pm->id(), high);
    }
  }
  return out;
}

void kafka_source::commit_positions() {
  auto& d = *d_;
  std::vector<RdKafka::TopicPartition*> parts;
  d.consumer->assignment(parts);
  d.consumer->position(parts);
  d.consumer->commitAsync(parts);
  RdKafka::TopicPartition::destroy(parts);
}

} // namespace ping::windowing
