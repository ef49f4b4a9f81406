#pragma once
// Typed protocol of the gateway actor: what the network front-ends may ask.

#include <cctype>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/common/atoms.hpp"
#include "actors/common/errors.hpp"
#include "actors/common/reply.hpp"
#include "actors/common/trace.hpp"
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

/// Longest idempotency key accepted.
inline constexpr size_t max_key_length = 128;

/// The call's idempotency key from the message field and the header
/// (Connect `Idempotency-Key`, gRPC `idempotency-key` metadata; nullptr:
/// absent): empty when neither is given. invalid_argument when both are
/// given and differ, or the key is longer than max_key_length or holds
/// characters other than letters, digits and - _ . : ~ + / =.
inline caf::expected<std::string> idempotency_key(const std::string& field,
                                                  const std::string* header) {
  if (header && !header->empty() && !field.empty() && *header != field)
    return caf::make_error(ping_errc::invalid_argument,
                           "idempotency_key and the idempotency-key header differ");
  const auto& key = field.empty() && header ? *header : field;
  if (key.size() > max_key_length)
    return caf::make_error(ping_errc::invalid_argument, "idempotency key longer than "
                                                          + std::to_string(max_key_length)
                                                          + " characters");
  for (unsigned char c : key)
    if (!std::isalnum(c)
        && std::string_view{"-_.:~+/="}.find(static_cast<char>(c)) == std::string_view::npos)
      return caf::make_error(ping_errc::invalid_argument,
                             "idempotency key may hold only letters, digits and - _ . : ~ + / =");
  return key;
}

/// Where the answer to a front-end's call goes, and its deadline: the
/// gateway answers every call exactly once, at the latest at the deadline
/// (deadline_exceeded), on a CAF thread.
using ping_reply = reply<ping_ack>;
using count_reply = reply<count_result>;

/// One call of a batch: a Ping (timestamp, idempotency key) or a PingCount
/// (range), and when its caller stops waiting.
struct call {
  bool count = false;       // false: Ping; true: PingCount
  int64_t timestamp_ms = 0; // Ping: the client's timestamp (0 = now)
  std::string key;          // Ping: the idempotency key (empty: none)
  time_range range;         // PingCount
  std::chrono::steady_clock::time_point deadline;
  trace::context trace; // the call's trace (invalid: start one)
};

/// The answer to call `index` of a batch: an error, else the ping's ack or
/// the count.
struct answer {
  uint32_t index = 0;
  caf::error err;
  ping_ack ack;
  count_result count;
};

/// The way back for the answers of one batch. The gateway answers every
/// call of the batch exactly once, at the latest at the call's deadline, on
/// a CAF thread, and hands over together the answers it has together (one
/// `sink` call for the calls one commit or one count answered). When the
/// last copy goes away with calls unanswered (the gateway stopped), those
/// get `unavailable`, so no call waits forever. Not thread-safe: only the
/// actor holding it delivers (and a copy's destruction follows its uses).
class batch_reply {
public:
  using sink = std::function<void(std::vector<answer>&)>;

  batch_reply(size_t calls, sink s) : done_(calls, false), sink_(std::move(s)) {}
  batch_reply(const batch_reply&) = delete;
  batch_reply& operator=(const batch_reply&) = delete;

  ~batch_reply() {
    std::vector<answer> rest;
    for (uint32_t i = 0; i < done_.size(); ++i)
      if (!done_[i])
        rest.push_back(
          {i, caf::make_error(ping_errc::unavailable, "the call was dropped unanswered"), {}, {}});
    if (!rest.empty() && sink_)
      sink_(rest);
  }

  size_t size() const { return done_.size(); }

  /// Hands `answers` to the front-end; answers to calls answered before
  /// (or out of range) are dropped.
  void deliver(std::vector<answer>& answers) {
    size_t kept = 0;
    for (auto& a : answers)
      if (a.index < done_.size() && !done_[a.index]) {
        done_[a.index] = true;
        if (&answers[kept] != &a)
          answers[kept] = std::move(a);
        ++kept;
      }
    answers.resize(kept);
    if (kept > 0)
      sink_(answers);
  }

private:
  std::vector<bool> done_;
  sink sink_;
};

/// Calls a front-end parsed in one turn of its event loop, handed over as
/// one message, and their way back.
struct call_batch {
  std::vector<call> calls;
  std::shared_ptr<batch_reply> reply;
  // Empty, or how the gateway takes the batch's calls and reply when it
  // gets to the message: a front-end without an event-loop turn (gRPC)
  // queues its calls meanwhile, and they all go in this batch.
  std::function<void(call_batch&)> take = {};
};

/// A front-end's PingCount {} calls parked on the count board
/// (actors/counts/board.hpp): `read`: ask the count reader for a round;
/// `wake_at`: the earliest deadline of the parked calls, when the gateway
/// wakes the board's front-ends (they answer deadline_exceeded).
struct count_round {
  bool read = false;
  std::optional<std::chrono::steady_clock::time_point> wake_at;
};

using gateway_actor = caf::typed_actor<
  // Accepts one ping with the client's timestamp (0 = now). Answers after
  // the ping is committed; errors: invalid_argument, unavailable,
  // resource_exhausted, shutting_down, deadline_exceeded.
  caf::reacts_to<ping_atom, int64_t, ping_reply>,
  // The same with the client's idempotency key (validated with
  // gateway::idempotency_key): a ping whose key an earlier ping holds is
  // not stored again, and answers as that one did (issue 19 item 13).
  caf::reacts_to<ping_atom, int64_t, std::string, ping_reply>,
  // The same within the call's trace (trace::start(): the client's
  // traceparent or a new trace): its trace id is on the gateway's log lines
  // about the ping, stored with the row when the client sent it (else the
  // ping's id is the trace id) and sent in the Kafka event's headers.
  caf::reacts_to<ping_atom, int64_t, std::string, trace::context, ping_reply>,
  // Counts pings, in total or within a half-open range. Errors:
  // invalid_argument, unavailable, deadline_exceeded.
  caf::reacts_to<count_atom, time_range, count_reply>,
  // The same within the call's trace (the client's traceparent or a new
  // trace): its trace id is on the gateway's log lines about the count.
  caf::reacts_to<count_atom, time_range, trace::context, count_reply>,
  // Stop accepting pings (SIGTERM); counts are still answered.
  caf::reacts_to<drain_atom>,
  // Several calls at once, each as the single calls above (same checks,
  // errors and deadlines); their answers go back through the batch's
  // reply, those known together in one hand-over.
  caf::reacts_to<batch_atom, call_batch>,
  // PingCount {} answered on a front-end's own thread from the count
  // board: a round to ask of the count reader, a deadline to watch.
  caf::reacts_to<count_atom, count_round>>;

} // namespace ping::gateway

// Local messages only (the gateway never talks to another process).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ping::gateway::ping_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ping::gateway::count_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ping::gateway::call_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ping::gateway::count_round)
