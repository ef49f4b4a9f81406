#pragma once
// The cluster view's calls to the nodes: a round asks every target (this
// node first, then discovery's) for GetStatus, GetPipeline and GetLag, then
// one gateway for GetExactness, and builds the view (aggregate.hpp); and
// the commands forwarded to one node (RunNodeCommand).
//
// Owner: admin::server (start() once it listens, stop() before it stops).
// Threads: the handlers call view() and forward() on the admin I/O thread;
// they never block: a fresh view (younger than `max_age`) is answered at
// once, else the caller waits in a bounded list that the collector's
// thread completes after its next round. A round fans out on at most
// `workers` threads of its own (joined when it ends), each node over a
// keep-alive Connect connection (binary protobuf) with the node's own
// admin token. Forwarded commands run on `command_threads` threads of
// their own behind a bounded queue. Bounds: `peer_timeout` for all of a
// node's answers in a round (a node that misses it is down), so a round
// takes at most about ceil(targets / workers) peer deadlines plus one for
// GetExactness; `max_waiters` callers waiting; `max_queued_commands`. stop()
// interrupts calls in flight (polled every 50 ms) and joins. Failure: a
// node that does not answer is listed down with the reason; a full waiting
// list or command queue answers resource_exhausted. The token is sent to
// the targets only and never logged.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "admin/cluster/aggregate.hpp"
#include "admin/cluster/discovery.hpp"
#include "admin/node.hpp"
#include "ping/admin/v1/admin.pb.h"

namespace ping::admin::cluster {

struct collector_settings {
  std::chrono::milliseconds peer_timeout{1000};
  std::chrono::milliseconds max_age{500}; // a view this fresh is answered at once
  size_t workers = 8;
  size_t max_waiters = 64;
  std::chrono::milliseconds command_timeout{10000};
  std::chrono::milliseconds rebuild_timeout{130000}; // RebuildCache recounts
  size_t command_threads = 2;
  size_t max_queued_commands = 8;
};

class collector {
public:
  using view_reply = std::function<void(outcome<v1::GetClusterResponse>)>;
  using command_reply = std::function<void(outcome<v1::RunNodeCommandResponse>)>;

  /// `bearer`: the node's admin token (empty: none); sent to the targets.
  collector(collector_settings cfg, std::string bearer, discovery& peers);
  ~collector();
  collector(const collector&) = delete;
  collector& operator=(const collector&) = delete;

  /// This node's own admin endpoint (known once it listens); before
  /// start().
  void set_self(target self);

  void start();
  void stop(); // idempotent, joins

  /// Completes `done` once with the view (see the class comment).
  void view(view_reply done);

  /// Runs `c` on the node called `node` (self or a discovered target);
  /// completes `done` once. Refuses (permission_denied) any other address.
  void forward(const std::string& node, command c, command_reply done);

private:
  struct peer;
  struct job {
    target where;
    command what;
    command_reply done;
  };

  void run_rounds();
  v1::GetClusterResponse round();
  node_answers ask(const target& t, bool self);
  exactness_answer ask_exactness(const std::vector<node_answers>& nodes);
  std::shared_ptr<peer> peer_for(const target& t);
  void run_commands();
  void run_command(job& j);

  collector_settings cfg_;
  std::string bearer_;
  discovery& peers_;
  std::atomic<bool> stopping_{false};

  mutable std::mutex mtx_;
  std::condition_variable cv_;
  target self_;
  std::deque<view_reply> waiters_;
  bool have_view_ = false;
  v1::GetClusterResponse last_;
  std::chrono::steady_clock::time_point last_at_;
  std::map<std::string, std::shared_ptr<peer>> conns_; // by label, used by rounds only
  std::thread rounds_;

  std::mutex cmd_mtx_;
  std::condition_variable cmd_cv_;
  std::deque<job> jobs_;
  std::vector<std::thread> command_threads_;
};

} // namespace ping::admin::cluster
