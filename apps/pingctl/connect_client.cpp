// The ping.v1.PingService client over Connect (see connect_unary.hpp).

#include "apps/pingctl/connect_unary.hpp"
#include "apps/pingctl/http_connection.hpp"
#include "apps/pingctl/rpc.hpp"

namespace ping::pingctl {

namespace {

constexpr const char* ping_path = "/ping.v1.PingService/Ping";
constexpr const char* count_path = "/ping.v1.PingService/PingCount";

class connect_client final : public rpc_client {
public:
  explicit connect_client(const client_settings& cfg)
    : cfg_(cfg), conn_(cfg.host, cfg.port) {
  }

  call_status ping(const ping::v1::PingRequest& req,
                   ping::v1::PingResponse& resp) override {
    return unary(ping_path, req, resp);
  }

  call_status count(const ping::v1::PingCountRequest& req,
                    ping::v1::PingCountResponse& resp) override {
    return unary(count_path, req, resp);
  }

private:
  call_status unary(const char* path, const google::protobuf::Message& req,
                    google::protobuf::Message& resp) {
    unary_call call;
    call.path = path;
    call.address = cfg_.address;
    call.encoding = cfg_.encoding;
    call.timeout = cfg_.timeout;
    return connect_unary(conn_, call, req, resp).status;
  }

  client_settings cfg_;
  http_connection conn_;
};

} // namespace

std::unique_ptr<rpc_client> make_connect_client(const client_settings& cfg) {
  return std::make_unique<connect_client>(cfg);
}

} // namespace ping::pingctl
