#pragma once
// CORS for browser clients (connect-web) on other origins. Off unless
// origins are listed. Pure functions: server.cpp asks them for a
// preflight's answer and for the headers of every other answer.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace connectrpc {

struct cors_options {
  /// Exact origins ("https://app.example.com"), or "*" for any. Empty: CORS off.
  std::vector<std::string> allowed_origins;
  /// How long a browser may cache a preflight's answer.
  int max_age_seconds = 7200;
};

using header_list = std::vector<std::pair<std::string, std::string>>;

/// True when `origin` (the request's Origin header) may call.
bool cors_allows(const cors_options& cors, std::string_view origin);

/// The answer to a preflight (OPTIONS with Origin and
/// Access-Control-Request-Method) from an allowed origin: its headers
/// (status 204). nullopt when CORS is off, the origin is not allowed or the
/// request is no preflight; the server then answers it as any request.
std::optional<header_list> cors_preflight(const cors_options& cors, std::string_view method,
                                          std::string_view origin,
                                          std::string_view requested_method);

/// Headers for an actual request's answer from an allowed origin (empty
/// otherwise): Access-Control-Allow-Origin, the headers the client may read.
header_list cors_response_headers(const cors_options& cors, std::string_view origin);

} // namespace connectrpc
