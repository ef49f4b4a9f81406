#pragma once
// The relay worker's blocking core, apart from its actor shell so it can be
// driven directly in tests: one Kafka producer, one PostgreSQL session.

#include <memory>
#include <string>
#include <vector>

#include "actors/common/socket_handle.hpp"
#include "actors/common/telemetry.hpp"
#include "actors/publisher/protocol.hpp"
#include "actors/publisher/publisher.hpp"

namespace ping::publisher {

class relay {
public:
  /// `socket` (optional) receives the PostgreSQL session's socket, so a
  /// supervisor can interrupt a pass stuck on a silent server.
  relay(settings cfg, telemetry::registry& reg, socket_handle_ptr socket = nullptr);
  ~relay();

  relay(const relay&) = delete;
  relay& operator=(const relay&) = delete;

  /// One pass (see publisher.hpp) with what the writers handed over since
  /// the last one (`feed`): a held partition's events are produced from
  /// memory when they continue its position, else read from PostgreSQL.
  /// Throws on PostgreSQL or Kafka failures; the caller retries with
  /// backoff.
  relay_report pass(const relay_feed& feed = {});

  /// Outbox rows of the partitions this relay holds (for drain).
  int64_t backlog();

private:
  struct impl;
  std::unique_ptr<impl> d_;
};

} // namespace ping::publisher
