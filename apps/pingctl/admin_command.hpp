#pragma once
// The language of `pingctl admin`: its command line (options and one
// command) and the console's lines (the same commands plus help, history,
// quit), parsed by the same function so both accept the same words. Plain
// functions without I/O, so tests can feed them words.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ping::pingctl {

constexpr const char* default_admin_node = "127.0.0.1:9464";
constexpr std::chrono::milliseconds default_admin_timeout{5000};
/// RebuildCache answers when the recount is done; it gets longer unless
/// --timeout-ms says otherwise.
constexpr std::chrono::milliseconds default_rebuild_timeout{120000};
constexpr int default_minutes = 15;
constexpr int max_minutes = 1440;
constexpr std::chrono::milliseconds default_watch_interval{1000};
constexpr std::chrono::milliseconds min_watch_interval{200};
constexpr std::chrono::milliseconds max_watch_interval{3600 * 1000};

enum class admin_verb {
  // Calls to the node.
  status,        // GetStatus
  actors,        // ListActors
  pipeline,      // GetPipeline
  lag,           // GetLag
  minutes,       // GetMinuteCounts
  flush,         // Flush
  pause,         // PauseConsumption
  resume,        // ResumeConsumption
  rebuild_cache, // RebuildCache
  log_level,     // SetLogLevel
  cluster,       // GetCluster, or RunNodeCommand with an action and a node
  // Local.
  watch,   // redraw a read every interval until Enter or Ctrl-C
  help,    // print the commands
  history, // console only: list the lines entered
  quit,    // console only: leave (also "exit")
};

struct admin_command {
  admin_verb verb = admin_verb::help;
  int minutes = default_minutes;                // minutes
  std::string level;                            // log-level
  admin_verb watch_target = admin_verb::actors; // watch: status, actors, pipeline, lag or cluster
  // cluster ACTION NODE: flush, pause, resume or rebuild-cache on the node
  // at NODE (an address the cluster view lists); unset: the view.
  std::optional<admin_verb> cluster_action;
  std::string cluster_node;
  std::chrono::milliseconds watch_interval = default_watch_interval;
};

struct command_parse {
  admin_command cmd;
  std::string error; // non-empty: usage error
};

/// Parses one command from its words ("minutes", "30"). `console` admits
/// history, quit and exit.
command_parse parse_admin_command(const std::vector<std::string>& words, bool console);

/// Splits a console line at blanks.
std::vector<std::string> split_words(std::string_view line);

/// Whether the verb is a call to the node (false for watch and the local ones).
bool is_remote(admin_verb verb);

/// The word that names the verb ("rebuild-cache").
std::string_view verb_word(admin_verb verb);

/// Every command word, in help order (for completion).
const std::vector<std::string>& command_words(bool console);

/// `pingctl admin [OPTIONS] [<command> [ARGS]]` after the word "admin".
struct admin_invocation {
  std::string node; // HOST:PORT as given
  std::string host; // without brackets
  std::string port;
  std::optional<std::string> token_file;
  std::optional<std::chrono::milliseconds> timeout; // set: --timeout-ms
  bool help = false;
  bool json = false;                // -o json: each answer as protobuf JSON
  std::optional<admin_command> cmd; // unset: interactive console
};

struct admin_parse_result {
  admin_invocation inv;
  std::string error; // non-empty: usage error (exit 2)
};

/// Parses the arguments that follow "admin". `env_node` is
/// $PINGCTL_ADMIN_NODE (nullptr when unset).
admin_parse_result parse_admin_args(const std::vector<std::string>& args, const char* env_node);

/// The call deadline of a command: --timeout-ms, else its default.
std::chrono::milliseconds admin_timeout(const admin_invocation& inv, admin_verb verb);

/// The call deadline of a command, the action's for `cluster ACTION NODE`.
std::chrono::milliseconds admin_timeout(const admin_invocation& inv, const admin_command& cmd);

/// `pingctl admin --help`.
std::string admin_usage_text();

/// The synopsis printed with a usage error.
std::string admin_short_usage_text();

/// The console's `help`.
std::string console_help_text();

/// A bearer token's rules (read_token_file, $PING_ADMIN_TOKEN): trailing
/// blanks and newlines dropped, the rest non-empty printable ASCII without
/// blanks. False with `error` completing "the token ..." ("is empty").
bool check_token(const std::string& text, std::string& token, std::string& error);

} // namespace ping::pingctl
