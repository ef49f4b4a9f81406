// GetExactness: per partition, PostgreSQL's committed head against the
// cache's applied relay sequence, and the relay cursor (ping-gateway; the
// node answers unimplemented elsewhere).
#include "admin/rpc/rpc.hpp"

#include "ping/admin/v1/admin.pb.h"

namespace ping::admin::rpc {

void fill(v1::ExactnessRow& out, const exactness_row& row) {
  out.set_partition(row.partition);
  out.set_head(row.head);
  out.set_cache_seq(row.cache_seq);
  out.set_gap(row.cache_seq < 0 ? -1 : row.head - row.cache_seq);
  out.set_relay_acked(row.relay_acked);
}

connectrpc::handler get_exactness(context_ptr ctx) {
  return connectrpc::typed_handler<v1::GetExactnessRequest>(
    [ctx](std::unique_ptr<v1::GetExactnessRequest>, const connectrpc::call_context&,
          connectrpc::responder done) {
      ctx->self.exactness([done](outcome<exactness_report> r) {
        if (auto* f = std::get_if<failure>(&r))
          return fail(done, *f);
        auto& report = std::get<exactness_report>(r);
        v1::GetExactnessResponse resp;
        for (auto& row : report.rows)
          fill(*resp.add_partitions(), row);
        resp.set_cache_note(report.cache_note);
        done.ok(resp);
      });
    });
}

} // namespace ping::admin::rpc
