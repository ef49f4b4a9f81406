#include "gateways/grpc/grpc_frontend.hpp"

#include <algorithm>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_posix.h>

#include "actors/common/ids.hpp"
#include "actors/common/log.hpp"
#include "actors/common/trace.hpp"
#include "gateways/common/status.hpp"
#include "gateways/grpc/h2_guard.hpp"
#include "gateways/grpc/reflection_v1.hpp"
#include "gateways/grpc/rpc_interceptor.hpp"
#include "grpc/health/v1/health.pb.h"
#include "ping/v1/ping.grpc.pb.h"
#include <caf/send.hpp>

namespace ping::gateways {

namespace {

constexpr const char* ping_service_name = "ping.v1.PingService";

grpc::Status to_grpc_status(const caf::error& err) {
  auto st = to_rpc_status(err);
  if (st.code == rpc_code::ok) // an error path must not answer OK
    return grpc::Status(grpc::StatusCode::INTERNAL, "internal error");
  return grpc::Status(static_cast<grpc::StatusCode>(st.code), st.message);
}

// How long this call may wait for the gateway actor: the client's deadline,
// capped by the default; nullopt when the deadline has already passed.
std::optional<caf::timespan> call_timeout(const grpc::CallbackServerContext& ctx,
                                          caf::timespan default_timeout) {
  auto deadline = ctx.deadline();
  if (deadline == std::chrono::system_clock::time_point::max())
    return default_timeout; // the client set no deadline
  auto left
    = std::chrono::duration_cast<caf::timespan>(deadline - std::chrono::system_clock::now());
  if (left <= caf::timespan::zero())
    return std::nullopt;
  return std::min(left, default_timeout);
}

// The call's trace: the client's traceparent metadata, or a new trace.
trace::context trace_of(const grpc::CallbackServerContext& ctx) {
  auto m = ctx.client_metadata().find("traceparent");
  if (m == ctx.client_metadata().end())
    return trace::start(nullptr, now_ms());
  return trace::start(std::string_view{m->second.data(), m->second.size()}, now_ms());
}

// Pings for the gateway, handed over in batches. gRPC's callback threads
// have no event-loop turn to end a batch, so the first Ping after a
// hand-over sends the gateway one batch_atom message, and when the gateway
// runs it (`take`), it takes every Ping queued meanwhile: the CAF worker
// wakes once per hand-over, not once per call, and the batch's pings go to
// persistence in one request. The answers finish the calls from a CAF
// thread. A message the gateway never runs (it stopped) takes its calls
// when it is destroyed and answers them `unavailable`. Bounded: the queue
// holds calls in flight only (max_concurrent_streams per connection).
class ping_batcher {
public:
  explicit ping_batcher(gateway::gateway_actor gw) : gw_(std::move(gw)) {}

  void add(gateway::call c, grpc::ServerUnaryReactor* reactor) {
    {
      std::lock_guard<std::mutex> lock{mtx_};
      calls_.push_back(std::move(c));
      reactors_.push_back(reactor);
      if (sent_)
        return;
      sent_ = true;
    }
    // Taken once: by the gateway, else when the message is dropped.
    auto token = std::make_shared<take_token>(this);
    caf::anon_send(gw_, batch_atom::value,
                   gateway::call_batch{{}, nullptr, [token](gateway::call_batch& b) {
                                         token->taken = true;
                                         token->owner->take(b);
                                       }});
  }

private:
  // `owner` outlives every token: an untaken token means unfinished calls,
  // and the server's Shutdown() returns only once every call finished, so
  // the service (and its batcher) cannot be destroyed before the take.
  struct take_token {
    explicit take_token(ping_batcher* b) : owner(b) {}
    take_token(const take_token&) = delete;
    take_token& operator=(const take_token&) = delete;
    ~take_token() {
      if (taken)
        return;
      gateway::call_batch dropped;
      owner->take(dropped); // the reply, dropped unanswered: unavailable
    }
    ping_batcher* owner;
    bool taken = false;
  };

