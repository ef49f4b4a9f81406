#pragma once
// Chosen listener ports for librdkafka's mock cluster. librdkafka 2.0.2
// binds each mock broker to 127.0.0.1:0 (a random port) and has no option
// to choose it. To bring a cluster back on the ports clients already know
// (after the mock aborted: `--restart-on-crash`), the devbroker defines
// `bind` itself: while armed, a bind of an IPv4 socket to port 0 takes the
// next chosen port instead (with SO_REUSEADDR, as the old listener's
// connections may linger in TIME_WAIT). Unarmed, every bind goes to libc's
// unchanged. Only the mock cluster's constructor arms it, around
// rd_kafka_mock_cluster_new, which creates the brokers' listeners in order.

#include <cstdint>
#include <vector>

namespace devbroker::fixed_ports {

// The next binds to port 0 get these ports, in order (empty: disarmed).
void arm(const std::vector<uint16_t>& ports);

// Drops the ports not taken; returns how many were.
std::size_t disarm();

} // namespace devbroker::fixed_ports
