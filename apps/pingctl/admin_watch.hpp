#pragma once
// `watch`: one read of the admin API (actors, pipeline, lag or status)
// redrawn in place on the terminal's alternate screen every interval, under
// a header with the node, the local time and a refresh counter, until the
// user presses Enter or Ctrl-C (or stdin ends). Frames are cut to the
// window so they never scroll; a failed call shows its error in the frame
// and the next refresh tries again.
//
// Ctrl-C (through sigint_scope) also abandons a call in flight. Echo is off
// while watching; the terminal, the SIGINT disposition and the signal mask
// are restored on return.

#include <iosfwd>

#include "apps/pingctl/admin_command.hpp"
#include "apps/pingctl/admin_session.hpp"

namespace ping::pingctl {

/// Returns 0 when stopped, 2 when stdout is not a terminal.
int run_watch(admin_session& session, const admin_command& cmd, std::ostream& err);

} // namespace ping::pingctl
