#include "actors/publisher/relay.hpp"
#include "actors/publisher/metrics.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <stdexcept>

#include <librdkafka/rdkafkacpp.h>
#include <pqxx/pqxx>

#include "actors/common/dsn.hpp"
#include "actors/common/log.hpp"
#include "actors/common/socket_handle.hpp"
#include "actors/common/trace.hpp"
#include "actors/persistence/sql.hpp"
#include "ping/v1/event.pb.h"

namespace ping::publisher {

namespace {

// librdkafka's poll timeout for a wait: whole milliseconds, at least 1.
int poll_ms(std::chrono::steady_clock::duration d) {
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(d).count();
  return static_cast<int>(std::clamp<int64_t>(ms, 1, 1000));
}

struct message_info {
  std::string id;
  int32_t partition;
  int64_t seq;
  std::chrono::steady_clock::time_point sent;
  trace::context trace; // as sent in the traceparent header
};

// The trace an event carries in its `traceparent` header: the client's
// trace id stored with the row, else the ping's id (the trace started at
// the gateway with that id), with a span id of the relay's own.
trace::context event_trace(uint64_t hi, uint64_t lo) {
  trace::context c;
  c.trace_hi = hi;
  c.trace_lo = lo;
  if (!c.valid())
    c = trace::start(nullptr, 0); // a zero id: cannot happen (UUIDv7 ids)
  c.flags = trace::sampled;
  c.span = trace::random_id();
  c.started = false;
  return c;
}

// The same from the row's text (PostgreSQL's uuid text, 32 hex digits).
trace::context event_trace(const std::string& id, const std::string* trace_id) {
  std::string hex;
  hex.reserve(32);
  for (char ch : trace_id ? *trace_id : id)
    if (ch != '-')
      hex.push_back(ch);
  uint64_t hi = 0;
  uint64_t lo = 0;
  if (!trace::parse_trace_id(hex, hi, lo))
    hi = lo = 0; // not a UUID: cannot happen (uuid columns)
  return event_trace(hi, lo);
}

// One event to produce, from either source.
struct outgoing {
  int32_t part = 0;
  std::string id;
  int64_t pinged_ms = 0, received_ms = 0, seq = 0;
  trace::context trace;
};

// A handed-over ping as the event PostgreSQL's row would give: the id in
// canonical text, as `id::text` prints it; the trace from the client's id,
// else the ping's (pings.trace_id NULL).
outgoing from_memory(const persistence::committed_ping& c) {
  trace::context id;
  id.trace_hi = c.id_hi;
  id.trace_lo = c.id_lo;
  auto traced = (c.trace_hi | c.trace_lo) != 0;
  return {
    c.partition, trace::uuid_text(id),
    c.pinged_ms, c.received_ms,
    c.seq,       traced ? event_trace(c.trace_hi, c.trace_lo) : event_trace(c.id_hi, c.id_lo)};
}

} // namespace

struct relay::impl : RdKafka::DeliveryReportCb, RdKafka::EventCb {
  settings cfg;
  telemetry::registry& reg;
  telemetry::histogram& produce_latency;
  std::atomic<uint64_t>& sent_total;
  std::atomic<uint64_t>& acked_total;
  std::atomic<uint64_t>& reads_memory;
  std::atomic<uint64_t>& reads_postgres;
  std::atomic<uint64_t>& read_events_memory;
  std::atomic<uint64_t>& read_events_postgres;
  std::unique_ptr<pqxx::connection> conn;
  std::vector<bool> held;
  std::unique_ptr<RdKafka::Producer> producer;
  std::vector<int64_t> sent_upto; // highest position handed to this producer
  std::vector<int64_t> in_flight; // per partition
  std::vector<int64_t> acked;     // highest acknowledged position (in order)
  std::vector<int64_t> stored;    // ... as stored in outbox_cursor
  // The fast path (docs/outbox-relay.md): per partition, the pings this
  // gateway's writers committed and handed over, in position order, at
  // most `batch` (beyond, the newest are dropped and PostgreSQL has them).
  std::vector<std::deque<persistence::committed_ping>> memory;
  // Per partition: PostgreSQL holds nothing above sent_upto that the
  // hand-offs will not bring. True after a read of the partition returned
  // less than a full batch; false after a gap, a dropped hand-off, a reset
  // of sent_upto, or when the partition was just taken.
  std::vector<bool> caught_up;
  // Per partition: its last read from PostgreSQL. Read again every
  // `interval` whatever memory says (pings another gateway's writer stored,
  // a hand-off lost without a trace).
  std::vector<std::chrono::steady_clock::time_point> read_at;
  ping::v1::PingEvent event; // reused by produce()
  std::string value;
  bool failed = false;
  socket_handle_ptr socket; // shared with the facade (replace: interrupt)
  using steady = std::chrono::steady_clock;
  steady::time_point progress = steady::now(); // last ack, or nothing in flight
  steady::time_point standoff_until{};         // no locks taken before this
  steady::time_point writable_checked{};

