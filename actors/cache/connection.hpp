#pragma once
// One hiredis connection to Dragonfly (redis-server locally), used by both
// the cache reader (ping-gateway) and the cache writer (ping-processor).
// Blocking: only detached actors own one.
//
// Every socket operation has the deadline `timeout`. After a timeout or an
// I/O error hiredis leaves the context unusable, so the connection drops it
// and connects again on the next command.

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <caf/timespan.hpp>

struct redisContext;
struct redisReply;

namespace ping::cache {

struct endpoint {
  std::string host;
  int port = 0; // 0: the address did not parse
};

/// "host:port" or "[v6]:port".
endpoint parse_address(std::string_view address);

/// The connection is unusable (refused, timed out, reset); it was dropped.
struct io_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The server answered, but not with something usable (an error reply, an
/// unexpected shape). The connection is still in step.
struct bad_reply : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct reply_deleter {
  void operator()(redisReply* r) const;
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

using command_args = std::vector<std::string>;

class connection {
public:
  connection(const std::string& address, std::string password, caf::timespan timeout);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  bool connected() const { return ctx_ != nullptr; }

  /// Forgets the socket; the next command connects again.
  void drop();

  /// Runs one command (connecting first if needed). Error replies throw
  /// bad_reply; I/O failures throw io_failure.
  reply_ptr command(const command_args& args);

  /// Sends the commands in one write and reads every reply (error replies
  /// are returned as they are, so the caller can tell which one failed).
  std::vector<reply_ptr> pipeline(const std::vector<command_args>& commands);

private:
  void connect();
  [[noreturn]] void fail(const std::string& what);

  endpoint ep_;
  std::string password_; // secret: never logged
  caf::timespan timeout_;
  redisContext* ctx_ = nullptr;
};

/// An integer from an integer or bulk-string reply.
std::optional<int64_t> as_int(const redisReply* r);

/// nil -> 0; otherwise as_int.
std::optional<int64_t> as_count(const redisReply* r);

} // namespace ping::cache
