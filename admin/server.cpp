#include "admin/server.hpp"

#include <map>
#include <random>
#include <stdexcept>

#include "admin/auth.hpp"
#include "admin/cluster/collector.hpp"
#include "admin/cluster/discovery.hpp"
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
  handlers["GetCluster"] = rpc::get_cluster(ctx);
  handlers["GetExactness"] = rpc::get_exactness(ctx);
  handlers["RunNodeCommand"] = rpc::run_node_command(ctx);
  return connectrpc::procedures_for(
    *v1::GetStatusRequest::descriptor()->file()->FindServiceByName("AdminService"),
    std::move(handlers));
}

// /healthz, /readyz, /metrics and the console page.
std::vector<connectrpc::static_file> routes(rpc::context_ptr ctx) {
  constexpr const char* text = "text/plain; charset=utf-8";
  std::vector<connectrpc::static_file> out;
  connectrpc::static_file healthz{"/healthz", "", "", [ctx](const connectrpc::call_context&) {
                                    return ctx->self.live()
                                             ? connectrpc::http_answer{200, text, "ok\n"}
                                             : connectrpc::http_answer{503, text, "dead\n"};
                                  }};
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
                   return connectrpc::http_answer{200, "text/plain; version=0.0.4; charset=utf-8",
                                                  render_metrics(ctx->reg, ctx->self.ready())};
                 }});
  // The page itself carries no data; its API calls need the token.
  connectrpc::static_file console{"/", "text/html; charset=utf-8", std::string{console_page()}};
  console.open = true;
  out.push_back(console);
  return out;
}

std::chrono::milliseconds ms(caf::timespan t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t);
}

// The peers of the cluster view; throws on an invalid list.
cluster::discovery_settings discovery_settings(const options& opts) {
  cluster::discovery_settings ds;
  ds.max_peers = opts.max_peers;
  ds.refresh = std::max(ms(opts.peers_refresh), std::chrono::milliseconds{1000});
  for (auto [text, dest, flag] : {std::tuple{&opts.peers, &ds.peers, "admin.peers"},
                                  std::tuple{&opts.peers_dns, &ds.dns, "admin.peers-dns"}}) {
    auto parsed = cluster::parse_peers(*text, opts.max_peers);
    if (!parsed.error.empty())
      throw std::runtime_error(std::string{flag} + ": " + parsed.error);
    *dest = std::move(parsed.peers);
  }
  return ds;
}

// 16 hex digits, new at every start.
std::string new_instance_id() {
  std::random_device rd;
  std::uniform_int_distribution<uint64_t> dist;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(dist(rd)));
  return buf;
}

} // namespace

server::server(const options& opts, const telemetry::registry& reg, node& n) : opts_(opts) {
  auto auth = credentials::load(opts);
  auto so = server_options(opts, auth);
  auto stages = n.pipeline();
  sampler_ = std::make_shared<sampler>(reg, stages);
  discovery_ = std::make_unique<cluster::discovery>(discovery_settings(opts));
  cluster::collector_settings cs;
  cs.peer_timeout = std::max(ms(opts.peer_timeout), std::chrono::milliseconds{1});
  collector_ = std::make_shared<cluster::collector>(cs, auth.peer_token(), *discovery_);
  auto ctx = std::make_shared<const rpc::context>(rpc::context{
    reg, n, std::move(stages), sampler_, std::move(auth), collector_, new_instance_id()});
  server_ = std::make_unique<connectrpc::server>(std::move(so), procedures(ctx), routes(ctx));
}

server::~server() {
  if (collector_)
    collector_->stop();
  if (discovery_)
    discovery_->stop();
  if (sampler_)
    sampler_->stop();
}

void server::start() {
  server_->start(); // throws when it cannot listen: then nothing else started
  sampler_->start();
  // This node as the cluster view calls it: its own address (loopback for
  // a wildcard one) and the port it listens on.
  auto host = opts_.address;
  if (host.empty() || host == "0.0.0.0")
    host = "127.0.0.1";
  else if (host == "::" || host == "[::]")
    host = "::1";
  auto port = std::to_string(server_->port());
  auto label = host.find(':') != std::string::npos ? "[" + host + "]:" + port : host + ":" + port;
  collector_->set_self({label, host, port, ""});
  discovery_->start();
  collector_->start();
}

uint16_t server::port() const {
  return server_->port();
}

void server::stop() {
  // The cluster view first: its calls may be to this very endpoint.
  collector_->stop();
  discovery_->stop();
  server_->stop(std::chrono::milliseconds(200));
  sampler_->stop();
}

} // namespace ping::admin
