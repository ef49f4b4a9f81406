#include "actors/cache/cache_reader.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <caf/all.hpp>
#include <hiredis/hiredis.h>

#include "actors/common/backoff.hpp"
#include "actors/common/ids.hpp"
#include "actors/common/log.hpp"

namespace ping::cache {

namespace {

constexpr int64_t minute_ms = 60000;

int64_t floor_div(int64_t a, int64_t b) {
  auto q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// The part of a read decided without the cache: an answer, or nullopt when
// the worker has to ask the cache. Bounded reads go to the cache only when
// both ends are minute-aligned and the range spans at most the retention's
// number of minute buckets (so one read is at most that many HMGET fields).
std::optional<cache_answer> precheck(const time_range& r, const settings& cfg) {
  if (!r.bounded)
    return std::nullopt;
  if (r.start_ms > r.end_ms || r.start_ms < 0) // (no overflow below)
    return cache_answer{};
  if (r.start_ms == r.end_ms)
    return cache_answer{true, 0};
  if (r.start_ms % minute_ms != 0 || r.end_ms % minute_ms != 0)
    return cache_answer{};
  auto cap = std::max<int64_t>(1, cfg.retention_ms / minute_ms);
  if ((r.end_ms - r.start_ms) / minute_ms > cap)
    return cache_answer{};
  return std::nullopt;
}

// -- worker: one hiredis connection, blocking calls, detached thread --------

struct context_deleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using context_ptr = std::unique_ptr<redisContext, context_deleter>;

struct reply_deleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

struct endpoint {
  std::string host;
  int port = 0;
};

// "host:port" or "[v6]:port"; port 0 when unparsable.
endpoint parse_address(std::string_view addr) {
  endpoint ep;
  std::string_view host, port;
  if (!addr.empty() && addr.front() == '[') {
    auto close = addr.find(']');
    if (close == std::string_view::npos || close + 1 >= addr.size()
        || addr[close + 1] != ':')
      return ep;
    host = addr.substr(1, close - 1);
    port = addr.substr(close + 2);
  } else {
    auto colon = addr.rfind(':');
    if (colon == std::string_view::npos)
      return ep;
    host = addr.substr(0, colon);
    port = addr.substr(colon + 1);
  }
  int p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc{} || ptr != port.data() + port.size() || p <= 0 || p > 65535
      || host.empty())
    return ep;
  ep.host = std::string{host};
  ep.port = p;
  return ep;
}

timeval to_timeval(caf::timespan t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t).count();
  us = std::max<int64_t>(us, 1000);
  timeval tv;
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(us / 1000000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>(us % 1000000);
  return tv;
}

std::optional<int64_t> parse_int(const redisReply* r) {
  if (r->type == REDIS_REPLY_INTEGER)
    return static_cast<int64_t>(r->integer);
  if (r->type != REDIS_REPLY_STRING)
    return std::nullopt;
  int64_t v = 0;
  auto end = r->str + r->len;
  auto [ptr, ec] = std::from_chars(r->str, end, v);
  if (ec != std::errc{} || ptr != end)
    return std::nullopt;
  return v;
}

// A reply that is a value or nil: nil -> 0, a malformed value -> nullopt.
std::optional<int64_t> count_or_zero(const redisReply* r) {
  if (r->type == REDIS_REPLY_NIL)
    return int64_t{0};
  return parse_int(r);
}

// Thrown inside the worker for failures that leave the connection unusable
// (timeouts, I/O errors, refused connections). Never escapes a handler.
struct io_failure {
  std::string what;
};

// Thrown for answers that cannot be used although the connection is fine
// (error replies, unexpected shapes).
struct bad_reply {
  std::string what;
};

struct worker_state {
  context_ptr ctx;
  endpoint ep;
  caf::timespan backoff{0};
  std::chrono::steady_clock::time_point retry_at{};
  bool reachable = true;  // last known; for logging transitions only
  bool reply_warned = false;
  std::shared_ptr<telemetry::actor_stats> stats;
  static inline const char* name = "cache.reader";
};

void connect(worker_state& st, const settings& cfg) {
  if (st.ep.port == 0)
    throw io_failure{"invalid cache address"};
  auto tv = to_timeval(cfg.timeout);
  context_ptr c{redisConnectWithTimeout(st.ep.host.c_str(), st.ep.port, tv)};
  if (!c)
    throw io_failure{"cannot allocate redis context"};
  if (c->err)
    throw io_failure{c->errstr};
  if (redisSetTimeout(c.get(), tv) != REDIS_OK)
    throw io_failure{"cannot set socket timeout"};
  if (!cfg.password.empty()) {
    const char* argv[] = {"AUTH", cfg.password.c_str()};
    size_t lens[] = {4, cfg.password.size()};
    reply_ptr r{static_cast<redisReply*>(redisCommandArgv(c.get(), 2, argv, lens))};
    if (!r)
      throw io_failure{c->errstr};
    if (r->type == REDIS_REPLY_ERROR) // the reply never echoes the password
      throw io_failure{"AUTH rejected: " + std::string{r->str, r->len}};
  }
  st.ctx = std::move(c);
}

void append(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  if (redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(),
                             lens.data())
      != REDIS_OK)
    throw io_failure{c->errstr};
}

reply_ptr next_reply(redisContext* c) {
  void* raw = nullptr;
  if (redisGetReply(c, &raw) != REDIS_OK || raw == nullptr) {
    // hiredis reports a socket timeout as the errno text of EAGAIN.
    if (c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK))
      throw io_failure{"timed out waiting for a reply"};
    throw io_failure{c->err ? c->errstr : "no reply"};
  }
  return reply_ptr{static_cast<redisReply*>(raw)};
}

