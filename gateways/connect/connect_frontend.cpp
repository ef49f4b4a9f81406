#include "gateways/connect/connect_frontend.hpp"

#include <algorithm>

#include <caf/send.hpp>

#include "gateways/common/rpc_metrics.hpp"
#include "gateways/common/status.hpp"
#include "ping/v1/ping.pb.h"

namespace ping::gateways {

namespace {

connectrpc::status to_connect(const caf::error& err) {
  auto st = to_rpc_status(err);
  return {static_cast<connectrpc::code>(st.code), std::move(st.message)};
}

// Time left for the call: the client's deadline, or the default.
caf::timespan budget(const connectrpc::call_context& ctx, caf::timespan fallback) {
  if (!ctx.deadline)
    return fallback;
  return std::min<caf::timespan>(fallback, *ctx.deadline - std::chrono::steady_clock::now());
}

} // namespace

connect_frontend::connect_frontend(gateway::gateway_actor gw,
                                   connect_options opts) {
  using connectrpc::typed_handler;
  auto fallback = opts.default_timeout;
  std::map<std::string, connectrpc::handler> handlers;
  handlers["Ping"] = typed_handler<v1::PingRequest>(
    [gw, fallback](std::unique_ptr<v1::PingRequest> req,
                         const connectrpc::call_context& ctx, connectrpc::responder done) {
      auto left = budget(ctx, fallback);
      if (left <= caf::timespan{0}) {
        done.fail(connectrpc::code::deadline_exceeded, "deadline exceeded");
        return;
      }
      auto key = gateway::idempotency_key(req->idempotency_key(), ctx.header("idempotency-key"));
      if (!key) {
        done.fail(to_connect(key.error()));
        return;
      }
      caf::anon_send(gw, ping_atom::value, static_cast<int64_t>(req->timestamp_ms()), std::move(*key),
                     gateway::ping_reply{
                       [done](gateway::ping_ack&) mutable { done.ok(v1::PingResponse{}); },
                       [done](caf::error& err) mutable { done.fail(to_connect(err)); },
                       std::chrono::steady_clock::now() + left});
    });
  handlers["PingCount"] = typed_handler<v1::PingCountRequest>(
    [gw, fallback](std::unique_ptr<v1::PingCountRequest> req,
                         const connectrpc::call_context& ctx, connectrpc::responder done) {
      auto left = budget(ctx, fallback);
      if (left <= caf::timespan{0}) {
        done.fail(connectrpc::code::deadline_exceeded, "deadline exceeded");
        return;
      }
      time_range range;
      if (req->has_time_range())
        range = {true, req->time_range().start(), req->time_range().end()};
      caf::anon_send(gw, count_atom::value, range,
                     gateway::count_reply{
                       [done](count_result& r) mutable {
                         v1::PingCountResponse resp;
                         resp.set_ping_count(r.count);
                         done.ok(resp);
                       },
                       [done](caf::error& err) mutable { done.fail(to_connect(err)); },
                       std::chrono::steady_clock::now() + left});
    });
  if (opts.metrics)
    opts.server.on_response = [m = opts.metrics](std::string_view path, connectrpc::code c,
                                                 std::chrono::steady_clock::duration took) {
      m->observe(rpc_protocol::connect, path, static_cast<int>(c), took);
    };
  server_ = std::make_unique<connectrpc::server>(
    opts.server,
    connectrpc::procedures_for(
      *v1::PingRequest::descriptor()->file()->FindServiceByName("PingService"),
      std::move(handlers)));
}

connect_frontend::~connect_frontend() = default;

void connect_frontend::start() {
  server_->start();
}

uint16_t connect_frontend::port() const {
  return server_->port();
}

void connect_frontend::stop(std::chrono::milliseconds drain) {
  server_->stop(drain);
}

} // namespace ping::gateways
