#pragma once
// The handlers of ping.admin.v1.AdminService (proto/ping/admin/v1/admin.proto),
// one file per RPC, put together by server.cpp. Each runs on the admin
// server's I/O thread and never blocks: reads answer from atomics (the
// registry, the node's typed metrics) and the sampler's snapshots; commands
// hand off to the node and answer when it replies. Commands are refused
// with the read-only token and logged (an audit line, no secrets).

#include <memory>
#include <vector>

#include <connectrpc/server.hpp>

#include "ping/admin/v1/admin.pb.h"

#include "actors/common/telemetry.hpp"
#include "admin/auth.hpp"
#include "admin/cluster/collector.hpp"
#include "admin/node.hpp"
#include "admin/sampler.hpp"

namespace ping::admin::rpc {

/// What every handler may use; shared by the handlers and kept alive by
/// them as long as the server holds them. The registry and the node
/// outlive the server.
struct context {
  const telemetry::registry& reg;
  node& self;
  std::vector<stage> stages; // self.pipeline(), taken once
  std::shared_ptr<const sampler> samples;
  credentials auth;
  std::shared_ptr<cluster::collector> cluster; // the cluster view's calls
  std::string instance_id;                     // random per start (GetStatus)
  sampler::clock::time_point started = sampler::clock::now();
};

using context_ptr = std::shared_ptr<const context>;

connectrpc::handler get_status(context_ptr ctx);
connectrpc::handler list_actors(context_ptr ctx);
connectrpc::handler get_pipeline(context_ptr ctx);
connectrpc::handler get_lag(context_ptr ctx);
connectrpc::handler get_minute_counts(context_ptr ctx);
/// Flush, PauseConsumption, ResumeConsumption, RebuildCache.
connectrpc::handler run_command(context_ptr ctx, command c);
connectrpc::handler set_log_level(context_ptr ctx);
connectrpc::handler get_cluster(context_ptr ctx);
connectrpc::handler get_exactness(context_ptr ctx);
connectrpc::handler run_node_command(context_ptr ctx);

/// A node's exactness row as the API sends it (gap from head and cache).
void fill(v1::ExactnessRow& out, const exactness_row& row);

/// Completes `done` with a node's failure.
void fail(const connectrpc::responder& done, const failure& f);

} // namespace ping::admin::rpc
