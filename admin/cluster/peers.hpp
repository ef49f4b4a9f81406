#pragma once
// The peers of the cluster view as an operator writes them
// (--admin.peers=host:port,host:port; --admin.peers-dns=name:port,...) and
// name resolution with a deadline. Parsing is pure (tests feed it text);
// the resolver runs glibc's asynchronous getaddrinfo_a and waits at most
// its deadline, so a slow DNS server never holds its caller longer.
//
// Threads: parse_* and format_endpoint anywhere; a resolver is used by one
// thread (the discovery thread). Bounds: a lookup that outlives its
// deadline and cannot be cancelled is kept until glibc finishes it, at most
// `max_abandoned` of them; beyond, lookups are refused. Failure: answers,
// never throws.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ping::admin::cluster {

/// One host and port; IPv6 literals without brackets.
struct endpoint {
  std::string host;
  uint16_t port = 0;

  friend bool operator==(const endpoint&, const endpoint&) = default;
};

/// "host:port", "[v6]:port" for IPv6 literals.
std::string format_endpoint(const endpoint& e);

/// True when `host` is an IPv4 or IPv6 literal (no lookup needed).
bool is_numeric_host(const std::string& host);

/// One "host:port" or "[v6]:port"; the error names what is wrong.
struct endpoint_parse {
  endpoint value;
  std::string error; // non-empty: invalid
};
endpoint_parse parse_endpoint(std::string_view text);

/// A comma-separated list of endpoints; blanks around entries and empty
/// entries are ignored, duplicates dropped (first kept). More than
/// `max_entries` is an error (the bound of the cluster view).
struct peers_parse {
  std::vector<endpoint> peers;
  std::string error; // non-empty: invalid (the first bad entry)
};
peers_parse parse_peers(std::string_view text, size_t max_entries);

/// Name resolution with a deadline.
class resolver {
public:
  static constexpr size_t max_abandoned = 16;

  resolver();
  ~resolver();
  resolver(const resolver&) = delete;
  resolver& operator=(const resolver&) = delete;

  struct result {
    std::vector<std::string> addresses; // numeric, IPv4 first, no duplicates
    std::string error;                  // non-empty: none found
  };

  /// The addresses of `host` (TCP), within `deadline`. A numeric host is
  /// returned as is, without a lookup.
  result resolve(const std::string& host, std::chrono::milliseconds deadline);

private:
  struct lookup;
  void reap();
  std::vector<std::unique_ptr<lookup>> abandoned_;
};

} // namespace ping::admin::cluster
