// pingctl: command-line client of ping.v1.PingService and of the admin API
// ping.admin.v1.AdminService.
//
//   pingctl ping [--timestamp-ms N]                      one ping, prints "ok"
//   pingctl ping --requests N [--concurrency C] [...]    load generator
//   pingctl count [--from MS --to MS]                    prints the count
//   pingctl admin [--node HOST:PORT] <command> [ARGS]    one admin command
//                                                        (status, actors, ...)
//   pingctl admin [--node HOST:PORT]                     interactive console
//
// Exit status: 0 ok, 1 RPC error, 2 usage error (see --help and
// pingctl admin --help).

#include <csignal>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string_view>

#include "actors/common/build_info.hpp"
#include "apps/pingctl/admin.hpp"
#include "apps/pingctl/load.hpp"
#include "apps/pingctl/options.hpp"
#include "apps/pingctl/rpc.hpp"


namespace ping::pingctl {
namespace {

int fail(const call_status& st) {
  std::cerr << "error: " << st.code;
  if (!st.message.empty())
    std::cerr << ": " << st.message;
  std::cerr << std::endl;
  return 1;
}

int run(int argc, char** argv) {
  if (argc > 1 && std::string_view{argv[1]} == "admin")
    return run_admin({argv + 2, argv + argc});
  auto parsed = parse_args(argc, argv, std::getenv("PINGCTL_ADDRESS"));
  if (!parsed.error.empty()) {
    std::cerr << "pingctl: " << parsed.error << "\n" << short_usage_text();
    return 2;
  }
  const auto& opts = parsed.opts;
  if (opts.help) {
    std::cout << usage_text();
    return 0;
  }
  if (opts.version) {
    std::cout << "pingctl " << ping::build::version() << std::endl;
    return 0;
  }

  auto make_client = make_client_factory(opts.client);
  if (opts.cmd == command::ping && opts.load_mode()) {
    load_settings load;
    load.requests = *opts.requests;
    load.concurrency = opts.concurrency;
    load.timestamp_ms = opts.timestamp_ms;
    return run_load(load, make_client, std::cout, std::cerr);
  }

  auto client = make_client();
  if (opts.cmd == command::ping) {
    ping::v1::PingRequest req;
    req.set_timestamp_ms(opts.timestamp_ms);
    ping::v1::PingResponse resp;
    if (auto st = client->ping(req, resp); !st.ok())
      return fail(st);
    std::cout << "ok" << std::endl;
    return 0;
  }

  ping::v1::PingCountRequest req;
  if (opts.from) {
    req.mutable_time_range()->set_start(*opts.from);
    req.mutable_time_range()->set_end(*opts.to);
  }
  ping::v1::PingCountResponse resp;
  if (auto st = client->count(req, resp); !st.ok())
    return fail(st);
  std::cout << resp.ping_count() << std::endl;
  return 0;
}

} // namespace
} // namespace ping::pingctl

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN); // a closed socket is an error, not a kill
  try {
    return ping::pingctl::run(argc, argv);
  } catch (const std::exception& ex) {
    std::cerr << "error: internal: " << ex.what() << std::endl;
    return 1;
  }
}
