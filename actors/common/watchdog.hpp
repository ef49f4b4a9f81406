#pragma once
// One timer for an actor's many request deadlines (issue 18).
//
// In CAF 0.17 each `request(..., timeout)` posts a timer to the clock
// thread (`caf.clock`), and nothing cancels it when the answer comes: it
// fires at its deadline anyway and sends the actor a timeout the actor
// drops. Per request: two wake-ups of the clock thread and one more
// message. An actor that keeps a `watchdog` in its state sends its requests
// with `timed_request` instead (`caf::infinite` to CAF): the watchdog notes
// each request's deadline and keeps one delayed `tick_atom` to the actor,
// armed for the earliest deadline unless a tick already comes by then. The
// actor's tick handler calls `on_tick`: every request past its deadline
// gets `sec::request_timeout`, the very message CAF's own timeout delivers,
// so its error handler runs with the same error, CAF drops the handler, and
// a late answer is dropped as after CAF's timeout. Deadlines of the actor's
// own (a caller's, say) share the timer through `arm`.
//
// Bounds: one entry (deadline, message id) per request out, removed when
// its answer or its timeout is handled; at most one tick pending per
// earlier deadline asked for (in steady traffic, one per deadline span).
// Runs wherever its actor runs; not thread-safe (actor state).

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/error.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/message_id.hpp>
#include <caf/sec.hpp>

#include "actors/common/atoms.hpp"

namespace ping {

class watchdog {
public:
  using time_point = caf::actor_clock::time_point;

  /// Requests out (not answered, not timed out yet).
  size_t size() const { return out_.size(); }

  /// A tick by `due`: sends `self` a delayed tick_atom unless one comes by
  /// then already.
  template <class Self>
  void arm(Self* self, time_point due) {
    if (due >= armed_)
      return;
    armed_ = due;
    auto delay = std::max<caf::timespan>(due - self->clock().now(), caf::timespan{0});
    self->delayed_send(self, delay, tick_atom::value);
  }

  /// Request `id` (a response id: `request(...).id()`) is due back
  /// `within` from now.
  template <class Self>
  void watch(Self* self, caf::message_id id, caf::timespan within) {
    auto due = self->clock().now() + within;
    out_.push_back({due, id});
    arm(self, due);
  }

  /// Its answer (or error) arrived: no longer watched.
  void answered(caf::message_id id) {
    auto i = std::find_if(out_.begin(), out_.end(), [&](const entry& e) { return e.id == id; });
    if (i == out_.end())
      return;
    *i = out_.back();
    out_.pop_back();
  }

  /// The tick: times out every request past its deadline (their error
  /// handlers run next, as messages) and arms for the earliest left. The
  /// actor then arms for its own deadlines still ahead.
  template <class Self>
  void on_tick(Self* self) {
    auto now = self->clock().now();
    if (now >= armed_)
      armed_ = time_point::max();
    auto next = time_point::max();
    for (size_t i = 0; i < out_.size();) {
      if (out_[i].due <= now) {
        self->enqueue(caf::make_mailbox_element(self->ctrl(), out_[i].id, {},
                                                caf::make_error(caf::sec::request_timeout)),
                      self->context());
        out_[i] = out_.back();
        out_.pop_back();
      } else {
        next = std::min(next, out_[i].due);
        ++i;
      }
    }
    if (next != time_point::max())
      arm(self, next);
  }

private:
  struct entry {
    time_point due;
    caf::message_id id;
  };

  std::vector<entry> out_;
  time_point armed_ = time_point::max(); // the earliest tick pending (max: none)
};

/// `self->request(dest, ...)` due back `within`, watched by `wd` (in
/// `self`'s state) instead of a CAF timer: `on_value` gets the answer (an
/// `R&`), `on_error` the error, or `sec::request_timeout` once it is
/// overdue, as with `request(dest, within, ...)`.
template <class R, class Self, class Handle, class OnValue, class OnError, class... Ts>
void timed_request(Self* self, watchdog& wd, const Handle& dest, caf::timespan within,
                   OnValue on_value, OnError on_error, Ts&&... xs) {
  auto h = self->request(dest, caf::infinite, std::forward<Ts>(xs)...);
  auto id = h.id();
  wd.watch(self, id, within);
  h.then(
    [&wd, id, on_value = std::move(on_value)](R& x) mutable {
      wd.answered(id);
      on_value(x);
    },
    [&wd, id, on_error = std::move(on_error)](caf::error& err) mutable {
      wd.answered(id);
      on_error(err);
    });
}

} // namespace ping
