#include "apps/pingctl/interrupt.hpp"

#include <csignal>

namespace ping::pingctl {

namespace {

volatile std::sig_atomic_t sigint_raised = 0;

extern "C" void on_admin_sigint(int) {
  sigint_raised = 1;
}

} // namespace

sigint_scope::sigint_scope() {
  struct sigaction sa {};
  sa.sa_handler = on_admin_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, &previous_);
}

sigint_scope::~sigint_scope() {
  sigaction(SIGINT, &previous_, nullptr);
}

bool sigint_scope::raised() {
  return sigint_raised != 0;
}

void sigint_scope::clear() {
  sigint_raised = 0;
}

} // namespace ping::pingctl
