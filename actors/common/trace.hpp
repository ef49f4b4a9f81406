#pragma once
// W3C Trace Context (https://www.w3.org/TR/trace-context/): the
// `traceparent` a client sends on Connect (HTTP header) or gRPC (metadata),
//   00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
//   version-trace_id(32 hex)-parent_id(16 hex)-flags(2 hex)
// parsed into a plain value, and the one we echo (our span) and put in the
// Kafka event's headers. No allocation on either path: the value is four
// integers and the text form is written into a fixed buffer.
//
// Parsing follows the spec's rules: lowercase hex only; an all-zero trace
// id or parent id is invalid; version ff is invalid; version 00 is exactly
// 55 characters; a higher version is parsed by its version-00 prefix and
// must be followed by end of text or '-' (fields it may add are ignored).
// An invalid or absent traceparent starts a new trace (start_trace()).

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include <caf/meta/type_name.hpp>

namespace ping::trace {

/// Length of a version-00 traceparent.
inline constexpr size_t traceparent_length = 55;

/// A trace position: the trace id (128 bits, hi and lo halves), a span id
/// (64 bits: the caller's parent id once parsed, ours once we answer) and
/// the trace flags. A zero trace id means "no trace". `started`: the trace
/// began here (no valid traceparent came); its id is then shaped as a UUIDv7
/// made now, and the gateway uses it as the ping's id, so the row needs no
/// trace column (the relay sends the id as the trace id).
struct context {
  uint64_t trace_hi = 0;
  uint64_t trace_lo = 0;
  uint64_t span = 0;
  uint8_t flags = 0;
  bool started = false;

  bool valid() const noexcept { return (trace_hi | trace_lo) != 0; }

  friend bool operator==(const context&, const context&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, context& x) {
  return f(caf::meta::type_name("trace_context"), x.trace_hi, x.trace_lo, x.span, x.flags,
           x.started);
}

/// The sampled flag (bit 0 of trace-flags).
inline constexpr uint8_t sampled = 0x01;

/// Parses a traceparent; false (and `out` untouched) when it is invalid.
bool parse(std::string_view text, context& out) noexcept;

/// A fresh, non-zero random id from a per-thread generator (seeded once per
/// thread from std::random_device): cheap enough for every call.
uint64_t random_id() noexcept;

/// The context of a call: the parsed traceparent with a new span id of ours
/// (the span the gateway's log lines and the echoed header name), or, when
/// `header` is null or invalid, a new trace (`started`, sampled) whose id is
/// a UUIDv7 of `unix_ms` (48-bit time, 74 random bits).
context start(const std::string* header, int64_t unix_ms) noexcept;
context start(std::string_view header, int64_t unix_ms) noexcept;

/// The trace id in canonical UUID text (8-4-4-4-12 lowercase hex): the
/// ping's id when the trace started here.
std::string uuid_text(const context& c);

/// 32 lowercase hex digits of the trace id (the `trace_id` log field).
using trace_id_text = std::array<char, 32>;
trace_id_text trace_id_hex(const context& c) noexcept;
std::string trace_id_string(const context& c);

/// The trace id of a stored ping, as logged: the client's (hi, lo) when
/// non-zero, else the ping's id (`uuid`, canonical text) without dashes.
std::string trace_id_of(uint64_t hi, uint64_t lo, std::string_view uuid);

/// The trace id from 32 hex digits (uppercase accepted, as PostgreSQL's
/// uuid text with its dashes removed); false when malformed or zero.
bool parse_trace_id(std::string_view hex, uint64_t& hi, uint64_t& lo) noexcept;

/// The version-00 traceparent of `c` (its span as the parent id). view()
/// refers into the array: keep the array alive while the view is used.
using traceparent_text = std::array<char, traceparent_length>;
traceparent_text format(const context& c) noexcept;
inline std::string_view view(const traceparent_text& t) noexcept {
  return {t.data(), t.size()};
}
inline std::string_view view(const trace_id_text& t) noexcept {
  return {t.data(), t.size()};
}

} // namespace ping::trace
