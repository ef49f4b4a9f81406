#pragma once
// A one-shot reply channel from an actor to a caller outside CAF: a network
// front-end hands one to the gateway actor with each call and gets exactly
// one answer back, on the thread of the actor that completes it.
//
// Why not `request`: a request from a non-actor thread needs a proxy actor
// per call, and its deadline is one timer per call in CAF 0.17's clock
// thread (a mutex and a wake-up each). With a reply the call costs one
// message in; the actor that owns the deadline (the gateway) sweeps all
// deadlines with one timer.
//
// Completing twice is harmless: the first answer wins and later ones return
// false, so a deadline sweep and a late result may race. Copies share one
// state; when the last copy goes away unanswered (the actor holding it
// stopped), the caller gets `unavailable`, so no call waits forever. Not an
// actor message between processes (no serialization).

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <utility>

#include <caf/error.hpp>

#include "actors/common/errors.hpp"

namespace ping {

template <class T>
class reply {
public:
  using clock = std::chrono::steady_clock;

  reply() = default;

  reply(std::function<void(T&)> on_value, std::function<void(caf::error&)> on_error,
        clock::time_point deadline)
    : st_(std::make_shared<state>(std::move(on_value), std::move(on_error), deadline)) {}

  /// When the caller stops waiting.
  clock::time_point deadline() const { return st_->deadline; }

  /// Answers with a value; false if the call was answered before.
  bool deliver(T value) {
    if (!claim())
      return false;
    st_->on_value(value);
    release();
    return true;
  }

  /// Answers with an error; false if the call was answered before.
  bool deliver(caf::error err) {
    if (!claim())
      return false;
    st_->on_error(err);
    release();
    return true;
  }

  friend bool operator==(const reply& x, const reply& y) { return x.st_ == y.st_; }

private:
  struct state {
    state(std::function<void(T&)> v, std::function<void(caf::error&)> e, clock::time_point d)
      : on_value(std::move(v)), on_error(std::move(e)), deadline(d) {}
    state(const state&) = delete;
    state& operator=(const state&) = delete;
    ~state() {
      if (!done.exchange(true) && on_error) {
        auto err = caf::make_error(ping_errc::unavailable, "the call was dropped unanswered");
        on_error(err);
      }
    }
    std::function<void(T&)> on_value;
    std::function<void(caf::error&)> on_error;
    clock::time_point deadline;
    std::atomic<bool> done{false};
  };

  bool claim() { return st_ && !st_->done.exchange(true, std::memory_order_acq_rel); }

  // The callbacks may hold the caller's resources (a connection's
  // responder): drop them as soon as the answer is out.
  void release() {
    st_->on_value = nullptr;
    st_->on_error = nullptr;
  }

  std::shared_ptr<state> st_;
};

} // namespace ping
