#define BOOST_TEST_MODULE pingctl_options
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "apps/pingctl/options.hpp"

// pingctl's command line (parse_args): every default, every resolution and
// every usage error, so that the parser's shape can change while its
// behaviour stays the same.

using namespace ping::pingctl;

namespace {

parse_result parse(std::vector<std::string> args, const char* env = nullptr) {
  std::vector<const char*> argv{"pingctl"};
  for (auto& a : args)
    argv.push_back(a.c_str());
  return parse_args(static_cast<int>(argv.size()), argv.data(), env);
}

std::string error(std::vector<std::string> args, const char* env = nullptr) {
  return parse(std::move(args), env).error;
}

} // namespace

BOOST_AUTO_TEST_CASE(defaults) {
  auto r = parse({"ping"});
  BOOST_TEST(r.error == "");
  BOOST_TEST((r.opts.cmd == command::ping));
  BOOST_TEST(!r.opts.load_mode());
  BOOST_TEST(!r.opts.json);
  BOOST_TEST(r.opts.timestamp_ms == 0);
  BOOST_TEST(r.opts.concurrency == 1u);
  BOOST_TEST((r.opts.client.protocol == wire_protocol::connect));
  BOOST_TEST((r.opts.client.encoding == wire_encoding::json));
  BOOST_TEST(r.opts.client.address == "127.0.0.1:8080");
  BOOST_TEST(r.opts.client.host == "127.0.0.1");
  BOOST_TEST(r.opts.client.port == "8080");
  BOOST_TEST(r.opts.client.timeout.count() == 5000);

  r = parse({"--protocol", "grpc", "count"});
  BOOST_TEST(r.error == "");
  BOOST_TEST((r.opts.cmd == command::count));
  BOOST_TEST(r.opts.client.address == "127.0.0.1:9090");
  BOOST_TEST(!r.opts.from.has_value());
}

BOOST_AUTO_TEST_CASE(values_and_resolution) {
  auto r = parse({"ping", "--requests=10", "--concurrency", "4", "--timestamp-ms", "-5",
                  "--timeout-ms=250", "-o", "json", "--address", "[::1]:81"});
  BOOST_TEST(r.error == "");
  BOOST_TEST(r.opts.load_mode());
  BOOST_TEST(*r.opts.requests == 10u);
  BOOST_TEST(r.opts.concurrency == 4u);
  BOOST_TEST(r.opts.timestamp_ms == -5);
  BOOST_TEST(r.opts.json);
  BOOST_TEST((r.opts.client.encoding == wire_encoding::proto)); // load mode default
  BOOST_TEST(r.opts.client.host == "::1");
  BOOST_TEST(r.opts.client.port == "81");
  BOOST_TEST(r.opts.client.timeout.count() == 250);

  r = parse({"--encoding=json", "ping", "--requests", "+3", "-ojson", "--output=text"});
  BOOST_TEST(r.error == "");
  BOOST_TEST((r.opts.client.encoding == wire_encoding::json));
  BOOST_TEST(*r.opts.requests == 3u);
  BOOST_TEST(!r.opts.json);

  r = parse({"count", "--from", "1", "--to=2"}, "10.0.0.1:7");
  BOOST_TEST(r.error == "");
  BOOST_TEST(*r.opts.from == 1);
  BOOST_TEST(*r.opts.to == 2);
  BOOST_TEST(r.opts.client.address == "10.0.0.1:7"); // $PINGCTL_ADDRESS
  BOOST_TEST(parse({"count", "--address", "h:1"}, "10.0.0.1:7").opts.client.address == "h:1");
  BOOST_TEST(parse({"count"}, "").opts.client.address == "127.0.0.1:8080");
  BOOST_TEST((parse({"--encoding", "proto", "ping"}).opts.client.encoding == wire_encoding::proto));
}

