#include "admin/cluster/collector.hpp"

#include <algorithm>
#include <optional>

#include <connectrpc/client.hpp>

#include "actors/common/log.hpp"

namespace ping::admin::cluster {

namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* service_path = "/ping.admin.v1.AdminService/";
constexpr const char* gateway_binary = "ping-gateway";

struct call_result {
  connectrpc::code code = connectrpc::code::ok;
  std::string error; // how the operator reads it

  bool ok() const { return code == connectrpc::code::ok; }
};

std::string describe(const connectrpc::unary_outcome& o, milliseconds timeout) {
  using connectrpc::http_failure;
  switch (o.transport) {
    case http_failure::connect_failed:
      return "unreachable: " + o.transport_detail;
    case http_failure::timed_out:
      return "no answer within " + std::to_string(timeout.count()) + " ms";
    case http_failure::io_error:
      return "connection lost: " + o.transport_detail;
    case http_failure::interrupted:
      return "stopping";
    case http_failure::none:
      break;
  }
  auto code = std::string{connectrpc::to_string(o.status.c)};
  return o.status.message.empty() ? code : code + ": " + o.status.message;
}

// One call that must end by `deadline`.
call_result call(connectrpc::http_connection& conn, const std::string& label,
                 const std::string& bearer, const std::string& method,
                 const google::protobuf::Message& req, google::protobuf::Message& resp,
                 clock::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - clock::now());
  if (left.count() < 1)
    return {connectrpc::code::deadline_exceeded, "no answer within the deadline"};
  connectrpc::unary_call c;
  c.path = std::string{service_path} + method;
  c.address = label;
  c.encoding = connectrpc::encoding::proto;
  c.timeout = left;
  c.user_agent = "ping-admin-cluster";
  if (!bearer.empty())
    c.headers.emplace_back("Authorization", "Bearer " + bearer);
  auto o = connectrpc::call_unary(conn, c, req, resp);
  if (o.status.is_ok())
    return {};
  auto code = o.status.c == connectrpc::code::ok ? connectrpc::code::unavailable : o.status.c;
  return {code, describe(o, left)};
}

double ms_since(clock::time_point start) {
  return std::chrono::duration<double, std::milli>(clock::now() - start).count();
}

} // namespace

struct collector::peer {
  std::mutex m; // one round at a time uses the connection
  connectrpc::http_connection conn;

  peer(const target& t, const std::atomic<bool>& stopping) : conn(t.host, t.port) {
    conn.set_interrupt_check([&stopping] { return stopping.load(); });
  }
};

collector::collector(collector_settings cfg, std::string bearer, discovery& peers)
  : cfg_(cfg), bearer_(std::move(bearer)), peers_(peers) {
  cfg_.workers = std::max<size_t>(1, cfg_.workers);
  cfg_.command_threads = std::max<size_t>(1, cfg_.command_threads);
}

collector::~collector() {
  stop();
}

void collector::set_self(target self) {
  std::lock_guard<std::mutex> guard{mtx_};
  self_ = std::move(self);
}

void collector::start() {
  if (rounds_.joinable())
    return;
  rounds_ = std::thread{[this] { run_rounds(); }};
  for (size_t i = 0; i < cfg_.command_threads; ++i)
    command_threads_.emplace_back([this] { run_commands(); });
}

void collector::stop() {
  stopping_ = true;
  cv_.notify_all();
  cmd_cv_.notify_all();
  if (rounds_.joinable())
    rounds_.join();
  for (auto& t : command_threads_)
    if (t.joinable())
      t.join();
  command_threads_.clear();
  // Callers still waiting get an answer (the server may already be gone:
  // then completing is a no-op).
  std::deque<view_reply> waiting;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    waiting.swap(waiters_);
  }
  for (auto& w : waiting)
    w(failure{connectrpc::code::unavailable, "the node is stopping"});
  std::deque<job> jobs;
  {
    std::lock_guard<std::mutex> guard{cmd_mtx_};
    jobs.swap(jobs_);
  }
  for (auto& j : jobs)
    j.done(failure{connectrpc::code::unavailable, "the node is stopping"});
}

