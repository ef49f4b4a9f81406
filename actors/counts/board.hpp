#pragma once
// The count board: PingCount {} answered on a front-end's own thread from
// the count reader's published rounds (issue 18; docs/counts.md, "Concurrent
// reads share the work").
//
// The count reader owns every read. A read that answers the board is a
// *round*: its number (the read's id) is recorded here when the read
// starts, before its cache snapshot and its PostgreSQL statement, and its
// answer (the total, or the error) is published here, immutable, when it
// ends. A front-end that gets PingCount {} notes the last round started
// (`arrive`); any round numbered above it started after the call arrived,
// so its total holds every ping acknowledged before the call was sent
// (read-your-writes: the heads come from PostgreSQL after arrival, also
// across gateways). The call is parked until such a round is published.
//
// Messages: a front-end asks for a round only when none is asked
// (`arrive` says so: one ask per round, not per call); a published round
// wakes each front-end once (`listen`), which then answers every parked
// call it covers on its own thread (`count_parking`).
//
// Thread-safe: one mutex guards the round numbers and the published round;
// parked calls are the front-end's own (count_parking, its own mutex).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "actors/common/errors.hpp"
#include "actors/common/telemetry.hpp"
#include "actors/common/types.hpp"

namespace ping::counts {

/// A published round: the read numbered `round`, its total or its error.
struct published_total {
  uint64_t round = 0;
  count_result result; // when `err` is none
  caf::error err;
};

class count_board {
public:
  using wake_fn = std::function<void()>;

  /// A call's arrival: it may be answered by rounds numbered above `after`
  /// only; `ask` set: no round was asked since the last one started, the
  /// caller asks for one (the gateway forwards it to the count reader).
  struct arrival {
    uint64_t after = 0;
    bool ask = false;
  };

  arrival arrive() {
    std::lock_guard<std::mutex> lock{mtx_};
    arrival a{started_, !asked_};
    asked_ = true;
    return a;
  }

  /// The last published round (nullptr: none yet).
  std::shared_ptr<const published_total> latest() const {
    std::lock_guard<std::mutex> lock{mtx_};
    return latest_;
  }

  /// The count reader: a read that answers the board starts (call before
  /// its cache snapshot). Rounds are numbered upwards.
  void begin(uint64_t round) {
    std::lock_guard<std::mutex> lock{mtx_};
    started_ = std::max(started_, round);
    asked_ = false;
  }

  /// The count reader: round `round` answered; every listener is woken
  /// once.
  void publish(published_total answer) {
    auto p = std::make_shared<const published_total>(std::move(answer));
    std::lock_guard<std::mutex> lock{mtx_};
    if (!latest_ || latest_->round < p->round)
      latest_ = std::move(p);
    wake_locked();
  }

  /// Wakes every listener (a parked call's deadline passed; the gateway's
  /// timer).
  void wake_all() {
    std::lock_guard<std::mutex> lock{mtx_};
    wake_locked();
  }

  /// A front-end's wake-up: called with the board's mutex held (it must
  /// only post work to its own thread). Returns an id for `unlisten`.
  size_t listen(wake_fn fn) {
    std::lock_guard<std::mutex> lock{mtx_};
    listeners_.emplace_back(next_listener_, std::move(fn));
    return next_listener_++;
  }

  /// After it returns, the listener is never called again.
  void unlisten(size_t id) {
    std::lock_guard<std::mutex> lock{mtx_};
    listeners_.erase(std::remove_if(listeners_.begin(), listeners_.end(),
                                    [id](auto& l) { return l.first == id; }),
                     listeners_.end());
  }

  /// Rounds started so far (the last round's number).
  uint64_t started() const {
    std::lock_guard<std::mutex> lock{mtx_};
    return started_;
  }

  // What the front-ends update as the gateway actor would for the calls
  // it answers (nullptr: none): gateway_count_seconds{source} and
  // gateway_calls_deadline_exceeded_total.
  telemetry::histogram* from_cache = nullptr;
  telemetry::histogram* from_postgres = nullptr;
  std::atomic<uint64_t>* expired = nullptr;

private:
  void wake_locked() {
    for (auto& [id, fn] : listeners_)
      fn();
  }

