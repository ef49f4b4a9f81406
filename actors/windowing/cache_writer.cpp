#include "actors/windowing/cache_writer.hpp"

#include <memory>
#include <stdexcept>

#include <caf/all.hpp>
#include <hiredis/hiredis.h>

#include "actors/common/errors.hpp"
#include "actors/common/ids.hpp"
#include "actors/common/log.hpp"
#include "actors/windowing/window_state.hpp"

namespace ping::windowing {

namespace {

constexpr const char* counters_key = "ping:counters";
constexpr const char* offsets_key = "ping:offsets";

// ARGV: partition, from, to, watermark, total, [minute, delta]...
// Returns a flush_outcome.
constexpr const char* flush_lua = R"lua(
local off = redis.call('HGET', KEYS[2], 'offset:' .. ARGV[1])
if not off then return 2 end
off = tonumber(off)
local from, to = tonumber(ARGV[2]), tonumber(ARGV[3])
if off ~= from then
  if off == to then return 1 end
  return 3
end
if tonumber(ARGV[5]) ~= 0 then redis.call('HINCRBY', KEYS[1], 'total', ARGV[5]) end
for i = 6, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], 'minute:' .. ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[2], 'offset:' .. ARGV[1], ARGV[3], 'seq:' .. ARGV[1], ARGV[4])
return 0
)lua";

// ARGV: partition, next_offset, watermark, retention_ms, total, [minute, count]...
// Installs a partition's recount unless the partition has an offset again.
// The first partition rebuilt into an empty offsets hash clears stale
// counters first (the cache lost its offsets, so its counters are not ours).
constexpr const char* rebuild_lua = R"lua(
if redis.call('HEXISTS', KEYS[2], 'offset:' .. ARGV[1]) == 1 then return 0 end
if redis.call('HLEN', KEYS[2]) == 0 then redis.call('DEL', KEYS[1]) end
if tonumber(ARGV[5]) ~= 0 then redis.call('HINCRBY', KEYS[1], 'total', ARGV[5]) end
for i = 6, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], 'minute:' .. ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[2], 'offset:' .. ARGV[1], ARGV[2], 'seq:' .. ARGV[1], ARGV[3],
           'retention_ms', ARGV[4])
return 1
)lua";

struct reply_deleter {
  void operator()(redisReply* r) const {
    if (r)
      freeReplyObject(r);
  }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

struct context_deleter {
  void operator()(redisContext* c) const {
    if (c)
      redisFree(c);
  }
};
using context_ptr = std::unique_ptr<redisContext, context_deleter>;

timeval to_timeval(caf::timespan d) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return {static_cast<time_t>(us / 1'000'000), static_cast<suseconds_t>(us % 1'000'000)};
}

struct writer_state {
  cache_settings cfg;
  context_ptr ctx;
  std::shared_ptr<telemetry::actor_stats> stats;
  telemetry::histogram* flush_latency = nullptr;
  telemetry::histogram* flush_size = nullptr;
  std::atomic<uint64_t>* flushed = nullptr; // records whose counts reached the cache
  static inline const char* name = "windowing.cache-writer";

  redisContext& conn() {
    if (ctx)
      return *ctx;
    auto colon = cfg.address.rfind(':');
    auto host = cfg.address.substr(0, colon);
    auto port = colon == std::string::npos ? 6379 : std::stoi(cfg.address.substr(colon + 1));
    context_ptr c{redisConnectWithTimeout(host.c_str(), port, to_timeval(cfg.timeout))};
    if (!c || c->err) {
      stats->up = false;
      throw std::runtime_error(std::string{"cannot connect to the cache: "}
                               + (c ? c->errstr : "out of memory"));
    }
    redisSetTimeout(c.get(), to_timeval(cfg.timeout));
    if (!cfg.password.empty()) {
      reply_ptr r{static_cast<redisReply*>(
        redisCommand(c.get(), "AUTH %b", cfg.password.data(), cfg.password.size()))};
      if (!r || r->type == REDIS_REPLY_ERROR)
        throw std::runtime_error("cache AUTH failed");
    }
    ctx = std::move(c);
    stats->up = true;
    return *ctx;
  }

  // Runs a command given as argv; throws on I/O errors (dropping the
  // connection) and on error replies.
  reply_ptr command(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto& c = conn();
    reply_ptr r{static_cast<redisReply*>(
      redisCommandArgv(&c, static_cast<int>(argv.size()), argv.data(), lens.data()))};
    if (!r) {
      std::string err = c.errstr;
      ctx.reset(); // unusable after a timeout or I/O error
      stats->up = false;
      throw std::runtime_error("cache I/O: " + err);
    }
    if (r->type == REDIS_REPLY_ERROR)
      throw std::runtime_error("cache error: " + std::string{r->str, r->len});
    return r;
  }

  int64_t cutoff_minute() const {
    auto retention_ms
      = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.retention).count();
    return minute_of(now_ms() - retention_ms);
  }
};

