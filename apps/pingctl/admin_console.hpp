#pragma once
// The interactive console of `pingctl admin` (no command given): a prompt
// naming the node ("ping-processor@127.0.0.1:9464> "), line editing,
// history and completion of command words through libedit's
// readline-compatible API, and every admin command plus help, history,
// watch and quit. Errors are printed and the prompt continues. Ctrl-C
// drops the line being typed; Ctrl-D, quit or exit leave.
//
// With stdin not a terminal it reads one command per line without prompt
// or editing, so a file of commands can be piped in.
//
// History lives in memory only (this session), bounded to max_history
// lines.

#include <iosfwd>

#include "apps/pingctl/admin_session.hpp"

namespace ping::pingctl {

constexpr int max_history = 1000;

/// Runs until quit or end of input. Returns 0; reading from a pipe, 1 when
/// any command failed.
int run_console(admin_session& session, std::ostream& out, std::ostream& err);

} // namespace ping::pingctl
