#include "apps/common/admin.hpp"

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "actors/common/log.hpp"
#include "ping/admin/v1/admin.pb.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace ping::apps {

bool is_loopback(const std::string& address) {
  return address == "localhost" || address == "::1" || address == "[::1]"
         || address.rfind("127.", 0) == 0;
}

std::string render_metrics(const telemetry::registry& reg) {
  // A fresh prometheus-cpp registry per scrape, filled from the snapshot:
  // the actors own plain atomics; formatting is prometheus-cpp's.
  prometheus::Registry out;
  for (auto& [name, value] : reg.counters()) {
    auto& family = prometheus::BuildCounter().Name("ping_" + name).Help(name).Register(out);
    family.Add({}).Increment(static_cast<double>(value));
  }
  for (auto& [name, value] : reg.gauges()) {
    auto& family = prometheus::BuildGauge().Name("ping_" + name).Help(name).Register(out);
    family.Add({}).Set(static_cast<double>(value));
  }
  for (auto& [name, h] : reg.histograms()) {
    auto snap = h->snapshot();
    std::vector<double> increments;
    uint64_t prev = 0;
    for (auto c : snap.cumulative) {
      increments.push_back(static_cast<double>(c - prev));
      prev = c;
    }
    auto& family = prometheus::BuildHistogram().Name("ping_" + name).Help(name).Register(out);
    family.Add({}, h->bounds()).ObserveMultiple(increments, snap.sum);
  }
  auto& handled = prometheus::BuildCounter()
                    .Name("ping_actor_messages_handled_total")
                    .Help("messages handled per actor")
                    .Register(out);
  auto& restarts = prometheus::BuildCounter()
                     .Name("ping_actor_restarts_total")
                     .Help("restarts per actor by its supervisor")
                     .Register(out);
  auto& mailbox = prometheus::BuildGauge()
                    .Name("ping_actor_mailbox_depth")
                    .Help("mailbox depth seen at the actor's last message")
                    .Register(out);
  auto& backlog = prometheus::BuildGauge()
                    .Name("ping_actor_backlog")
                    .Help("work the actor holds (pending requests, unflushed records)")
                    .Register(out);
  auto& up = prometheus::BuildGauge()
               .Name("ping_actor_up")
               .Help("1 when the actor's dependency is reachable")
               .Register(out);
  for (auto& a : reg.actors()) {
    prometheus::Labels labels{{"actor", a->name}, {"kind", a->kind}};
    handled.Add(labels).Increment(static_cast<double>(a->handled.load()));
    restarts.Add(labels).Increment(static_cast<double>(a->restarts.load()));
    mailbox.Add(labels).Set(static_cast<double>(a->mailbox.load()));
    backlog.Add(labels).Set(static_cast<double>(a->backlog.load()));
    up.Add(labels).Set(a->up.load() ? 1 : 0);
  }
  return prometheus::TextSerializer{}.Serialize(out.Collect());
}

namespace {

std::string read_token(const admin_options& opts) {
  if (opts.token_file.empty())
    return opts.token;
  std::ifstream in{opts.token_file};
  if (!in)
    throw std::runtime_error("cannot read admin token file " + opts.token_file);
  std::stringstream ss;
  ss << in.rdbuf();
  auto token = ss.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' '))
    token.pop_back();
  if (token.empty())
    throw std::runtime_error("admin token file " + opts.token_file + " is empty");
  return token;
}

// Constant-time comparison: the token check must not leak by timing.
bool same(const std::string& a, const std::string& b) {
  if (a.size() != b.size())
    return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

} // namespace

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

