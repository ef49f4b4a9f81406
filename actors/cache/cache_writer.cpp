#include "actors/cache/cache_writer.hpp"
#include "actors/cache/metrics.hpp"

#include <caf/all.hpp>
#include <hiredis/hiredis.h>

#include "actors/cache/connection.hpp"
#include "actors/cache/schema.hpp"
#include "actors/common/errors.hpp"
#include "actors/common/ids.hpp"
#include "actors/common/log.hpp"
#include "actors/common/note.hpp"

namespace ping::cache {

namespace {

struct writer_state {
  std::unique_ptr<connection> conn;
  writer_settings cfg;
  std::shared_ptr<telemetry::actor_stats> stats;
  telemetry::histogram* latency = nullptr;
  telemetry::histogram* sizes = nullptr;
  std::atomic<uint64_t>* flushed = nullptr; // pings whose counts reached the cache
  static inline const char* name = "cache.writer";

  int64_t cutoff_minute() const {
    auto retention_ms
      = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.retention).count();
    return schema::minute_of(now_ms() - retention_ms);
  }

  int64_t ceiling_minute() const {
    auto future_ms = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.future).count();
    return schema::minute_of(now_ms() + future_ms);
  }

  reply_ptr run(const command_args& args) {
    try {
      auto r = conn->command(args);
      stats->up = true;
      return r;
    } catch (const io_failure&) {
      stats->up = false;
      throw;
    }
  }
};

using self_ptr = writer_actor::stateful_pointer<writer_state>;

caf::error unavailable(const char* what, const std::exception& e) {
  log::warn("cache-writer", what, {{"error", e.what()}});
  return caf::make_error(ping_errc::unavailable, std::string{what} + ": " + e.what());
}

writer_actor::behavior_type writer(self_ptr self, writer_settings cfg, telemetry::registry* reg) {
  auto& st = self->state;
  st.conn = std::make_unique<connection>(cfg.address, cfg.password, cfg.timeout);
  st.cfg = std::move(cfg);
  st.stats = reg->actor(st.cfg.actor_name, "detached", st.cfg.actor_parent);
  auto m = writer_metrics::registered_in(*reg);
  st.latency = &m.flush_seconds;
  st.sizes = &m.flush_records;
  st.flushed = &m.records_flushed;
  auto note = telemetry::noter(self);
  return {
    [=](write_atom, const write_request& req) -> caf::result<write_result> {
      note();
      auto& st = self->state;
      auto started = std::chrono::steady_clock::now();
      command_args args{"EVAL",
                        schema::write_lua,
                        "3",
                        schema::counters_key,
                        schema::offsets_key,
                        schema::future_key,
                        std::to_string(req.partition),
                        std::to_string(req.from_seq),
                        std::to_string(req.to_seq),
                        std::to_string(req.next_offset),
                        std::to_string(req.count),
                        std::to_string(st.cutoff_minute()),
                        std::to_string(st.ceiling_minute())};
      args.reserve(args.size() + 2 * req.minutes.size());
      for (auto& [minute, delta] : req.minutes)
        if (delta != 0) {
          args.push_back(std::to_string(minute));
          args.push_back(std::to_string(delta));
        }
      if (req.to_ident != 0)
        args.push_back(std::to_string(req.to_ident)); // an odd trailing argument: ident:<p>
      try {
        auto r = st.run(args);
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
          throw bad_reply{"unexpected reply to the write script"};
        write_result out{static_cast<int32_t>(r->element[0]->integer),
                         static_cast<int64_t>(r->element[1]->integer)};
        std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
        st.latency->observe(took.count());
        st.sizes->observe(static_cast<double>(req.count));
        if (out.outcome == static_cast<int32_t>(schema::write_outcome::applied))
          (*st.flushed) += static_cast<uint64_t>(req.count);
        return out;
      } catch (const std::exception& e) {
        return unavailable("write failed", e);
      }
    },
    [=](load_atom,
        const std::vector<int32_t>& partitions) -> caf::result<std::vector<partition_state>> {
      note();
      command_args args{"HMGET", schema::offsets_key};
      for (auto p : partitions) {
        args.push_back(schema::offset_field(p));
        args.push_back(schema::seq_field(p));
        args.push_back(schema::ident_field(p));
        args.push_back(schema::ident_seq_field(p));
      }
      try {
        auto r = self->state.run(args);
        if (r->type != REDIS_REPLY_ARRAY || r->elements != args.size() - 2)
          throw bad_reply{"unexpected reply to HMGET"};
        std::vector<partition_state> out;
        for (size_t i = 0; i < partitions.size(); ++i) {
          partition_state ps;
          ps.partition = partitions[i];
          auto off = as_int(r->element[4 * i]);
          auto seq = as_int(r->element[4 * i + 1]);
          auto ident = as_int(r->element[4 * i + 2]);
          auto ident_seq = as_int(r->element[4 * i + 3]);
          if (schema::has_state(seq.has_value())) {
            ps.stored = true;
            ps.next_offset = off.value_or(schema::unknown_offset);
            ps.seq = *seq;
            if (ident_seq == seq) // else written for another sequence: unknown
              ps.ident = ident.value_or(0);
          }
          out.push_back(ps);
        }
        return out;
      } catch (const std::exception& e) {
        return unavailable("load failed", e);
      }
    },
    [=](verify_atom) -> caf::result<bool> {
      note();
      try {
        auto r = self->state.run({"EVAL", schema::verify_lua, "3", schema::counters_key,
                                  schema::offsets_key, schema::future_key});
        return r->integer == 1;
      } catch (const std::exception& e) {
        return unavailable("verify failed", e);
      }
    },
    [=](reset_atom) -> caf::result<bool> {
      note();
      // One command, so readers see the counters and the partitions' state
      // either both there or both gone.
      try {
        self->state.run({"DEL", schema::counters_key, schema::offsets_key, schema::future_key});
        return true;
      } catch (const std::exception& e) {
        return unavailable("reset failed", e);
      }
    },
  };
}

} // namespace

writer_actor spawn_cache_writer(caf::actor_system& sys, writer_settings cfg,
                                telemetry::registry& reg) {
  return sys.spawn<caf::detached>(writer, std::move(cfg), &reg);
}

} // namespace ping::cache
