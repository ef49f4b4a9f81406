// ListActors: every registered actor with its stats and recent message rate.
#include "admin/rpc/rpc.hpp"

#include "ping/admin/v1/admin.pb.h"

namespace ping::admin::rpc {

connectrpc::handler list_actors(context_ptr ctx) {
  return connectrpc::typed_handler<v1::ListActorsRequest>(
    [ctx](std::unique_ptr<v1::ListActorsRequest>, const connectrpc::call_context&,
          connectrpc::responder done) {
      auto [older, newer] = ctx->samples->window();
      auto secs = seconds_between(older, newer);
      v1::ListActorsResponse resp;
      for (auto& a : ctx->reg.actors()) {
        auto* out = resp.add_actors();
        out->set_name(a->name);
        out->set_kind(a->kind);
        out->set_parent(a->parent);
        out->set_mailbox_depth(a->mailbox.load());
        out->set_messages_handled(a->handled.load());
        out->set_restarts(a->restarts.load());
        out->set_backlog(a->backlog.load());
        out->set_up(a->up.load());
        out->set_messages_per_second(
          rate(older.handled_by(a->name), newer.handled_by(a->name), secs));
      }
      done.ok(resp);
    });
}

} // namespace ping::admin::rpc
