#include "apps/ping-processor/config.hpp"

namespace ping::apps {

processor_config::processor_config()
  : options("ping-processor", "Ping's windowing service: consumes ping-events in consumer group "
                              "ping-processor and keeps exact total and per-minute counters in the "
                              "Dragonfly hash ping:counters, exactly once.") {
  add("kafka", kafka.bootstrap, "bootstrap", "Kafka bootstrap servers");
  add_common(kafka.bootstrap);
  add("kafka", kafka.topic, "topic", "topic of ping events");
  add("kafka", partitions, "partitions",
      "partitions of the topic (for the console's minute counts)");
  add("kafka", kafka.group, "group", "consumer group");
  add("kafka", kafka.fetch_wait_ms, "fetch-wait-ms", "fetch.wait.max.ms (low for the dev broker)");
  add("kafka", kafka.batch, "batch", "records handed to the window at once");
  add("kafka", kafka.session_timeout_ms, "session-timeout-ms", "consumer group session timeout");
  add("kafka", kafka.extra, "properties", "more librdkafka consumer properties, k=v,k=v");
  add("kafka", kafka.prefetch_records, "prefetch-records",
      "records fetched ahead per partition (queued.min.messages)");
  add("kafka", kafka.prefetch_kbytes, "prefetch-kbytes",
      "KiB fetched ahead per partition (queued.max.messages.kbytes)");
  add("kafka", kafka.fetch_partition_kbytes, "fetch-partition-kbytes",
      "most KiB one fetch brings per partition");
  add("kafka", kafka.stall_after, "stall-after",
      "wake a partition's fetcher after this long without records while the broker has more");
  add("window", window.max_records, "flush-records", "flush after this many records");
  add("window", window.max_delay, "flush-delay",
      "flush at most this long after the first unflushed record");
  add("window", window.max_unflushed, "max-unflushed", "records held before consumption pauses");
  add("window", window.heartbeat, "heartbeat",
      "how often idle partitions check the cache is still there");
  add("window", window.verify_interval, "verify-interval",
      "how often the cache's checksum is verified");
  add("window", window.writer_timeout, "writer-timeout",
      "deadline of a cache write (beyond: retried)");
  add("window", window.rebuild_timeout, "rebuild-timeout", "deadline of a PostgreSQL recount");
  add("window", window.revoke_timeout, "revoke-timeout",
      "how long a rebalance waits for the partitions' deltas to reach the cache");
  add("window", window.backoff, "backoff",
      "first retry delay after a failure (doubles up to backoff-max)");
  add("window", window.backoff_max, "backoff-max", "longest retry delay");
  add("cache", cache.address, "address", "Dragonfly/Redis address host:port");
  add("cache", cache.password, "password", "Dragonfly/Redis password", true);
  add("cache", cache.timeout, "timeout", "deadline of one cache command");
  add("cache", cache.retention, "retention", "minute buckets older than this are pruned");
  add("cache", cache.future, "future",
      "no minute buckets further ahead of now (total still counts them)");
  add("postgres", dsn, "dsn", "libpq connection string (resyncs from PostgreSQL)", true);
  add("global", ports_file, "ports-file",
      "write the bound admin port here once listening (admin=N)");
  add("global", drain_timeout, "drain-timeout", "time SIGTERM allows for the final flush");

  using namespace std::chrono_literals;
  bound("kafka", partitions, "partitions", 1, 10000);
  bound("window", window.max_records, "flush-records", 1, 10000000);
  bound("window", window.max_delay, "flush-delay", caf::timespan{1ms}, caf::timespan{1h});
  bound("window", window.max_unflushed, "max-unflushed", 1, 100000000);
  bound("global", drain_timeout, "drain-timeout", caf::timespan{0ms}, caf::timespan{10min});
  // Every other number (librdkafka's own ranges for its properties).
  bound("kafka", kafka.fetch_wait_ms, "fetch-wait-ms", 0, 300000);
  bound("kafka", kafka.batch, "batch", 1, 1000000);
  bound("kafka", kafka.session_timeout_ms, "session-timeout-ms", 1, 3600000);
  bound("kafka", kafka.prefetch_records, "prefetch-records", 1, 10000000);
  bound("kafka", kafka.prefetch_kbytes, "prefetch-kbytes", 1, 2097151);
  bound("kafka", kafka.fetch_partition_kbytes, "fetch-partition-kbytes", 1, 976562);
  bound("kafka", kafka.stall_after, "stall-after", caf::timespan{1ms}, caf::timespan{1h});
  bound("window", window.heartbeat, "heartbeat", caf::timespan{1ms}, caf::timespan{1h});
  bound("window", window.verify_interval, "verify-interval", caf::timespan{1ms},
        caf::timespan{24h});
  bound("window", window.writer_timeout, "writer-timeout", caf::timespan{1ms}, caf::timespan{1h});
  bound("window", window.rebuild_timeout, "rebuild-timeout", caf::timespan{1ms},
        caf::timespan{24h});
  bound("window", window.revoke_timeout, "revoke-timeout", caf::timespan{1ms}, caf::timespan{1h});
  bound("window", window.backoff, "backoff", caf::timespan{1ms}, caf::timespan{1h});
  bound("window", window.backoff_max, "backoff-max", caf::timespan{1ms}, caf::timespan{24h});
  bound("cache", cache.timeout, "timeout", caf::timespan{1ms}, caf::timespan{1min});
  bound("cache", cache.retention, "retention", caf::timespan{1min}, caf::timespan{24h * 3660});
  bound("cache", cache.future, "future", caf::timespan{0min}, caf::timespan{24h * 3660});
}

windowing::rebuild_settings processor_config::rebuild() const {
  windowing::rebuild_settings s;
  s.dsn = dsn;
  s.retention = cache.retention;
  return s;
}

cache::settings processor_config::reader() const {
  cache::settings s;
  s.address = cache.address;
  s.password = cache.password;
  s.partitions = partitions;
  s.max_minutes = std::chrono::duration_cast<std::chrono::minutes>(cache.retention).count();
  s.timeout = std::chrono::milliseconds(200); // the console, not the read path
  return s;
}

} // namespace ping::apps
