#pragma once
// The base of deterministic actor tests: an actor system on CAF's test
// coordinator, where nothing runs until the test says so. `drain` runs every
// runnable job; `advance` lets simulated time pass in steps, so timers
// (ticks, request timeouts) fire as ordinary, repeatable test steps. Derive
// the fixture from it and spawn the actor under test with fakes behind its
// typed interfaces (see tests/actors/windowing/window_test.cpp).

#include <chrono>
#include <memory>
#include <optional>
#include <set>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

namespace ping::test {

struct coordinator_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  std::optional<caf::scoped_actor> self; // sends and receives as the test

  coordinator_fixture() {
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.verbosity", caf::atom("quiet"));
    sys = std::make_unique<caf::actor_system>(cfg);
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());
    self.emplace(*sys);
  }

  /// Runs every runnable job (no timers).
  void drain() {
    while (sched->try_run_once()) {
    }
  }

  /// Lets `d` of simulated time pass in `step`s, draining after each.
  void advance(caf::timespan d, caf::timespan step = std::chrono::milliseconds(50)) {
    for (caf::timespan passed{0}; passed < d; passed += step) {
      sched->advance_time(step);
      drain();
    }
  }

  /// What the clock holds now: every pending timer and delayed message,
  /// the CAF request timeouts among them (one per `request(..., timeout)`
  /// awaiting its answer), and their distinct due times.
  struct timers {
    size_t all = 0;
    size_t request_timeouts = 0;
    std::set<caf::actor_clock::time_point> dues;
  };

  timers pending_timers() const {
    using clock = caf::detail::simple_actor_clock;
    timers t;
    for (auto& [due, event] : sched->clock().schedule()) {
      ++t.all;
      if (event->subtype == clock::request_timeout_type)
        ++t.request_timeouts;
      t.dues.insert(due);
    }
    return t;
  }
};

} // namespace ping::test
