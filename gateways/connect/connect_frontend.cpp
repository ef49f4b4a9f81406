#include "gateways/connect/connect_frontend.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
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

// PingCount {} answered on the I/O thread (connect_options::board): each
// call is parked with the last round started when it arrived, and answered
// by the first published round numbered above it (actors/counts/board.hpp).
// The gateway gets one message per round asked from an idle board (and
// per timer), not per call; a published round posts one wake-up, which answers every
// call it covers (and every call past its deadline) on the I/O thread that
// runs it. Bounded: `max_parked` calls.
class connect_frontend::counter {
public:
  using clock = std::chrono::steady_clock;

  counter(gateway::gateway_actor gw, const connect_options& opts)
    : gw_(std::move(gw)),
      parking_(opts.board, opts.max_parked),
      board_(opts.board),
      count_timeout_(opts.count_timeout),
      slow_count_(opts.slow_count) {}

  ~counter() { unbind(); }

  // After the server exists: a published round posts a wake-up to it. It
  // keeps the board's timers: a round's gap ends on this event loop.
  void bind(connectrpc::server* server) {
    server_ = server;
    listener_ = board_->listen(
      [this] {
        if (!wake_posted_.exchange(true))
          server_->post([this] { wake(); });
      },
      true);
  }

  // The board never calls this front-end again.
  void unbind() {
    if (listener_ != 0)
      board_->unlisten(listener_);
    listener_ = 0;
  }

  void add(connectrpc::responder done, const trace::context& tc, caf::timespan left) {
    auto now = clock::now();
    auto deadline = now + std::min(left, count_timeout_);
    auto p = parking_.park({done, tc}, deadline, now);
    if (p.busy) {
      done.fail(connectrpc::code::resource_exhausted, "too many counts waiting; retry later");
      return;
    }
    if (p.err) { // the count reader is gone
      done.fail(to_connect(p.err));
      return;
    }
    ask(p.ask, p.wake_at);
  }

private:
  struct parked_call {
    connectrpc::responder done;
    trace::context trace;
  };

  void ask(bool read, std::optional<clock::time_point> wake_at) {
    if (read || wake_at)
      caf::anon_send(gw_, count_atom::value, gateway::count_round{read, wake_at});
  }

  void wake() {
    wake_posted_.store(false);
    if (auto at = board_->take_ask_at())
      server_->post_at(*at, [this] { ask(true, std::nullopt); });
    auto now = clock::now();
    auto due = parking_.take(now);
    ask(due.ask, due.wake_at);
    for (auto& d : due.answered) {
      auto took = now - d.arrived;
      if (d.result) {
        auto* h = d.result->source == "postgres" ? board_->from_postgres : board_->from_cache;
        if (h)
          h->observe(std::chrono::duration<double>(took).count());
        v1::PingCountResponse resp;
        resp.set_ping_count(d.result->count);
        d.call.done.ok(resp);
      } else {
        if (board_->expired && d.result.error() == ping_errc::deadline_exceeded)
          (*board_->expired)++;
        d.call.done.fail(to_connect(d.result.error()));
      }
      if (took >= slow_count_)
        slow(d.call.trace, took, d.result, now);
    }
  }

  // As the gateway's line about a slow PingCount: its trace id and the
  // round (the count reader's read) that answered it; at most 100 a second.
  void slow(const trace::context& tc, clock::duration took, const caf::expected<count_result>& res,
            clock::time_point now) {
    if (!log::enabled(log::level::info))
      return;
    uint64_t held = 0;
    {
      std::lock_guard<std::mutex> lock{lines_mtx_};
      if (now >= lines_window_) {
        lines_window_ = now + std::chrono::seconds(1);
        lines_used_ = 0;
      }
      if (lines_used_ >= 100) {
        ++lines_suppressed_;
        return;
      }
      ++lines_used_;
      held = lines_suppressed_;
      lines_suppressed_ = 0;
    }
    auto ms = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(took).count());
    if (res)
      log::info("gateway", "slow PingCount",
                {{log::trace_id_key, trace::trace_id_string(tc)},
                 {"ms", ms},
                 {"read", std::to_string(res->read)},
                 {"source", res->source},
                 {"suppressed", std::to_string(held)}});
    else
      log::info("gateway", "slow PingCount",
                {{log::trace_id_key, trace::trace_id_string(tc)},
                 {"ms", ms},
                 {"error", to_string(res.error())},
                 {"suppressed", std::to_string(held)}});
  }

  gateway::gateway_actor gw_;
  counts::count_parking<parked_call> parking_;
  std::shared_ptr<counts::count_board> board_;
  caf::timespan count_timeout_;
  caf::timespan slow_count_;
  connectrpc::server* server_ = nullptr;
  size_t listener_ = 0;
  std::atomic<bool> wake_posted_{false};
  std::mutex lines_mtx_;
  clock::time_point lines_window_{};
  uint64_t lines_used_ = 0;
  uint64_t lines_suppressed_ = 0;
};

connect_frontend::connect_frontend(const gateway::gateway_actor& gw, connect_options opts)
  : batcher_(std::make_unique<batcher>(gw)),
    counter_(opts.board ? std::make_unique<counter>(gw, opts) : nullptr) {
  using connectrpc::typed_handler;
  auto fallback = opts.default_timeout;
  auto* b = batcher_.get();
  auto* n = counter_.get();
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
    [b, n, fallback](std::unique_ptr<v1::PingCountRequest> req, const connectrpc::call_context& ctx,
                     connectrpc::responder done) {
      // As Ping: the client's trace (or a new one), echoed with our span id.
      auto tc = trace::start(ctx.header("traceparent"), now_ms());
      done.add_header("traceparent", std::string{trace::view(trace::format(tc))});
      auto left = budget(ctx, fallback);
      if (left <= caf::timespan{0}) {
        done.fail(connectrpc::code::deadline_exceeded, "deadline exceeded");
        return;
      }
      if (n && !req->has_time_range()) {
        n->add(std::move(done), tc, left); // on this thread, from the count board
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
  if (counter_)
    counter_->bind(server_.get());
}

connect_frontend::~connect_frontend() {
  if (counter_)
    counter_->unbind(); // before the server goes
}

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
