#pragma once
// The count board: PingCount {} answered on a front-end's own thread from
// the count reader's published rounds (issue 18; docs/counts.md, "Concurrent
// reads share the work").
//
// The count reader owns every read. A read that answers the board is a
// *round*: it is numbered here (`begin`, the board counts rounds upwards)
// when the read starts, before its cache snapshot and its PostgreSQL
// statement, and its answer (the total, or the error) is published here,
// immutable, when it ends. A front-end that gets PingCount {} notes the
// last round started (`arrive`); any round numbered above it started after
// the call arrived, so its total holds every ping acknowledged before the
// call was sent (read-your-writes: the heads come from PostgreSQL after
// arrival, also across gateways). The call is parked until such a round is
// published.
//
// Messages: a front-end asks for a round (through the gateway) only when
// no round is in flight and none is asked (`arrive` says so). Calls that
// arrive while a round is in flight ask nothing: the count reader, when it
// publishes that round, starts the next one itself (`next_wanted`). So
// while calls keep coming, rounds follow one another without a message
// from the front-ends. A published round wakes each front-end once
// (`listen`), which then answers every parked call it covers on its own
// thread (`count_parking`). A round wanted within `counts.round-gap` of
// the last one's start waits for the gap's end, timed on a front-end's
// event loop (`ask_at`, `take_ask_at`): a busy loop finds the timer due on
// its next turn, where a timer of the actor system wakes its clock thread
// and then the reader.
//
// Healing: an ask that no round follows (the message lost, a bug), or a
// round never published, would park calls until their deadline. An ask
// (or round) older than `ask_again_after` is overdue: the next arrival, or
// the parked calls' timer (armed for then), asks again. The count reader
// gone (its actor ended): `close` answers every parked call with the error
// at once, and refuses new calls with it.
//
// Thread-safe: one mutex guards the round numbers and the published round,
// another the listeners (woken outside the first); parked calls are the front-end's own
// (count_parking, its own mutex).

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
  using clock = std::chrono::steady_clock;

  /// `ask_again_after`: how long an ask may stay unanswered by a round
  /// starting (or a round stay unpublished) before the next arrival, or a
  /// parked call's timer, asks again. Duplicate asks are harmless (the
  /// count reader keeps at most one round waiting), so it only bounds how
  /// long a lost ask delays the calls parked behind it; half a second is
  /// well above a healthy round (about a millisecond) and well below the
  /// count deadline (`count-timeout`, 5 s).
  explicit count_board(clock::duration ask_again_after = std::chrono::milliseconds(500))
    : ask_again_after_(ask_again_after) {}

  /// A call's arrival: it may be answered by rounds numbered above `after`
  /// only. `ask` set: the caller asks for a round (the gateway forwards it
  /// to the count reader): none is in flight or coming, or the last ask is
  /// overdue. `check_at`: when an ask would be overdue (a parked call's
  /// timer comes by then). `err` set: the count reader is gone, the call is
  /// refused with it.
  struct arrival {
    uint64_t after = 0;
    bool ask = false;
    std::optional<clock::time_point> check_at;
    caf::error err;
  };

  arrival arrive(clock::time_point now) {
    std::lock_guard<std::mutex> lock{mtx_};
    if (closed_)
      return {started_, false, std::nullopt, closed_};
    // A round in flight: the count reader starts the next one itself when
    // it publishes this one (no message per round while calls keep coming).
    if (in_round_)
      wanted_ = true;
    arrival a{started_, ask_due_locked(now), std::nullopt, caf::none};
    if (a.ask) {
      asked_ = true;
      asked_at_ = now;
    }
    a.check_at = check_at_locked();
    return a;
  }

  /// True (and noted as asked) when an ask is overdue: a parked call's
  /// timer asks again.
  bool ask_again(clock::time_point now) {
    std::lock_guard<std::mutex> lock{mtx_};
    if (closed_ || !ask_due_locked(now))
      return false;
    asked_ = true;
    asked_at_ = now;
    return true;
  }

  /// When an ask would be overdue (none: the board is closed).
  std::optional<clock::time_point> check_at() const {
    std::lock_guard<std::mutex> lock{mtx_};
    return check_at_locked();
  }

  /// The last published round (nullptr: none yet).
  std::shared_ptr<const published_total> latest() const {
    std::lock_guard<std::mutex> lock{mtx_};
    return latest_;
  }

  /// The count reader: a read that answers the board starts (call before
  /// its cache snapshot). Returns the round's number (the board numbers
  /// rounds upwards, whichever reader runs them).
  uint64_t begin(clock::time_point now = clock::now()) {
    std::lock_guard<std::mutex> lock{mtx_};
    ++started_;
    in_round_ = true;
    wanted_ = false;
    asked_ = false;
    begun_at_ = now;
    ask_at_ = std::nullopt; // a gap's timer not taken yet: this round is the one it was for
    closed_ = caf::none;
    return started_;
  }

  /// The count reader: round `round` answered; every listener is woken
  /// once.
  void publish(published_total answer, clock::time_point now = clock::now()) {
    auto p = std::make_shared<const published_total>(std::move(answer));
    {
      std::lock_guard<std::mutex> lock{mtx_};
      if (!latest_ || latest_->round < p->round)
        latest_ = std::move(p);
      if (in_round_) {
        in_round_ = false;
        if (wanted_) {
          // Calls arrived during the round: the reader runs the next one
          // (next_wanted()); meanwhile nobody needs to ask.
          wanted_ = false;
          again_ = true;
          asked_ = true;
          asked_at_ = now;
        }
      }
    }
    wake_all();
  }

  /// The count reader, after it published a round: true (once) when calls
  /// arrived during that round, so it starts the next round itself.
  bool next_wanted() {
    std::lock_guard<std::mutex> lock{mtx_};
    return std::exchange(again_, false);
  }

  /// The count reader is gone: every parked call is answered `err` (a
  /// round numbered above every call's), and calls are refused with it
  /// until a round starts again.
  void close(caf::error err) {
    {
      std::lock_guard<std::mutex> lock{mtx_};
      closed_ = err;
      in_round_ = false;
      wanted_ = false;
      again_ = false;
      asked_ = false;
      auto p = std::make_shared<published_total>();
      p->round = ++started_;
      p->err = std::move(err);
      latest_ = std::move(p);
    }
    wake_all();
  }

  /// Wakes every listener (a round published; a parked call's deadline
  /// passed: the gateway's timer).
  void wake_all() {
    std::lock_guard<std::mutex> lock{listeners_mtx_};
    for (auto& l : listeners_)
      l.wake();
  }

  /// A front-end's wake-up: called with the listeners' mutex held (it
  /// must only post work to its own thread), not the board's (calls park
  /// meanwhile). Returns an id for `unlisten`. `keeps_timers`: on each
  /// wake-up the front-end also takes `take_ask_at()` and, at that time,
  /// asks for a round from its own event loop (`ask_at`).
  size_t listen(wake_fn fn, bool keeps_timers = false) {
    std::lock_guard<std::mutex> lock{listeners_mtx_};
    listeners_.push_back({next_listener_, std::move(fn), keeps_timers});
    return next_listener_++;
  }

  /// After it returns, the listener is never called again.
  void unlisten(size_t id) {
    std::lock_guard<std::mutex> lock{listeners_mtx_};
    listeners_.erase(std::remove_if(listeners_.begin(), listeners_.end(),
                                    [id](auto& l) { return l.id == id; }),
                     listeners_.end());
  }

  /// The count reader: the next round waits until `due` (its gap), and a
  /// front-end that keeps timers is to ask for it then. Returns false, and
  /// notes nothing, when no listener keeps timers (the reader then times
  /// the gap itself). A front-end's event loop wakes up for its timer
  /// anyway while calls keep it busy, where a timer of the actor system's
  /// wakes its clock thread twice (armed, then due) and then the reader.
  bool ask_at(clock::time_point due) {
    {
      std::lock_guard<std::mutex> lock{listeners_mtx_};
      auto keeps = std::any_of(listeners_.begin(), listeners_.end(),
                               [](auto& l) { return l.keeps_timers; });
      if (!keeps)
        return false;
    }
    {
      std::lock_guard<std::mutex> lock{mtx_};
      ask_at_ = due;
    }
    wake_all();
    return true;
  }

  /// A front-end that keeps timers, on a wake-up: when to ask for a round
  /// (once: the first front-end to take it keeps the timer).
  std::optional<clock::time_point> take_ask_at() {
    std::lock_guard<std::mutex> lock{mtx_};
    return std::exchange(ask_at_, std::nullopt);
  }

  /// Rounds started so far (the last round's number).
  uint64_t started() const {
    std::lock_guard<std::mutex> lock{mtx_};
    return started_;
  }

  clock::duration ask_again_after() const { return ask_again_after_; }

  // What the front-ends update as the gateway actor would for the calls
  // it answers (nullptr: none): gateway_count_seconds{source} and
  // gateway_calls_deadline_exceeded_total.
  telemetry::histogram* from_cache = nullptr;
  telemetry::histogram* from_postgres = nullptr;
  std::atomic<uint64_t>* expired = nullptr;

