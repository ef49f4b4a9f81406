#pragma once
// Bridges a front-end's I/O thread to an actor: sends one request with a
// deadline from a short-lived event-based actor and calls back (on a CAF
// thread) with the reply or the error. Never blocks the caller. It costs a
// proxy actor and a timer per call: for occasional calls (the admin
// endpoint). The front-ends' hot paths hand the gateway actor a reply
// instead (actors/common/reply.hpp).

#include <chrono>
#include <functional>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

namespace ping::gateways {

template <class Reply, class Handle, class... Ts>
void ask(caf::actor_system& sys, const Handle& dest, caf::timespan timeout,
         std::function<void(Reply&)> on_reply, std::function<void(caf::error&)> on_error,
         Ts... xs) {
  sys.spawn([=, on_reply = std::move(on_reply),
             on_error = std::move(on_error)](caf::event_based_actor* self) {
    self->request(dest, timeout, xs...)
      .then([on_reply](Reply& r) { on_reply(r); }, [on_error](caf::error& e) { on_error(e); });
  });
}

} // namespace ping::gateways
