#pragma once
// Identifiers and clocks shared by the actors.

#include <cstdint>
#include <string>
#include <string_view>

namespace ping {

/// Milliseconds since the Unix epoch, wall clock.
int64_t now_ms();

/// A new UUID version 7 (RFC 9562): 48-bit millisecond timestamp followed by
/// random bits, so ids of one gateway sort roughly by time and keep the
/// primary-key index append-mostly. Thread-safe.
std::string make_uuid_v7(int64_t unix_ms);

/// The Kafka partition of a ping: a stable hash of its id modulo `partitions`.
/// Fixed when the ping is accepted and stored with it.
int32_t partition_of(std::string_view id, int32_t partitions);

/// The largest accepted timestamp: 9999-12-31T23:59:59.999Z.
inline constexpr int64_t max_timestamp_ms = 253402300799999;

} // namespace ping
