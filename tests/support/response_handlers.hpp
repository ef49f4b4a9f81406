#pragma once
// The response handlers an actor still holds: one per `request(...).then`
// (or `.await`) whose answer or timeout has not been handled yet. CAF 0.17
// keeps them in protected members of scheduled_actor with no accessor; a
// test reads them through a member pointer taken in a derived class (legal
// C++, no layout assumptions). Call it only between steps of the test
// coordinator (tests/support/coordinator.hpp), never while the actor runs.

#include <cstddef>

#include <caf/actor_cast.hpp>
#include <caf/scheduled_actor.hpp>

namespace ping::test {

namespace detail {

struct handler_peek : caf::scheduled_actor {
  static auto multiplexed() { return &handler_peek::multiplexed_responses_; }
  static auto awaited() { return &handler_peek::awaited_responses_; }
};

} // namespace detail

/// Response handlers `h` (any actor handle of an event-based actor) holds.
template <class Handle>
size_t response_handlers(const Handle& h) {
  auto* a = dynamic_cast<caf::scheduled_actor*>(caf::actor_cast<caf::abstract_actor*>(h));
  if (a == nullptr)
    return 0;
  size_t n = (a->*detail::handler_peek::multiplexed()).size();
  for ([[maybe_unused]] auto& x : a->*detail::handler_peek::awaited())
    ++n;
  return n;
}

} // namespace ping::test
