#pragma once
// A gRPC server interceptor that feeds rpc_metrics: it notes when a call
// arrived and, when the server sends the call's status, observes its
// method, code and duration. Created per call by gRPC, only for
// ping.v1.PingService (health and reflection calls get none).

#include <memory>
#include <vector>

#include <grpcpp/support/server_interceptor.h>

#include "gateways/common/rpc_metrics.hpp"

namespace ping::gateways {

/// The interceptor creators for grpc::ServerBuilder (empty without metrics).
std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
rpc_interceptors(std::shared_ptr<rpc_metrics> metrics);

} // namespace ping::gateways
