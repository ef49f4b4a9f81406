#include "gateways/common/rpc_metrics.hpp"

#include <string>

namespace ping::gateways {

namespace {

constexpr const char* protocol_names[] = {"connect", "grpc"};
constexpr const char* method_names[] = {"Ping", "PingCount"};
constexpr std::string_view service_prefix = "/ping.v1.PingService/";
constexpr const char* code_names[] = {
  "ok",        "canceled",       "unknown",           "invalid_argument",   "deadline_exceeded",
  "not_found", "already_exists", "permission_denied", "resource_exhausted", "failed_precondition",
  "aborted",   "out_of_range",   "unimplemented",     "internal",           "unavailable",
  "data_loss", "unauthenticated"};

} // namespace

rpc_metrics::rpc_metrics(telemetry::registry& reg) : reg_(reg) {
  for (size_t p = 0; p < protocols; ++p)
    for (size_t m = 0; m < methods; ++m)
      ensure(p, m, 0);
}

rpc_metrics::series& rpc_metrics::at(size_t protocol, size_t method, size_t code) {
  return table_[(protocol * methods + method) * codes + code];
}

void rpc_metrics::ensure(size_t protocol, size_t method, size_t code) {
  auto& s = at(protocol, method, code);
  if (s.requests.load(std::memory_order_acquire) != nullptr)
    return;
  telemetry::labels lbls{{"protocol", protocol_names[protocol]},
                         {"method", method_names[method]},
                         {"code", code_names[code]}};
  // Registration is idempotent: two threads racing here get the same objects.
  s.seconds.store(&reg_.add_latency("rpc_request_duration_seconds",
                                    "Seconds from a ping.v1.PingService call's arrival at a "
                                    "front-end to its answer, by protocol, method and code.",
                                    lbls),
                  std::memory_order_release);
  s.requests.store(&reg_.add_counter("rpc_requests_total",
                                     "ping.v1.PingService calls answered, by protocol, "
                                     "method and code.",
                                     lbls),
                   std::memory_order_release);
}

void rpc_metrics::observe(rpc_protocol protocol, std::string_view path, int code,
                          std::chrono::steady_clock::duration took) {
  if (path.substr(0, service_prefix.size()) != service_prefix || code < 0
      || static_cast<size_t>(code) >= codes)
    return;
  auto name = path.substr(service_prefix.size());
  size_t method = 0;
  if (name == method_names[0])
    method = 0;
  else if (name == method_names[1])
    method = 1;
  else
    return;
  auto p = static_cast<size_t>(protocol);
  auto c = static_cast<size_t>(code);
  ensure(p, method, c);
  auto& s = at(p, method, c);
  s.requests.load(std::memory_order_acquire)->fetch_add(1, std::memory_order_relaxed);
  s.seconds.load(std::memory_order_acquire)->observe(std::chrono::duration<double>(took).count());
}

} // namespace ping::gateways
