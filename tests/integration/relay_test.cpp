// The outbox relay's fast path on real services (docs/outbox-relay.md, "The
// fast path"): a real PostgreSQL database and dev broker, the persistence
// writers and the publisher in this process, wired as ping-gateway wires
// them (the writers hand each commit's pings to the publisher).
#define BOOST_TEST_MODULE relay
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <set>

#include <caf/all.hpp>
#include <librdkafka/rdkafkacpp.h>
#include <pqxx/pqxx>

#include "actors/common/ids.hpp"
#include "actors/persistence/migrations.hpp"
#include "actors/persistence/persistence.hpp"
#include "actors/persistence/sql.hpp"
#include "actors/publisher/publisher.hpp"
#include "actors/publisher/relay.hpp"
#include "tests/support/harness.hpp"

using namespace ping;
using namespace ping::test;

namespace {

// One Kafka record as the relay produced it.
struct record {
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key, value, traceparent;
};

// Every record of `topic` (3 partitions) from the beginning, until `n` were
// read or `timeout` passed, in (partition, offset) order.
std::vector<record> records_of(const std::string& bootstrap, const std::string& topic, size_t n,
                               clock::duration timeout) {
  std::vector<record> out;
  consume_records(
    bootstrap, topic,
    [&](RdKafka::Message& msg) {
      record r;
      r.partition = msg.partition();
      r.offset = msg.offset();
      if (msg.key())
        r.key = *msg.key();
      r.value.assign(static_cast<const char*>(msg.payload()), msg.len());
      if (auto* h = msg.headers()) {
        auto found = h->get_last("traceparent");
        if (found.err() == RdKafka::ERR_NO_ERROR && found.value() != nullptr)
          r.traceparent.assign(static_cast<const char*>(found.value()), found.value_size());
      }
      out.push_back(std::move(r));
      return out.size() >= n;
    },
    timeout);
  std::sort(out.begin(), out.end(), [](const record& a, const record& b) {
    return a.partition != b.partition ? a.partition < b.partition : a.offset < b.offset;
  });
  return out;
}

uint64_t counter(const telemetry::registry& reg, const std::string& name, const char* source) {
  return reg.counter_at(name, {{"source", source}}).load();
}

publisher::settings relay_settings(const std::string& dsn, const std::string& bootstrap,
                                   const std::string& topic, caf::timespan interval) {
  publisher::settings s;
  s.dsn = dsn;
  s.bootstrap = bootstrap;
  s.topic = topic;
  s.partitions = 3;
  s.interval = interval;
  s.ack_wait = std::chrono::milliseconds(200);
  s.backoff_max = std::chrono::milliseconds(500);
  return s;
}

// A ping as the gateway makes it: every third carries a client's trace id,
// and every fifth an idempotency key.
ping_row make_row(int i, std::mt19937_64& rng) {
  auto id = make_uuid_v7(now_ms());
  ping_row r{id, 1'728'926'331'000 + i, now_ms(), partition_of(id, 3)};
  if (i % 3 == 0) {
    r.trace_hi = rng() | 1;
    r.trace_lo = rng();
  }
  if (i % 5 == 0) {
    r.key = "key-" + id;
    r.key_ttl_ms = 3'600'000;
  }
  return r;
}

// The writers and the relay of one gateway, in this process. `sink`: where
// the writers hand their commits (the publisher itself, or a stand-in that
// loses some).
struct node {
  telemetry::registry reg; // outlives the actor system: its actors use it to the end
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  publisher::publisher_actor relay;
  persistence::persistence_actor store;

  node(const std::string& dsn, const publisher::settings& rs,
       const std::function<persistence::outbox_sink(caf::actor_system&,
                                                    publisher::publisher_actor)>& sink) {
    relay = publisher::spawn_publisher(sys, rs, reg);
    persistence::settings ps;
    ps.dsn = dsn;
    ps.partitions = 3;
    ps.outbox = sink ? sink(sys, relay) : publisher::outbox_of(relay);
    store = persistence::spawn_persistence(sys, ps, reg);
  }

