// The commands Flush, PauseConsumption, ResumeConsumption and RebuildCache:
// refused with the read-only token, logged (an audit line), then handed to
// the node, which answers when the actor concerned replied.
#include "admin/rpc/rpc.hpp"

#include <functional>

#include <google/protobuf/message.h>

#include "actors/common/log.hpp"

namespace ping::admin::rpc {

namespace {

using hook = std::function<void(connectrpc::responder)>;

connectrpc::handler command(context_ptr ctx, std::string method, hook admin::hooks::*which) {
  return [ctx, method, which](std::unique_ptr<google::protobuf::Message>,
                              connectrpc::call_context call, connectrpc::responder done) {
    if (ctx->auth.read_only(call)) {
      done.fail(connectrpc::code::permission_denied,
                method + " needs the admin token; the read-only token may not run commands");
      return;
    }
    auto& h = ctx->hooks.*which;
    if (!h) {
      done.fail(connectrpc::code::unimplemented,
                method + " is not available on " + ctx->info.binary
                  + " (it acts on the consumer and the cache: use ping-processor)");
      return;
    }
    log::info("admin", "command", {{"method", method}});
    h(std::move(done));
  };
}

} // namespace

connectrpc::handler flush(context_ptr ctx) {
  return command(std::move(ctx), "Flush", &admin::hooks::flush);
}

connectrpc::handler pause_consumption(context_ptr ctx) {
  return command(std::move(ctx), "PauseConsumption", &admin::hooks::pause);
}

connectrpc::handler resume_consumption(context_ptr ctx) {
  return command(std::move(ctx), "ResumeConsumption", &admin::hooks::resume);
}

connectrpc::handler rebuild_cache(context_ptr ctx) {
  return command(std::move(ctx), "RebuildCache", &admin::hooks::rebuild_cache);
}

} // namespace ping::admin::rpc
