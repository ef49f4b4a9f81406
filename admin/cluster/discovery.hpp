#pragma once
// Which admin endpoints the cluster view calls: the listed peers
// (--admin.peers, resolved when named) and every address of the DNS names
// (--admin.peers-dns, e.g. headless Services that resolve to all pods),
// re-resolved every `refresh` on a thread of its own. The node itself is
// not among them (the collector adds it).
//
// Owner: admin::server (start() after the endpoint listens, stop() before
// it stops). Threads: one, its own, for every lookup (never the admin I/O
// thread); targets() from any thread (a copy under a mutex). Bounds: at
// most `max_peers` targets (the rest ignored, with a warning), each lookup
// within `resolve_timeout`. Failure: a listed peer whose name does not
// resolve is a target with an error (shown down); a DNS name that does not
// resolve keeps its last addresses (logged once per change of state).

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "admin/cluster/peers.hpp"

namespace ping::admin::cluster {

struct discovery_settings {
  std::vector<endpoint> peers; // called as listed
  std::vector<endpoint> dns;   // every address each name resolves to
  std::chrono::milliseconds refresh{10000};
  std::chrono::milliseconds resolve_timeout{2000};
  size_t max_peers = 64;
};

/// One admin endpoint to call.
struct target {
  std::string label; // "host:port" as shown and as RunNodeCommand names it
  std::string host;  // numeric; empty when it did not resolve
  std::string port;
  std::string error; // why it cannot be called (does not resolve)

  friend bool operator==(const target&, const target&) = default;
};

/// The targets of one round of lookups: the listed peers in order, then
/// each name's addresses; duplicates (by label) dropped, at most `max`.
/// Pure; `truncated` tells whether some were left out.
std::vector<target> merge_targets(const std::vector<target>& listed,
                                  const std::vector<std::vector<target>>& by_name, size_t max,
                                  bool* truncated = nullptr);

class discovery {
public:
  explicit discovery(discovery_settings cfg);
  ~discovery();
  discovery(const discovery&) = delete;
  discovery& operator=(const discovery&) = delete;

  void start();
  void stop(); // idempotent, joins

  std::vector<target> targets() const;

private:
  void run();
  void refresh_once(resolver& r);

  discovery_settings cfg_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<target> targets_;
  std::map<std::string, std::vector<target>> by_name_; // last good addresses per DNS name
  std::map<std::string, bool> failing_;                // per name, for logging once
  bool warned_truncated_ = false;
  std::thread thread_;
};

} // namespace ping::admin::cluster