void collector::view(view_reply done) {
  std::unique_lock<std::mutex> lock{mtx_};
  if (stopping_) {
    lock.unlock();
    return done(failure{connectrpc::code::unavailable, "the node is stopping"});
  }
  auto now = clock::now();
  if (have_view_ && now - last_at_ < cfg_.max_age) {
    auto copy = last_;
    copy.set_age_ms(std::chrono::duration_cast<milliseconds>(now - last_at_).count());
    lock.unlock();
    return done(std::move(copy));
  }
  if (waiters_.size() >= cfg_.max_waiters) {
    lock.unlock();
    return done(failure{connectrpc::code::resource_exhausted,
                        "too many GetCluster calls waiting for the next round"});
  }
  waiters_.push_back(std::move(done));
  lock.unlock();
  cv_.notify_all();
}

void collector::run_rounds() {
  std::unique_lock<std::mutex> lock{mtx_};
  while (!stopping_) {
    cv_.wait(lock, [this] { return stopping_ || !waiters_.empty(); });
    if (stopping_)
      break;
    lock.unlock();
    auto view = round();
    lock.lock();
    last_ = view;
    last_at_ = clock::now();
    have_view_ = true;
    std::deque<view_reply> waiting;
    waiting.swap(waiters_);
    lock.unlock();
    for (auto& w : waiting)
      w(view); // copies: each responder serializes its own
    lock.lock();
  }
}

std::shared_ptr<collector::peer> collector::peer_for(const target& t) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto key = t.label + "@" + t.host;
  auto& p = conns_[key];
  if (!p)
    p = std::make_shared<peer>(t, stopping_);
  return p;
}

node_answers collector::ask(const target& t, bool self) {
  node_answers out;
  out.address = t.label;
  out.self = self;
  if (!t.error.empty()) {
    out.error = t.error;
    return out;
  }
  auto p = peer_for(t);
  std::lock_guard<std::mutex> guard{p->m};
  auto start = clock::now();
  auto deadline = start + cfg_.peer_timeout;
  auto r = call(p->conn, t.label, bearer_, "GetStatus", v1::GetStatusRequest{}, out.status,
                deadline);
  if (!r.ok()) {
    out.error = r.error;
    out.call_ms = ms_since(start);
    return out;
  }
  out.up = true;
  r = call(p->conn, t.label, bearer_, "GetPipeline", v1::GetPipelineRequest{}, out.pipeline,
           deadline);
  out.has_pipeline = r.ok();
  if (!r.ok())
    out.error = "GetPipeline: " + r.error;
  r = call(p->conn, t.label, bearer_, "GetLag", v1::GetLagRequest{}, out.lag, deadline);
  out.has_lag = r.ok();
  if (!r.ok() && out.error.empty())
    out.error = "GetLag: " + r.error;
  out.call_ms = ms_since(start);
  return out;
}

exactness_answer collector::ask_exactness(const std::vector<node_answers>& nodes) {
  exactness_answer out;
  out.error = "no ping-gateway answered";
  std::vector<target> targets;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    targets.push_back(self_);
  }
  for (auto& t : peers_.targets())
    targets.push_back(t);
  // This node when it is a gateway, else the first gateway that is up.
  for (auto& n : nodes) {
    if (!n.up || n.status.binary() != gateway_binary)
      continue;
    auto it = std::find_if(targets.begin(), targets.end(),
                           [&](const target& t) { return t.label == n.address; });
    if (it == targets.end())
      continue;
    auto p = peer_for(*it);
    std::lock_guard<std::mutex> guard{p->m};
    auto r = call(p->conn, it->label, bearer_, "GetExactness", v1::GetExactnessRequest{}, out.resp,
                  clock::now() + cfg_.peer_timeout);
    if (r.ok()) {
      out.ok = true;
      out.source = n.address;
      out.error.clear();
      return out;
    }
    out.error = n.address + ": " + r.error;
  }
  return out;
}