cache_writer_actor::behavior_type
writer(cache_writer_actor::stateful_pointer<writer_state> self, cache_settings cfg,
       telemetry::registry* reg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.stats = reg->actor("windowing.cache-writer", "detached", "windowing");
  st.flush_latency = &reg->latency("processor_flush_seconds");
  st.flush_size = &reg->sizes("processor_flush_records");
  st.flushed = &reg->counter("processor_records_flushed_total");
  auto note = [self] {
    self->state.stats->handled++;
    self->state.stats->mailbox = static_cast<int64_t>(self->mailbox().size());
  };
  auto fail = [](const char* what, const std::exception& e) {
    log::warn("cache-writer", what, {{"error", e.what()}});
    return caf::make_error(ping_errc::unavailable, e.what());
  };
  return {
    [=](flush_atom, const flush_request& req) -> caf::result<int32_t> {
      note();
      auto& st = self->state;
      auto started = std::chrono::steady_clock::now();
      std::vector<std::string> args{"EVAL", flush_lua, "2", counters_key, offsets_key,
                                    std::to_string(req.partition),
                                    std::to_string(req.from_offset),
                                    std::to_string(req.to_offset),
                                    std::to_string(req.watermark),
                                    std::to_string(req.total)};
      auto cutoff = st.cutoff_minute();
      for (auto& [minute, delta] : req.minutes)
        if (minute >= cutoff && delta != 0) { // older buckets are pruned: total only
          args.push_back(std::to_string(minute));
          args.push_back(std::to_string(delta));
        }
      try {
        auto r = st.command(args);
        std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
        st.flush_latency->observe(took.count());
        st.flush_size->observe(static_cast<double>(req.to_offset - req.from_offset));
        if (r->integer == static_cast<int>(flush_outcome::applied))
          (*st.flushed) += static_cast<uint64_t>(req.to_offset - req.from_offset);
        return static_cast<int32_t>(r->integer);
      } catch (const std::exception& e) {
        return fail("flush failed", e);
      }
    },
    [=](load_atom, const std::vector<int32_t>& partitions)
      -> caf::result<std::vector<partition_state>> {
      note();
      std::vector<std::string> args{"HMGET", offsets_key};
      for (auto p : partitions) {
        args.push_back("offset:" + std::to_string(p));
        args.push_back("seq:" + std::to_string(p));
      }
      try {
        auto r = self->state.command(args);
        std::vector<partition_state> out;
        for (size_t i = 0; i < partitions.size(); ++i) {
          partition_state ps;
          ps.partition = partitions[i];
          auto* off = r->element[2 * i];
          auto* seq = r->element[2 * i + 1];
          if (off->type == REDIS_REPLY_STRING && seq->type == REDIS_REPLY_STRING) {
            ps.stored = true;
            ps.next_offset = std::stoll(std::string{off->str, off->len});
            ps.watermark = std::stoll(std::string{seq->str, seq->len});
          }
          out.push_back(ps);
        }
        return out;
      } catch (const std::exception& e) {
        return fail("load failed", e);
      }
    },
    [=](rebuild_atom, const recount& rc, int64_t next_offset) -> caf::result<bool> {
      note();
      auto& st = self->state;
      auto retention_ms
        = std::chrono::duration_cast<std::chrono::milliseconds>(st.cfg.retention).count();
      std::vector<std::string> args{"EVAL", rebuild_lua, "2", counters_key, offsets_key,
                                    std::to_string(rc.partition),
                                    std::to_string(next_offset),
                                    std::to_string(rc.watermark),
                                    std::to_string(retention_ms),
                                    std::to_string(rc.total)};
      for (auto& [minute, count] : rc.minutes) {
        args.push_back(std::to_string(minute));
        args.push_back(std::to_string(count));
      }
      try {
        return st.command(args)->integer == 1;
      } catch (const std::exception& e) {
        return fail("rebuild failed", e);
      }
    },
    [=](reset_atom) -> caf::result<bool> {
      note();
      // One command, so readers see the counters and offsets either both
      // there or both gone; every processor then finds its partitions lost.
      try {
        self->state.command({"DEL", counters_key, offsets_key});
        log::warn("cache-writer", "cached counters and offsets dropped");
        return true;
      } catch (const std::exception& e) {
        return fail("reset failed", e);
      }
    },
    [=](prune_atom) -> caf::result<int64_t> {
      note();
      auto& st = self->state;
      try {
        auto keys = st.command({"HKEYS", counters_key});
        auto cutoff = st.cutoff_minute();
        std::vector<std::string> del{"HDEL", counters_key};
        for (size_t i = 0; i < keys->elements; ++i) {
          std::string k{keys->element[i]->str, keys->element[i]->len};
          if (k.rfind("minute:", 0) == 0 && std::stoll(k.substr(7)) < cutoff)
            del.push_back(std::move(k));
        }
        if (del.size() == 2)
          return int64_t{0};
        return static_cast<int64_t>(st.command(del)->integer);
      } catch (const std::exception& e) {
        return fail("prune failed", e);
      }
    },
  };
}

} // namespace

cache_writer_actor spawn_cache_writer(caf::actor_system& sys, cache_settings cfg,
                                      telemetry::registry& reg) {
  return sys.spawn<caf::detached>(writer, std::move(cfg), &reg);
}

} // namespace ping::windowing
