#pragma once
// Connect / gRPC status codes and the Connect HTTP status table.
// Pure value types; no I/O.

#include <optional>
#include <string>
#include <string_view>

namespace connectrpc {

/// Status codes; numeric values are the gRPC codes (0..16).
enum class code : int {
  ok = 0,
  canceled = 1,
  unknown = 2,
  invalid_argument = 3,
  deadline_exceeded = 4,
  not_found = 5,
  already_exists = 6,
  permission_denied = 7,
  resource_exhausted = 8,
  failed_precondition = 9,
  aborted = 10,
  out_of_range = 11,
  unimplemented = 12,
  internal = 13,
  unavailable = 14,
  data_loss = 15,
  unauthenticated = 16,
};

/// Number of codes (for per-code counters).
inline constexpr std::size_t code_count = 17;

/// Connect wire name: "invalid_argument", "canceled", ... ("ok" for ok).
std::string_view to_string(code c) noexcept;

/// Inverse of to_string; nullopt for unknown names.
std::optional<code> code_from_string(std::string_view name) noexcept;

/// HTTP status for a Connect error (connect-protocol.md section 5); ok -> 200.
int http_status(code c) noexcept;

/// What a client infers from an HTTP status when there is no Connect body.
code code_from_http_status(int http) noexcept;

/// A call outcome: a code plus an optional UTF-8 message.
struct status {
  code c = code::ok;
  std::string message;

  bool is_ok() const noexcept { return c == code::ok; }
  explicit operator bool() const noexcept { return is_ok(); }

  static status ok() { return {}; }
  static status error(code c, std::string message = {}) { return {c, std::move(message)}; }

  friend bool operator==(const status&, const status&) = default;
};

} // namespace connectrpc
