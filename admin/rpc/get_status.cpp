// GetStatus: binary, version, uptime, configuration (secrets redacted),
// log level, the commands offered, readiness, paused, the instance id.
#include "admin/rpc/rpc.hpp"

#include "actors/common/log.hpp"
#include "ping/admin/v1/admin.pb.h"

namespace ping::admin::rpc {

namespace {

const char* level_name(log::level lvl) {
  switch (lvl) {
    case log::level::debug:
      return "debug";
    case log::level::info:
      return "info";
    case log::level::warn:
      return "warn";
    case log::level::error:
      return "error";
  }
  return "info";
}

} // namespace

connectrpc::handler get_status(context_ptr ctx) {
  return connectrpc::typed_handler<v1::GetStatusRequest>(
    [ctx](std::unique_ptr<v1::GetStatusRequest>, const connectrpc::call_context&,
          connectrpc::responder done) {
      auto& info = ctx->self.info();
      v1::GetStatusResponse resp;
      resp.set_binary(info.binary);
      resp.set_version(info.version);
      resp.set_uptime_ms(
        std::chrono::duration_cast<std::chrono::milliseconds>(sampler::clock::now() - ctx->started)
          .count());
      for (auto& line : info.config)
        resp.add_config(line);
      resp.set_log_level(level_name(log::current_level()));
      for (auto c : ctx->self.commands())
        resp.add_commands(std::string{method_of(c)});
      resp.add_commands("SetLogLevel");
      resp.set_ready(ctx->self.ready());
      resp.set_paused(ctx->self.paused());
      resp.set_instance_id(ctx->instance_id);
      done.ok(resp);
    });
}

} // namespace ping::admin::rpc
