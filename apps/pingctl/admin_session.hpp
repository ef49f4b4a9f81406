#pragma once
// One node's admin API as pingctl's commands see it: a Connect client of
// ping.admin.v1.AdminService (JSON on the wire, one keep-alive connection,
// the bearer token on every call) that runs a command and renders the
// answer with admin/text/format.hpp. Used by the one-shot commands, the console
// and watch; one thread at a time.

#include <functional>
#include <memory>
#include <string>

#include "apps/pingctl/admin_command.hpp"

namespace ping::pingctl {

struct command_result {
  int exit_status = 0; // 0 ok, 1 failed
  bool error = false;  // `text` is an error line (stderr), not output
  std::string text;    // ends with a newline unless empty
};

class admin_session {
public:
  /// `token` empty: no Authorization header.
  admin_session(const admin_invocation& inv, std::string token);
  ~admin_session();
  admin_session(const admin_session&) = delete;
  admin_session& operator=(const admin_session&) = delete;

  /// `check` returning true abandons the call in flight (Ctrl-C).
  void set_interrupt_check(std::function<bool()> check);

  /// Runs a remote command (is_remote(cmd.verb)). `compact` leaves long
  /// parts out (the configuration in status), for watch.
  /// With inv.json, the text of a successful answer is the protobuf JSON of
  /// the (last) response message, one line.
  command_result execute(const admin_command& cmd, bool compact = false);

  /// "ping-processor@127.0.0.1:9464"; just the node until a status call
  /// has named the binary.
  std::string label() const;

  /// Asks GetStatus for the binary's name and version; the error line on
  /// failure, else a one-line greeting.
  command_result greet();

private:
  command_result execute_text(const admin_command& cmd, bool compact);

  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Reads a bearer token: trailing blanks and newlines are dropped and what
/// remains must be non-empty printable ASCII without blanks. Returns false
/// with a message in `error`.
bool read_token_file(const std::string& path, std::string& token, std::string& error);

} // namespace ping::pingctl
