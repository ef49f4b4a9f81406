// GetStatus: binary, version, uptime, configuration (secrets redacted),
// log level, the commands offered, readiness, paused.
#include "admin/rpc/rpc.hpp"

#include "actors/common/log.hpp"
#include "ping/admin/v1/admin.pb.h"

namespace ping::admin::rpc {

namespace {

const char* level_name(log::level lvl) {
  switch (lvl) {
    case log::level::debug: return "debug";
    case log::level::info: return "info";
    case log::level::warn: return "warn";
    case log::level::error: return "error";
  }
  return "info";
}

} // namespace

bool paused(const context& ctx) {
  // The gauge's value, without creating it on nodes that have none.
  for (auto& [name, value] : ctx.reg.gauges())
    if (name == "processor_paused")
      return value != 0;
  return false;
}

std::vector<std::string> offered_commands(const context& ctx) {
  std::vector<std::string> out;
  if (ctx.hooks.flush)
    out.push_back("Flush");
  if (ctx.hooks.pause)
    out.push_back("PauseConsumption");
  if (ctx.hooks.resume)
    out.push_back("ResumeConsumption");
  if (ctx.hooks.rebuild_cache)
    out.push_back("RebuildCache");
  out.push_back("SetLogLevel");
  return out;
}

connectrpc::handler get_status(context_ptr ctx) {
  namespace v1 = ping::admin::v1;
  return connectrpc::typed_handler<v1::GetStatusRequest>(
    [ctx](std::unique_ptr<v1::GetStatusRequest>, connectrpc::call_context,
          connectrpc::responder done) {
      v1::GetStatusResponse resp;
      resp.set_binary(ctx->info.binary);
      resp.set_version(ctx->info.version);
      resp.set_uptime_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                           sampler::clock::now() - ctx->started)
                           .count());
      for (auto& line : ctx->info.config)
        resp.add_config(line);
      resp.set_log_level(level_name(log::current_level()));
      for (auto& c : offered_commands(*ctx))
        resp.add_commands(c);
      resp.set_ready(ctx->hooks.ready && ctx->hooks.ready());
      resp.set_paused(paused(*ctx));
      done.ok(resp);
    });
}

} // namespace ping::admin::rpc
