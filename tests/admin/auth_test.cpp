// admin/auth.*: who may call the admin endpoint. No server: the authorizer
// and the read-only check are called with hand-made call contexts.
#define BOOST_TEST_MODULE admin_auth
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

#include <unistd.h>

#include "admin/auth.hpp"

using namespace ping::admin;

namespace {

connectrpc::call_context call(std::vector<std::pair<std::string, std::string>> headers) {
  connectrpc::call_context ctx;
  ctx.headers = std::move(headers);
  return ctx;
}

// A token file under /tmp, removed at the end of the test.
struct token_file {
  std::string path;
  explicit token_file(const std::string& content) {
    char name[] = "/tmp/ping-admin-token-XXXXXX";
    int fd = mkstemp(name);
    BOOST_REQUIRE(fd >= 0);
    close(fd);
    path = name;
    std::ofstream{path} << content;
  }
  ~token_file() { std::remove(path.c_str()); }
};

options with_tokens(const std::string& token_path, const std::string& read_path = "",
                    const std::string& address = "0.0.0.0") {
  options o;
  o.address = address;
  o.token_file = token_path;
  o.read_token_file = read_path;
  return o;
}

} // namespace

BOOST_AUTO_TEST_CASE(loopback_addresses) {
  BOOST_TEST(is_loopback("127.0.0.1"));
  BOOST_TEST(is_loopback("127.1.2.3"));
  BOOST_TEST(is_loopback("localhost"));
  BOOST_TEST(is_loopback("::1"));
  BOOST_TEST(is_loopback("[::1]"));
  BOOST_TEST(!is_loopback("0.0.0.0"));
  BOOST_TEST(!is_loopback("10.0.0.1"));
  BOOST_TEST(!is_loopback("128.0.0.1"));
  BOOST_TEST(!is_loopback(""));
}

// Issue 19 item 8: a name that merely starts like a loopback literal is a
// DNS name anyone can point at 127.0.0.1 (DNS rebinding): refused.
BOOST_AUTO_TEST_CASE(dns_rebinding_look_alikes_are_not_loopback) {
  BOOST_TEST(!is_loopback("127.0.0.1.evil.example"));
  BOOST_TEST(!is_loopback("127.evil.example"));
  BOOST_TEST(!is_loopback("127.0.0.1.nip.io"));
  BOOST_TEST(!is_loopback("127.0.0.1."));
  BOOST_TEST(!is_loopback("127.0.0"));
  BOOST_TEST(!is_loopback("127.0.0.256"));
  BOOST_TEST(!is_loopback("127.0.0.1/8"));
  BOOST_TEST(!is_loopback("127..0.1"));
  BOOST_TEST(!is_loopback("127.0.0.01x"));
  BOOST_TEST(!is_loopback("localhost.evil.example"));
  BOOST_TEST(!is_loopback("localhostevil"));
  BOOST_TEST(!is_loopback("::1.evil.example"));
  BOOST_TEST(!is_loopback("[::1].evil.example"));
  BOOST_TEST(is_loopback("127.255.255.254"));
  BOOST_TEST(!is_loopback_host("127.0.0.1.evil.example:9465"));
  BOOST_TEST(!is_loopback_host("127.0.0.1.evil.example"));
  BOOST_TEST(!is_loopback_host("127.0.0.1:"));
  BOOST_TEST(!is_loopback_host("127.0.0.1:94x5"));
  BOOST_TEST(!is_loopback_host("127.0.0.1:99999"));
  BOOST_TEST(!is_loopback_host("[::1]x:80"));
  BOOST_TEST(!is_loopback_host("[::1].evil.example:80"));
  BOOST_TEST(!is_loopback_host("localhost:80:80"));
  BOOST_TEST(is_loopback_host("127.0.0.1:65535"));
  BOOST_TEST(is_loopback_host("[::1]:9465"));
  BOOST_TEST(is_loopback_host("LOCALHOST:9465"));
}

BOOST_AUTO_TEST_CASE(loopback_host_headers_with_and_without_ports) {
  BOOST_TEST(is_loopback_host("127.0.0.1:9464"));
  BOOST_TEST(is_loopback_host("localhost"));
  BOOST_TEST(is_loopback_host("localhost:80"));
  BOOST_TEST(is_loopback_host("[::1]:9464"));
  BOOST_TEST(is_loopback_host("[::1]"));
  BOOST_TEST(!is_loopback_host("evil.example:9464"));
  BOOST_TEST(!is_loopback_host("localhost.evil.example"));
  BOOST_TEST(!is_loopback_host("[::1"));
  BOOST_TEST(!is_loopback_host("[fe80::1]:80"));
  BOOST_TEST(!is_loopback_host(""));
}

