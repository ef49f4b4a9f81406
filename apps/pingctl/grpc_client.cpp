// gRPC (HTTP/2) client: synchronous stubs on one shared channel.

#include <grpcpp/grpcpp.h>

#include <connectrpc/status.hpp>

#include "apps/pingctl/rpc.hpp"
#include "ping/v1/ping.grpc.pb.h"

namespace ping::pingctl {

namespace {

// The useful tail of gRPC's connection error, e.g. "Connection refused"
// out of "failed to connect to all addresses; last error: UNKNOWN:
// ipv4:127.0.0.1:9090: Failed to connect to remote host: Connection refused".
std::string connect_detail(const std::string& message) {
  auto pos = message.rfind(": ");
  if (pos == std::string::npos)
    return message;
  return message.substr(pos + 2);
}

class grpc_client final : public rpc_client {
public:
  grpc_client(const client_settings& cfg, std::shared_ptr<grpc::Channel> channel)
    : cfg_(cfg), channel_(std::move(channel)), stub_(ping::v1::PingService::NewStub(channel_)) {}

  call_status ping(const ping::v1::PingRequest& req, ping::v1::PingResponse& resp) override {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + cfg_.timeout);
    return convert(stub_->Ping(&ctx, req, &resp));
  }

  call_status count(const ping::v1::PingCountRequest& req,
                    ping::v1::PingCountResponse& resp) override {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + cfg_.timeout);
    return convert(stub_->PingCount(&ctx, req, &resp));
  }

private:
  call_status convert(const grpc::Status& st) {
    if (st.ok())
      return call_status::success();
    auto state = channel_->GetState(false);
    bool never_connected = state == GRPC_CHANNEL_TRANSIENT_FAILURE
                           || state == GRPC_CHANNEL_CONNECTING;
    if (st.error_code() == grpc::StatusCode::UNAVAILABLE
        && (never_connected || st.error_message().rfind("failed to connect", 0) == 0))
      return call_status::error("unavailable", "cannot connect to " + cfg_.address + " ("
                                                 + connect_detail(st.error_message()) + ")");
    if (st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && never_connected)
      return call_status::error("unavailable", "cannot connect to " + cfg_.address
                                                 + " (no connection within "
                                                 + std::to_string(cfg_.timeout.count()) + " ms)");
    if (st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
        && st.error_message() == "Deadline Exceeded") // expired here
      return call_status::error(
        "deadline_exceeded", "no response within " + std::to_string(cfg_.timeout.count()) + " ms");
    // gRPC numbers its codes as Connect does; Connect's names.
    return call_status::error(
      std::string{connectrpc::to_string(static_cast<connectrpc::code>(st.error_code()))},
      st.error_message());
  }

  client_settings cfg_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<ping::v1::PingService::Stub> stub_;
};

} // namespace

client_factory make_grpc_client_factory(const client_settings& cfg) {
  auto channel = grpc::CreateChannel(cfg.address, grpc::InsecureChannelCredentials());
  return [cfg, channel] { return std::make_unique<grpc_client>(cfg, channel); };
}

} // namespace ping::pingctl