BOOST_AUTO_TEST_CASE(help_and_version_win_over_missing_parts) {
  BOOST_TEST(parse({"-h"}).opts.help);
  BOOST_TEST(parse({"-h"}).error == "");
  BOOST_TEST(parse({"--help"}).opts.help);
  BOOST_TEST(parse({"count", "--from", "1", "--version"}).opts.version);
  BOOST_TEST(parse({"count", "--from", "1", "--version"}).error == "");
  BOOST_TEST(error({"--help=yes"}) == "option --help takes no value");
}

BOOST_AUTO_TEST_CASE(usage_errors) {
  BOOST_TEST(error({}) == "missing command (ping, count or admin)");
  BOOST_TEST(error({"-x"}) == "unknown option '-x'");
  BOOST_TEST(error({"-o", "yaml", "ping"}) == "-o needs text or json, got 'yaml'");
  BOOST_TEST(error({"ping", "-o"}) == "unknown option '-o'");
  BOOST_TEST(error({"ping", "count"}) == "unexpected argument 'count'");
  BOOST_TEST(error({"ping", "admin"}) == "unexpected argument 'admin'");
  BOOST_TEST(error({"--timeout-ms=1", "admin"})
             == "admin must be the first argument: pingctl admin [OPTIONS] <command>");
  BOOST_TEST(error({"frob"}) == "unknown command 'frob'");
  BOOST_TEST(error({"ping", "--address"}) == "option --address needs a value");
  BOOST_TEST(error({"ping", "--output=xml"}) == "--output needs text or json, got 'xml'");
  BOOST_TEST(error({"ping", "--timeout-ms", "0"})
             == "--timeout-ms needs an integer from 1 to 9999999999, got '0'");
  BOOST_TEST(error({"ping", "--timeout-ms", "10000000000"})
             == "--timeout-ms needs an integer from 1 to 9999999999, got '10000000000'");
  BOOST_TEST(error({"ping", "--timestamp-ms", "1x"})
             == "--timestamp-ms needs an integer, got '1x'");
  BOOST_TEST(error({"ping", "--requests", "0"}) == "--requests needs a positive integer, got '0'");
  BOOST_TEST(error({"ping", "--requests", "1", "--concurrency", "1025"})
             == "--concurrency needs an integer from 1 to 1024, got '1025'");
  BOOST_TEST(error({"count", "--to", "x"}) == "--to needs an integer (epoch ms), got 'x'");
  BOOST_TEST(error({"ping", "--frob=1"}) == "unknown option '--frob'");
  BOOST_TEST(error({"count", "--timestamp-ms", "1"}) == "--timestamp-ms applies to ping only");
  BOOST_TEST(error({"count", "--requests", "1"})
             == "--requests and --concurrency apply to ping only");
  BOOST_TEST(error({"count", "--concurrency", "2"})
             == "--requests and --concurrency apply to ping only");
  BOOST_TEST(error({"count", "--from", "1"})
             == "--from and --to go together: give both or neither");
  BOOST_TEST(error({"ping", "--to", "1"}) == "--from and --to apply to count only");
  BOOST_TEST(error({"ping", "--concurrency", "2"}) == "--concurrency needs --requests");
  BOOST_TEST(error({"ping", "--protocol", "h3"}) == "--protocol must be connect or grpc, got 'h3'");
  BOOST_TEST(error({"ping", "--protocol", "grpc", "--encoding", "json"})
             == "--encoding applies to --protocol connect only");
  BOOST_TEST(error({"ping", "--encoding", "xml"}) == "--encoding must be json or proto, got 'xml'");
  BOOST_TEST(error({"ping", "--address", "localhost"})
             == "address must be HOST:PORT, got 'localhost'");
  BOOST_TEST(error({"ping", "--address", "::1:80"}) == "address must be HOST:PORT, got '::1:80'");
  BOOST_TEST(error({"ping", "--address", "h:0"}) == "address must be HOST:PORT, got 'h:0'");
  // The first error wins.
  BOOST_TEST(error({"-x", "frob"}) == "unknown option '-x'");
}
