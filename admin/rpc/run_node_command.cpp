// RunNodeCommand: a command on one node of the cluster view, forwarded by
// this node to that node's admin API with this node's token. Refused with
// the read-only token, for any method but the four commands, and for any
// address the view did not discover (no open proxy); logged (an audit
// line, no secrets).
#include "admin/rpc/rpc.hpp"

#include "actors/common/log.hpp"

namespace ping::admin::rpc {

namespace {

std::optional<command> command_named(const std::string& method) {
  for (auto c : {command::flush, command::pause, command::resume, command::rebuild_cache})
    if (method_of(c) == method)
      return c;
  return std::nullopt;
}

} // namespace

connectrpc::handler run_node_command(context_ptr ctx) {
  return connectrpc::typed_handler<v1::RunNodeCommandRequest>(
    [ctx](std::unique_ptr<v1::RunNodeCommandRequest> req, const connectrpc::call_context& call,
          connectrpc::responder done) {
      if (ctx->auth.read_only(call))
        return done.fail(connectrpc::code::permission_denied,
                         "RunNodeCommand needs the admin token; the read-only token may not "
                         "run commands");
      auto c = command_named(req->method());
      if (!c)
        return done.fail(connectrpc::code::invalid_argument,
                         "method must be Flush, PauseConsumption, ResumeConsumption or "
                         "RebuildCache, got '"
                           + req->method() + "'");
      log::info("admin", "command for a node", {{"method", req->method()}, {"node", req->node()}});
      ctx->cluster->forward(req->node(), *c, [done](outcome<v1::RunNodeCommandResponse> r) {
        if (auto* f = std::get_if<failure>(&r))
          return fail(done, *f);
        done.ok(std::get<v1::RunNodeCommandResponse>(r));
      });
    });
}

} // namespace ping::admin::rpc
