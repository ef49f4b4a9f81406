// The ping.v1.PingService client over Connect (connectrpc/client.hpp).

#include <connectrpc/client.hpp>

#include "actors/common/build_info.hpp"
#include "apps/pingctl/rpc.hpp"

namespace ping::pingctl {

namespace {

constexpr const char* ping_path = "/ping.v1.PingService/Ping";
constexpr const char* count_path = "/ping.v1.PingService/PingCount";

class connect_client final : public rpc_client {
public:
  explicit connect_client(const client_settings& cfg) : cfg_(cfg), conn_(cfg.host, cfg.port) {}

  call_status ping(const ping::v1::PingRequest& req, ping::v1::PingResponse& resp) override {
    return unary(ping_path, req, resp);
  }

  call_status count(const ping::v1::PingCountRequest& req,
                    ping::v1::PingCountResponse& resp) override {
    return unary(count_path, req, resp);
  }

private:
  call_status unary(const char* path, const google::protobuf::Message& req,
                    google::protobuf::Message& resp) {
    connectrpc::unary_call call;
    call.path = path;
    call.address = cfg_.address;
    call.encoding = cfg_.encoding == wire_encoding::json ? connectrpc::encoding::json
                                                         : connectrpc::encoding::proto;
    call.timeout = cfg_.timeout;
    call.user_agent = std::string{"pingctl/"} + ping::build::version();
    auto st = connectrpc::call_unary(conn_, call, req, resp).status;
    if (st.is_ok())
      return call_status::success();
    return call_status::error(std::string{connectrpc::to_string(st.c)}, st.message);
  }

  client_settings cfg_;
  connectrpc::http_connection conn_;
};

} // namespace

std::unique_ptr<rpc_client> make_connect_client(const client_settings& cfg) {
  return std::make_unique<connect_client>(cfg);
}

} // namespace ping::pingctl
