#include "admin/auth.hpp"

#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace ping::admin {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i]))
        != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

// A dotted-quad IPv4 literal in 127.0.0.0/8: exactly four decimal parts of
// 1 to 3 digits, each at most 255. Anything longer ("127.0.0.1.evil.example")
// is a DNS name, which a rebinding attacker controls.
bool is_loopback_ipv4(std::string_view s) {
  int parts = 0;
  size_t i = 0;
  int first = -1;
  while (parts < 4) {
    size_t start = i;
    int value = 0;
    while (i < s.size() && i - start < 3 && std::isdigit(static_cast<unsigned char>(s[i])))
      value = value * 10 + (s[i++] - '0');
    if (i == start || value > 255)
      return false;
    if (parts == 0)
      first = value;
    ++parts;
    if (parts < 4) {
      if (i >= s.size() || s[i] != '.')
        return false;
      ++i;
    }
  }
  return i == s.size() && first == 127;
}

// A port: 1 to 5 digits, at most 65535.
bool is_port(std::string_view s) {
  if (s.empty() || s.size() > 5)
    return false;
  unsigned value = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c)))
      return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value <= 65535;
}

} // namespace

bool is_loopback(const std::string& address) {
  return iequals(address, "localhost") || address == "::1" || address == "[::1]"
         || is_loopback_ipv4(address);
}

bool is_loopback_host(std::string_view host) {
  std::string_view name = host;
  std::string_view rest;
  if (!name.empty() && name.front() == '[') {
    auto close = name.find(']');
    if (close == std::string_view::npos)
      return false;
    rest = name.substr(close + 1);
    name = name.substr(0, close + 1);
  } else if (auto colon = name.find(':'); colon != std::string_view::npos) {
    rest = name.substr(colon);
    name = name.substr(0, colon);
  }
  // After the name: nothing, or ":" and a port (RFC 9110 Host = uri-host [":" port]).
  if (!rest.empty() && (rest.front() != ':' || !is_port(rest.substr(1))))
    return false;
  return is_loopback(std::string{name});
}

std::string_view bearer_token(std::string_view header) {
  constexpr std::string_view scheme = "bearer";
  if (header.size() <= scheme.size() || header[scheme.size()] != ' ')
    return {};
  for (size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(header[i])) != scheme[i])
      return {};
  auto token = header.substr(scheme.size() + 1);
  while (!token.empty() && token.front() == ' ')
    token.remove_prefix(1);
  return token;
}

bool same_token(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string read_token_file(const std::string& path) {
  std::ifstream in{path};
  if (!in)
    throw std::runtime_error("cannot read admin token file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto token = ss.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' '))
    token.pop_back();
  if (token.empty())
    throw std::runtime_error("admin token file " + path + " is empty");
  return token;
}

credentials credentials::load(const options& opts) {
  credentials c;
  c.token_ = opts.token_file.empty() ? opts.token : read_token_file(opts.token_file);
  if (c.token_.empty() && !is_loopback(opts.address))
    throw std::runtime_error("admin endpoint on " + opts.address
                             + " needs a bearer token (admin.token-file or admin.token); "
                               "only loopback addresses may go without one");
  if (!opts.read_token_file.empty())
    c.read_token_ = read_token_file(opts.read_token_file);
  if (!c.read_token_.empty() && c.token_.empty())
    throw std::runtime_error("admin.read-token-file needs admin.token-file (or admin.token) too");
  return c;
}

std::function<bool(const connectrpc::call_context&)> credentials::authorizer() const {
  if (token_.empty()) {
    // No token (loopback only): refuse requests whose Host is not loopback.
    return [](const connectrpc::call_context& ctx) {
      auto* h = ctx.header("host");
      return h && is_loopback_host(*h);
    };
  }
  return [token = token_, read_token = read_token_](const connectrpc::call_context& ctx) {
    auto* h = ctx.header("authorization");
    if (!h)
      return false;
    auto given = bearer_token(*h);
    return !given.empty()
           && (same_token(given, token) || (!read_token.empty() && same_token(given, read_token)));
  };
}

bool credentials::read_only(const connectrpc::call_context& ctx) const {
  if (read_token_.empty())
    return false;
  auto* h = ctx.header("authorization");
  return h && same_token(bearer_token(*h), read_token_);
}

} // namespace ping::admin
