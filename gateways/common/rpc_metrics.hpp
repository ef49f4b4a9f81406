#pragma once
// Per-RPC metrics of the public API (ping.v1.PingService), the same for both
// front-ends: `rpc_requests_total` and the latency histogram
// `rpc_request_duration_seconds`, labelled by protocol ("connect", "grpc"),
// method ("Ping", "PingCount") and code (the Connect name: "ok",
// "invalid_argument", ...).
//
// Called on the front-ends' threads (Connect's I/O threads, gRPC's callback
// threads) once per answered call. A series is registered on its first use
// (the registry's mutex, once) and cached in a fixed table, so the hot path
// is lock-free. Bounded: 2 protocols x 2 methods x 17 codes. The `ok`
// series exist from construction, so dashboards see them before traffic.

#include <array>
#include <atomic>
#include <chrono>
#include <string_view>

#include "actors/common/telemetry.hpp"

namespace ping::gateways {

enum class rpc_protocol : int { connect = 0, grpc = 1 };

class rpc_metrics {
public:
  explicit rpc_metrics(telemetry::registry& reg);

  rpc_metrics(const rpc_metrics&) = delete;
  rpc_metrics& operator=(const rpc_metrics&) = delete;

  /// One answered call. `path` is "/ping.v1.PingService/Ping" (other paths
  /// are not counted); `code` is numbered as gRPC numbers it (0..16).
  void observe(rpc_protocol protocol, std::string_view path, int code,
               std::chrono::steady_clock::duration took);

private:
  static constexpr size_t protocols = 2;
  static constexpr size_t methods = 2;
  static constexpr size_t codes = 17;

  struct series {
    std::atomic<telemetry::counter*> requests{nullptr};
    std::atomic<telemetry::histogram*> seconds{nullptr};
  };

  series& at(size_t protocol, size_t method, size_t code);
  void ensure(size_t protocol, size_t method, size_t code);

  telemetry::registry& reg_;
  std::array<series, protocols * methods * codes> table_;
};

} // namespace ping::gateways