private:
  // An ask is due: none is asked and no round is in flight (or coming),
  // or the last ask, or the round in flight, is older than the bound.
  bool ask_due_locked(clock::time_point now) const {
    if (asked_ && now - asked_at_ < ask_again_after_)
      return false;
    if (in_round_ && now - begun_at_ < ask_again_after_)
      return false;
    return true;
  }

  std::optional<clock::time_point> check_at_locked() const {
    if (closed_)
      return std::nullopt;
    auto from = in_round_ ? begun_at_ : asked_at_;
    if (in_round_ && asked_)
      from = std::max(from, asked_at_);
    return from + ask_again_after_;
  }

  clock::duration ask_again_after_;
  mutable std::mutex mtx_;
  uint64_t started_ = 0;  // the last round started
  bool in_round_ = false; // it is not published yet
  bool wanted_ = false;   // calls arrived during it: the reader runs the next
  bool again_ = false;    // ...told by publish, taken by next_wanted()
  bool asked_ = false;    // an ask (or the reader's own next round) since it started
  clock::time_point asked_at_{};
  clock::time_point begun_at_{};
  caf::error closed_; // the count reader is gone
  std::shared_ptr<const published_total> latest_;
  std::optional<clock::time_point> ask_at_; // a round's gap, timed by a front-end
  struct listener {
    size_t id;
    wake_fn wake;
    bool keeps_timers;
  };
  std::mutex listeners_mtx_; // apart: a wake-up's post does not hold up arrivals
  std::vector<listener> listeners_;
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
  /// resource_exhausted; `err` set: refused, answer it), a round (`ask`),
  /// a timer at `wake_at` (then call board().wake_all(); the gateway's
  /// timer).
  struct parked {
    bool busy = false;
    caf::error err;
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
    auto a = board_->arrive(now);
    if (a.err) {
      out.err = std::move(a.err);
      return out;
    }
    out.ask = a.ask;
    calls_.push_back({a.after, deadline, now, std::move(call)});
    // The timer comes at the call's deadline or when its round's ask would
    // be overdue, whichever is first. A timer long past due was lost (the
    // gateway gone?): armed anew.
    auto at = a.check_at ? std::min(deadline, *a.check_at) : deadline;
    if (timer_at_ && *timer_at_ + board_->ask_again_after() < now)
      timer_at_.reset();
    if (!timer_at_ || at < *timer_at_) {
      timer_at_ = at;
      out.wake_at = at;
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
    bool ask = false;                         // ask for a round: the last ask is overdue
    std::optional<clock::time_point> wake_at; // arm a timer (as for park)
  };

  /// Takes out the calls the latest round answers (those that arrived
  /// before it started) and the calls whose deadline passed
  /// (deadline_exceeded), to be answered by the caller outside the lock;
  /// with calls still parked whose round was asked too long ago, asks
  /// again.
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
    if (timer_at_ && *timer_at_ <= now)
      timer_at_.reset();
    if (calls_.empty())
      return out;
    out.ask = board_->ask_again(now);
    if (!timer_at_) {
      auto next = std::min_element(calls_.begin(), calls_.end(), [](auto& x, auto& y) {
                    return x.deadline < y.deadline;
                  })->deadline;
      if (auto check = board_->check_at())
        next = std::min(next, std::max(*check, now));
      timer_at_ = next;
      out.wake_at = next;
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
