#include "apps/pingctl/rpc.hpp"

namespace ping::pingctl {

client_factory make_client_factory(const client_settings& cfg) {
  if (cfg.protocol == wire_protocol::grpc)
    return make_grpc_client_factory(cfg);
  return [cfg] { return make_connect_client(cfg); };
}

} // namespace ping::pingctl
