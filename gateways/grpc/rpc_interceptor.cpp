#include "gateways/grpc/rpc_interceptor.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace ping::gateways {

namespace {

using grpc::experimental::InterceptionHookPoints;

class metrics_interceptor final : public grpc::experimental::Interceptor {
public:
  metrics_interceptor(std::string method, rpc_metrics& metrics)
    : method_(std::move(method)), metrics_(metrics), started_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS))
      metrics_.observe(rpc_protocol::grpc, method_,
                       static_cast<int>(methods->GetSendStatus().error_code()),
                       std::chrono::steady_clock::now() - started_);
    methods->Proceed();
  }

private:
  std::string method_;
  rpc_metrics& metrics_;
  std::chrono::steady_clock::time_point started_;
};

class metrics_factory final : public grpc::experimental::ServerInterceptorFactoryInterface {
public:
  explicit metrics_factory(std::shared_ptr<rpc_metrics> metrics) : metrics_(std::move(metrics)) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) override {
    std::string_view method = info->method() == nullptr ? "" : info->method();
    if (method.rfind("/ping.v1.PingService/", 0) != 0)
      return nullptr; // gRPC skips a null interceptor
    return new metrics_interceptor(std::string{method}, *metrics_);
  }

private:
  std::shared_ptr<rpc_metrics> metrics_;
};

} // namespace

std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
rpc_interceptors(std::shared_ptr<rpc_metrics> metrics) {
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> out;
  if (metrics)
    out.push_back(std::make_unique<metrics_factory>(std::move(metrics)));
  return out;
}

} // namespace ping::gateways
