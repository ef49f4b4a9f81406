#include "apps/pingctl/options.hpp"

#include <string_view>
#include <vector>

namespace ping::pingctl {

bool split_address(const std::string& address, std::string& host, std::string& port) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return false;
  host = address.substr(0, colon);
  port = address.substr(colon + 1);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']')
      return false;
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return false; // bare IPv6 literal: ambiguous
  }
  unsigned value = 0;
  return parse_int(port, value) && value >= 1 && value <= 65535;
}

std::string short_usage_text() {
  return R"(Usage: pingctl [OPTIONS] ping [--timestamp-ms N]
       pingctl [OPTIONS] ping --requests N [--concurrency C] [--timestamp-ms N]
       pingctl [OPTIONS] count [--from MS --to MS]
       pingctl admin [--node HOST:PORT] [--token-file F] [<command> [ARGS]]
Run 'pingctl --help' for every option and its default.
)";
}

std::string usage_text() {
  return R"(Usage: pingctl [OPTIONS] <command> [COMMAND OPTIONS]
       pingctl admin [ADMIN OPTIONS] [<admin command> [ARGS]]

Calls ping.v1.PingService over Connect (HTTP/1.1) or gRPC (HTTP/2), and
the admin API of a node (pingctl admin).

Commands:
  ping                      Store one ping; prints "ok".
  ping --requests N         Load mode: send N pings from --concurrency workers;
                            progress on stderr, summary on stdout.
  count                     Print the number of stored pings (e.g. "12").
  admin ...                 The admin API of a ping-gateway or ping-processor
                            (status, actors, pipeline, lag, minutes, flush,
                            pause, resume, rebuild-cache, log-level, watch),
                            or, without a command, an interactive console on
                            it. Must be the first argument; it has its own
                            options (--node, --token-file, --timeout-ms):
                            see 'pingctl admin --help'.

Global options (before or after the command):
  --address HOST:PORT       Server address; IPv6 as [ADDR]:PORT.
                            Default: $PINGCTL_ADDRESS if set, else
                            127.0.0.1:8080 (connect) or 127.0.0.1:9090 (grpc).
  --protocol connect|grpc   Wire protocol. Default: connect.
  --encoding json|proto     Connect message encoding (connect only).
                            Default: json for single calls, proto in load mode.
  --timeout-ms N            Per-call deadline in ms (N >= 1), sent as
                            Connect-Timeout-Ms or as the gRPC deadline; also
                            bounds connecting, writing and reading.
                            Default: 5000.
  -o, --output text|json    Output format. json: the answer as protobuf JSON
                            ({} for ping, {"pingCount":"12"} for count; load
                            mode: the summary's fields as one JSON object).
                            Default: text.
  -h, --help                Print this help and exit.
  --version                 Print the version and exit.

Options of ping:
  --timestamp-ms N          Epoch milliseconds of the ping; 0 means "now, at
                            the server". Default: 0.
  --requests N              Load mode: total number of pings (N >= 1).
                            Default: unset (one call).
  --concurrency C           Load mode: parallel workers (1..1024), each with
                            its own keep-alive connection (connect) or its
                            own stub on one shared channel (grpc). Default: 1.

Options of count:
  --from MS --to MS         Count pings in the half-open range [from, to) of
                            epoch milliseconds; both or neither.
                            Default: all pings.

Options also accept the form --name=value.

Output:
  Errors go to stderr as "error: <code>: <message>", with Connect code names
  (invalid_argument, unavailable, ...; gRPC codes are mapped to the same).
  Load mode prints a table and, last, one line of key=value fields:
    requests= ok= errors= elapsed_s= rps= p50_ms= p90_ms= p99_ms= max_ms=
  followed by errors_<code>=N for each failing code. Latency percentiles are
  over successful requests.

Exit status:
  0 success, 1 RPC error or any failed request in load mode, 2 usage error,
  130 load mode interrupted (Ctrl-C).
)";
}

std::optional<bool> parse_output(std::string_view value) {
  if (value == "json")
    return true;
  if (value == "text")
    return false;
  return std::nullopt;
}

