#include "gateways/connect/connect_frontend.hpp"

#include <algorithm>
#include <mutex>
#include <vector>

#include <caf/send.hpp>

#include "actors/common/ids.hpp"
#include "actors/common/log.hpp"
#include "actors/common/trace.hpp"
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

// The calls the handlers parsed in one turn of the I/O loop: the first
// call of a turn posts one flush to the I/O loop, which runs after the
// turn's other handlers and hands every call to the gateway actor as one
// message (call_batch); the gateway answers the calls it knows together
// (a commit, a count) in one hand-over, which completes their responders.
// So the CAF worker wakes once per turn, not once per call. Bounded: each
// connection has at most one call in flight (HTTP/1.1), so a turn holds at
// most max_connections calls. Handlers may run on several I/O threads at
// once: the mutex guards the turn's calls.
class connect_frontend::batcher {
public:
  explicit batcher(gateway::gateway_actor gw) : gw_(std::move(gw)) {}

  void bind(connectrpc::server* server) { server_ = server; }

  void add(gateway::call c, connectrpc::responder done) {
    std::lock_guard<std::mutex> lock{mtx_};
    calls_.push_back(std::move(c));
    responders_.push_back(std::move(done));
    if (flush_posted_)
      return;
    flush_posted_ = true;
    server_->post([this] { flush(); });
  }

private:
  void flush() {
    std::vector<gateway::call> calls;
    std::vector<connectrpc::responder> responders;
    {
      std::lock_guard<std::mutex> lock{mtx_};
      flush_posted_ = false;
      calls.swap(calls_);
      responders.swap(responders_);
    }
    if (calls.empty())
      return;
    std::vector<bool> counts(calls.size());
    for (size_t i = 0; i < calls.size(); ++i)
      counts[i] = calls[i].count;
    auto reply = std::make_shared<gateway::batch_reply>(
      calls.size(), [rs = std::move(responders),
                     counts = std::move(counts)](std::vector<gateway::answer>& answers) {
        for (auto& a : answers) {
          auto& done = rs[a.index];
          if (a.err)
            done.fail(to_connect(a.err));
          else if (counts[a.index])
            answer_count(done, a.count);
          else
            done.ok(v1::PingResponse{});
        }
      });
    caf::anon_send(gw_, batch_atom::value, gateway::call_batch{std::move(calls), std::move(reply)});
  }

  static void answer_count(const connectrpc::responder& done, const count_result& r) {
    v1::PingCountResponse resp;
    resp.set_ping_count(r.count);
    done.ok(resp);
  }

  gateway::gateway_actor gw_;
  connectrpc::server* server_ = nullptr;
  std::mutex mtx_;
  std::vector<gateway::call> calls_;
  std::vector<connectrpc::responder> responders_;
  bool flush_posted_ = false;
};

connect_frontend::connect_frontend(gateway::gateway_actor gw, connect_options opts)
  : batcher_(std::make_unique<batcher>(std::move(gw))) {
  using connectrpc::typed_handler;
  auto fallback = opts.default_timeout;
  auto* b = batcher_.get();
  std::map<std::string, connectrpc::handler> handlers;
  handlers["Ping"] = typed_handler<v1::PingRequest>(
    [b, fallback](std::unique_ptr<v1::PingRequest> req, const connectrpc::call_context& ctx,
                  connectrpc::responder done) {
      // The client's trace (or a new one), echoed with our span id.
      auto tc = trace::start(ctx.header("traceparent"), now_ms());
      done.add_header("traceparent", std::string{trace::view(trace::format(tc))});
      auto left = budget(ctx, fallback);
      if (left <= caf::timespan{0}) {
        done.fail(connectrpc::code::deadline_exceeded, "deadline exceeded");
        return;
      }
      auto key = gateway::idempotency_key(req->idempotency_key(), ctx.header("idempotency-key"));
      if (!key) {
        if (log::enabled(log::level::debug))
          log::debug("connect", "ping rejected",
                     {{log::trace_id_key, trace::trace_id_string(tc)},
                      {"error", to_string(key.error())}});
        done.fail(to_connect(key.error()));
        return;
      }
      gateway::call c;
      c.timestamp_ms = static_cast<int64_t>(req->timestamp_ms());
      c.key = std::move(*key);
      c.deadline = std::chrono::steady_clock::now() + left;
      c.trace = tc;
      b->add(std::move(c), std::move(done));
    });
  handlers["PingCount"] = typed_handler<v1::PingCountRequest>(
    [b, fallback](std::unique_ptr<v1::PingCountRequest> req, const connectrpc::call_context& ctx,
                  connectrpc::responder done) {
      // As Ping: the client's trace (or a new one), echoed with our span id.
      auto tc = trace::start(ctx.header("traceparent"), now_ms());
      done.add_header("traceparent", std::string{trace::view(trace::format(tc))});
      auto left = budget(ctx, fallback);
      if (left <= caf::timespan{0}) {
        done.fail(connectrpc::code::deadline_exceeded, "deadline exceeded");
        return;
      }
      gateway::call c;
      c.count = true;
      c.trace = tc;
      if (req->has_time_range())
        c.range = {true, req->time_range().start(), req->time_range().end()};
      c.deadline = std::chrono::steady_clock::now() + left;
      b->add(std::move(c), std::move(done));
    });
  // The handlers read these two headers only: the call context copies no
  // other (each copied header costs the I/O thread allocations per call).
  opts.server.context_headers = std::vector<std::string>{"traceparent", "idempotency-key"};
  if (opts.server.thread_name.empty())
    opts.server.thread_name = "connect-io";
  if (opts.metrics)
    opts.server.on_response = [m = opts.metrics](std::string_view path, connectrpc::code c,
                                                 std::chrono::steady_clock::duration took) {
      m->observe(rpc_protocol::connect, path, static_cast<int>(c), took);
    };
  server_ = std::make_unique<connectrpc::server>(
    opts.server, connectrpc::procedures_for(
                   *v1::PingRequest::descriptor()->file()->FindServiceByName("PingService"),
                   std::move(handlers)));
  batcher_->bind(server_.get());
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