// One MULTI/EXEC round trip: the offsets (completeness) and retention, plus
// either the total or the range's minute buckets, from one snapshot.
cache_answer read(worker_state& st, const settings& cfg, const time_range& r) {
  auto* c = st.ctx.get();
  std::vector<std::string> offsets{"HMGET", "ping:offsets"};
  for (int32_t p = 0; p < cfg.partitions; ++p)
    offsets.push_back("offset:" + std::to_string(p));
  offsets.push_back("retention_ms");
  std::vector<std::string> counters;
  int64_t first_minute = 0;
  if (r.bounded) {
    first_minute = floor_div(r.start_ms, minute_ms);
    auto last = floor_div(r.end_ms, minute_ms); // exclusive
    counters = {"HMGET", "ping:counters"};
    counters.reserve(static_cast<size_t>(last - first_minute) + 2);
    for (auto m = first_minute; m < last; ++m)
      counters.push_back("minute:" + std::to_string(m));
  } else {
    counters = {"HGET", "ping:counters", "total"};
  }
  append(c, {"MULTI"});
  append(c, offsets);
  append(c, counters);
  append(c, {"EXEC"});
  // Read all four replies even after an error reply, so the stream stays in
  // step for the next read.
  reply_ptr replies[4];
  for (auto& rep : replies)
    rep = next_reply(c);
  auto& exec = replies[3];
  if (exec->type == REDIS_REPLY_ERROR)
    throw bad_reply{std::string{exec->str, exec->len}};
  if (exec->type != REDIS_REPLY_ARRAY || exec->elements != 2)
    throw bad_reply{"unexpected EXEC reply"};
  auto* offs = exec->element[0];
  auto* vals = exec->element[1];
  if (offs->type == REDIS_REPLY_ERROR)
    throw bad_reply{std::string{offs->str, offs->len}};
  if (vals->type == REDIS_REPLY_ERROR)
    throw bad_reply{std::string{vals->str, vals->len}};
  auto partitions = static_cast<size_t>(std::max(0, cfg.partitions));
  if (offs->type != REDIS_REPLY_ARRAY || offs->elements != partitions + 1)
    throw bad_reply{"unexpected HMGET ping:offsets reply"};
  // Complete only if every partition has an offset: cold or rebuilding
  // caches are never used.
  for (size_t p = 0; p < partitions; ++p)
    if (offs->element[p]->type == REDIS_REPLY_NIL)
      return cache_answer{};
  if (!r.bounded) {
    auto total = count_or_zero(vals);
    if (!total)
      throw bad_reply{"malformed total"};
    return cache_answer{true, *total};
  }
  auto retention_ms = cfg.retention_ms;
  if (auto* ret = offs->element[partitions]; ret->type != REDIS_REPLY_NIL) {
    auto v = parse_int(ret);
    if (v && *v > 0)
      retention_ms = *v;
  }
  // Every bucket of the range must still be retained.
  auto now_minute = floor_div(now_ms(), minute_ms);
  if (first_minute < now_minute - retention_ms / minute_ms + 1)
    return cache_answer{};
  if (vals->type != REDIS_REPLY_ARRAY || vals->elements != counters.size() - 2)
    throw bad_reply{"unexpected HMGET ping:counters reply"};
  cache_answer answer{true, 0, {}};
  answer.buckets.reserve(vals->elements);
  for (size_t i = 0; i < vals->elements; ++i) {
    auto v = count_or_zero(vals->element[i]);
    if (!v)
      throw bad_reply{"malformed minute bucket"};
    answer.count += *v;
    answer.buckets.push_back(*v);
  }
  return answer;
}

