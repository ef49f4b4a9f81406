#pragma once
// Client side of the control socket (line protocol, see README.md).

#include <chrono>
#include <stdexcept>
#include <string>

namespace devbroker {

// Transport failure talking to the control socket: cannot connect, timeout,
// connection closed before a full answer line.
class control_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// Sends one command line to the broker's control socket and returns its
// answer line (without the trailing newline), which starts with "ok" or
// "error". The whole exchange (connect, send, receive) is bounded by
// `timeout`. Throws control_error on transport failure or timeout and
// std::invalid_argument if `command` contains a newline.
std::string control(const std::string& socket_path, const std::string& command,
                    std::chrono::milliseconds timeout);

} // namespace devbroker
