#include "apps/ping-processor/config.hpp"

namespace ping::apps {

processor_config::processor_config()
  : options("ping-processor",
            "Ping's windowing service: consumes ping-events in consumer group "
            "ping-processor and keeps exact total and per-minute counters in the "
            "Dragonfly hash ping:counters, exactly once.") {
  add("kafka", kafka.bootstrap, "bootstrap", "Kafka bootstrap servers");
  add("kafka", bootstrap_file, "bootstrap-file", "read the bootstrap servers from this file (line bootstrap=...)");
  add("kafka", kafka.topic, "topic", "topic of ping events");
  add("kafka", kafka.group, "group", "consumer group");
  add("kafka", kafka.fetch_wait_ms, "fetch-wait-ms", "fetch.wait.max.ms (low for the dev broker)");
  add("kafka", kafka.batch, "batch", "records handed to the window at once");
  add("kafka", kafka.session_timeout_ms, "session-timeout-ms", "consumer group session timeout");
  add("window", window.max_records, "flush-records", "flush after this many records");
  add("window", window.max_delay, "flush-delay", "flush at most this long after the first unflushed record");
  add("window", window.max_unflushed, "max-unflushed", "records held before consumption pauses");
  add("window", window.heartbeat, "heartbeat", "how often idle partitions check the cache is still there");
  add("cache", cache.address, "address", "Dragonfly/Redis address host:port");
  add("cache", cache.password, "password", "Dragonfly/Redis password", true);
  add("cache", cache.timeout, "timeout", "deadline of one cache command");
  add("cache", cache.retention, "retention", "minute buckets older than this are pruned");
  add("postgres", dsn, "dsn", "libpq connection string (recounts after cache loss)", true);
  add("admin", admin.address, "address", "admin endpoint address (/healthz, /readyz, /metrics); non-loopback needs a token");
  add("admin", admin.port, "port", "admin endpoint port (0 = any free port)");
  add("admin", admin.token, "token", "bearer token for the admin endpoint", true);
  add("admin", admin.token_file, "token-file", "file holding the admin bearer token");
  add("global", ports_file, "ports-file", "write the bound admin port here once listening (admin=N)");
  add("global", log_level, "log-level", "debug, info, warn or error");
  add("global", drain_timeout, "drain-timeout", "time SIGTERM allows for the final flush");
}

windowing::rebuild_settings processor_config::rebuild() const {
  windowing::rebuild_settings s;
  s.dsn = dsn;
  s.retention = cache.retention;
  return s;
}

} // namespace ping::apps
