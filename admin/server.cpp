#include "admin/server.hpp"

#include <map>

#include "admin/auth.hpp"
#include "admin/console/console.hpp"
#include "admin/metrics_text.hpp"
#include "admin/rpc/rpc.hpp"
#include "admin/sampler.hpp"
#include "ping/admin/v1/admin.pb.h"

namespace ping::admin {

namespace {

connectrpc::server_options server_options(const options& opts, const credentials& auth) {
  connectrpc::server_options so;
  so.address = opts.address;
  so.port = opts.port;
  so.max_connections = opts.max_connections;
  so.max_body_bytes = opts.max_body_bytes;
  so.max_header_bytes = opts.max_header_bytes;
  so.header_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(opts.header_timeout);
  so.body_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(opts.body_timeout);
  so.authorize = auth.authorizer();
  return so;
}

// The admin API: one handler per RPC (admin/rpc/).
std::vector<connectrpc::procedure> procedures(rpc::context_ptr ctx) {
  std::map<std::string, connectrpc::handler> handlers;
  handlers["GetStatus"] = rpc::get_status(ctx);
  handlers["ListActors"] = rpc::list_actors(ctx);
  handlers["GetPipeline"] = rpc::get_pipeline(ctx);
  handlers["GetLag"] = rpc::get_lag(ctx);
  handlers["GetMinuteCounts"] = rpc::get_minute_counts(ctx);
  for (auto c : {command::flush, command::pause, command::resume, command::rebuild_cache})
    handlers[std::string{method_of(c)}] = rpc::run_command(ctx, c);
  handlers["SetLogLevel"] = rpc::set_log_level(ctx);
  return connectrpc::procedures_for(
    *v1::GetStatusRequest::descriptor()->file()->FindServiceByName("AdminService"),
    std::move(handlers));
}

// /healthz, /readyz, /metrics and the console page.
std::vector<connectrpc::static_file> routes(rpc::context_ptr ctx) {
  constexpr const char* text = "text/plain; charset=utf-8";
  std::vector<connectrpc::static_file> out;
  connectrpc::static_file healthz{"/healthz", text, "ok\n"};
  healthz.open = true;
  out.push_back(healthz);
  connectrpc::static_file readyz{"/readyz", "", "", [ctx](const connectrpc::call_context&) {
                                   return ctx->self.ready()
                                            ? connectrpc::http_answer{200, text, "ready\n"}
                                            : connectrpc::http_answer{503, text, "not ready\n"};
                                 }};
  readyz.open = true;
  out.push_back(readyz);
  out.push_back({"/metrics", "", "", [ctx](const connectrpc::call_context&) {
                   return connectrpc::http_answer{
                     200, "text/plain; version=0.0.4; charset=utf-8", render_metrics(ctx->reg)};
                 }});
  // The page itself carries no data; its API calls need the token.
  connectrpc::static_file console{"/", "text/html; charset=utf-8", std::string{console_page()}};
  console.open = true;
  out.push_back(console);
  return out;
}

} // namespace

server::server(const options& opts, const telemetry::registry& reg, node& n) {
  auto auth = credentials::load(opts);
  auto so = server_options(opts, auth);
  auto stages = n.pipeline();
  sampler_ = std::make_shared<sampler>(reg, stages);
  auto ctx = std::make_shared<const rpc::context>(
    rpc::context{reg, n, std::move(stages), sampler_, std::move(auth)});
  server_ = std::make_unique<connectrpc::server>(std::move(so), procedures(ctx), routes(ctx));
}

server::~server() {
  if (sampler_)
    sampler_->stop();
}

void server::start() {
  server_->start(); // throws when it cannot listen: then nothing else started
  sampler_->start();
}

uint16_t server::port() const {
  return server_->port();
}

void server::stop() {
  server_->stop(std::chrono::milliseconds(200));
  sampler_->stop();
}

} // namespace ping::admin
