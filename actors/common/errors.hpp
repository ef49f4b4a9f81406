#pragma once
// The one error vocabulary of Ping's actors. Gateways map it to Connect/gRPC
// codes in one table (gateways/common/status.hpp); actors return it through
// caf::result<T> or deliver it to response promises.

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/make_message.hpp>

namespace ping {

enum class ping_errc : uint8_t {
  none = 0,
  invalid_argument,    // bad input from the client
  unavailable,         // a dependency (PostgreSQL, the cache) cannot be reached
  resource_exhausted,  // a bound was hit: too much in-flight work
  deadline_exceeded,   // the request's deadline passed inside Ping
  shutting_down,       // draining: no new work accepted
  internal,            // a broken invariant; should never happen
  failed_precondition, // cannot be answered in the system's state (a range edge inside raw rows
                       // retention dropped)
};

std::string to_string(ping_errc x);

} // namespace ping

CAF_ERROR_CODE_ENUM(ping::ping_errc, "ping")