BOOST_AUTO_TEST_CASE(bearer_scheme_is_case_insensitive) {
  BOOST_TEST(bearer_token("Bearer abc") == "abc");
  BOOST_TEST(bearer_token("bearer abc") == "abc");
  BOOST_TEST(bearer_token("BEARER   abc") == "abc");
  BOOST_TEST(bearer_token("Basic abc") == "");
  BOOST_TEST(bearer_token("Bearerabc") == "");
  BOOST_TEST(bearer_token("Bearer") == "");
  BOOST_TEST(bearer_token("") == "");
}

BOOST_AUTO_TEST_CASE(token_comparison) {
  BOOST_TEST(same_token("secret", "secret"));
  BOOST_TEST(!same_token("secret", "secreT"));
  BOOST_TEST(!same_token("secret", "secret1"));
  BOOST_TEST(!same_token("", "x"));
}

BOOST_AUTO_TEST_CASE(token_files_drop_trailing_blanks_and_refuse_empty_ones) {
  token_file good{"s3cret \r\n\n"};
  BOOST_TEST(read_token_file(good.path) == "s3cret");
  token_file empty{" \n"};
  BOOST_CHECK_THROW(read_token_file(empty.path), std::runtime_error);
  BOOST_CHECK_THROW(read_token_file("/nonexistent/ping-admin-token"), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(non_loopback_without_a_token_does_not_start) {
  options o;
  o.address = "0.0.0.0";
  BOOST_CHECK_THROW(credentials::load(o), std::runtime_error);
  o.address = "127.0.0.1";
  BOOST_CHECK_NO_THROW(credentials::load(o));
  o.address = "0.0.0.0";
  o.token = "inline";
  BOOST_CHECK_NO_THROW(credentials::load(o));
}

BOOST_AUTO_TEST_CASE(a_read_only_token_needs_the_admin_token) {
  token_file read{"reader"};
  options o;
  o.read_token_file = read.path;
  BOOST_CHECK_THROW(credentials::load(o), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(the_token_file_wins_over_the_inline_token) {
  token_file admin{"from-file"};
  auto o = with_tokens(admin.path);
  o.token = "inline";
  auto gate = credentials::load(o).authorizer();
  BOOST_TEST(gate(call({{"authorization", "Bearer from-file"}})));
  BOOST_TEST(!gate(call({{"authorization", "Bearer inline"}})));
}

BOOST_AUTO_TEST_CASE(with_tokens_every_call_needs_one_of_them) {
  token_file admin{"admin-token"}, read{"read-token"};
  auto auth = credentials::load(with_tokens(admin.path, read.path));
  auto gate = auth.authorizer();
  BOOST_TEST(gate(call({{"authorization", "Bearer admin-token"}})));
  BOOST_TEST(gate(call({{"authorization", "bearer read-token"}})));
  BOOST_TEST(!gate(call({{"authorization", "Bearer wrong"}})));
  BOOST_TEST(!gate(call({{"authorization", "Basic admin-token"}})));
  BOOST_TEST(!gate(call({{"authorization", "Bearer "}})));
  BOOST_TEST(!gate(call({})));
  // A loopback Host is no substitute for the token.
  BOOST_TEST(!gate(call({{"host", "127.0.0.1:9464"}})));
}

BOOST_AUTO_TEST_CASE(the_read_only_token_is_told_apart) {
  token_file admin{"admin-token"}, read{"read-token"};
  auto auth = credentials::load(with_tokens(admin.path, read.path));
  BOOST_TEST(auth.read_only(call({{"authorization", "Bearer read-token"}})));
  BOOST_TEST(!auth.read_only(call({{"authorization", "Bearer admin-token"}})));
  BOOST_TEST(!auth.read_only(call({})));
  auto without = credentials::load(with_tokens(admin.path));
  BOOST_TEST(!without.read_only(call({{"authorization", "Bearer read-token"}})));
}

BOOST_AUTO_TEST_CASE(without_a_token_only_loopback_hosts_get_in) {
  options o; // 127.0.0.1, no token
  auto gate = credentials::load(o).authorizer();
  BOOST_TEST(gate(call({{"host", "127.0.0.1:9464"}})));
  BOOST_TEST(gate(call({{"host", "localhost:9464"}})));
  BOOST_TEST(!gate(call({{"host", "rebind.example:9464"}})));
  BOOST_TEST(!gate(call({{"host", "127.0.0.1.evil.example:9465"}})));
  BOOST_TEST(!gate(call({})));
}