  impl(settings c, telemetry::registry& r, socket_handle_ptr s)
    : cfg(std::move(c)),
      reg(r),
      produce_latency(metrics::registered_in(r).produce_seconds),
      sent_total(metrics::registered_in(r).events_sent),
      acked_total(metrics::registered_in(r).events_acked),
      reads_memory(metrics::registered_in(r).reads_memory),
      reads_postgres(metrics::registered_in(r).reads_postgres),
      read_events_memory(metrics::registered_in(r).read_events_memory),
      read_events_postgres(metrics::registered_in(r).read_events_postgres),
      held(static_cast<size_t>(cfg.partitions), false),
      sent_upto(static_cast<size_t>(cfg.partitions), 0),
      in_flight(static_cast<size_t>(cfg.partitions), 0),
      acked(static_cast<size_t>(cfg.partitions), 0),
      stored(static_cast<size_t>(cfg.partitions), 0),
      memory(static_cast<size_t>(cfg.partitions)),
      caught_up(static_cast<size_t>(cfg.partitions), false),
      read_at(static_cast<size_t>(cfg.partitions)),
      socket(std::move(s)) {}

  ~impl() override {
    close_db();
    if (producer) {
      producer->flush(1000);
      producer->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
      producer->poll(0);
    }
  }

  // -- librdkafka callbacks (run inside poll/flush on this thread) ----------

  void dr_cb(RdKafka::Message& msg) override {
    std::unique_ptr<message_info> info{static_cast<message_info*>(msg.msg_opaque())};
    if (!info)
      return;
    in_flight[static_cast<size_t>(info->partition)]--;
    if (msg.err() == RdKafka::ERR_NO_ERROR) {
      std::chrono::duration<double> took = std::chrono::steady_clock::now() - info->sent;
      produce_latency.observe(took.count());
      // One producer delivers a partition's messages in order, so the
      // latest acknowledgement covers every position below it.
      auto& a = acked[static_cast<size_t>(info->partition)];
      a = std::max(a, info->seq);
      progress = std::chrono::steady_clock::now();
    } else {
      // With an infinite message timeout and the gapless guarantee, a failed
      // delivery means this producer is done: recreate it and re-send from
      // the outbox, in sequence order.
      failed = true;
      log::warn("relay", "delivery failed",
                {{log::trace_id_key, trace::trace_id_string(info->trace)},
                 {"partition", std::to_string(info->partition)},
                 {"relay_seq", std::to_string(info->seq)},
                 {"error", RdKafka::err2str(msg.err())}});
    }
  }

  void event_cb(RdKafka::Event& ev) override {
    switch (ev.type()) {
      case RdKafka::Event::EVENT_ERROR:
        if (ev.fatal())
          failed = true;
        log::warn("relay", "kafka error",
                  {{"error", RdKafka::err2str(ev.err())}, {"detail", ev.str()}});
        break;
      case RdKafka::Event::EVENT_LOG:
        if (ev.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING)
          log::warn("relay", "kafka log", {{"facility", ev.fac()}, {"detail", ev.str()}});
        break;
      default:
        break;
    }
  }

