// GetPipeline: the node's stages (items, items/s, recent p50/p99 latency,
// backlog) and its counter repairs.
#include "admin/rpc/rpc.hpp"

#include "ping/admin/v1/admin.pb.h"

namespace ping::admin::rpc {

connectrpc::handler get_pipeline(context_ptr ctx) {
  return connectrpc::typed_handler<v1::GetPipelineRequest>(
    [ctx](std::unique_ptr<v1::GetPipelineRequest>, const connectrpc::call_context&,
          connectrpc::responder done) {
      auto [older, newer] = ctx->samples->window();
      auto secs = seconds_between(older, newer);
      v1::GetPipelineResponse resp;
      resp.set_window_seconds(secs);
      for (auto& st : ctx->stages) {
        auto* out = resp.add_stages();
        out->set_name(st.name);
        out->set_description(st.description);
        auto total = newer.counter(st.items);
        out->set_total(total);
        out->set_per_second(rate(older.counter(st.items), total, secs));
        if (st.latency) {
          auto& now = newer.histograms.at(st.latency);
          auto& before = older.histograms.at(st.latency);
          out->set_latency_p50_ms(1000 * st.latency->quantile(0.5, before, now));
          out->set_latency_p99_ms(1000 * st.latency->quantile(0.99, before, now));
        }
        if (st.backlog)
          out->set_backlog(st.backlog->load());
      }
      for (auto& r : ctx->self.repairs()) {
        auto* out = resp.add_repairs();
        out->set_reason(r.reason);
        out->set_total(r.total->load());
      }
      done.ok(resp);
    });
}

} // namespace ping::admin::rpc
