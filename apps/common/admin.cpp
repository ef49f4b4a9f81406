#include "apps/common/admin.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "actors/common/log.hpp"
#include "apps/common/console.hpp"
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
  for (auto& [name, f] : reg.families()) {
    auto& family = prometheus::BuildGauge().Name("ping_" + name).Help(name).Register(out);
    for (auto& [label, value] : f.values)
      family.Add({{f.label, label}}).Set(static_cast<double>(value));
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

std::string read_token_file(const std::string& path) {
  std::ifstream in{path};
  if (!in)
    throw std::runtime_error("cannot read admin token file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto token = ss.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' '))
    token.pop_back();
  if (token.empty())
    throw std::runtime_error("admin token file " + path + " is empty");
  return token;
}

std::string read_token(const admin_options& opts) {
  return opts.token_file.empty() ? opts.token : read_token_file(opts.token_file);
}

// Constant-time comparison: the token check must not leak by timing.
bool same(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// The token of an `Authorization: Bearer <token>` header; the scheme is
// case-insensitive (RFC 7235). Empty when the header is not a bearer one.
std::string_view bearer_token(std::string_view header) {
  constexpr std::string_view scheme = "bearer";
  if (header.size() <= scheme.size() || header[scheme.size()] != ' ')
    return {};
  for (size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(header[i])) != scheme[i])
      return {};
  auto token = header.substr(scheme.size() + 1);
  while (!token.empty() && token.front() == ' ')
    token.remove_prefix(1);
  return token;
}

// A Host header naming this machine's loopback: "localhost", "127.x.y.z" or
// "[::1]", with or without a port. Anything else, on an endpoint without a
// token, is a page of another origin reaching us through DNS rebinding.
bool loopback_host(std::string_view host) {
  std::string_view name = host;
  if (!name.empty() && name.front() == '[') {
    auto close = name.find(']');
    if (close == std::string_view::npos)
      return false;
    name = name.substr(0, close + 1);
  } else if (auto colon = name.rfind(':'); colon != std::string_view::npos) {
    name = name.substr(0, colon);
  }
  return is_loopback(std::string{name});
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

using clock = std::chrono::steady_clock;

} // namespace

// Snapshots of the registry, one per second, the last few kept: rates and
// recent latency quantiles are differences between the oldest kept snapshot
// and a fresh one.
struct admin_server::sampler {
  struct sample {
    clock::time_point at;
    std::map<std::string, uint64_t> counters;
    std::map<std::string, uint64_t> handled; // per actor
    std::map<std::string, telemetry::histogram::snapshot_t> histograms;
  };

  explicit sampler(telemetry::registry& r) : reg(r) {
    ring.push_back(take());
  }

  sample take() const {
    sample s;
    s.at = clock::now();
    for (auto& [name, value] : reg.counters())
      s.counters[name] = value;
    for (auto& a : reg.actors())
      s.handled[a->name] = a->handled.load();
    for (auto& [name, h] : reg.histograms())
      s.histograms[name] = h->snapshot();
    return s;
  }

  /// The oldest kept snapshot and a fresh one.
  std::pair<sample, sample> window() const {
    std::lock_guard<std::mutex> guard{mtx};
    return {ring.front(), take()};
  }

  void start() {
    thread = std::thread{[this] {
      std::unique_lock<std::mutex> lock{mtx};
      while (!cv.wait_for(lock, std::chrono::seconds(1), [this] { return stopping; })) {
        lock.unlock();
        auto s = take();
        lock.lock();
        ring.push_back(std::move(s));
        while (ring.size() > kept)
          ring.pop_front();
      }
    }};
  }

  void stop() {
    {
      std::lock_guard<std::mutex> guard{mtx};
      stopping = true;
    }
    cv.notify_all();
    if (thread.joinable())
      thread.join();
  }

  static constexpr size_t kept = 6; // a 5-second window
  telemetry::registry& reg;
  mutable std::mutex mtx;
  std::condition_variable cv;
  bool stopping = false;
  std::deque<sample> ring;
  std::thread thread;
};

namespace {

double seconds_between(const admin_server::sampler::sample& a,
                       const admin_server::sampler::sample& b) {
  return std::chrono::duration<double>(b.at - a.at).count();
}

double rate(uint64_t older, uint64_t newer, double seconds) {
  return seconds > 0 && newer >= older ? static_cast<double>(newer - older) / seconds : 0;
}

template <class Map>
auto value_or(const Map& m, const typename Map::key_type& key, typename Map::mapped_type fallback) {
  auto it = m.find(key);
  return it == m.end() ? fallback : it->second;
}

// A gauge's value, 0 when the node has no such gauge (without creating it).
int64_t gauge_value(const telemetry::registry& reg, const std::string& name) {
  for (auto& [n, v] : reg.gauges())
    if (n == name)
      return v;
  return 0;
}

// The method names this node accepts as commands, for consoles to offer.
std::vector<std::string> offered(const admin_hooks& hooks) {
  std::vector<std::string> out;
  if (hooks.flush)
    out.push_back("Flush");
  if (hooks.pause)
    out.push_back("PauseConsumption");
  if (hooks.resume)
    out.push_back("ResumeConsumption");
  if (hooks.rebuild_cache)
    out.push_back("RebuildCache");
  out.push_back("SetLogLevel");
  return out;
}

// A command: logged (an audit line), then handed to the hook, or refused
// when this node has none.
// True when the call came with the read-only token: commands refuse it.
bool read_only(const connectrpc::call_context& ctx, const std::string& read_token) {
  if (read_token.empty())
    return false;
  auto* h = ctx.header("authorization");
  return h && same(bearer_token(*h), read_token);
}

connectrpc::handler command(const std::string& method, const std::string& binary,
                            std::function<void(connectrpc::responder)> hook,
                            const std::string& read_token_value) {
  return [method, binary, hook, read_token_value](std::unique_ptr<google::protobuf::Message>,
                                             connectrpc::call_context ctx,
                                             connectrpc::responder done) {
    if (read_only(ctx, read_token_value)) {
      done.fail(connectrpc::code::permission_denied,
                method + " needs the admin token; the read-only token may not run commands");
      return;
    }
    if (!hook) {
      done.fail(connectrpc::code::unimplemented,
                method + " is not available on " + binary
                  + " (it acts on the consumer and the cache: use ping-processor)");
      return;
    }
    log::info("admin", "command", {{"method", method}});
    hook(std::move(done));
  };
}

// The admin API. Reads answer from atomics and sampler snapshots on the I/O
// thread; commands go through the hooks.
std::vector<connectrpc::procedure>
admin_procedures(telemetry::registry& reg, std::shared_ptr<admin_server::sampler> samples,
                 node_info info, admin_hooks hooks, const std::string& read_token_value) {
  namespace v1 = ping::admin::v1;
  using connectrpc::typed_handler;
  auto started = clock::now();
  std::map<std::string, connectrpc::handler> handlers;
  handlers["GetStatus"] = typed_handler<v1::GetStatusRequest>(
    [&reg, info, hooks, started](std::unique_ptr<v1::GetStatusRequest>,
                                 connectrpc::call_context, connectrpc::responder done) {
      v1::GetStatusResponse resp;
      resp.set_binary(info.binary);
      resp.set_version(info.version);
      resp.set_uptime_ms(
        std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started).count());
      for (auto& line : info.config)
        resp.add_config(line);
      resp.set_log_level(level_name(log::current_level()));
      for (auto& c : offered(hooks))
        resp.add_commands(c);
      resp.set_ready(hooks.ready && hooks.ready());
      resp.set_paused(gauge_value(reg, "processor_paused") != 0);
      done.ok(resp);
    });
  handlers["ListActors"] = typed_handler<v1::ListActorsRequest>(
    [&reg, samples](std::unique_ptr<v1::ListActorsRequest>, connectrpc::call_context,
                    connectrpc::responder done) {
      auto [older, newer] = samples->window();
      auto secs = seconds_between(older, newer);
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
        out->set_messages_per_second(rate(value_or(older.handled, a->name, uint64_t{0}),
                                          value_or(newer.handled, a->name, uint64_t{0}),
                                          secs));
      }
      done.ok(resp);
    });
  handlers["GetPipeline"] = typed_handler<v1::GetPipelineRequest>(
    [&reg, samples, stages = hooks.stages](std::unique_ptr<v1::GetPipelineRequest>,
                                           connectrpc::call_context,
                                           connectrpc::responder done) {
      auto [older, newer] = samples->window();
      auto secs = seconds_between(older, newer);
      std::map<std::string, const telemetry::histogram*> histograms;
      for (auto& [name, h] : reg.histograms())
        histograms[name] = h;
      std::map<std::string, int64_t> backlogs;
      for (auto& a : reg.actors())
        backlogs["actor:" + a->name] = a->backlog.load();
      for (auto& [name, value] : reg.gauges())
        backlogs[name] = value;
      v1::GetPipelineResponse resp;
      resp.set_window_seconds(secs);
      for (auto& spec : stages) {
        auto* out = resp.add_stages();
        out->set_name(spec.name);
        out->set_description(spec.description);
        auto total = value_or(newer.counters, spec.counter, uint64_t{0});
        out->set_total(total);
        out->set_per_second(
          rate(value_or(older.counters, spec.counter, uint64_t{0}), total, secs));
        auto h = histograms.find(spec.latency);
        auto o = older.histograms.find(spec.latency);
        auto n = newer.histograms.find(spec.latency);
        if (h != histograms.end() && n != newer.histograms.end()) {
          auto before = o != older.histograms.end()
                          ? o->second
                          : telemetry::histogram::snapshot_t{
                            std::vector<uint64_t>(n->second.cumulative.size(), 0), 0, 0};
          out->set_latency_p50_ms(1000 * h->second->quantile(0.5, before, n->second));
          out->set_latency_p99_ms(1000 * h->second->quantile(0.99, before, n->second));
        }
        if (!spec.backlog.empty())
          out->set_backlog(value_or(backlogs, spec.backlog, int64_t{0}));
      }
      // processor_repairs_<reason>_total, registered by the window.
      constexpr std::string_view prefix = "processor_repairs_", suffix = "_total";
      for (auto& [name, value] : newer.counters) {
        std::string_view n{name};
        if (n.size() > prefix.size() + suffix.size() && n.substr(0, prefix.size()) == prefix
            && n.substr(n.size() - suffix.size()) == suffix) {
          auto* r = resp.add_repairs();
          r->set_reason(std::string{n.substr(prefix.size(),
                                             n.size() - prefix.size() - suffix.size())});
          r->set_total(value);
        }
      }
      done.ok(resp);
    });
  handlers["GetLag"] = typed_handler<v1::GetLagRequest>(
    [&reg](std::unique_ptr<v1::GetLagRequest>, connectrpc::call_context,
           connectrpc::responder done) {
      // The families are replaced one after another: match them by
      // partition, not by position in the list.
      auto by_partition = [&reg](const char* family) {
        std::map<int32_t, int64_t> out; // in partition order
        for (auto& [label, value] : reg.get_family(family).values)
          out[std::stoi(label)] = value;
        return out;
      };
      auto ends = by_partition("processor_partition_end_offset");
      auto positions = by_partition("processor_partition_position");
      v1::GetLagResponse resp;
      int64_t total = 0;
      for (auto& [partition, lag] : by_partition("processor_consumer_lag")) {
        auto* out = resp.add_partitions();
        out->set_partition(partition);
        out->set_end_offset(value_or(ends, partition, int64_t{0}));
        out->set_position(value_or(positions, partition, int64_t{0}));
        out->set_lag(lag);
        total += lag;
      }
      resp.set_total_lag(total);
      resp.set_paused(gauge_value(reg, "processor_paused") != 0);
      done.ok(resp);
    });
  handlers["GetMinuteCounts"] = typed_handler<v1::GetMinuteCountsRequest>(
    [hook = hooks.minute_counts, binary = info.binary](
      std::unique_ptr<v1::GetMinuteCountsRequest> req, connectrpc::call_context,
      connectrpc::responder done) {
      auto minutes = req->minutes() == 0 ? 60 : req->minutes();
      if (minutes < 1 || minutes > 1440) {
        done.fail(connectrpc::code::invalid_argument, "minutes must be within 1..1440");
        return;
      }
      if (!hook) {
        done.fail(connectrpc::code::unimplemented,
                  "GetMinuteCounts is not available on " + binary);
        return;
      }
      hook(minutes, std::move(done));
    });
  handlers["Flush"] = command("Flush", info.binary, hooks.flush, read_token_value);
  handlers["PauseConsumption"] = command("PauseConsumption", info.binary, hooks.pause, read_token_value);
  handlers["ResumeConsumption"] = command("ResumeConsumption", info.binary, hooks.resume, read_token_value);
  handlers["RebuildCache"] = command("RebuildCache", info.binary, hooks.rebuild_cache, read_token_value);
  handlers["SetLogLevel"] = typed_handler<v1::SetLogLevelRequest>(
    [read_token_value](std::unique_ptr<v1::SetLogLevelRequest> req, connectrpc::call_context ctx,
                  connectrpc::responder done) {
      if (read_only(ctx, read_token_value)) {
        done.fail(connectrpc::code::permission_denied,
                  "SetLogLevel needs the admin token; the read-only token may not run commands");
        return;
      }
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
                           node_info info, admin_hooks hooks)
  : sampler_(std::make_shared<sampler>(reg)) {
  auto token = read_token(opts);
  if (token.empty() && !is_loopback(opts.address))
    throw std::runtime_error("admin endpoint on " + opts.address
                             + " needs a bearer token (admin.token-file or admin.token); "
                               "only loopback addresses may go without one");
  connectrpc::server_options so;
  so.address = opts.address;
  so.port = opts.port;
  so.max_connections = opts.max_connections;
  so.max_body_bytes = opts.max_body_bytes;
  so.max_header_bytes = opts.max_header_bytes;
  so.header_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(opts.header_timeout);
  so.body_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(opts.body_timeout);
  auto read_token = opts.read_token_file.empty() ? "" : read_token_file(opts.read_token_file);
  if (!read_token.empty() && token.empty())
    throw std::runtime_error("admin.read-token-file needs admin.token-file (or admin.token) too");
  if (!token.empty()) {
    so.authorize = [token, read_token](const connectrpc::call_context& ctx) {
      auto* h = ctx.header("authorization");
      if (!h)
        return false;
      auto given = bearer_token(*h);
      return !given.empty() && (same(given, token) || (!read_token.empty() && same(given, read_token)));
    };
  } else {
    // No token (loopback only): refuse requests whose Host is not loopback.
    so.authorize = [](const connectrpc::call_context& ctx) {
      auto* h = ctx.header("host");
      return h && loopback_host(*h);
    };
  }
  std::vector<connectrpc::static_file> routes;
  connectrpc::static_file healthz{"/healthz", "text/plain; charset=utf-8", "ok\n"};
  healthz.open = true;
  routes.push_back(healthz);
  connectrpc::static_file readyz{"/readyz", "", "",
                                 [ready = hooks.ready](const connectrpc::call_context&) {
                                   return ready && ready() ? connectrpc::http_answer{200, "text/plain; charset=utf-8", "ready\n"}
                                                  : connectrpc::http_answer{503, "text/plain; charset=utf-8", "not ready\n"};
                                 }};
  readyz.open = true;
  routes.push_back(readyz);
  routes.push_back({"/metrics", "", "", [&reg](const connectrpc::call_context&) {
                      return connectrpc::http_answer{
                        200, "text/plain; version=0.0.4; charset=utf-8", render_metrics(reg)};
                    }});
  // The page itself carries no data; its API calls need the token.
  connectrpc::static_file console{"/", "text/html; charset=utf-8", std::string{console_page()}};
  console.open = true;
  routes.push_back(console);
  server_ = std::make_unique<connectrpc::server>(
    so, admin_procedures(reg, sampler_, std::move(info), std::move(hooks), read_token),
    std::move(routes));
}

admin_server::~admin_server() {
  sampler_->stop(); // also when start() failed half-way: no joinable thread left behind
}

void admin_server::start() {
  server_->start(); // throws when it cannot listen: then nothing else started
  sampler_->start();
}

uint16_t admin_server::port() const {
  return server_->port();
}

void admin_server::stop() {
  server_->stop(std::chrono::milliseconds(200));
  sampler_->stop();
}

} // namespace ping::apps