namespace {

// What the command line said, before defaults and the environment fill in.
struct given {
  std::optional<std::string> address;
  std::optional<std::string> protocol;
  std::optional<std::string> encoding;
  std::optional<std::int64_t> timeout_ms;
  bool timestamp = false;
  bool concurrency = false;
};

// The command word (ping, count). Returns a usage error, or "".
std::string take_command(std::string_view arg, options& opts) {
  if (arg.empty() || arg.front() == '-')
    return "unknown option '" + std::string{arg} + "'";
  if (opts.cmd != command::none)
    return "unexpected argument '" + std::string{arg} + "'";
  if (arg == "ping")
    opts.cmd = command::ping;
  else if (arg == "count")
    opts.cmd = command::count;
  else if (arg == "admin")
    return "admin must be the first argument: pingctl admin [OPTIONS] <command>";
  else
    return "unknown command '" + std::string{arg} + "'";
  return {};
}

// One --name value option. Returns a usage error, or "".
std::string take_option(const std::string& name, const std::string& value, options& opts,
                        given& g) {
  auto int_value = [&value](auto& out) { return parse_int(value, out); };
  if (name == "--address") {
    g.address = value;
  } else if (name == "--output") {
    auto json = parse_output(value);
    if (!json)
      return "--output needs text or json, got '" + value + "'";
    opts.json = *json;
  } else if (name == "--protocol") {
    g.protocol = value;
  } else if (name == "--encoding") {
    g.encoding = value;
  } else if (name == "--timeout-ms") {
    std::int64_t v = 0;
    if (!int_value(v) || v < 1 || v > 9'999'999'999)
      return "--timeout-ms needs an integer from 1 to 9999999999, got '" + value + "'";
    g.timeout_ms = v;
  } else if (name == "--timestamp-ms") {
    if (!int_value(opts.timestamp_ms))
      return "--timestamp-ms needs an integer, got '" + value + "'";
    g.timestamp = true;
  } else if (name == "--requests") {
    std::uint64_t v = 0;
    if (!int_value(v) || v < 1)
      return "--requests needs a positive integer, got '" + value + "'";
    opts.requests = v;
  } else if (name == "--concurrency") {
    if (!int_value(opts.concurrency) || opts.concurrency < 1 || opts.concurrency > max_concurrency)
      return "--concurrency needs an integer from 1 to " + std::to_string(max_concurrency)
             + ", got '" + value + "'";
    g.concurrency = true;
  } else if (name == "--from" || name == "--to") {
    std::int64_t v = 0;
    if (!int_value(v))
      return name + " needs an integer (epoch ms), got '" + value + "'";
    (name == "--from" ? opts.from : opts.to) = v;
  } else {
    return "unknown option '" + name + "'";
  }
  return {};
}

// Every argument in order. Returns the first usage error, or "".
std::string scan(const std::vector<std::string_view>& args, options& opts, given& g) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    // The short options: -h, and -o FORMAT (or -oFORMAT).
    if (arg == "-h") {
      opts.help = true;
      continue;
    }
    if (arg.substr(0, 2) == "-o" && (arg.size() > 2 || i + 1 < args.size())) {
      auto value = arg.size() > 2 ? arg.substr(2) : args[++i];
      auto json = parse_output(value);
      if (!json)
        return "-o needs text or json, got '" + std::string{value} + "'";
      opts.json = *json;
      continue;
    }
    if (arg.size() < 2 || arg.substr(0, 2) != "--") {
      if (auto problem = take_command(arg, opts); !problem.empty())
        return problem;
      continue;
    }
    std::string name{arg};
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name.resize(eq);
    }
    if (name == "--help" || name == "--version") {
      if (inline_value)
        return "option " + name + " takes no value";
      (name == "--help" ? opts.help : opts.version) = true;
      continue;
    }
    // Every other option takes a value; values may start with '-'
    // (negative timestamps are the server's to reject).
    std::string value;
    if (inline_value)
      value = *inline_value;
    else if (i + 1 < args.size())
      value = std::string{args[++i]};
    else
      return "option " + name + " needs a value";
    if (auto problem = take_option(name, value, opts, g); !problem.empty())
      return problem;
  }
  return {};
}

// Options that belong to the other command. Returns a usage error, or "".
std::string check_command_options(const options& opts, const given& g) {
  if (opts.cmd == command::count) {
    if (g.timestamp)
      return "--timestamp-ms applies to ping only";
    if (opts.requests || g.concurrency)
      return "--requests and --concurrency apply to ping only";
    if (opts.from.has_value() != opts.to.has_value())
      return "--from and --to go together: give both or neither";
  } else {
    if (opts.from || opts.to)
      return "--from and --to apply to count only";
    if (g.concurrency && !opts.requests)
      return "--concurrency needs --requests";
  }
  return {};
}

// Protocol, encoding, address and timeout, with their defaults. Returns a
// usage error, or "".
std::string resolve_client(options& opts, const given& g, const char* env_address) {
  auto& client = opts.client;
  if (!g.protocol || *g.protocol == "connect")
    client.protocol = wire_protocol::connect;
  else if (*g.protocol == "grpc")
    client.protocol = wire_protocol::grpc;
  else
    return "--protocol must be connect or grpc, got '" + *g.protocol + "'";

  if (g.encoding && client.protocol == wire_protocol::grpc)
    return "--encoding applies to --protocol connect only";
  if (!g.encoding)
    client.encoding = opts.load_mode() ? wire_encoding::proto : wire_encoding::json;
  else if (*g.encoding == "json")
    client.encoding = wire_encoding::json;
  else if (*g.encoding == "proto")
    client.encoding = wire_encoding::proto;
  else
    return "--encoding must be json or proto, got '" + *g.encoding + "'";

  if (g.address)
    client.address = *g.address;
  else if (env_address && *env_address)
    client.address = env_address;
  else
    client.address = client.protocol == wire_protocol::grpc ? default_grpc_address
                                                            : default_connect_address;
  if (!split_address(client.address, client.host, client.port))
    return "address must be HOST:PORT, got '" + client.address + "'";
  client.timeout = std::chrono::milliseconds{g.timeout_ms.value_or(default_timeout_ms)};
  return {};
}

} // namespace

parse_result parse_args(int argc, const char* const* argv, const char* env_address) {
  parse_result result;
  auto& opts = result.opts;
  given g;
  result.error = scan(std::vector<std::string_view>(argv + 1, argv + argc), opts, g);
  if (!result.error.empty() || opts.help || opts.version)
    return result;
  if (opts.cmd == command::none) {
    result.error = "missing command (ping, count or admin)";
    return result;
  }
  result.error = check_command_options(opts, g);
  if (result.error.empty())
    result.error = resolve_client(opts, g, env_address);
  return result;
}

} // namespace ping::pingctl