void on_io_failure(worker_state& st, const settings& cfg, const std::string& what) {
  st.ctx.reset(); // unusable after a timeout or I/O error
  st.backoff = next_backoff(st.backoff, cfg.backoff_min, cfg.backoff_max);
  st.retry_at = std::chrono::steady_clock::now() + st.backoff;
  st.stats->up = false;
  auto backoff_ms = std::to_string(
    std::chrono::duration_cast<std::chrono::milliseconds>(st.backoff).count());
  if (st.reachable) {
    st.reachable = false;
    log::warn("cache", "cache unreachable; counts fall back to PostgreSQL",
              {{"address", cfg.address}, {"error", what}, {"backoff_ms", backoff_ms}});
  } else {
    log::debug("cache", "cache still unreachable",
               {{"address", cfg.address}, {"error", what}, {"backoff_ms", backoff_ms}});
  }
}

cache_actor::behavior_type
worker(cache_actor::stateful_pointer<worker_state> self, settings cfg,
       std::shared_ptr<telemetry::actor_stats> stats) {
  self->state.stats = std::move(stats);
  self->state.ep = parse_address(cfg.address);
  return {
    [=](count_atom, const time_range& range) -> cache_answer {
      auto& st = self->state;
      st.stats->handled++;
      st.stats->mailbox = static_cast<int64_t>(self->mailbox().size());
      if (!st.ctx && std::chrono::steady_clock::now() < st.retry_at)
        return cache_answer{}; // backing off: fail fast, no network
      try {
        if (!st.ctx)
          connect(st, cfg);
        auto answer = read(st, cfg, range);
        st.backoff = caf::timespan{0};
        st.reply_warned = false;
        st.stats->up = true;
        if (!st.reachable) {
          st.reachable = true;
          log::info("cache", "cache reachable again", {{"address", cfg.address}});
        }
        return answer;
      } catch (const io_failure& e) {
        on_io_failure(st, cfg, e.what);
      } catch (const bad_reply& e) {
        if (!st.reply_warned) {
          st.reply_warned = true;
          log::warn("cache", "unusable cache reply; counts fall back to PostgreSQL",
                    {{"error", e.what}});
        }
      } catch (const std::exception& e) {
        on_io_failure(st, cfg, e.what());
      }
      return cache_answer{};
    },
  };
}

// -- facade: deadlines, the in-flight bound, supervision --------------------

using facade_actor = cache_actor::extend<
  caf::reacts_to<tick_atom, uint64_t>, // timer: the caller's deadline of read id
  caf::reacts_to<respawn_atom>>;       // timer: start the worker again

struct waiting_read {
  caf::typed_response_promise<cache_answer> rp;
  std::chrono::steady_clock::time_point started;
};

struct facade_state {
  settings cfg;
  std::shared_ptr<telemetry::actor_stats> stats;
  std::shared_ptr<telemetry::actor_stats> worker_stats;
  std::atomic<uint64_t>* hits = nullptr;
  std::atomic<uint64_t>* misses = nullptr;
  telemetry::histogram* latency = nullptr;
  cache_actor worker;
  uint64_t generation = 0; // bumped whenever the worker is replaced
  size_t in_flight = 0;    // reads the current worker has not answered yet
  caf::timespan restart_backoff{0};
  uint64_t next_id = 0;
  std::unordered_map<uint64_t, waiting_read> waiting; // callers not answered yet
  static inline const char* name = "cache";
};

using facade_ptr = facade_actor::stateful_pointer<facade_state>;

cache_answer record(facade_state& st, cache_answer a) {
  (a.found ? st.hits : st.misses)->fetch_add(1, std::memory_order_relaxed);
  return a;
}

// Answers the caller of read `id` unless it was answered already.
void finish(facade_ptr self, uint64_t id, cache_answer a) {
  auto& st = self->state;
  auto i = st.waiting.find(id);
  if (i == st.waiting.end())
    return;
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - i->second.started;
  st.latency->observe(took.count());
  i->second.rp.deliver(record(st, a));
  st.waiting.erase(i);
}

void spawn_worker(facade_ptr self) {
  auto& st = self->state;
  st.worker = self->spawn<caf::detached + caf::linked>(worker, st.cfg, st.worker_stats);
  st.in_flight = 0;
}

