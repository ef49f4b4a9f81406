// GetLag: consumer lag per partition and in total, and the consumer's
// rebalance history (ping-processor; other nodes have no partitions).
#include "admin/rpc/rpc.hpp"

#include "ping/admin/v1/admin.pb.h"

namespace ping::admin::rpc {

connectrpc::handler get_lag(context_ptr ctx) {
  return connectrpc::typed_handler<v1::GetLagRequest>([ctx](std::unique_ptr<v1::GetLagRequest>,
                                                            const connectrpc::call_context&,
                                                            connectrpc::responder done) {
    v1::GetLagResponse resp;
    int64_t total = 0;
    for (auto& p : ctx->self.lag()) {
      auto* out = resp.add_partitions();
      out->set_partition(p.partition);
      out->set_end_offset(p.end_offset);
      out->set_position(p.position);
      out->set_lag(p.lag);
      total += p.lag;
    }
    resp.set_total_lag(total);
    resp.set_paused(ctx->self.paused());
    for (auto& r : ctx->self.rebalances()) {
      auto* out = resp.add_rebalances();
      out->set_time_ms(r.time_ms);
      for (auto p : r.assigned)
        out->add_assigned(p);
      for (auto p : r.revoked)
        out->add_revoked(p);
    }
    done.ok(resp);
  });
}

} // namespace ping::admin::rpc
