#pragma once
// Ctrl-C in the admin console and in watch: while a sigint_scope lives,
// SIGINT sets a flag instead of ending the process, and the prompt, watch's
// waits and the call in flight (http_connection's interrupt check) look at
// it. Installed without SA_RESTART, so blocking waits return EINTR. Scopes
// nest; each restores the disposition it found.

#include <signal.h>

namespace ping::pingctl {

class sigint_scope {
public:
  sigint_scope();
  ~sigint_scope();
  sigint_scope(const sigint_scope&) = delete;
  sigint_scope& operator=(const sigint_scope&) = delete;

  /// Whether Ctrl-C was pressed since the last clear().
  static bool raised();
  static void clear();

private:
  struct sigaction previous_ {};
};

} // namespace ping::pingctl