  // -- helpers ----------------------------------------------------------------

  void make_producer() {
    std::string err;
    std::unique_ptr<RdKafka::Conf> conf{RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL)};
    auto set = [&](const std::string& k, const std::string& v) {
      if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK)
        throw std::runtime_error("kafka config " + k + ": " + err);
    };
    set("bootstrap.servers", cfg.bootstrap);
    set("client.id", "ping-gateway-relay");
    set("enable.idempotence", "true");
    set("acks", "all");
    set("message.timeout.ms", "0"); // never give up on a message: no gaps
    set("enable.gapless.guarantee", "true");
    set("linger.ms", std::to_string(cfg.linger_ms));
    set("compression.type", cfg.compression);
    set("queue.buffering.max.messages", "200000");
    if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(this), err)
          != RdKafka::Conf::CONF_OK
        || conf->set("event_cb", static_cast<RdKafka::EventCb*>(this), err)
             != RdKafka::Conf::CONF_OK)
      throw std::runtime_error("kafka callbacks: " + err);
    producer.reset(RdKafka::Producer::create(conf.get(), err));
    if (!producer)
      throw std::runtime_error("kafka producer: " + err);
    sent_upto = acked; // a new producer re-sends everything not acknowledged
    forget_positions();
    failed = false;
  }

  // sent_upto went back (to what Kafka acknowledged): what lies between is
  // in PostgreSQL only.
  void forget_positions() { std::fill(caught_up.begin(), caught_up.end(), false); }

  void drop_producer() {
    if (!producer)
      return;
    producer->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
    producer->poll(0); // delivers purge reports (counted as failures)
    producer.reset();
    std::fill(in_flight.begin(), in_flight.end(), 0);
    sent_upto = acked;
    forget_positions();
    failed = false;
  }

  void close_db() {
    if (socket)
      socket->clear();
    conn.reset();
  }

  pqxx::connection& db() {
    if (!conn) {
      conn = std::make_unique<pqxx::connection>(
        with_timeouts(cfg.dsn, cfg.connect_timeout, cfg.statement_timeout));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
      conn->inhibit_reactivation(true); // one socket per connection object
#pragma GCC diagnostic pop
      if (socket)
        socket->set(conn->sock());
      // The cursor is a hint of what Kafka holds, not a ping: committing it
      // asynchronously spares a WAL flush per pass (docs/outbox-relay.md).
      conn->set_variable("synchronous_commit", "off");
      persistence::sql::prepare_relay_statements(*conn);
      std::fill(held.begin(), held.end(), false);
    }
    return *conn;
  }

  void lost_db() {
    close_db();
    std::fill(held.begin(), held.end(), false);
    // Our advisory locks died with the session: another relay may take the
    // partitions over. Stop sending what has not left this process yet.
    if (producer) {
      producer->purge(RdKafka::Producer::PURGE_QUEUE);
      producer->poll(0);
    }
    sent_upto = acked;
    forget_positions();
  }

  // A session on a server that turned read-only (a standby after a
  // switchover) must not hold the partitions: advisory locks still succeed
  // there, and nothing could be advanced. Checked at most once a second.
  void check_writable() {
    auto now = steady::now();
    if (now - writable_checked < std::chrono::seconds(1))
      return;
    pqxx::nontransaction txn{db()};
    if (!persistence::sql::writable(txn)) {
      lost_db();
      throw std::runtime_error("PostgreSQL session is read-only; reconnecting");
    }
    writable_checked = now;
  }

  // Holding partitions while Kafka takes nothing blocks them for the whole
  // cluster: after `kafka_stall` without an acknowledgement while events
  // wait, the relay lets go of its locks (another gateway's relay may take
  // the partitions over) and stands off as long before taking any again.
  bool stalled() {
    if (total_in_flight() == 0) {
      progress = steady::now();
      return false;
    }
    return steady::now() - progress >= cfg.kafka_stall;
  }

  void release_partitions() {
    bool any = false;
    for (auto h : held)
      any |= h;
    if (!any)
      return;
    log::warn(
      "relay", "Kafka acknowledged nothing in time; releasing the partitions",
      {{"stall_ms",
        std::to_string(
          std::chrono::duration_cast<std::chrono::milliseconds>(cfg.kafka_stall).count())}});
    drop_producer(); // nothing more of ours reaches Kafka after the locks go
    close_db();      // the advisory locks end with the session
    std::fill(held.begin(), held.end(), false);
    forget_positions();
    progress = steady::now();
    standoff_until = progress + cfg.kafka_stall;
  }

  void acquire_locks() {
    if (steady::now() < standoff_until)
      return;
    pqxx::nontransaction txn{db()};
    for (int32_t p = 0; p < cfg.partitions; ++p) {
      if (held[static_cast<size_t>(p)])
        continue;
      if (persistence::sql::try_lock_partition(txn, p)) {
        // Start after what the broker acknowledged for whoever held it last.
        auto idx = static_cast<size_t>(p);
        auto cur = persistence::sql::claim_cursor(txn, p);
        held[idx] = true;
        acked[idx] = stored[idx] = std::max(acked[idx], cur);
        sent_upto[idx] = std::max(sent_upto[idx], acked[idx]);
        caught_up[idx] = false; // another relay may have held it: read it first
        log::info("relay", "holding partition", {{"partition", std::to_string(p)}});
      }
    }
  }

  // Records acknowledged positions in outbox_cursor (one row per
  // partition), every partition that moved in one autocommitted statement.
  // The session commits asynchronously (db()): a cursor lost in a crash
  // only means re-sends, which the consumer skips. The cursor says what
  // Kafka holds and acknowledges nothing, so it is written at most every
  // `cursor_period` (a pass runs after every commit under load), unless
  // `force` (drain); it never runs ahead of Kafka.
  static constexpr auto cursor_period = std::chrono::milliseconds(100);
  steady::time_point cursor_written{};

  int64_t advance_cursors(bool force) {
    auto now = steady::now();
    if (!force && now - cursor_written < cursor_period)
      return 0;
    int64_t n = 0;
    std::vector<int64_t> parts, seqs;
    for (size_t p = 0; p < acked.size(); ++p)
      if (held[p] && acked[p] > stored[p]) {
        parts.push_back(static_cast<int64_t>(p));
        seqs.push_back(acked[p]);
        n += acked[p] - stored[p];
      }
    if (parts.empty())
      return 0;
    pqxx::nontransaction txn{db()};
    persistence::sql::advance_cursors(txn, parts, seqs);
    cursor_written = now;
    for (size_t p = 0; p < acked.size(); ++p)
      if (held[p])
        stored[p] = std::max(stored[p], acked[p]);
    acked_total += static_cast<uint64_t>(n);
    return n;
  }

  // Takes what the writers handed over into the per-partition buffers
  // (bounded by `batch`; beyond, the newest are dropped and the partition
  // is read from PostgreSQL).
  void ingest(const relay_feed& feed) {
    if (feed.lost)
      forget_positions();
    for (const auto& ev : feed.events) {
      if (ev.partition < 0 || ev.partition >= cfg.partitions)
        continue;
      auto idx = static_cast<size_t>(ev.partition);
      auto& q = memory[idx];
      if (!q.empty() && ev.seq <= q.back().seq) {
        // Out of order: cannot happen (one writer per partition, hand-offs
        // in commit order). Trust PostgreSQL instead.
        q.clear();
        caught_up[idx] = false;
      }
      if (q.size() >= cfg.batch) {
        caught_up[idx] = false;
        continue;
      }
      q.push_back(ev);
    }
  }

  // Drops the buffered pings already handed to the producer.
  void drop_sent(size_t p) {
    auto& q = memory[p];
    while (!q.empty() && q.front().seq <= sent_upto[p])
      q.pop_front();
  }

  // Hands one event to the producer.
  void produce(const outgoing& r, bool debug) {
    auto p = r.part;
    auto idx = static_cast<size_t>(p);
    auto& ev = event;
    ev.set_timestamp_ms(r.pinged_ms);
    ev.set_id(r.id);
    ev.set_received_at_ms(r.received_ms);
    ev.set_partition(p);
    ev.set_relay_seq(r.seq);
    ev.SerializeToString(&value);
    auto* info = new message_info{r.id, p, r.seq, std::chrono::steady_clock::now(), r.trace};
    // librdkafka owns the headers once produce() succeeds.
    std::unique_ptr<RdKafka::Headers> headers{RdKafka::Headers::create()};
    auto parent = trace::format(r.trace);
    headers->add("traceparent", parent.data(), parent.size());
    for (;;) {
      auto err = producer->produce(cfg.topic, p, RdKafka::Producer::RK_MSG_COPY, value.data(),
                                   value.size(), r.id.data(), r.id.size(), 0, headers.get(), info);
      if (err == RdKafka::ERR_NO_ERROR) {
        static_cast<void>(headers.release()); // now librdkafka's
        break;
      }
      if (err == RdKafka::ERR__QUEUE_FULL) {
        producer->poll(50);
        continue;
      }
      delete info;
      throw std::runtime_error(std::string{"produce: "} + RdKafka::err2str(err));
    }
    if (debug)
      log::debug("relay", "event produced",
                 {{log::trace_id_key, trace::trace_id_string(r.trace)},
                  {"partition", std::to_string(p)},
                  {"relay_seq", std::to_string(r.seq)}});
    in_flight[idx]++;
    sent_upto[idx] = r.seq;
    sent_total++;
  }

  // Produces the buffered pings of partition `p` that continue its
  // position exactly (sent_upto + 1, gapless), up to `batch` in the pass
  // (`taken` counts them). Returns how many.
  size_t take_memory(size_t p, size_t& taken, bool debug) {
    drop_sent(p);
    auto& q = memory[p];
    size_t n = 0;
    while (!q.empty() && q.front().seq == sent_upto[p] + 1 && taken < cfg.batch) {
      produce(from_memory(q.front()), debug);
      q.pop_front();
      ++n;
      ++taken;
    }
    if (n > 0) {
      reads_memory++;
      read_events_memory += n;
    }
    return n;
  }

  // Sends the next events of every held partition that has room in
  // flight: first from memory where the buffered pings continue its
  // position exactly; then from PostgreSQL (one statement for all of them)
  // where memory cannot be trusted to hold the rest (not caught up, a gap,
  // `full`, or not read for `interval`: that read starts above what memory
  // gave, so it returns only what memory lacks); then from memory again
  // (the buffered pings may continue what the read gave). Sets `more` when
  // a partition has more to send right away.
  void relay_partitions(int64_t& sent, bool& more, bool full) {
    auto now = steady::now();
    auto room = [&](size_t p) {
      return held[p] && in_flight[p] < static_cast<int64_t>(cfg.max_in_flight);
    };
    bool debug = log::enabled(log::level::debug);
    std::vector<size_t> taken(held.size(), 0); // from memory, this pass
    std::vector<int64_t> parts, after;
    for (size_t p = 0; p < held.size(); ++p) {
      if (!room(p))
        continue;
      sent += static_cast<int64_t>(take_memory(p, taken[p], debug));
      if (!memory[p].empty() && memory[p].front().seq != sent_upto[p] + 1)
        caught_up[p] = false; // a gap: another writer's pings, or a hand-off lost
      if (full || !caught_up[p] || now - read_at[p] >= cfg.interval) {
        parts.push_back(static_cast<int64_t>(p));
        after.push_back(sent_upto[p]);
      }
    }
    if (!parts.empty()) {
      std::vector<outgoing> rows;
      {
        pqxx::nontransaction txn{db()}; // one statement: one snapshot
        auto res = persistence::sql::pending(txn, parts, after, static_cast<int64_t>(cfg.batch));
        rows.reserve(res.size());
        for (auto& r : res) {
          auto tc = event_trace(r.id, r.trace_id ? &*r.trace_id : nullptr);
          rows.push_back({r.partition, std::move(r.id), r.pinged_ms, r.received_ms, r.seq, tc});
        }
      }
      std::sort(rows.begin(), rows.end(), [](const outgoing& a, const outgoing& b) {
        return a.part != b.part ? a.part < b.part : a.seq < b.seq;
      });
      std::vector<size_t> per_part(held.size(), 0);
      for (auto& r : rows) {
        ++per_part[static_cast<size_t>(r.part)];
        produce(r, debug);
        ++sent;
      }
      for (auto p : parts) {
        auto idx = static_cast<size_t>(p);
        read_at[idx] = now;
        // Less than a batch: everything committed at the statement's
        // snapshot was read; what commits later is handed over.
        caught_up[idx] = per_part[idx] < cfg.batch;
        more |= per_part[idx] == cfg.batch;
      }
      reads_postgres += parts.size();
      read_events_postgres += rows.size();
    }
    for (size_t p = 0; p < held.size(); ++p) {
      if (!room(p))
        continue;
      sent += static_cast<int64_t>(take_memory(p, taken[p], debug));
      auto& q = memory[p];
      if (!q.empty()) {
        if (q.front().seq != sent_upto[p] + 1)
          caught_up[p] = false; // a gap: the next pass reads PostgreSQL
        more = true;
      }
    }
  }

  relay_report pass(const relay_feed& feed) {
    auto started = std::chrono::steady_clock::now();
    relay_report rep;
    ingest(feed);
    std::string fatal;
    if (producer && (failed || producer->fatal_error(fatal) != RdKafka::ERR_NO_ERROR))
      drop_producer();
    if (!producer)
      make_producer();
    producer->poll(0);
    try {
      check_writable();
      acquire_locks();
      for (size_t p = 0; p < held.size(); ++p)
        if (!held[p])
          memory[p].clear(); // another relay sends these
      rep.acked += advance_cursors(feed.full);
      relay_partitions(rep.sent, rep.more, feed.full);
      // Wait briefly for acknowledgements (and, after sending, for the
      // rest of min_pass), then retire what was acked.
      auto deadline = std::chrono::steady_clock::now() + cfg.ack_wait;
      auto least = rep.sent > 0 && !rep.more ? started + cfg.min_pass : started;
      for (;;) {
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline)
          break;
        if (total_in_flight() > 0)
          producer->poll(5);
        else if (now < least)
          producer->poll(poll_ms(least - now));
        else
          break;
      }
      rep.acked += advance_cursors(feed.full);
      if (stalled())
        release_partitions();
    } catch (const std::exception& e) {
      // The one classification (persistence/sql): a connection that is
      // lost or on the wrong server is dropped; the caller maps the error.
      if (persistence::sql::connection_failure(e))
        lost_db();
      throw;
    }
    rep.in_flight = total_in_flight();
    return rep;
  }

  int64_t total_in_flight() const {
    int64_t n = 0;
    for (auto x : in_flight)
      n += x;
    return n;
  }

  int64_t backlog() {
    pqxx::nontransaction txn{db()}; // one statement: one snapshot
    return persistence::sql::outbox_backlog(txn);
  }
};

relay::relay(settings cfg, telemetry::registry& reg, socket_handle_ptr socket)
  : d_(std::make_unique<impl>(std::move(cfg), reg, std::move(socket))) {}

relay::~relay() = default;

relay_report relay::pass(const relay_feed& feed) {
  return d_->pass(feed);
}

int64_t relay::backlog() {
  return d_->backlog();
}

} // namespace ping::publisher