v1::GetClusterResponse collector::round() {
  std::vector<target> targets;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    targets.push_back(self_);
  }
  for (auto& t : peers_.targets())
    if (t.label != targets.front().label) // this node, listed among its peers
      targets.push_back(t);
  std::vector<node_answers> answers(targets.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < targets.size();)
      answers[i] = ask(targets[i], i == 0);
  };
  std::vector<std::thread> fan;
  auto threads = std::min(cfg_.workers, targets.size());
  for (size_t i = 1; i < threads; ++i)
    fan.emplace_back(work);
  work(); // this thread is one of the workers
  for (auto& t : fan)
    t.join();
  // Connections of targets that are gone are dropped.
  {
    std::lock_guard<std::mutex> guard{mtx_};
    std::erase_if(conns_, [&](auto& kv) {
      return std::none_of(targets.begin(), targets.end(),
                          [&](const target& t) { return kv.first == t.label + "@" + t.host; });
    });
  }
  // Exactness from the gateway as the nodes are listed (self first).
  auto listed = merge_duplicates(answers);
  auto exact = ask_exactness(listed);
  auto view = build_view(std::move(answers), exact);
  view.set_peer_timeout_ms(cfg_.peer_timeout.count());
  return view;
}

// -- forwarded commands -------------------------------------------------------

void collector::forward(const std::string& node, command c, command_reply done) {
  std::optional<target> where;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (node == self_.label)
      where = self_;
    else if (have_view_)
      for (auto& n : last_.nodes())
        if (n.self() && n.address() == node)
          where = self_; // this node under its discovered address
  }
  if (!where)
    for (auto& t : peers_.targets())
      if (t.label == node)
        where = t;
  if (!where)
    return done(failure{connectrpc::code::permission_denied,
                        "'" + node + "' is not a node of this cluster view"});
  if (!where->error.empty())
    return done(failure{connectrpc::code::unavailable, node + ": " + where->error});
  {
    std::lock_guard<std::mutex> guard{cmd_mtx_};
    if (stopping_)
      return done(failure{connectrpc::code::unavailable, "the node is stopping"});
    if (jobs_.size() >= cfg_.max_queued_commands)
      return done(
        failure{connectrpc::code::resource_exhausted, "too many forwarded commands waiting"});
    jobs_.push_back({*where, c, std::move(done)});
  }
  cmd_cv_.notify_one();
}

void collector::run_commands() {
  for (;;) {
    job j;
    {
      std::unique_lock<std::mutex> lock{cmd_mtx_};
      cmd_cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_)
        return;
      j = std::move(jobs_.front());
      jobs_.pop_front();
    }
    run_command(j);
  }
}

void collector::run_command(job& j) {
  // A connection of its own: a long command never holds up a round.
  connectrpc::http_connection conn{j.where.host, j.where.port};
  conn.set_interrupt_check([this] { return stopping_.load(); });
  auto method = std::string{method_of(j.what)};
  auto timeout = j.what == command::rebuild_cache ? cfg_.rebuild_timeout : cfg_.command_timeout;
  auto deadline = clock::now() + timeout;
  v1::RunNodeCommandResponse out;
  out.set_node(j.where.label);
  out.set_method(method);
  call_result r;
  switch (j.what) {
    case command::flush: {
      v1::FlushResponse resp;
      r = call(conn, j.where.label, bearer_, method, v1::FlushRequest{}, resp, deadline);
      out.set_partitions(resp.partitions());
      out.set_complete(resp.complete());
      break;
    }
    case command::pause: {
      v1::PauseConsumptionResponse resp;
      r = call(conn, j.where.label, bearer_, method, v1::PauseConsumptionRequest{}, resp, deadline);
      out.set_partitions(resp.partitions());
      out.set_paused(resp.paused());
      break;
    }
    case command::resume: {
      v1::ResumeConsumptionResponse resp;
      r = call(conn, j.where.label, bearer_, method, v1::ResumeConsumptionRequest{}, resp,
               deadline);
      out.set_partitions(resp.partitions());
      out.set_paused(resp.paused());
      break;
    }
    case command::rebuild_cache: {
      v1::RebuildCacheResponse resp;
      r = call(conn, j.where.label, bearer_, method, v1::RebuildCacheRequest{}, resp, deadline);
      out.set_partitions(resp.partitions());
      out.set_duration_ms(resp.duration_ms());
      break;
    }
  }
  log::info("admin", "forwarded command",
            {{"method", method}, {"node", j.where.label}, {"outcome", r.ok() ? "ok" : r.error}});
  if (!r.ok())
    return j.done(failure{r.code, j.where.label + ": " + r.error});
  j.done(std::move(out));
}

} // namespace ping::admin::cluster
