#pragma once
// The admin API's answers as a terminal shows them (`pingctl admin`, its
// console and watch): compact aligned tables and one-line results, the
// wording of failed calls, and the frame of a redrawn read. Pure functions
// of their arguments (no clock, no terminal, no I/O), so tests can pin the
// output. The web console (admin/console/) renders the same answers in
// the browser.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <connectrpc/client.hpp>

#include "ping/admin/v1/admin.pb.h"

namespace ping::admin::text {

/// Rows under a header, each column as wide as its widest cell, two blanks
/// apart, numbers right-aligned; no trailing blanks.
class text_table {
public:
  enum class align { left, right };
  struct column {
    std::string title;
    align alignment = align::left;
  };

  explicit text_table(std::vector<column> columns);

  /// Missing cells are blank; extra cells are an error (asserted).
  void add_row(std::vector<std::string> cells);

  std::string render() const;

private:
  std::vector<column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

/// 950 -> "950ms", 6200 -> "6.2s", 306000 -> "5m 06s", 3723000 ->
/// "1h 02m 03s", 93784000 -> "1d 02h 03m".
std::string format_duration_ms(std::int64_t ms);

/// Key: value lines; the configuration only `with_config`.
std::string format_status(const v1::GetStatusResponse& resp, bool with_config);

/// Actors in a tree: top-level actors (and the groups named as parents)
/// by name, each followed by its children by name, indented. Ends with a
/// summary line.
std::string format_actors(const v1::ListActorsResponse& resp);

std::string format_pipeline(const v1::GetPipelineResponse& resp);

/// Partitions by number, then a TOTAL line and whether consumption is paused.
std::string format_lag(const v1::GetLagResponse& resp);

/// One row per minute (UTC) with a bar of up to `bar_width` '#'.
std::string format_minutes(const v1::GetMinuteCountsResponse& resp, int bar_width = 40);

/// The cluster view (GetCluster): the nodes (this one marked), the
/// pipeline end to end, partitions with owner, lag and exactness, and the
/// last `rebalances` assignment changes.
std::string format_cluster(const v1::GetClusterResponse& resp, int rebalances = 8);

/// The one-line result of a command run on a node of the cluster view.
std::string format_node_command(const v1::RunNodeCommandResponse& resp);

// The one-line results of the commands.
std::string format_flush(const v1::FlushResponse& resp);
std::string format_pause(const v1::PauseConsumptionResponse& resp);
std::string format_resume(const v1::ResumeConsumptionResponse& resp);
std::string format_rebuild(const v1::RebuildCacheResponse& resp);
std::string format_log_level(const v1::SetLogLevelResponse& resp);

/// A failed admin call as the operator should read it.
struct admin_failure {
  std::string method;  // "GetStatus"
  std::string code;    // Connect code name
  std::string message; // the server's message (or the client's)
  connectrpc::http_failure transport = connectrpc::http_failure::none;
  std::string transport_detail;
  std::string node; // HOST:PORT
  bool token_sent = false;
  std::chrono::milliseconds timeout{0};
};

/// E.g. "cannot reach the admin endpoint at 127.0.0.1:1: connection
/// refused", "the node refused the token (unauthenticated)".
std::string describe_admin_failure(const admin_failure& failure);

/// The first line of a watch frame, e.g. "ping-processor@127.0.0.1:9464
/// actors  12:00:03  refresh #3  every 1s, Enter or Ctrl-C stops".
std::string watch_header(std::string_view node_label, std::string_view what,
                         std::string_view time_text, std::uint64_t refresh,
                         std::chrono::milliseconds interval);

/// Cuts `text` to `rows` lines of at most `cols` characters, so a redrawn
/// frame never scrolls; the last kept line says how many were left out.
std::vector<std::string> fit_to_screen(const std::string& text, int rows, int cols);

} // namespace ping::admin::text