  ~node() {
    caf::anon_send_exit(store, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(relay, caf::exit_reason::user_shutdown);
  }

  // Until Kafka acknowledged every stored ping and the relay recorded it
  // in the cursor: the relay records acknowledgements at its next pass, so
  // this nudges it meanwhile, as a gateway under traffic does (its timer
  // would, after `interval`).
  bool relayed(const std::string& dsn, clock::duration timeout) {
    return wait_until(
      [&] {
        caf::anon_send(relay, publish_atom::value);
        return query_int(dsn, outbox_backlog) == 0;
      },
      timeout);
  }

  // Stores the rows at once (they share commits), waits for every answer,
  // then nudges the relay as the gateway does after the acks. Returns the
  // rows acknowledged.
  int store_all(const std::vector<ping_row>& rows) {
    caf::scoped_actor self{sys};
    for (const auto& r : rows)
      self->send(store, store_atom::value, r);
    int ok = 0;
    for (size_t i = 0; i < rows.size(); ++i)
      self->receive([&](int64_t) { ok++; },
                    [&](caf::error& err) { BOOST_TEST_MESSAGE(to_string(err)); },
                    caf::after(std::chrono::seconds(10)) >> [] {});
    self->send(relay, publish_atom::value);
    return ok;
  }
};

int64_t stored_pings(const std::string& dsn) {
  return query_int(dsn, "SELECT count(*) FROM pings");
}

// The relay's PostgreSQL session is gone once its advisory locks are.
bool relay_locks_released(const std::string& dsn) {
  return query_int(dsn, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                        "(SELECT oid FROM pg_database WHERE datname = current_database())")
         == 0;
}

struct fixture {
  temp_dir dir;
  std::string dsn = fresh_database("relay");
  test::devbroker broker{dir.path};
  std::mt19937_64 rng{20261206};
  fixture() { persistence::migrate(dsn); }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(relay, fixture)

// (a) and (c): with every hand-off delivered, the relay reads PostgreSQL once
// (the pass that takes the partitions) and relays every later ping from
// memory; relaying the same rows again from PostgreSQL gives the same
// records, byte for byte: partition, offset, key, value and the
// traceparent's version, trace id and flags (its span id is the relay's
// own, random on either path).
BOOST_AUTO_TEST_CASE(events_from_memory_equal_events_from_postgres) {
  int64_t stored = 0;
  {
    node a{dsn, relay_settings(dsn, broker.bootstrap(), "ping-events", std::chrono::hours(1)), {}};
    // The first pass takes the partitions and reads them (empty).
    BOOST_REQUIRE(
      wait_until([&] { return counter(a.reg, "relay_reads_total", "postgres") >= 3; }, 20s));
    int i = 0;
    for (int round = 0; round < 5; ++round) {
      std::vector<ping_row> rows;
      for (int k = 0; k < 40; ++k)
        rows.push_back(make_row(i++, rng));
      if (round == 3) { // a retry of a keyed ping: stored once, not relayed twice
        auto again = rows.front();
        again.id = make_uuid_v7(now_ms());
        again.partition = partition_of(again.id, 3);
        rows.push_back(again);
      }
      BOOST_REQUIRE_EQUAL(a.store_all(rows), static_cast<int>(rows.size()));
    }
    stored = stored_pings(dsn);
    BOOST_TEST(stored == 200);
    BOOST_REQUIRE(a.relayed(dsn, 30s));
    BOOST_TEST(counter(a.reg, "relay_read_events_total", "memory")
               == static_cast<uint64_t>(stored));
    BOOST_TEST(counter(a.reg, "relay_read_events_total", "postgres") == 0u);
    BOOST_TEST(counter(a.reg, "relay_reads_total", "postgres") == 3u); // the first pass only
    BOOST_TEST(counter(a.reg, "relay_reads_total", "memory") >= 5u);
  }
  // The same rows again, from PostgreSQL: a relay without hand-offs, from
  // cursor 0, into a topic of its own.
  BOOST_REQUIRE(wait_until([&] { return relay_locks_released(dsn); }, 20s));
  {
    pqxx::connection c{dsn};
    pqxx::nontransaction txn{c};
    txn.exec("UPDATE outbox_cursor SET acked_seq = 0");
  }
  BOOST_REQUIRE(broker.control("create-topic ping-events-pg 3").rfind("ok", 0) == 0);
  telemetry::registry reg;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto b = publisher::spawn_publisher(
    sys, relay_settings(dsn, broker.bootstrap(), "ping-events-pg", std::chrono::milliseconds(100)),
    reg);
  BOOST_REQUIRE(wait_until([&] { return query_int(dsn, outbox_backlog) == 0; }, 30s));
  BOOST_TEST(counter(reg, "relay_read_events_total", "postgres") == static_cast<uint64_t>(stored));
  caf::anon_send_exit(b, caf::exit_reason::user_shutdown);

  auto from_memory = records_of(broker.bootstrap(), "ping-events", stored, 30s);
  auto from_postgres = records_of(broker.bootstrap(), "ping-events-pg", stored, 30s);
  BOOST_REQUIRE_EQUAL(from_memory.size(), static_cast<size_t>(stored));
  BOOST_REQUIRE_EQUAL(from_postgres.size(), static_cast<size_t>(stored));
  int traced = 0;
  for (size_t i = 0; i < from_memory.size(); ++i) {
    auto& m = from_memory[i];
    auto& p = from_postgres[i];
    BOOST_TEST_CONTEXT("record " << i << " key " << p.key) {
      BOOST_TEST(m.partition == p.partition);
      BOOST_TEST(m.offset == p.offset);
      BOOST_TEST(m.key == p.key);
      BOOST_TEST((m.value == p.value)); // the serialized PingEvent, byte for byte
      BOOST_REQUIRE_EQUAL(m.traceparent.size(), 55u);
      BOOST_REQUIRE_EQUAL(p.traceparent.size(), 55u);
      // 00-<trace id>-<span id>-<flags>: all but the span id.
      BOOST_TEST(m.traceparent.substr(0, 36) == p.traceparent.substr(0, 36));
      BOOST_TEST(m.traceparent.substr(52) == p.traceparent.substr(52));
      std::string id_hex = p.key;
      id_hex.erase(std::remove(id_hex.begin(), id_hex.end(), '-'), id_hex.end());
      traced += p.traceparent.substr(3, 32) != id_hex;
    }
  }
  BOOST_TEST(traced > 0); // some carried a client's trace id, not their own id
}

// Forwards the writers' hand-offs to the publisher, except those whose
// number (from 1) is in `drop`: a hand-off lost on its way.
std::function<persistence::outbox_sink(caf::actor_system&, publisher::publisher_actor)> losing(
  std::set<int> drop) {
  return [drop](caf::actor_system& sys, publisher::publisher_actor relay) {
    return sys.spawn(
      [drop,
       relay](persistence::outbox_sink::pointer self) -> persistence::outbox_sink::behavior_type {
        auto to = publisher::outbox_of(relay);
        auto n = std::make_shared<int>(0);
        return {[=](committed_atom, std::vector<persistence::committed_ping>& pings) {
          if (drop.count(++*n) == 0)
            self->send(to, committed_atom::value, std::move(pings));
        }};
      });
  };
}

// Stores `n` pings one at a time (a commit and a hand-off each), the k-th
// (from 0) in partition k % 3.
void store_one_by_one(node& a, int n, std::mt19937_64& rng) {
  for (int k = 0; k < n; ++k) {
    auto r = make_row(k, rng);
    while (r.partition != k % 3) {
      r.id = make_uuid_v7(now_ms());
      r.partition = partition_of(r.id, 3);
    }
    if (!r.key.empty())
      r.key = "key-" + r.id;
    BOOST_REQUIRE_EQUAL(a.store_all({r}), 1);
  }
}

// What reached Kafka, as the consumer applies it: every stored ping once,
// each partition's sequences 1..head in order, nothing repeated.
void every_ping_once_in_order(const std::string& dsn, const std::string& bootstrap) {
  auto stored = stored_pings(dsn);
  auto records = records_of(bootstrap, "ping-events", static_cast<size_t>(stored), 30s);
  BOOST_TEST(records.size() == static_cast<size_t>(stored));
  std::set<std::string> ids;
  std::map<int32_t, int64_t> watermark;
  int out_of_turn = 0;
  for (auto& r : records) {
    v1::PingEvent ev;
    BOOST_REQUIRE(ev.ParseFromString(r.value));
    auto& w = watermark[ev.partition()];
    if (ev.relay_seq() != w + 1) // the consumer counts only the next sequence
      out_of_turn++;
    else
      w = ev.relay_seq();
    ids.insert(ev.id());
  }
  BOOST_TEST(out_of_turn == 0);
  BOOST_TEST(ids.size() == static_cast<size_t>(stored));
  for (auto& [p, w] : watermark)
    BOOST_TEST(w
               == query_int(dsn, "SELECT next_seq - 1 FROM outbox_head WHERE kafka_partition = "
                                   + std::to_string(p)));
}

// (b): a hand-off that never reaches the relay leaves a gap in memory when
// the next one of its partition arrives: the relay reads PostgreSQL from
// its position (no periodic read here: the interval is an hour), and every
// stored ping reaches Kafka once, in position order.
BOOST_AUTO_TEST_CASE(a_gap_in_memory_is_read_from_postgres) {
  node a{dsn, relay_settings(dsn, broker.bootstrap(), "ping-events", std::chrono::hours(1)),
         losing({2})};
  BOOST_REQUIRE(
    wait_until([&] { return counter(a.reg, "relay_reads_total", "postgres") >= 3; }, 20s));
  store_one_by_one(a, 30, rng);
  BOOST_TEST(stored_pings(dsn) == 30);
  BOOST_REQUIRE(a.relayed(dsn, 30s));
  every_ping_once_in_order(dsn, broker.bootstrap());
  BOOST_TEST(counter(a.reg, "relay_reads_total", "postgres") > 3u); // the gap's read
  BOOST_TEST(counter(a.reg, "relay_read_events_total", "postgres") >= 1u);
  BOOST_TEST(counter(a.reg, "relay_read_events_total", "memory") >= 20u);
}

// A lost last hand-off shows no gap (nothing follows it): the read of
// every held partition every `interval` finds it.
BOOST_AUTO_TEST_CASE(a_lost_last_hand_off_is_found_by_the_periodic_read) {
  node a{dsn, relay_settings(dsn, broker.bootstrap(), "ping-events", std::chrono::seconds(1)),
         losing({6})};
  BOOST_REQUIRE(
    wait_until([&] { return counter(a.reg, "relay_reads_total", "postgres") >= 3; }, 20s));
  store_one_by_one(a, 6, rng);
  BOOST_REQUIRE(a.relayed(dsn, 30s));
  every_ping_once_in_order(dsn, broker.bootstrap());
}

// A pass that sent events lasts at least `min_pass`, so the commits made
// meanwhile go to Kafka together in the next; a pass with nothing to send
// does not wait for it.
BOOST_AUTO_TEST_CASE(a_pass_that_sent_lasts_at_least_min_pass) {
  auto s = relay_settings(dsn, broker.bootstrap(), "ping-events", std::chrono::hours(1));
  s.min_pass = 3s;
  s.ack_wait = 10s;
  telemetry::registry reg;
  publisher::relay r{s, reg};
  using steady = std::chrono::steady_clock;
  publisher::relay_feed from_postgres;
  from_postgres.lost = true; // no hand-offs here: the pass reads the pings from PostgreSQL
  auto timed = [&r, &from_postgres] {
    auto started = steady::now();
    auto rep = r.pass(from_postgres);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started);
    return std::pair{rep, ms.count()};
  };
  BOOST_TEST(timed().first.sent == 0); // takes the partitions; nothing to send, no wait
  pqxx::connection c{dsn};
  persistence::sql::prepare_writer_statements(c, 3);
  std::vector<ping_row> rows;
  for (int i = 0; i < 5; ++i) {
    rows.push_back(make_row(i, rng));
    rows.back().partition = 0; // a writer's batch: one partition
    rows.back().key.clear();
  }
  persistence::sql::store_batch(c, rows);
  auto [sent, took] = timed();
  BOOST_TEST(sent.sent == 5);
  BOOST_TEST(sent.in_flight == 0); // acknowledged within the pass
  BOOST_TEST(took >= 3000);
  auto [idle, idle_took] = timed();
  BOOST_TEST(idle.sent == 0);
  BOOST_TEST(idle_took < 3000);
  BOOST_TEST(query_int(dsn, outbox_backlog) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
