#pragma once
// pingctl's command line: one parse of argv (global options may come before
// or after the command), the usage text, and the defaults in one place.

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "apps/pingctl/rpc.hpp"

namespace ping::pingctl {

constexpr const char* default_connect_address = "127.0.0.1:8080";
constexpr const char* default_grpc_address = "127.0.0.1:9090";
constexpr std::int64_t default_timeout_ms = 5000;
constexpr unsigned default_concurrency = 1;
constexpr unsigned max_concurrency = 1024;

enum class command { none, ping, count };

struct options {
  command cmd = command::none;
  bool help = false;
  bool version = false;
  bool json = false; // -o json: protobuf JSON (load mode: the summary's fields)

  client_settings client; // address, protocol, encoding, timeout resolved

  // ping
  std::int64_t timestamp_ms = 0;
  std::optional<std::uint64_t> requests; // set: load mode
  unsigned concurrency = default_concurrency;

  // count
  std::optional<std::int64_t> from;
  std::optional<std::int64_t> to;

  bool load_mode() const { return requests.has_value(); }
};

struct parse_result {
  options opts;
  std::string error; // non-empty: usage error (exit 2)
};

/// The value of -o/--output: true for "json", false for "text"; nullopt
/// for anything else.
std::optional<bool> parse_output(std::string_view value);

/// Parses a whole decimal integer ("+" allowed); false on junk or overflow.
template <class Int>
bool parse_int(std::string_view text, Int& out) {
  if (!text.empty() && text.front() == '+')
    text.remove_prefix(1);
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc{} && ptr == text.data() + text.size();
}

/// Splits HOST:PORT (IPv6 literals in brackets, "[::1]:8080") and checks
/// that the port is 1..65535.
bool split_address(const std::string& address, std::string& host, std::string& port);

/// Parses argv. `env_address` is $PINGCTL_ADDRESS (nullptr when unset).
parse_result parse_args(int argc, const char* const* argv, const char* env_address);

/// The full help text, every option with its default.
std::string usage_text();

/// The synopsis printed with a usage error.
std::string short_usage_text();

} // namespace ping::pingctl
