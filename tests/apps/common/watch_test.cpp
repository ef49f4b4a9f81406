// The top-level watch (apps/common/watch.hpp) on the test coordinator: an
// actor that ends unexpectedly makes the process not live; one that ends
// during shutdown does not.
#define BOOST_TEST_MODULE top_level_watch
#include <boost/test/unit_test.hpp>

#include <optional>

#include <caf/all.hpp>

#include "apps/common/watch.hpp"
#include "tests/support/coordinator.hpp"

using namespace ping;

namespace {

caf::behavior idle(caf::event_based_actor*) {
  return {[](int) {}};
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(watch_suite, test::coordinator_fixture)

BOOST_AUTO_TEST_CASE(an_actor_ending_unexpectedly_makes_the_process_not_live) {
  std::optional<apps::top_level_watch> holder{std::in_place, *sys};
  auto& watch = *holder;
  auto a = sys->spawn(idle);
  auto b = sys->spawn(idle);
  watch.add("a", a);
  watch.add("b", b);
  drain();
  BOOST_TEST(watch.alive());
  caf::anon_send_exit(a, caf::exit_reason::kill);
  drain();
  BOOST_TEST(!watch.alive());
  BOOST_TEST((watch.dead() == std::vector<std::string>{"a"}));
  caf::anon_send_exit(b, caf::exit_reason::user_shutdown);
  holder.reset();
  drain();
}

BOOST_AUTO_TEST_CASE(actors_ending_at_shutdown_are_expected) {
  std::optional<apps::top_level_watch> holder{std::in_place, *sys};
  auto& watch = *holder;
  auto a = sys->spawn(idle);
  watch.add("a", a);
  drain();
  watch.shutting_down();
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  drain();
  BOOST_TEST(watch.alive());
  holder.reset();
  drain();
}

BOOST_AUTO_TEST_SUITE_END()
