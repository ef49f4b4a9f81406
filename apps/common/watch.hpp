#pragma once
// The binary's top-level actors, watched: each top-level actor (the
// gateway's persistence, publisher, cache reader, count reader and gateway
// actor; the processor's window, consumer and cache reader) supervises its
// own children, but nothing supervises it. One that ends while the binary
// is not shutting down (an exception escaped a handler, a consumer that
// could not start) leaves the process answering `unavailable` for good. The
// watch notices: `alive()` turns false, which makes /healthz (liveness) and
// /readyz answer 503, so the orchestrator stops routing to the pod and
// restarts it.
//
// Runs one small monitoring actor per watched actor on the cooperative pool
// (never blocks). Thread-safe: `alive()` and `dead()` are read by the admin
// server's threads.

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/fwd.hpp>

namespace ping::apps {

class top_level_watch {
public:
  explicit top_level_watch(caf::actor_system& sys);
  ~top_level_watch();
  top_level_watch(const top_level_watch&) = delete;
  top_level_watch& operator=(const top_level_watch&) = delete;

  /// Watches `actor` under `name` from now on.
  template <class Handle>
  void add(const std::string& name, const Handle& actor) {
    add_impl(name, caf::actor_cast<caf::actor>(actor));
  }

  /// From now on actors end on purpose (SIGTERM): not a failure.
  void shutting_down();

  /// False once a watched actor ended while not shutting down.
  bool alive() const;

  /// The names of the actors that ended unexpectedly.
  std::vector<std::string> dead() const;

private:
  struct shared;
  void add_impl(const std::string& name, caf::actor actor);

  caf::actor_system& sys_;
  std::shared_ptr<shared> shared_;
  std::vector<caf::actor> watchers_;
};

} // namespace ping::apps
