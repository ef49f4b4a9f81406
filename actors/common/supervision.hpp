#pragma once
// Supervision, the one recipe every supervisor in Ping follows.
//
// A supervisor keeps each child in a `supervised<Handle>`: it spawns the
// child linked, so the child's exit reaches the supervisor's exit handler;
// the handler asks each slot `owns(msg)`, and the owning slot records the
// failure (restart statistics, exponential backoff from backoff.hpp) and
// says how long to wait; the supervisor then sends itself a delayed
// `respawn_atom` naming the slot and calls `start` again when it arrives.
// Requests to a child that is down fail and are retried by the caller.
// Every exit that no slot owns is the supervisor's own shutdown.
//
//   supervised<writer_actor> writer{"windowing.cache-writer", stats, min, max};
//   writer.start(self, [&] { return spawn_cache_writer(sys, cfg, reg); });
//   self->set_exit_handler([self](caf::exit_msg& msg) {
//     if (auto delay = self->state.writer.failed(msg))
//       self->delayed_send(self, *delay, respawn_atom::value, slot_id);
//     else
//       self->quit(msg.reason);
//   });
//
// A stuck child (no reply within its deadline) is replaced with `replace`,
// which unlinks it and tells it to exit.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <caf/actor_addr.hpp>
#include <caf/exit_reason.hpp>
#include <caf/system_messages.hpp>

#include "actors/common/backoff.hpp"
#include "actors/common/log.hpp"
#include "actors/common/telemetry.hpp"

namespace ping {

template <class Handle>
class supervised {
public:
  supervised(std::string name, std::shared_ptr<telemetry::actor_stats> stats,
             caf::timespan backoff_min, caf::timespan backoff_max)
    : name_(std::move(name)), stats_(std::move(stats)), min_(backoff_min), max_(backoff_max) {}

  const Handle& get() const { return handle_; }
  bool running() const { return static_cast<bool>(handle_); }
  /// Bumped on every start: replies from an earlier child can be told apart.
  uint64_t generation() const { return generation_; }

  /// Spawns the child through `spawn` and links it to `self`.
  template <class Self, class Spawn>
  void start(Self* self, Spawn spawn) {
    handle_ = spawn();
    self->link_to(handle_);
    ++generation_;
  }

  /// If `msg` is this child's exit: records the failure and returns the
  /// delay before it is started again. Otherwise nullopt.
  std::optional<caf::timespan> failed(const caf::exit_msg& msg) {
    if (!handle_ || handle_.address() != msg.source)
      return std::nullopt;
    handle_ = Handle{};
    return record_failure(to_string(msg.reason));
  }

  /// Replaces a child that stopped answering: unlinks it, tells it to exit
  /// (a detached child does once its blocking call returns) and returns the
  /// delay before a new one is started.
  template <class Self>
  caf::timespan replace(Self* self, const std::string& why) {
    if (handle_) {
      self->unlink_from(handle_);
      self->send_exit(handle_, caf::exit_reason::kill);
    }
    handle_ = Handle{};
    return record_failure(why);
  }

  /// The child answered: the next failure starts the backoff afresh.
  void healthy() { backoff_ = caf::timespan{0}; }

private:
  caf::timespan record_failure(const std::string& why) {
    ++generation_;
    stats_->restarts++;
    stats_->up = false;
    backoff_ = next_backoff(backoff_, min_, max_);
    log::error(
      "supervisor", "child failed; restarting",
      {{"child", name_},
       {"reason", why},
       {"backoff_ms",
        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(backoff_).count())}});
    return backoff_;
  }

  std::string name_;
  std::shared_ptr<telemetry::actor_stats> stats_;
  caf::timespan min_;
  caf::timespan max_;
  caf::timespan backoff_{0};
  Handle handle_;
  uint64_t generation_ = 0;
};

} // namespace ping
