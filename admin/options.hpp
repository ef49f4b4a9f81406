#pragma once
// The admin endpoint's settings, one struct shared by both binaries'
// config classes (apps/common/options.cpp names them admin.*).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include <caf/timespan.hpp>

namespace ping::admin {

struct options {
  std::string address = "127.0.0.1";
  uint16_t port = 9464;
  std::string token;      // secret
  std::string token_file; // read at start; wins over `token`
  // A second token for dashboards and on-call reads: everything but the
  // commands (Flush, PauseConsumption, ..., SetLogLevel: permission_denied).
  std::string read_token_file;
  size_t max_connections = 64;
  size_t max_body_bytes = 16 << 10; // admin requests are small JSON
  size_t max_header_bytes = 8 << 10;
  caf::timespan header_timeout = std::chrono::seconds(5);
  caf::timespan body_timeout = std::chrono::seconds(5);
  // The cluster view (GetCluster): admin endpoints of the other nodes,
  // "host:port,host:port", and DNS names that resolve to all of them,
  // "name:port,name:port" (headless Services), re-resolved every
  // `peers_refresh`. Called with this node's token, each within
  // `peer_timeout`; at most `max_peers` of them.
  std::string peers;
  std::string peers_dns;
  caf::timespan peers_refresh = std::chrono::seconds(10);
  caf::timespan peer_timeout = std::chrono::seconds(1);
  size_t max_peers = 64;
};

} // namespace ping::admin
