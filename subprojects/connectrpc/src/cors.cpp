#include <connectrpc/cors.hpp>

#include <algorithm>

namespace connectrpc {

namespace {

// What connect-web (and grpc-web) clients send and read
// (connectrpc.com/docs/cors).
constexpr const char* allowed_methods = "POST, GET";
constexpr const char* allowed_headers
  = "Content-Type, Connect-Protocol-Version, Connect-Timeout-Ms, Connect-Accept-Encoding, "
    "Connect-Content-Encoding, Accept-Encoding, Content-Encoding, Authorization, X-User-Agent, "
    "X-Grpc-Web, Grpc-Timeout";
constexpr const char* exposed_headers
  = "Content-Encoding, Connect-Content-Encoding, Connect-Accept-Encoding, Grpc-Status, "
    "Grpc-Message, Grpc-Status-Details-Bin";

} // namespace

bool cors_allows(const cors_options& cors, std::string_view origin) {
  if (origin.empty())
    return false;
  return std::any_of(cors.allowed_origins.begin(), cors.allowed_origins.end(),
                     [origin](const std::string& o) { return o == "*" || o == origin; });
}

std::optional<header_list> cors_preflight(const cors_options& cors, std::string_view method,
                                          std::string_view origin,
                                          std::string_view requested_method) {
  if (method != "OPTIONS" || requested_method.empty() || !cors_allows(cors, origin))
    return std::nullopt;
  return header_list{{"Access-Control-Allow-Origin", std::string(origin)},
                     {"Access-Control-Allow-Methods", allowed_methods},
                     {"Access-Control-Allow-Headers", allowed_headers},
                     {"Access-Control-Max-Age", std::to_string(cors.max_age_seconds)},
                     {"Vary",
                      "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}};
}

header_list cors_response_headers(const cors_options& cors, std::string_view origin) {
  if (!cors_allows(cors, origin))
    return {};
  return {{"Access-Control-Allow-Origin", std::string(origin)},
          {"Access-Control-Expose-Headers", exposed_headers},
          {"Vary", "Origin, Accept-Encoding"}};
}

} // namespace connectrpc