  void take(gateway::call_batch& b) {
    std::vector<grpc::ServerUnaryReactor*> reactors;
    {
      std::lock_guard<std::mutex> lock{mtx_};
      sent_ = false;
      b.calls.swap(calls_);
      reactors.swap(reactors_);
    }
    b.reply = std::make_shared<gateway::batch_reply>(
      b.calls.size(), [rs = std::move(reactors)](std::vector<gateway::answer>& answers) {
        for (auto& a : answers)
          rs[a.index]->Finish(a.err ? to_grpc_status(a.err) : grpc::Status::OK);
      });
  }

  gateway::gateway_actor gw_;
  std::mutex mtx_;
  std::vector<gateway::call> calls_;
  std::vector<grpc::ServerUnaryReactor*> reactors_;
  bool sent_ = false; // a batch_atom is on its way and has not taken yet
};

// ping.v1.PingService: Pings go to the gateway actor in batches
// (ping_batcher); each PingCount is one message carrying a reply that
// finishes the call from a CAF thread.
class ping_service final : public ping::v1::PingService::CallbackService {
public:
  ping_service(gateway::gateway_actor gw, caf::timespan default_timeout)
    : gw_(gw), default_timeout_(default_timeout), pings_(std::move(gw)) {}

  grpc::ServerUnaryReactor* Ping(grpc::CallbackServerContext* ctx, const ping::v1::PingRequest* req,
                                 ping::v1::PingResponse*) override {
    auto* reactor = ctx->DefaultReactor();
    // The client's trace (or a new one), echoed with our span id in the
    // initial metadata.
    auto tc = trace_of(*ctx);
    ctx->AddInitialMetadata("traceparent", std::string{trace::view(trace::format(tc))});
    auto timeout = call_timeout(*ctx, default_timeout_);
    if (!timeout) {
      reactor->Finish(deadline_exceeded());
      return reactor;
    }
    // Issue 19 item 13: the idempotency key, from the field or metadata.
    std::optional<std::string> header;
    if (auto m = ctx->client_metadata().find("idempotency-key"); m != ctx->client_metadata().end())
      header.emplace(m->second.data(), m->second.size());
    auto key = gateway::idempotency_key(req->idempotency_key(), header ? &*header : nullptr);
    if (!key) {
      if (log::enabled(log::level::debug))
        log::debug("grpc", "ping rejected",
                   {{log::trace_id_key, trace::trace_id_string(tc)},
                    {"error", to_string(key.error())}});
      reactor->Finish(to_grpc_status(key.error()));
      return reactor;
    }
    gateway::call c;
    c.timestamp_ms = int64_t{req->timestamp_ms()};
    c.key = std::move(*key);
    c.deadline = std::chrono::steady_clock::now() + *timeout;
    c.trace = tc;
    pings_.add(std::move(c), reactor);
    return reactor;
  }

  grpc::ServerUnaryReactor* PingCount(grpc::CallbackServerContext* ctx,
                                      const ping::v1::PingCountRequest* req,
                                      ping::v1::PingCountResponse* resp) override {
    auto* reactor = ctx->DefaultReactor();
    // As Ping: the client's trace (or a new one), echoed with our span id.
    auto tc = trace_of(*ctx);
    ctx->AddInitialMetadata("traceparent", std::string{trace::view(trace::format(tc))});
    auto timeout = call_timeout(*ctx, default_timeout_);
    if (!timeout) {
      reactor->Finish(deadline_exceeded());
      return reactor;
    }
    time_range range;
    if (req->has_time_range())
      range = time_range{true, req->time_range().start(), req->time_range().end()};
    // `resp` lives until the reactor's OnDone, i.e. after Finish.
    caf::anon_send(
      gw_, count_atom::value, range, tc,
      gateway::count_reply{[reactor, resp](count_result& res) {
                             resp->set_ping_count(res.count);
                             reactor->Finish(grpc::Status::OK);
                           },
                           [reactor](caf::error& err) { reactor->Finish(to_grpc_status(err)); },
                           std::chrono::steady_clock::now() + *timeout});
    return reactor;
  }

private:
  static grpc::Status deadline_exceeded() {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline exceeded");
  }

  gateway::gateway_actor gw_;
  caf::timespan default_timeout_;
  ping_batcher pings_;
};

} // namespace

struct grpc_frontend::impl {
  impl(gateway::gateway_actor gw, grpc_options opts)
    : opts(std::move(opts)), service(std::move(gw), this->opts.default_timeout) {}

