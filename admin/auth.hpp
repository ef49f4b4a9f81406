#pragma once
// Who may call the admin endpoint. Bound to loopback it needs no token, but
// then refuses requests whose Host header is not loopback (a page of another
// origin reaching us through DNS rebinding). Bound to any other address it
// refuses to start without a bearer token; every request except the open
// routes (/healthz, /readyz, the console page) must then carry it. An
// optional read-only token is accepted for everything but the commands.
//
// Pure functions and one immutable value (`credentials`): safe on any
// thread; the server calls them on its I/O threads. Tokens are secrets:
// nothing here logs or returns them in messages; peer_token() hands the
// admin token to the cluster view's calls, nowhere else.

#include <functional>
#include <string>
#include <string_view>

#include <connectrpc/server.hpp>

#include "admin/options.hpp"

namespace ping::admin {

/// True for the literals of 127.0.0.0/8 (dotted quad, nothing after it),
/// ::1 and "localhost" (any case). A name that merely starts like one
/// ("127.0.0.1.evil.example") is a DNS name: false.
bool is_loopback(const std::string& address);

/// A Host header naming this machine's loopback: "localhost", "127.x.y.z"
/// or "[::1]", with or without a port (":" and 1 to 5 digits, nothing else).
bool is_loopback_host(std::string_view host);

/// The token of an `Authorization: Bearer <token>` header; the scheme is
/// case-insensitive (RFC 7235). Empty when the header is not a bearer one.
std::string_view bearer_token(std::string_view header);

/// Constant-time comparison: a token check must not leak by timing.
bool same_token(std::string_view a, std::string_view b);

/// A token file's content without trailing blanks and line breaks. Throws
/// std::runtime_error when the file cannot be read or holds no token.
std::string read_token_file(const std::string& path);

/// The endpoint's tokens, read and checked once at start.
class credentials {
public:
  /// Throws std::runtime_error when the options are unsafe (no token on a
  /// non-loopback address; a read-only token without the admin token) or a
  /// token file cannot be read.
  static credentials load(const options& opts);

  /// The server's gate for every call and every route not marked open:
  /// with a token, a valid bearer token (admin or read-only); without, a
  /// loopback Host header.
  std::function<bool(const connectrpc::call_context&)> authorizer() const;

  /// True when the call came with the read-only token: commands refuse it.
  bool read_only(const connectrpc::call_context& ctx) const;

  /// The admin token, for this node's calls to its peers (the cluster view:
  /// one token per deployment); empty without one. Never log it.
  const std::string& peer_token() const { return token_; }

private:
  std::string token_;      // empty: loopback only, no token
  std::string read_token_; // empty: none
};

} // namespace ping::admin
