#include "apps/common/watch.hpp"

#include <caf/all.hpp>

#include "actors/common/log.hpp"

namespace ping::apps {

struct top_level_watch::shared {
  std::atomic<bool> stopping{false};
  std::atomic<bool> alive{true};
  mutable std::mutex mtx;
  std::vector<std::string> dead;
};

top_level_watch::top_level_watch(caf::actor_system& sys)
  : sys_(sys), shared_(std::make_shared<shared>()) {}

top_level_watch::~top_level_watch() {
  shutting_down();
  for (auto& w : watchers_)
    caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
}

void top_level_watch::add_impl(const std::string& name, caf::actor actor) {
  auto sh = shared_;
  watchers_.push_back(sys_.spawn([sh, name, actor](caf::event_based_actor* self) {
    self->monitor(actor);
    self->set_down_handler([self, sh, name](caf::down_msg& msg) {
      if (!sh->stopping.load()) {
        log::error("supervisor", "a top-level actor ended; the process is no longer live",
                   {{"actor", name}, {"reason", to_string(msg.reason)}});
        std::lock_guard<std::mutex> guard{sh->mtx};
        sh->dead.push_back(name);
        sh->alive = false;
      }
      self->quit();
    });
    return caf::behavior{[](int) {}}; // only the down message matters
  }));
}

void top_level_watch::shutting_down() {
  shared_->stopping = true;
}

bool top_level_watch::alive() const {
  return shared_->alive.load();
}

std::vector<std::string> top_level_watch::dead() const {
  std::lock_guard<std::mutex> guard{shared_->mtx};
  return shared_->dead;
}

} // namespace ping::apps
