// GetMinuteCounts: pings per minute for the last N epoch minutes (current
// one included), as the node counts them.
#include "admin/rpc/rpc.hpp"

#include "actors/common/ids.hpp"
#include "actors/common/types.hpp"
#include "ping/admin/v1/admin.pb.h"

namespace ping::admin::rpc {

connectrpc::handler get_minute_counts(context_ptr ctx) {
  return connectrpc::typed_handler<v1::GetMinuteCountsRequest>(
    [ctx](std::unique_ptr<v1::GetMinuteCountsRequest> req, const connectrpc::call_context&,
          connectrpc::responder done) {
      auto minutes = req->minutes() == 0 ? 60 : req->minutes();
      if (minutes < 1 || minutes > 1440) {
        done.fail(connectrpc::code::invalid_argument, "minutes must be within 1..1440");
        return;
      }
      auto first = minute_of(now_ms()) - minutes + 1;
      ctx->self.minute_counts(first, minutes, [done, first](outcome<minute_series> r) {
        if (auto* f = std::get_if<failure>(&r))
          return fail(done, *f);
        auto& series = std::get<minute_series>(r);
        v1::GetMinuteCountsResponse resp;
        resp.set_source(series.source);
        for (size_t i = 0; i < series.counts.size(); ++i) {
          auto* m = resp.add_minutes();
          m->set_minute(first + static_cast<int64_t>(i));
          m->set_count(series.counts[i]);
        }
        done.ok(resp);
      });
    });
}

} // namespace ping::admin::rpc
