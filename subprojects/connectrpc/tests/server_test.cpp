#define BOOST_TEST_MODULE connectrpc_server
#include <boost/test/unit_test.hpp>
BOOST_AUTO_TEST_CASE(placeholder) {}
