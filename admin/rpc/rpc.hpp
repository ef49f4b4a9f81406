#pragma once
// The handlers of ping.admin.v1.AdminService (proto/ping/admin/v1/admin.proto),
// one file per RPC. Each runs on the admin server's I/O thread and never
// blocks: reads answer from the registry's atomics and the sampler's
// snapshots; commands hand off to the node and answer when it replies.
// Commands are logged (an audit line without secrets) and refused with the
// read-only token.

#include <memory>
#include <string>

#include <connectrpc/server.hpp>

#include "actors/common/telemetry.hpp"
#include "admin/auth.hpp"
#include "admin/sampler.hpp"
#include "admin/server.hpp"

namespace ping::admin::rpc {

/// What every handler may use; shared by the handlers, immutable, and kept
/// alive by them as long as the server holds them.
struct context {
  telemetry::registry& reg;
  std::shared_ptr<const sampler> samples;
  node_info info;
  admin::hooks hooks;
  credentials auth;
  sampler::clock::time_point started = sampler::clock::now();
};

using context_ptr = std::shared_ptr<const context>;

connectrpc::handler get_status(context_ptr ctx);
connectrpc::handler list_actors(context_ptr ctx);
connectrpc::handler get_pipeline(context_ptr ctx);
connectrpc::handler get_lag(context_ptr ctx);
connectrpc::handler get_minute_counts(context_ptr ctx);
connectrpc::handler flush(context_ptr ctx);
connectrpc::handler pause_consumption(context_ptr ctx);
connectrpc::handler resume_consumption(context_ptr ctx);
connectrpc::handler rebuild_cache(context_ptr ctx);
connectrpc::handler set_log_level(context_ptr ctx);

/// Whether the node's consumption is paused (the processor's gauge; false
/// on nodes without one).
bool paused(const context& ctx);

/// The method names this node accepts as commands, for consoles to offer.
std::vector<std::string> offered_commands(const context& ctx);

} // namespace ping::admin::rpc
