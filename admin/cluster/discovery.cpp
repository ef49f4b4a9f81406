#include "admin/cluster/discovery.hpp"

#include <algorithm>
#include <set>

#include "actors/common/log.hpp"

namespace ping::admin::cluster {

std::vector<target> merge_targets(const std::vector<target>& listed,
                                  const std::vector<std::vector<target>>& by_name, size_t max,
                                  bool* truncated) {
  std::vector<target> out;
  std::set<std::string> seen;
  bool cut = false;
  auto add = [&](const target& t) {
    if (!seen.insert(t.label).second)
      return;
    if (out.size() >= max) {
      cut = true;
      return;
    }
    out.push_back(t);
  };
  for (auto& t : listed)
    add(t);
  for (auto& list : by_name)
    for (auto& t : list)
      add(t);
  if (truncated)
    *truncated = cut;
  return out;
}

namespace {

// A listed peer as a target: numeric hosts at once, names after a lookup.
target listed_target(const endpoint& e) {
  target t{format_endpoint(e), "", std::to_string(e.port), ""};
  if (is_numeric_host(e.host))
    t.host = e.host;
  else
    t.error = "not resolved yet";
  return t;
}

} // namespace

discovery::discovery(discovery_settings cfg) : cfg_(std::move(cfg)) {
  // Numeric peers need no lookup: usable before the first refresh.
  std::vector<target> listed;
  for (auto& e : cfg_.peers)
    listed.push_back(listed_target(e));
  targets_ = merge_targets(listed, {}, cfg_.max_peers);
}

discovery::~discovery() {
  stop();
}

void discovery::start() {
  if (thread_.joinable())
    return;
  if (cfg_.peers.empty() && cfg_.dns.empty())
    return; // nothing to look up: the view is the node alone
  thread_ = std::thread{[this] { run(); }};
}

void discovery::stop() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

std::vector<target> discovery::targets() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return targets_;
}

void discovery::run() {
  resolver r;
  std::unique_lock<std::mutex> lock{mtx_};
  while (!stopping_) {
    lock.unlock();
    refresh_once(r);
    lock.lock();
    cv_.wait_for(lock, cfg_.refresh, [this] { return stopping_; });
  }
}

void discovery::refresh_once(resolver& r) {
  std::vector<target> listed;
  for (auto& e : cfg_.peers) {
    auto t = listed_target(e);
    if (t.host.empty()) {
      auto res = r.resolve(e.host, cfg_.resolve_timeout);
      if (res.addresses.empty()) {
        t.error = "cannot resolve " + e.host + ": " + res.error;
      } else {
        t.host = res.addresses.front();
        t.error.clear();
      }
    }
    listed.push_back(std::move(t));
  }
  for (auto& e : cfg_.dns) {
    auto name = format_endpoint(e);
    auto res = r.resolve(e.host, cfg_.resolve_timeout);
    std::lock_guard<std::mutex> guard{mtx_};
    bool failing = res.addresses.empty();
    if (failing_[name] != failing) {
      failing_[name] = failing;
      if (failing)
        log::warn("admin", "peer name does not resolve; keeping its last addresses",
                  {{"name", name}, {"error", res.error}});
      else
        log::info("admin", "peer name resolves again", {{"name", name}});
    }
    if (failing)
      continue;
    std::vector<target> list;
    for (auto& a : res.addresses)
      list.push_back({format_endpoint({a, e.port}), a, std::to_string(e.port), ""});
    by_name_[name] = std::move(list);
  }
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::vector<target>> named;
  for (auto& e : cfg_.dns)
    if (auto it = by_name_.find(format_endpoint(e)); it != by_name_.end())
      named.push_back(it->second);
  bool truncated = false;
  targets_ = merge_targets(listed, named, cfg_.max_peers, &truncated);
  if (truncated && !warned_truncated_)
    log::warn("admin", "more peers than admin.max-peers; the rest are not shown",
              {{"max_peers", std::to_string(cfg_.max_peers)}});
  warned_truncated_ = truncated;
}

} // namespace ping::admin::cluster
