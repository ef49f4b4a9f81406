#pragma once
// Plain value types shared by several actor protocols.

#include <cstdint>
#include <string>

#include <caf/meta/type_name.hpp>

namespace ping {

/// Counters are kept per epoch minute of event time.
inline constexpr int64_t ms_per_minute = 60'000;

/// The epoch minute of a timestamp (floor division: exact for negatives).
constexpr int64_t minute_of(int64_t timestamp_ms) {
  auto q = timestamp_ms / ms_per_minute;
  return (timestamp_ms % ms_per_minute != 0 && timestamp_ms < 0) ? q - 1 : q;
}

/// A half-open interval [start_ms, end_ms) of epoch milliseconds, or "all
/// time" when `bounded` is false.
struct time_range {
  bool bounded = false;
  int64_t start_ms = 0;
  int64_t end_ms = 0;

  friend bool operator==(const time_range&, const time_range&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, time_range& x) {
  return f(caf::meta::type_name("time_range"), x.bounded, x.start_ms, x.end_ms);
}

/// One accepted ping as it is stored and relayed.
struct ping_row {
  std::string id;         // UUIDv7, canonical text form
  int64_t pinged_at_ms;   // event time (never 0: "now" is resolved on accept)
  int64_t received_at_ms; // gateway clock when accepted
  int32_t partition;      // Kafka partition: the gateway's picks the writer, whose batch then
                          // puts all its pings in one (actors/persistence/persistence.hpp)
  // The client's idempotency key (empty: none) and how long PostgreSQL
  // keeps it: a ping whose key is already held is not stored again.
  std::string key = {};
  int64_t key_ttl_ms = 0;
  // The W3C trace id the client sent (actors/common/trace.hpp); zero when
  // the trace started at the gateway: then the ping's id is the trace id,
  // and the row stores none (pings.trace_id NULL, migration 0011).
  uint64_t trace_hi = 0;
  uint64_t trace_lo = 0;

  friend bool operator==(const ping_row&, const ping_row&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ping_row& x) {
  return f(caf::meta::type_name("ping_row"), x.id, x.pinged_at_ms, x.received_at_ms, x.partition,
           x.key, x.key_ttl_ms, x.trace_hi, x.trace_lo);
}

/// A count and where it came from ("postgres", "cache"), and the count
/// reader's shared read that answered it (its `read` log field; 0: none).
struct count_result {
  int64_t count = 0;
  std::string source;
  uint64_t read = 0;

  friend bool operator==(const count_result&, const count_result&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, count_result& x) {
  return f(caf::meta::type_name("count_result"), x.count, x.source, x.read);
}

} // namespace ping