  mutable std::mutex mtx_;
  uint64_t started_ = 0; // the last round started
  bool asked_ = false;   // a round asked since then
  std::shared_ptr<const published_total> latest_;
  std::vector<std::pair<size_t, wake_fn>> listeners_;
  size_t next_listener_ = 1;
};

/// The PingCount {} calls one front-end parked, each until a round that
/// started after it arrived answers it, or its deadline. Bounded
/// (`max_parked`; beyond: resource_exhausted at once). `Call` is what the
/// front-end needs to answer the call (its responder, trace). Thread-safe.
template <class Call>
class count_parking {
public:
  using clock = std::chrono::steady_clock;

  count_parking(std::shared_ptr<count_board> board, size_t max_parked)
    : board_(std::move(board)), max_parked_(max_parked) {}

  count_board& board() { return *board_; }

  /// What `park` asks of the caller: nothing (`busy`: refused, answer
  /// resource_exhausted), a round (`ask`), a timer at `wake_at` (then call
  /// board().wake_all(); the gateway's timer).
  struct parked {
    bool busy = false;
    bool ask = false;
    std::optional<clock::time_point> wake_at;
  };

  parked park(Call call, clock::time_point deadline, clock::time_point now) {
    parked out;
    std::lock_guard<std::mutex> lock{mtx_};
    if (calls_.size() >= max_parked_) {
      out.busy = true;
      return out;
    }
    // Under this mutex: a wake-up that follows a publish after arrive()
    // finds the call parked (it takes this mutex before reading latest()).
    auto a = board_->arrive();
    out.ask = a.ask;
    calls_.push_back({a.after, deadline, now, std::move(call)});
    if (!timer_at_ || deadline < *timer_at_) {
      timer_at_ = deadline;
      out.wake_at = deadline;
    }
    return out;
  }

  /// One answered call: its answer (or error), when it arrived, and the
  /// round that answered it.
  struct done {
    Call call;
    caf::expected<count_result> result{count_result{}};
    clock::time_point arrived;
  };

  struct due {
    std::vector<done> answered;
    std::optional<clock::time_point> wake_at; // arm a timer (as for park)
  };

  /// Takes out the calls the latest round answers (those that arrived
  /// before it started) and the calls whose deadline passed
  /// (deadline_exceeded), to be answered by the caller outside the lock.
  due take(clock::time_point now) {
    due out;
    auto latest = board_->latest();
    std::lock_guard<std::mutex> lock{mtx_};
    size_t kept = 0;
    for (auto& c : calls_) {
      if (latest && c.after < latest->round) {
        if (latest->err)
          out.answered.push_back({std::move(c.call), latest->err, c.arrived});
        else
          out.answered.push_back({std::move(c.call), latest->result, c.arrived});
      } else if (c.deadline <= now) {
        out.answered.push_back({std::move(c.call),
                                caf::make_error(ping_errc::deadline_exceeded, "deadline exceeded"),
                                c.arrived});
      } else {
        if (&calls_[kept] != &c)
          calls_[kept] = std::move(c);
        ++kept;
      }
    }
    calls_.erase(calls_.begin() + static_cast<std::ptrdiff_t>(kept), calls_.end());
    if (timer_at_ && *timer_at_ <= now) {
      timer_at_.reset();
      if (!calls_.empty()) {
        auto next = std::min_element(calls_.begin(), calls_.end(), [](auto& x, auto& y) {
                      return x.deadline < y.deadline;
                    })->deadline;
        timer_at_ = next;
        out.wake_at = next;
      }
    }
    return out;
  }

  size_t size() const {
    std::lock_guard<std::mutex> lock{mtx_};
    return calls_.size();
  }

private:
  struct entry {
    uint64_t after = 0;
    clock::time_point deadline;
    clock::time_point arrived;
    Call call;
  };

  std::shared_ptr<count_board> board_;
  size_t max_parked_;
  mutable std::mutex mtx_;
  std::vector<entry> calls_;
  std::optional<clock::time_point> timer_at_; // a wake_all() is due then
};

} // namespace ping::counts
