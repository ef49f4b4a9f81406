// PostgreSQL stops under a running gateway: pings fail fast with
// UNAVAILABLE, and service resumes by itself when it is back.
#define BOOST_TEST_MODULE postgres_outage
#include <boost/test/unit_test.hpp>

#include "tests/support/harness.hpp"

using namespace ping;
using namespace ping::test;

BOOST_AUTO_TEST_CASE(unavailable_then_recovery_without_restart) {
  temp_dir dir;
  pg_cluster pg;
  test::devbroker broker{dir.path};
  gateway gw{dir.path, pg.dsn(), broker.bootstrap()};
  auto stub = gw.stub();
  BOOST_REQUIRE(send_ping(*stub, 0).ok());

  pg.stop();
  // Fails fast with UNAVAILABLE (not a hang until the deadline).
  auto start = clock::now();
  auto st = send_ping(*stub, 0, std::chrono::seconds(8));
  BOOST_TEST(st.error_code() == grpc::StatusCode::UNAVAILABLE);
  BOOST_TEST((clock::now() - start < std::chrono::seconds(3)));
  start = clock::now();
  st = send_ping(*stub, 0, std::chrono::seconds(8));
  BOOST_TEST(st.error_code() == grpc::StatusCode::UNAVAILABLE);
  BOOST_TEST((clock::now() - start < std::chrono::milliseconds(500)));

  pg.start();
  BOOST_TEST(wait_until([&] { return send_ping(*stub, 0).ok(); }, std::chrono::seconds(30)));
  BOOST_TEST(gw.proc().alive());
  for (int i = 0; i < 5; ++i)
    BOOST_TEST(send_ping(*stub, 0).ok());
}