// Forgets the current worker (dead, or stuck: then it is unlinked and told to
// exit, which it does once its blocking call returns) and starts a new one
// after a backoff. Reads meanwhile answer found = false.
void restart_worker(facade_ptr self, const std::string& why) {
  auto& st = self->state;
  if (st.worker) {
    self->unlink_from(st.worker);
    self->send_exit(st.worker, caf::exit_reason::kill);
  }
  st.worker = nullptr;
  st.generation++;
  st.in_flight = 0;
  st.stats->backlog = 0;
  st.worker_stats->up = false;
  st.worker_stats->restarts++;
  st.restart_backoff = next_backoff(st.restart_backoff, st.cfg.backoff_min, st.cfg.backoff_max);
  log::error("cache", "cache reader worker failed; restarting",
             {{"reason", why},
              {"backoff_ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                               st.restart_backoff).count())}});
  self->delayed_send(self, st.restart_backoff, respawn_atom::value);
}

void worker_done(facade_ptr self, uint64_t gen) {
  auto& st = self->state;
  if (gen != st.generation || st.in_flight == 0)
    return;
  st.in_flight--;
  st.stats->backlog = static_cast<int64_t>(st.in_flight);
}

facade_actor::behavior_type facade(facade_ptr self, settings cfg,
                                   telemetry::registry* reg) {
  auto& st = self->state;
  cfg.max_in_flight = std::max<size_t>(1, cfg.max_in_flight);
  st.cfg = cfg;
  st.stats = reg->actor("cache", "pool");
  st.worker_stats = reg->actor("cache.reader", "detached", "cache");
  st.hits = &reg->counter("cache_hits_total");
  st.misses = &reg->counter("cache_misses_total");
  st.latency = &reg->latency("cache_read_seconds");
  spawn_worker(self);
  // Supervision: the worker's exit reaches us through the link; restart it
  // with backoff. Any other exit (shutdown) ends the facade and, through the
  // link, the worker.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    if (st.worker && st.worker.address() == msg.source) {
      st.worker = nullptr; // already gone: nothing to unlink or kill
      restart_worker(self, to_string(msg.reason));
      return;
    }
    self->quit(msg.reason);
  });
  auto note = [self] {
    self->state.stats->handled++;
    self->state.stats->mailbox = static_cast<int64_t>(self->mailbox().size());
  };
  return {
    [=](count_atom, time_range range) -> caf::result<cache_answer> {
      note();
      auto& st = self->state;
      if (auto decided = precheck(range, st.cfg))
        return record(st, *decided);
      // The bound: never queue behind a busy (maybe stuck) worker.
      if (!st.worker || st.in_flight >= st.cfg.max_in_flight)
        return record(st, cache_answer{});
      auto id = st.next_id++;
      auto gen = st.generation;
      auto rp = self->make_response_promise<cache_answer>();
      st.waiting.emplace(id, waiting_read{rp, std::chrono::steady_clock::now()});
      st.stats->backlog = static_cast<int64_t>(++st.in_flight);
      // The caller's deadline; the worker's slot is freed only by its reply
      // (or by replacing it when it is silent for `stuck_after`).
      self->delayed_send(self, st.cfg.timeout + st.cfg.answer_slack,
                         tick_atom::value, id);
      self->request(st.worker, st.cfg.stuck_after, count_atom::value, range)
        .then(
          [self, id, gen](cache_answer a) {
            worker_done(self, gen);
            self->state.restart_backoff = caf::timespan{0};
            finish(self, id, a);
          },
          [self, id, gen](caf::error& err) {
            auto current = gen == self->state.generation;
            worker_done(self, gen);
            if (current && err == caf::sec::request_timeout)
              restart_worker(self, "no reply within stuck_after");
            finish(self, id, cache_answer{});
          });
      return rp;
    },
    [=](tick_atom, uint64_t id) {
      note();
      finish(self, id, cache_answer{});
    },
    [=](respawn_atom) {
      note();
      if (!self->state.worker)
        spawn_worker(self);
    },
  };
}

} // namespace

cache_actor spawn_cache_reader(caf::actor_system& sys, settings cfg,
                               telemetry::registry& reg) {
  // Register the stats now, so they are visible as soon as this returns (the
  // facade initializes later, on the pool).
  reg.actor("cache", "pool");
  reg.actor("cache.reader", "detached", "cache");
  reg.counter("cache_hits_total");
  reg.counter("cache_misses_total");
  auto impl = sys.spawn(facade, std::move(cfg), &reg);
  return caf::actor_cast<cache_actor>(impl);
}

} // namespace ping::cache
