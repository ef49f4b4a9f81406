// GetMinuteCounts: pings per minute for the last N minutes, from the node.
#include "admin/rpc/rpc.hpp"

#include "ping/admin/v1/admin.pb.h"

namespace ping::admin::rpc {

connectrpc::handler get_minute_counts(context_ptr ctx) {
  namespace v1 = ping::admin::v1;
  return connectrpc::typed_handler<v1::GetMinuteCountsRequest>(
    [ctx](std::unique_ptr<v1::GetMinuteCountsRequest> req, connectrpc::call_context,
          connectrpc::responder done) {
      auto minutes = req->minutes() == 0 ? 60 : req->minutes();
      if (minutes < 1 || minutes > 1440) {
        done.fail(connectrpc::code::invalid_argument, "minutes must be within 1..1440");
        return;
      }
      if (!ctx->hooks.minute_counts) {
        done.fail(connectrpc::code::unimplemented,
                  "GetMinuteCounts is not available on " + ctx->info.binary);
        return;
      }
      ctx->hooks.minute_counts(minutes, std::move(done));
    });
}

} // namespace ping::admin::rpc
