#pragma once
// `pingctl admin`: the console and the one-shot commands of
// ping.admin.v1.AdminService (see admin_command.hpp for the language,
// admin_session.hpp for the calls, admin_console.hpp and admin_watch.hpp
// for the terminal).

#include <string>
#include <vector>

namespace ping::pingctl {

/// Runs `pingctl admin ARGS...` (`args` follow the word "admin"). Returns
/// the exit status: 0 ok, 1 RPC or network error, 2 usage error.
int run_admin(const std::vector<std::string>& args);

} // namespace ping::pingctl
