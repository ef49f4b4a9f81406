// GetCluster: the whole deployment as this node sees it (admin/cluster/):
// answered at once from a fresh view, else after the collector's next
// round, never on this thread's time.
#include "admin/rpc/rpc.hpp"

namespace ping::admin::rpc {

connectrpc::handler get_cluster(context_ptr ctx) {
  return connectrpc::typed_handler<v1::GetClusterRequest>(
    [ctx](std::unique_ptr<v1::GetClusterRequest>, const connectrpc::call_context&,
          connectrpc::responder done) {
      ctx->cluster->view([done](outcome<v1::GetClusterResponse> r) {
        if (auto* f = std::get_if<failure>(&r))
          return fail(done, *f);
        done.ok(std::get<v1::GetClusterResponse>(r));
      });
    });
}

} // namespace ping::admin::rpc
