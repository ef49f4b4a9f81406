#pragma once
// Every setting of ping-gateway, in one place, with its default.

#include <chrono>
#include <cstdint>
#include <string>

#include "actors/cache/cache_reader.hpp"
#include "actors/counts/count_reader.hpp"
#include "actors/gateway/gateway.hpp"
#include "actors/persistence/persistence.hpp"
#include "actors/publisher/publisher.hpp"
#include "apps/common/options.hpp"
#include "gateways/connect/connect_frontend.hpp"
#include "gateways/grpc/grpc_frontend.hpp"

namespace ping::apps {

struct gateway_config : options {
  // Front-ends.
  std::string connect_address = "127.0.0.1";
  uint16_t connect_port = 8080;
  size_t connect_threads = 1;
  // Ping's request is about 10 bytes, PingCount's about 30: 64 KiB leaves
  // room for any honest JSON and bounds buffered request memory at
  // max_connections x (max_header + max_body) = 1024 x 80 KiB = 80 MiB.
  size_t connect_max_body = 64 << 10;
  size_t connect_max_header = 16 << 10;
  size_t connect_max_connections = 1024;
  caf::timespan connect_header_timeout = std::chrono::seconds(10);
  caf::timespan connect_body_timeout = std::chrono::seconds(30);
  // Slow bodies (issue 19 item 7): each read of a body waits at most this,
  // and after it a body must arrive at min_body_rate bytes/s at least.
  caf::timespan connect_body_read_timeout = std::chrono::seconds(5);
  size_t connect_min_body_rate = 1024;
  caf::timespan connect_idle_timeout = std::chrono::seconds(60);
  std::string connect_cors_origins; // comma-separated; empty: CORS off
  std::string grpc_address = "127.0.0.1";
  uint16_t grpc_port = 9090;
  int grpc_max_streams = 100;
  size_t grpc_max_metadata = 8 << 10;
  size_t grpc_memory_quota = 32 << 20;
  int grpc_resets_per_second = 100;
  int grpc_reset_burst = 200;
  size_t grpc_max_connections = 1024;
  caf::timespan request_timeout = std::chrono::seconds(10);

  // Kafka partitions of ping-events: the one source of the `partitions`
  // every actor's settings below get (see the *_settings() functions).
  int32_t partitions = 3;

  // Actors (their `partitions` fields are filled from the one above).
  persistence::settings postgres;
  publisher::settings kafka;
  gateway::settings gateway;
  cache::settings cache;
  counts::settings counts;
  bool migrate = true;
  bool migrate_only = false;
  caf::timespan migrate_timeout = std::chrono::seconds(120); // PostgreSQL not reachable yet
  std::string ports_file;
  // SIGTERM: both front-ends drain at once for front_drain() (the longest
  // deadline the gateway actor gives a call, plus a margin for the answer
  // to be written), then the relay gets what is left of drain_timeout.
  caf::timespan drain_timeout = std::chrono::seconds(8);
  caf::timespan drain_margin = std::chrono::seconds(1);

  gateway_config();

  /// Settings derived from the options above (after parsing).
  gateways::connect_options connect() const;
  gateways::grpc_options grpc() const;
  persistence::settings persistence_settings() const;
  publisher::settings publisher_settings() const;
  gateway::settings gateway_settings() const;
  cache::settings cache_settings() const;
  /// How long the front-ends drain: max(store, count timeout) + drain
  /// margin, at most drain_timeout. Every call in flight at SIGTERM is
  /// answered within it (the gateway actor answers by those deadlines).
  caf::timespan front_drain() const;
};

} // namespace ping::apps