// The admin API. Every call answers from atomics on the I/O thread: nothing
// here blocks or touches an actor's state.
std::vector<connectrpc::procedure> admin_procedures(telemetry::registry& reg,
                                                    node_info info) {
  namespace v1 = ping::admin::v1;
  using connectrpc::typed_handler;
  auto started = std::chrono::steady_clock::now();
  std::map<std::string, connectrpc::handler> handlers;
  handlers["GetStatus"] = typed_handler<v1::GetStatusRequest>(
    [info, started](std::unique_ptr<v1::GetStatusRequest>, connectrpc::call_context,
                    connectrpc::responder done) {
      v1::GetStatusResponse resp;
      resp.set_binary(info.binary);
      resp.set_version(info.version);
      resp.set_uptime_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - started)
                           .count());
      for (auto& line : info.config)
        resp.add_config(line);
      resp.set_log_level(level_name(log::current_level()));
      done.ok(resp);
    });
  handlers["ListActors"] = typed_handler<v1::ListActorsRequest>(
    [&reg](std::unique_ptr<v1::ListActorsRequest>, connectrpc::call_context,
           connectrpc::responder done) {
      v1::ListActorsResponse resp;
      for (auto& a : reg.actors()) {
        auto* out = resp.add_actors();
        out->set_name(a->name);
        out->set_kind(a->kind);
        out->set_parent(a->parent);
        out->set_mailbox_depth(a->mailbox.load());
        out->set_messages_handled(a->handled.load());
        out->set_restarts(a->restarts.load());
        out->set_backlog(a->backlog.load());
        out->set_up(a->up.load());
      }
      done.ok(resp);
    });
  handlers["SetLogLevel"] = typed_handler<v1::SetLogLevelRequest>(
    [](std::unique_ptr<v1::SetLogLevelRequest> req, connectrpc::call_context,
       connectrpc::responder done) {
      log::level lvl;
      if (!log::parse_level(req->level(), lvl)) {
        done.fail(connectrpc::code::invalid_argument,
                  "level must be debug, info, warn or error");
        return;
      }
      log::set_level(lvl);
      log::info("admin", "log level changed", {{"level", req->level()}});
      v1::SetLogLevelResponse resp;
      resp.set_level(req->level());
      done.ok(resp);
    });
  return connectrpc::procedures_for(
    *v1::GetStatusRequest::descriptor()->file()->FindServiceByName("AdminService"),
    std::move(handlers));
}

} // namespace

admin_server::admin_server(admin_options opts, telemetry::registry& reg,
                           std::function<bool()> ready, node_info info) {
  auto token = read_token(opts);
  if (token.empty() && !is_loopback(opts.address))
    throw std::runtime_error("admin endpoint on " + opts.address
                             + " needs a bearer token (admin.token-file or admin.token); "
                               "only loopback addresses may go without one");
  connectrpc::server_options so;
  so.address = opts.address;
  so.port = opts.port;
  so.max_connections = 64;
  so.header_timeout = std::chrono::seconds(5);
  so.body_timeout = std::chrono::seconds(5);
  if (!token.empty())
    so.authorize = [expected = "Bearer " + token](const connectrpc::call_context& ctx) {
      auto* h = ctx.header("authorization");
      return h && same(*h, expected);
    };
  std::vector<connectrpc::static_file> routes;
  connectrpc::static_file healthz{"/healthz", "text/plain; charset=utf-8", "ok\n"};
  healthz.open = true;
  routes.push_back(healthz);
  connectrpc::static_file readyz{"/readyz", "", "",
                                 [ready](const connectrpc::call_context&) {
                                   return ready() ? connectrpc::http_answer{200, "text/plain; charset=utf-8", "ready\n"}
                                                  : connectrpc::http_answer{503, "text/plain; charset=utf-8", "not ready\n"};
                                 }};
  readyz.open = true;
  routes.push_back(readyz);
  routes.push_back({"/metrics", "", "", [&reg](const connectrpc::call_context&) {
                      return connectrpc::http_answer{
                        200, "text/plain; version=0.0.4; charset=utf-8", render_metrics(reg)};
                    }});
  server_ = std::make_unique<connectrpc::server>(so, admin_procedures(reg, std::move(info)),
                                                 std::move(routes));
}

admin_server::~admin_server() = default;

void admin_server::start() {
  server_->start();
}

uint16_t admin_server::port() const {
  return server_->port();
}

void admin_server::stop() {
  server_->stop(std::chrono::milliseconds(200));
}

} // namespace ping::apps
