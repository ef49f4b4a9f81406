#pragma once
// The cluster view from the nodes' answers: pure functions, no I/O, no
// clock, so tests pin them with hand-made answers.
//
//   nodes       this node first, then the others by address; a node reached
//               under two addresses (the same instance_id) is listed once
//   pipeline    accept, commit, relay (gateways' stages accept, commit,
//               publish); kafka (rate: what the relays publish, backlog: the
//               processors' total lag); consume (processors' consume; backlog:
//               records held in the windows); flush (processors' flush);
//               cache (rate: what the flushes write; backlog: the exactness
//               gaps). Rates and backlogs are summed over the nodes, p50 is
//               the rate-weighted mean of theirs, p99 the highest.
//   partitions  every partition a processor holds or PostgreSQL knows, with
//               the processors that hold it (more than one: an overlap)
//   rebalances  every processor's history, tagged with its address, newest
//               first, at most `max_rebalances`
//   exactness   one gateway's GetExactness answer

#include <cstddef>
#include <string>
#include <vector>

#include "ping/admin/v1/admin.pb.h"

namespace ping::admin::cluster {

/// What one node answered within its deadline.
struct node_answers {
  std::string address;
  bool self = false;
  bool up = false;   // GetStatus answered
  std::string error; // down: why; up: a read that failed, if any
  double call_ms = 0;
  v1::GetStatusResponse status;
  bool has_pipeline = false;
  v1::GetPipelineResponse pipeline;
  bool has_lag = false;
  v1::GetLagResponse lag;
};

/// One gateway's GetExactness, or why there is none.
struct exactness_answer {
  bool ok = false;
  std::string source; // the gateway's address
  std::string error;
  v1::GetExactnessResponse resp;
};

inline constexpr size_t max_rebalances = 100;

/// Lists each instance once: a later answer with the instance_id of an
/// earlier one is dropped; when the earlier one is this node under a
/// loopback address, it takes the later (discovered) address.
std::vector<node_answers> merge_duplicates(std::vector<node_answers> nodes);

/// The hop `name` from the stages called `stage` of the nodes of `binary`.
v1::Hop combine_stage(const std::vector<node_answers>& nodes, const std::string& binary,
                      const std::string& stage, const std::string& name,
                      const std::string& description);

/// The whole view (age_ms and peer_timeout_ms left to the caller).
v1::GetClusterResponse build_view(std::vector<node_answers> nodes,
                                  const exactness_answer& exactness);

/// True for 127.0.0.0/8 and ::1 in an address label ("127.0.0.1:9464").
bool loopback_label(const std::string& label);

} // namespace ping::admin::cluster