  // Applies `serving` to the health service; requires `mtx` and a server.
  void apply_serving() {
    auto* health = server->GetHealthCheckService();
    if (health == nullptr)
      return;
    health->SetServingStatus("", serving);
    health->SetServingStatus(ping_service_name, serving);
  }

  grpc_options opts;
  ping_service service;
  std::mutex mtx; // guards serving and server's health service
  bool serving = true;
  uint16_t bound_port = 0;
  bool stopped = false;
  std::unique_ptr<grpc::Server> server;
  // Owns the listening socket and feeds the server its connections
  // (h2_guard.hpp: why gRPC 1.51 needs it).
  std::unique_ptr<h2_guard> guard;
};

grpc_frontend::grpc_frontend(gateway::gateway_actor gw, grpc_options opts)
  : impl_(std::make_unique<impl>(std::move(gw), std::move(opts))) {}

grpc_frontend::~grpc_frontend() {
  stop(std::chrono::milliseconds::zero());
}

void grpc_frontend::start() {
  if (impl_->server != nullptr || impl_->stopped)
    throw std::runtime_error("grpc_frontend: start() called twice or after stop()");
  // The built-in health service has no descriptor in the generated pool;
  // referencing our copy of health.proto links it in, so reflection can
  // describe grpc.health.v1.Health.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  static std::once_flag global_setup;
  std::call_once(global_setup, [] {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin(); // v1alpha
  });

  // The server listens on no port of its own: the guard accepts each
  // connection and hands the server one end of a socketpair.
  grpc::ServerBuilder builder;
  auto& o = impl_->opts;
  auto ms = [](caf::timespan t) {
    return static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(t).count());
  };
  builder.SetMaxReceiveMessageSize(o.max_message_bytes);
  builder.SetMaxSendMessageSize(o.max_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, o.max_concurrent_streams);
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, o.max_metadata_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, ms(o.max_connection_idle));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, ms(o.max_connection_age));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, ms(o.max_connection_age_grace));
  grpc::ResourceQuota quota{"ping-grpc"};
  quota.Resize(o.memory_quota_bytes);
  quota.SetMaxThreads(o.max_threads);
  builder.SetResourceQuota(quota);
  builder.RegisterService(&impl_->service);
  builder.SetOption(make_reflection_v1_option());
  builder.experimental().SetInterceptorCreators(rpc_interceptors(o.metrics));
  auto server = builder.BuildAndStart();
  if (server == nullptr)
    throw std::runtime_error("grpc_frontend: cannot start the gRPC server");
  h2_guard_options g;
  g.address = o.address;
  g.port = o.port;
  g.resets_per_second = o.resets_per_second;
  g.reset_burst = o.reset_burst;
  g.max_connections = o.max_connections;
  auto guard = std::make_unique<h2_guard>(g, [srv = server.get()](int fd) {
    grpc::AddInsecureChannelFromFd(srv, fd);
  });
  try {
    guard->start();
  } catch (...) {
    server->Shutdown();
    server->Wait();
    throw;
  }
  std::lock_guard<std::mutex> lock{impl_->mtx};
  impl_->server = std::move(server);
  impl_->guard = std::move(guard);
  impl_->bound_port = impl_->guard->port();
  impl_->apply_serving();
}

uint16_t grpc_frontend::port() const {
  return impl_->bound_port;
}

void grpc_frontend::set_serving(bool serving) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  impl_->serving = serving;
  if (impl_->server != nullptr && !impl_->stopped)
    impl_->apply_serving();
}

void grpc_frontend::stop(std::chrono::milliseconds drain) {
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    if (impl_->stopped)
      return;
    impl_->stopped = true;
  }
  if (impl_->server == nullptr)
    return;
  // No new connections; those open stay connected through the guard while
  // the server drains them. Shutdown stops accepting calls at once (each
  // connection gets a GOAWAY), cancels those still running at the deadline
  // (health turns NOT_SERVING), and returns once all have finished; every
  // call finishes within its timeout, so this is bounded.
  impl_->guard->stop_accepting();
  impl_->server->Shutdown(std::chrono::system_clock::now() + drain);
  impl_->server->Wait();
  impl_->guard->stop();
}

} // namespace ping::gateways
