#include "apps/pingctl/admin.hpp"

#include <cstdlib>
#include <iostream>

#include "apps/pingctl/admin_command.hpp"
#include "apps/pingctl/admin_console.hpp"
#include "apps/pingctl/admin_session.hpp"
#include "apps/pingctl/admin_watch.hpp"
#include "apps/pingctl/interrupt.hpp"

namespace ping::pingctl {

int run_admin(const std::vector<std::string>& args) {
  auto parsed = parse_admin_args(args, std::getenv("PINGCTL_ADMIN_NODE"));
  if (!parsed.error.empty()) {
    std::cerr << "pingctl: " << parsed.error << "\n" << admin_short_usage_text();
    return 2;
  }
  const auto& inv = parsed.inv;
  if (inv.help || (inv.cmd && inv.cmd->verb == admin_verb::help)) {
    std::cout << admin_usage_text();
    return 0;
  }
  // The token: --token-file, else $PING_ADMIN_TOKEN (same rules).
  std::string token;
  std::string error;
  if (inv.token_file) {
    if (!read_token_file(*inv.token_file, token, error)) {
      std::cerr << "pingctl: " << error << std::endl;
      return 2;
    }
  } else if (const char* env = std::getenv("PING_ADMIN_TOKEN"); env && *env) {
    if (!check_token(env, token, error)) {
      std::cerr << "pingctl: PING_ADMIN_TOKEN: " << error << std::endl;
      return 2;
    }
  }

  admin_session session{inv, token};
  // Raised only inside the console and watch (sigint_scope); elsewhere
  // Ctrl-C ends pingctl as usual.
  session.set_interrupt_check(&sigint_scope::raised);
  if (!inv.cmd)
    return run_console(session, std::cout, std::cerr);
  if (inv.cmd->verb == admin_verb::watch)
    return run_watch(session, *inv.cmd, std::cerr);
  auto result = session.execute(*inv.cmd);
  if (result.error)
    std::cerr << "pingctl: " << result.text << std::flush;
  else
    std::cout << result.text << std::flush;
  return result.exit_status;
}

} // namespace ping::pingctl
