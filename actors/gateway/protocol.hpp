#pragma once
// Typed protocol of the gateway actor: what the network front-ends may ask.

#include <cstdint>
#include <string>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/common/atoms.hpp"
#include "actors/common/reply.hpp"
#include "actors/common/types.hpp"

namespace ping::gateway {

/// The answer to an accepted ping.
struct ping_ack {
  std::string id;       // the ping's UUID
  int64_t pinged_at_ms; // its timestamp as stored ("now" resolved)

  friend bool operator==(const ping_ack&, const ping_ack&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ping_ack& x) {
  return f(caf::meta::type_name("ping_ack"), x.id, x.pinged_at_ms);
}

/// Where the answer to a front-end's call goes, and its deadline: the
/// gateway answers every call exactly once, at the latest at the deadline
/// (deadline_exceeded), on a CAF thread.
using ping_reply = reply<ping_ack>;
using count_reply = reply<count_result>;

using gateway_actor = caf::typed_actor<
  // Accepts one ping with the client's timestamp (0 = now). Answers after
  // the ping is committed; errors: invalid_argument, unavailable,
  // resource_exhausted, shutting_down, deadline_exceeded.
  caf::reacts_to<ping_atom, int64_t, ping_reply>,
  // Counts pings, in total or within a half-open range. Errors:
  // invalid_argument, unavailable, deadline_exceeded.
  caf::reacts_to<count_atom, time_range, count_reply>,
  // Stop accepting pings (SIGTERM); counts are still answered.
  caf::reacts_to<drain_atom>>;

} // namespace ping::gateway

// Local messages only (the gateway never talks to another process).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ping::gateway::ping_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ping::gateway::count_reply)
