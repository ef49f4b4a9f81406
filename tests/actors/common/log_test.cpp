// actors/common/log.*: logfmt by default, one JSON object per line with
// --log-format=json; values escaped either way.
#define BOOST_TEST_MODULE log
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "actors/common/log.hpp"

using namespace ping;

namespace {

// What one log call writes to stderr.
template <class F>
std::string captured(F write) {
  char path[] = "/tmp/ping-log-test.XXXXXX";
  int fd = mkstemp(path);
  BOOST_REQUIRE(fd >= 0);
  std::fflush(stderr);
  int saved = dup(2);
  dup2(fd, 2);
  write();
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(fd);
  std::ifstream in{path};
  std::stringstream ss;
  ss << in.rdbuf();
  unlink(path);
  return ss.str();
}

} // namespace

BOOST_AUTO_TEST_CASE(logfmt_is_the_default) {
  auto line = captured([] { log::info("gateway", "listening", {{"grpc", "127.0.0.1:9090"}}); });
  BOOST_TEST(line.rfind("ts=", 0) == 0);
  BOOST_TEST(line.find(" level=info component=gateway msg=listening grpc=127.0.0.1:9090\n")
               != std::string::npos,
             line);
}

BOOST_AUTO_TEST_CASE(json_is_one_object_per_line_with_escaped_values) {
  log::format f;
  BOOST_TEST(log::parse_format("json", f));
  BOOST_TEST(!log::parse_format("xml", f));
  log::set_format(log::format::json);
  auto line = captured([] {
    log::warn("counts", "the cache \"cannot\" answer", {{"reason", "a\\b\nc\x01"}});
  });
  log::set_format(log::format::logfmt);
  BOOST_TEST(line.rfind("{\"ts\":\"", 0) == 0, line);
  BOOST_TEST(line.find(R"("level":"warn","component":"counts","msg":"the cache \"cannot\" answer",)"
                       R"("reason":"a\\b\nc\u0001"})"
                       "\n")
               != std::string::npos,
             line);
}
