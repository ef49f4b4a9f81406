#include "apps/ping-gateway/config.hpp"

#include <algorithm>

namespace ping::apps {

gateway_config::gateway_config()
  : options("ping-gateway", "Ping's ingest service: serves ping.v1.PingService over Connect "
                            "(HTTP/1.1) and gRPC (HTTP/2), stores pings in PostgreSQL and relays "
                            "them to Kafka through a transactional outbox.") {
  postgres.dsn = "host=127.0.0.1 port=5432 dbname=ping user=ping";
  kafka.bootstrap = "127.0.0.1:9092";
  // One cooperative worker: the gateway's pool actors only route messages
  // (every blocking call has its own detached thread), and with more
  // workers each hop between two of them wakes another sleeping thread.
  // One worker served a ping for 49-74 us of CPU against 61-82 us with
  // CAF's default (one per core), at the same offered rate. Still
  // configurable: --scheduler.max-threads.
  set("scheduler.max-threads", size_t{1});
  // Commits twice the size: after a commit the writer waits up to 1 ms for
  // the callers it answered, and a relay pass lasts at least 5 ms so the
  // commits meanwhile reach Kafka together. Against both off, alternated
  // in bench/ingest.sh: PostgreSQL 17.3-20.5 us per Connect Ping against
  // 26.3-27.9, the processor, the broker, the rate and the p99 at the peak
  // unchanged; at half of the peak, where callers come back later than the
  // linger, p99 5.1-7.5 ms against 5.4-6.0 (docs/cost.md, "The commit
  // linger, measured again"). The libraries' defaults stay off.
  postgres.commit_linger = std::chrono::milliseconds(1);
  kafka.min_pass = std::chrono::milliseconds(5);
  using std::string_view;
  add("connect", connect_address, "address", "Connect listen address");
  add("connect", connect_port, "port", "Connect listen port (0 = any free port)");
  add("connect", connect_threads, "threads", "Connect I/O threads");
  add("connect", connect_max_body, "max-body-bytes",
      "request body limit, also gRPC's message limit (resource_exhausted beyond)");
  add("connect", connect_max_header, "max-header-bytes", "request header limit (431 beyond)");
  add("connect", connect_max_connections, "max-connections", "open connections limit");
  add("connect", connect_header_timeout, "header-timeout", "time to receive a request head");
  add("connect", connect_body_timeout, "body-timeout", "time to receive a request body");
  add("connect", connect_body_read_timeout, "body-read-timeout",
      "longest silence while a body arrives (nginx's client_body_timeout)");
  add("connect", connect_min_body_rate, "min-body-rate",
      "bytes/s a body must keep up once body-read-timeout has passed (0 = none)");
  add("connect", connect_idle_timeout, "idle-timeout", "keep-alive idle time");
  add("connect", connect_cors_origins, "cors-origins",
      "browser origins that may call (CORS), comma-separated, e.g. https://app.example.com; * for "
      "any; empty: off");
  add("grpc", grpc_address, "address", "gRPC listen address");
  add("grpc", grpc_port, "port", "gRPC listen port (0 = any free port)");
  add("grpc", grpc_max_streams, "max-concurrent-streams", "HTTP/2 streams per connection");
  add("grpc", grpc_max_metadata, "max-metadata-bytes", "request header size limit");
  add("grpc", grpc_memory_quota, "memory-quota-bytes", "gRPC's buffer memory for all connections");
  add("grpc", grpc_resets_per_second, "resets-per-second",
      "RST_STREAM frames one client address may send per second, sustained (beyond: its connection "
      "is closed)");
  add("grpc", grpc_reset_burst, "reset-burst",
      "RST_STREAM frames one client address may send in a burst");
  add("grpc", grpc_max_connections, "max-connections", "open connections limit");
  add("gateway", request_timeout, "request-timeout", "deadline for calls that carry none");
  add("gateway", gateway.max_in_flight, "max-in-flight",
      "pings waiting for their commit before resource_exhausted");
  add("gateway", gateway.store_timeout, "store-timeout", "deadline for one ping's commit");
  add("gateway", gateway.count_timeout, "count-timeout", "deadline for one count");
  add("gateway", gateway.deadline_granularity, "deadline-granularity",
      "how late a passed deadline may be noticed");
  add("gateway", gateway.nudge_interval, "nudge-interval",
      "least time between two nudges of the outbox relay (0: after every commit)");
  add("gateway", gateway.idempotency_ttl, "idempotency-ttl",
      "how long PostgreSQL remembers a Ping's idempotency key (a retry within it is stored once)");
  add("postgres", postgres.dsn, "dsn", "libpq connection string", true);
  add("postgres", postgres.writers, "writers", "concurrent write transactions (connections)");
  add("postgres", postgres.max_batch, "max-batch", "pings per group commit");
  add("postgres", postgres.commit_linger, "commit-linger",
      "after a commit, wait this long at most for the answered callers' next pings (0: off)");
  add("postgres", postgres.max_pending, "max-pending",
      "pings queued for a commit before resource_exhausted");
  add("postgres", postgres.tail_readers, "tail-readers",
      "connections for the short reads every PingCount needs (tails, heads): at least "
      "counts.max-reads");
  add("postgres", postgres.max_reads_waiting, "max-reads-waiting",
      "reads queued per PostgreSQL reader before resource_exhausted");
  add("postgres", postgres.write_timeout, "write-timeout", "deadline of one group commit");
  add("postgres", postgres.connect_timeout, "connect-timeout", "deadline of a connection attempt");
  add("postgres", postgres.statement_timeout, "statement-timeout", "server-side statement timeout");
  add("postgres", migrate, "migrate", "apply schema migrations at start");
  add("persistence", postgres.retention_days, "retention-days",
      "drop raw pings that arrived more than this many days ago, whole ranges at a time (0 = keep "
      "everything; counts never change)");
  add("persistence", postgres.retention_interval, "retention-interval",
      "period of retention passes");
  add("postgres", migrate_timeout, "migrate-timeout",
      "how long migrations wait for PostgreSQL to be reachable");
  add("global", migrate_only, "migrate-only",
      "apply schema migrations, then exit (Kubernetes Job)");
  add("kafka", kafka.bootstrap, "bootstrap", "Kafka bootstrap servers");
  add_common(kafka.bootstrap);
  add("kafka", kafka.topic, "topic", "topic of ping events");
  add("kafka", partitions, "partitions",
      "partitions of the topic (relay sequences, a ping's partition, cache reads)");
  add("kafka", kafka.compression, "compression", "producer compression codec");
  add("kafka", kafka.linger_ms, "linger-ms", "producer linger");
  add("relay", kafka.connect_timeout, "connect-timeout",
      "deadline of the relay's PostgreSQL connection");
  add("relay", kafka.statement_timeout, "statement-timeout",
      "server-side timeout of the relay's statements");
  add("relay", kafka.batch, "batch", "outbox rows per partition per pass");
  add("relay", kafka.max_in_flight, "max-in-flight", "unacknowledged events per partition");
  add("relay", kafka.interval, "interval", "period of relay passes without nudges");
  add("relay", kafka.ack_wait, "ack-wait", "time a pass waits for acknowledgements");
  add("relay", kafka.min_pass, "min-pass",
      "a pass that sent events lasts at least this long, so the commits meanwhile go to Kafka "
      "together (0: it ends when they are acknowledged)");
  add("relay", kafka.pass_timeout, "pass-timeout",
      "deadline of one relay pass (then the relay is replaced)");
  add("relay", kafka.kafka_stall, "kafka-stall",
      "no Kafka acknowledgement for this long: release the partitions");
  add("cache", cache.address, "address", "Dragonfly/Redis address host:port (PingCount reads)");
  add("cache", cache.password, "password", "Dragonfly/Redis password", true);
  add("cache", cache.timeout, "timeout",
      "deadline of a cache read before PostgreSQL answers instead");
  add("counts", counts.max_waiting, "max-waiting",
      "PingCounts waiting for the next read (beyond: resource_exhausted)");
  add("counts", counts.max_fallbacks, "max-fallbacks",
      "PostgreSQL counts outstanding when the cache cannot answer");
  add("counts", counts.tail_timeout, "tail-timeout", "deadline of the tail query");
  add("counts", counts.max_reads, "max-reads",
      "shared count reads in flight at once (each on its own PostgreSQL tail reader)");
  add("counts", counts.guess_ahead, "guess-ahead",
      "ask a read's statement beside its cache snapshot, with the last snapshot's sequences");
  add("counts", counts.totals_snapshot_age, "totals-snapshot-age",
      "PingCount {}: reuse the last cache snapshot this long, asking PostgreSQL only for the heads "
      "(0: a snapshot per read)");
  add("counts", counts.slow_threshold, "slow-threshold",
      "log each shared count read, and each PingCount, taking longer (read id, trace id; 0 = all)");
  add("counts", counts.round_gap, "round-gap",
      "PingCount {}: a round starts no sooner than this after the last one (0: at once)");
  add("counts", counts.ask_again_after, "ask-again-after",
      "PingCount {}: ask again for a round asked (or in flight) this long (a lost ask heals)");
  add("global", ports_file, "ports-file",
      "write the bound ports here once listening (connect=N, grpc=N)");
  add("global", drain_timeout, "drain-timeout",
      "time SIGTERM allows for draining before exit (front-ends, then the outbox relay)");
  add("global", drain_margin, "drain-margin",
      "front-ends drain this much longer than the longest call deadline (store/count timeout)");

  using namespace std::chrono_literals;
  bound("connect", connect_threads, "threads", 1, 64);
  bound("connect", connect_max_body, "max-body-bytes", 64, 64 << 20);
  bound("connect", connect_max_header, "max-header-bytes", 1 << 10, 1 << 20);
  bound("connect", connect_max_connections, "max-connections", 1, 1 << 20);
  bound("grpc", grpc_max_streams, "max-concurrent-streams", 1, 100000);
  bound("grpc", grpc_max_metadata, "max-metadata-bytes", 1 << 10, 1 << 20);
  bound("grpc", grpc_memory_quota, "memory-quota-bytes", size_t{1} << 20, size_t{1} << 34);
  bound("gateway", request_timeout, "request-timeout", caf::timespan{1ms}, caf::timespan{1h});
  bound("gateway", gateway.max_in_flight, "max-in-flight", 1, 1 << 24);
  bound("postgres", postgres.writers, "writers", 1, 64);
  bound("postgres", postgres.max_batch, "max-batch", 1, 100000);
  bound("postgres", postgres.commit_linger, "commit-linger", caf::timespan{0}, caf::timespan{1s});
  bound("postgres", postgres.max_pending, "max-pending", 1, 1 << 24);
  bound("kafka", partitions, "partitions", 1, 10000);
  bound("global", drain_timeout, "drain-timeout", caf::timespan{0ms}, caf::timespan{10min});
  // Every other number: a zero or negative count would stall or reject
  // everything, a zero timeout fail every call.
  bound("connect", connect_header_timeout, "header-timeout", caf::timespan{1ms}, caf::timespan{1h});
  bound("connect", connect_body_timeout, "body-timeout", caf::timespan{1ms}, caf::timespan{1h});
  bound("connect", connect_body_read_timeout, "body-read-timeout", caf::timespan{1ms},
        caf::timespan{1h});
  bound("connect", connect_min_body_rate, "min-body-rate", 0, 1 << 30);
  bound("connect", connect_idle_timeout, "idle-timeout", caf::timespan{1ms}, caf::timespan{24h});
  bound("grpc", grpc_resets_per_second, "resets-per-second", 1, 1000000);
  bound("grpc", grpc_reset_burst, "reset-burst", 1, 1000000);
  bound("grpc", grpc_max_connections, "max-connections", 1, 1 << 20);
  bound("gateway", gateway.store_timeout, "store-timeout", caf::timespan{1ms}, caf::timespan{1h});
  bound("gateway", gateway.count_timeout, "count-timeout", caf::timespan{1ms}, caf::timespan{1h});
  bound("gateway", gateway.deadline_granularity, "deadline-granularity", caf::timespan{1ms},
        caf::timespan{10s});
  bound("gateway", gateway.nudge_interval, "nudge-interval", caf::timespan{0ms},
        caf::timespan{1min});
  bound("gateway", gateway.idempotency_ttl, "idempotency-ttl", caf::timespan{1s},
        caf::timespan{24h * 366});
  bound("postgres", postgres.max_reads_waiting, "max-reads-waiting", 1, 1 << 20);
  bound("postgres", postgres.tail_readers, "tail-readers", 1, 16);
  bound("postgres", postgres.write_timeout, "write-timeout", caf::timespan{1ms}, caf::timespan{1h});
  bound("postgres", postgres.connect_timeout, "connect-timeout", caf::timespan{1ms},
        caf::timespan{1h});
  bound("postgres", postgres.statement_timeout, "statement-timeout", caf::timespan{1ms},
        caf::timespan{24h});
  bound("postgres", migrate_timeout, "migrate-timeout", caf::timespan{0ms}, caf::timespan{24h});
  bound("persistence", postgres.retention_days, "retention-days", 0, 36600);
  bound("persistence", postgres.retention_interval, "retention-interval", caf::timespan{1s},
        caf::timespan{24h});
  bound("kafka", kafka.linger_ms, "linger-ms", 0, 900000); // librdkafka's linger.ms range
  bound("relay", kafka.connect_timeout, "connect-timeout", caf::timespan{1ms}, caf::timespan{1h});
  bound("relay", kafka.statement_timeout, "statement-timeout", caf::timespan{1ms},
        caf::timespan{24h});
  bound("relay", kafka.batch, "batch", 1, 1000000);
  bound("relay", kafka.max_in_flight, "max-in-flight", 1, 1 << 24);
  bound("relay", kafka.interval, "interval", caf::timespan{1ms}, caf::timespan{1h});
  bound("relay", kafka.ack_wait, "ack-wait", caf::timespan{1ms}, caf::timespan{1h});
  bound("relay", kafka.min_pass, "min-pass", caf::timespan{0ms}, caf::timespan{1s});
  bound("relay", kafka.pass_timeout, "pass-timeout", caf::timespan{1ms}, caf::timespan{1h});
  bound("relay", kafka.kafka_stall, "kafka-stall", caf::timespan{1ms}, caf::timespan{24h});
  bound("cache", cache.timeout, "timeout", caf::timespan{1ms}, caf::timespan{1min});
  bound("counts", counts.max_waiting, "max-waiting", 1, 1 << 24);
  bound("counts", counts.max_fallbacks, "max-fallbacks", 1, 1 << 16);
  bound("counts", counts.tail_timeout, "tail-timeout", caf::timespan{1ms}, caf::timespan{1h});
  bound("counts", counts.max_reads, "max-reads", 1, 16);
  bound("counts", counts.slow_threshold, "slow-threshold", caf::timespan{0ms}, caf::timespan{1h});
  bound("counts", counts.round_gap, "round-gap", caf::timespan{0ms}, caf::timespan{100ms});
  bound("counts", counts.totals_snapshot_age, "totals-snapshot-age", caf::timespan{0ms},
        caf::timespan{1h});
  bound("counts", counts.ask_again_after, "ask-again-after", caf::timespan{1ms}, caf::timespan{1h});
  bound("global", drain_margin, "drain-margin", caf::timespan{0ms}, caf::timespan{1min});
}

gateways::connect_options gateway_config::connect() const {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  gateways::connect_options o;
  o.server.address = connect_address;
  o.server.port = connect_port;
  o.server.threads = static_cast<unsigned>(connect_threads);
  o.server.max_body_bytes = connect_max_body;
  o.server.max_header_bytes = connect_max_header;
  o.server.max_connections = connect_max_connections;
  o.server.header_timeout = duration_cast<milliseconds>(connect_header_timeout);
  o.server.body_timeout = duration_cast<milliseconds>(connect_body_timeout);
  o.server.body_read_timeout = duration_cast<milliseconds>(connect_body_read_timeout);
  o.server.min_body_rate = connect_min_body_rate;
  o.server.idle_timeout = duration_cast<milliseconds>(connect_idle_timeout);
  for (size_t start = 0; start < connect_cors_origins.size();) {
    auto end = connect_cors_origins.find(',', start);
    if (end == std::string::npos)
      end = connect_cors_origins.size();
    auto origin = connect_cors_origins.substr(start, end - start);
    origin.erase(0, origin.find_first_not_of(' '));
    origin.erase(origin.find_last_not_of(' ') + 1);
    if (!origin.empty())
      o.server.cors.allowed_origins.push_back(origin);
    start = end + 1;
  }
  o.default_timeout = request_timeout;
  return o;
}

gateways::grpc_options gateway_config::grpc() const {
  gateways::grpc_options o;
  o.address = grpc_address;
  o.port = grpc_port;
  o.default_timeout = request_timeout;
  o.max_message_bytes = static_cast<int>(connect_max_body);
  o.max_concurrent_streams = grpc_max_streams;
  o.max_metadata_bytes = static_cast<int>(grpc_max_metadata);
  o.memory_quota_bytes = grpc_memory_quota;
  o.resets_per_second = grpc_resets_per_second;
  o.reset_burst = grpc_reset_burst;
  o.max_connections = static_cast<int>(grpc_max_connections);
  return o;
}

persistence::settings gateway_config::persistence_settings() const {
  auto s = postgres;
  s.partitions = partitions;
  return s;
}

publisher::settings gateway_config::publisher_settings() const {
  auto s = kafka;
  s.dsn = postgres.dsn;
  s.partitions = partitions;
  return s;
}

cache::settings gateway_config::cache_settings() const {
  auto s = cache;
  s.partitions = partitions;
  return s;
}

gateway::settings gateway_config::gateway_settings() const {
  auto s = gateway;
  s.partitions = partitions;
  s.slow_count = counts.slow_threshold;
  return s;
}

caf::timespan gateway_config::front_drain() const {
  auto longest = std::max(gateway.store_timeout, gateway.count_timeout) + drain_margin;
  return std::min(longest, drain_timeout);
}

} // namespace ping::apps
