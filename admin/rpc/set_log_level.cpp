// SetLogLevel: a command (refused with the read-only token) that changes
// the process's log level at once.
#include "admin/rpc/rpc.hpp"

#include "actors/common/log.hpp"
#include "ping/admin/v1/admin.pb.h"

namespace ping::admin::rpc {

connectrpc::handler set_log_level(context_ptr ctx) {
  return connectrpc::typed_handler<v1::SetLogLevelRequest>(
    [ctx](std::unique_ptr<v1::SetLogLevelRequest> req, const connectrpc::call_context& call,
          connectrpc::responder done) {
      if (ctx->auth.read_only(call)) {
        done.fail(connectrpc::code::permission_denied,
                  "SetLogLevel needs the admin token; the read-only token may not run commands");
        return;
      }
      log::level lvl;
      if (!log::parse_level(req->level(), lvl)) {
        done.fail(connectrpc::code::invalid_argument, "level must be debug, info, warn or error");
        return;
      }
      log::set_level(lvl);
      log::info("admin", "log level changed", {{"level", req->level()}});
      v1::SetLogLevelResponse resp;
      resp.set_level(req->level());
      done.ok(resp);
    });
}

} // namespace ping::admin::rpc
