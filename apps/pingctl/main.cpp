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
#include <sstream>
#include <string_view>

#include <google/protobuf/util/json_util.h>

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

// The answer as protobuf JSON (lowerCamelCase, int64 as strings).
std::string to_json(const google::protobuf::Message& m) {
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out);
  return out;
}

// Load mode's last summary line, "requests=10 ok=10 ... errors_unavailable=2",
// as one JSON object with numeric values.
std::string summary_json(const std::string& summary) {
  auto end = summary.find_last_not_of('\n');
  auto start = summary.rfind('\n', end);
  std::istringstream line{summary.substr(start == std::string::npos ? 0 : start + 1)};
  std::string out = "{";
  for (std::string field; line >> field;) {
    auto eq = field.find('=');
    if (eq == std::string::npos)
      continue;
    out += (out.size() > 1 ? ",\"" : "\"") + field.substr(0, eq) + "\":" + field.substr(eq + 1);
  }
  return out + "}";
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
    if (!opts.json)
      return run_load(load, make_client, std::cout, std::cerr);
    std::ostringstream summary;
    auto status = run_load(load, make_client, summary, std::cerr);
    std::cout << summary_json(summary.str()) << std::endl;
    return status;
  }

  auto client = make_client();
  if (opts.cmd == command::ping) {
    ping::v1::PingRequest req;
    req.set_timestamp_ms(opts.timestamp_ms);
    ping::v1::PingResponse resp;
    if (auto st = client->ping(req, resp); !st.ok())
      return fail(st);
    std::cout << (opts.json ? to_json(resp) : "ok") << std::endl;
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
  if (opts.json)
    std::cout << to_json(resp) << std::endl;
  else
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
