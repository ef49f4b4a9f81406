#pragma once
// The first line of every handler of an actor that keeps telemetry stats:
// counts the message and records the mailbox depth seen (the console's
// msg/s and mailbox columns). `self->state.stats` is the actor's
// std::shared_ptr<telemetry::actor_stats>.

#include <cstdint>

namespace ping::telemetry {

/// A callable for the behaviour's handlers: `auto note = noter(self);`,
/// then `note();` first in each handler.
template <class Self>
auto noter(Self* self) {
  return [self] {
    self->state.stats->handled++;
    self->state.stats->mailbox = static_cast<int64_t>(self->mailbox().size());
  };
}

} // namespace ping::telemetry
