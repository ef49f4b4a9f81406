// Command line of kafka-devbroker (and of wrappers such as ping-devbroker):
// option parsing, the broker run loop, and the `ctl` client subcommand.

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "devbroker/commands.hpp"
#include "devbroker/control.hpp"
#include "devbroker/control_server.hpp"
#include "devbroker/devbroker.hpp"
#include "devbroker/info_file.hpp"
#include "devbroker/log.hpp"
#include "devbroker/mock_cluster.hpp"

namespace devbroker {
namespace {

using namespace std::chrono_literals;

// Deadlines and bounds of the run loop, named in one place.
constexpr auto signal_poll = 1s;        // sigtimedwait slice
constexpr auto shutdown_deadline = 10s; // watchdog: _exit(1) if teardown hangs
constexpr auto default_ctl_timeout = 5000ms;
constexpr std::size_t max_unix_path = 107; // sizeof(sockaddr_un::sun_path) - 1

// All options of the broker run, parsed once.
struct broker_options {
  cluster_settings cluster;
  std::map<std::string, int> topics; // name -> partitions (defaults, then --topic)
  std::string info_file;
  std::string control_socket;
  log::level log_threshold = log::level::info;
  bool restart_on_crash = false;
};

struct ctl_options {
  std::string control_socket;
  std::string info_file;
  std::chrono::milliseconds timeout = default_ctl_timeout;
  std::string command;
};

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string program_name(const defaults& d) {
  return d.program.empty() ? std::string("kafka-devbroker") : d.program;
}

void print_help(const defaults& d) {
  const std::string prog = program_name(d);
  std::string default_topics;
  for (const auto& t : d.topics)
    default_topics += (default_topics.empty() ? "" : " ") + t;
  std::cout
    << prog << " — development Kafka broker (librdkafka mock cluster)\n"
    << "\n"
    << "FOR DEVELOPMENT AND TESTS ONLY. This is not Kafka: data lives in memory,\n"
    << "there is no security, no durability and no real replication; transactions\n"
    << "and read_committed are only approximated. Never point production at it.\n"
    << "\n"
    << "Usage:\n"
    << "  " << prog << " [options]                 run the broker until SIGTERM/SIGINT\n"
    << "  " << prog << " ctl [ctl options] COMMAND...  send one control command\n"
    << "\n"
    << "Options:\n"
    << "  --brokers N                 number of mock brokers, ids 1..N (default 1)\n"
    << "  --topic NAME:PARTITIONS     create a topic at start-up (repeatable)\n"
    << "  --no-default-topics         do not create the built-in default topics\n"
    << "                              (defaults: "
    << (default_topics.empty() ? "none" : default_topics) << ")\n"
    << "  --replication-factor N      replication factor of created topics\n"
    << "                              (default min(brokers, 3))\n"
    << "  --info-file PATH            write bootstrap=, control=, pid= lines here\n"
    << "                              (atomically, once ready; removed on exit)\n"
    << "  --control-socket PATH       Unix control socket (default PATH-of-info-file.sock,\n"
    << "                              else $TMPDIR/" << prog << "-PID.sock)\n"
    << "  --log-level LEVEL           debug|info|notice|warn|error (default info)\n"
    << "  --debug CONTEXTS            librdkafka debug contexts, e.g. mock,broker,protocol\n"
    << "  --ports P1[,P2...]          listen on these ports (one per broker; default random)\n"
    << "  --restart-on-crash          run the cluster in a child process and start it again,\n"
    << "                              on the same ports, whenever it dies (librdkafka's mock\n"
    << "                              aborts on some consumer group races); clients reconnect\n"
    << "  -h, --help                  this help\n"
    << "  --version                   print the version\n"
    << "\n"
    << "On start the broker prints one line `bootstrap=127.0.0.1:PORT[,...]` on stdout\n"
    << "(ports are random). Clients should set fetch.wait.max.ms low (e.g. 50): the\n"
    << "mock always waits the full fetch wait. Consumer group joins take about 3 s.\n"
    << "\n"
    << "ctl options:\n"
    << "  --control-socket PATH | --info-file PATH   where the broker listens\n"
    << "  --timeout MS                               overall deadline (default 5000)\n"
    << "  exit status 0 on `ok ...`, 1 on `error ...` or no answer, 2 on usage error\n"
    << "\n"
    << "Control commands:\n"
    << "  ping | help | status\n"
    << "  down [ID|all] | up [ID|all]       simulate an outage (data and ports kept)\n"
    << "  errors API ERR COUNT              next COUNT requests of API fail with ERR\n"
    << "                                    (e.g. errors Produce NOT_LEADER_FOR_PARTITION 1)\n"
    << "  clear-errors API\n"
    << "  rtt ID|all MS                     add response latency\n"
    << "  create-topic NAME PARTITIONS\n";
}

int parse_positive(const std::string& flag, const std::string& value, int max) {
  int n = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc{} || end != value.data() + value.size() || n < 1 || n > max)
    throw usage_error(flag + " expects an integer 1.." + std::to_string(max) + ", got '" + value
                      + "'");
  return n;
}

// Iterates "--flag value" and "--flag=value" forms.
class arg_reader {
public:
  arg_reader(int argc, char** argv, int first) : args_(argv + first, argv + argc) {}
  bool done() const { return pos_ >= args_.size(); }
  // Next flag name; a "--flag=value" value is kept for value().
  std::string flag() {
    std::string a = args_[pos_++];
    inline_value_.reset();
    if (a.rfind("--", 0) == 0) {
      if (const auto eq = a.find('='); eq != std::string::npos) {
        inline_value_ = a.substr(eq + 1);
        a.resize(eq);
      }
    }
    return a;
  }
  std::string value(const std::string& flag) {
    if (inline_value_)
      return *std::exchange(inline_value_, std::nullopt);
    if (done())
      throw usage_error(flag + " needs a value");
    return args_[pos_++];
  }
  void no_value(const std::string& flag) {
    if (inline_value_)
      throw usage_error(flag + " takes no value");
  }
  std::vector<std::string> rest() { return {args_.begin() + static_cast<long>(pos_), args_.end()}; }
  void unread() { --pos_; }

private:
  std::vector<std::string> args_;
  std::size_t pos_ = 0;
  std::optional<std::string> inline_value_;
};

void add_topic(std::map<std::string, int>& topics, const std::string& text) {
  const auto spec = parse_topic_spec(text);
  if (!spec)
    throw usage_error("invalid topic '" + text + "', expected NAME:PARTITIONS");
  topics[spec->name] = spec->partitions;
}

log::level parse_level(const std::string& s) {
  if (s == "debug")
    return log::level::debug;
  if (s == "info")
    return log::level::info;
  if (s == "notice")
    return log::level::notice;
  if (s == "warn" || s == "warning")
    return log::level::warning;
  if (s == "error")
    return log::level::error;
  throw usage_error("--log-level expects debug|info|notice|warn|error");
}

std::string temp_dir() {
  const char* t = std::getenv("TMPDIR");
  return (t && *t) ? t : "/tmp";
}

// Returns nullopt when the caller should exit 0 (help/version printed).
std::optional<broker_options> parse_broker_options(int argc, char** argv, const defaults& d) {
  broker_options o;
  std::vector<std::string> cli_topics;
  bool use_defaults = true;
  arg_reader r(argc, argv, 1);
  while (!r.done()) {
    const std::string f = r.flag();
    if (f == "-h" || f == "--help") {
      print_help(d);
      return std::nullopt;
    } else if (f == "--version") {
      std::cout << program_name(d) << " 0.1.0 (librdkafka " << rd_kafka_version_str() << ")\n";
      return std::nullopt;
    } else if (f == "--brokers") {
      o.cluster.brokers = parse_positive(f, r.value(f), 64);
    } else if (f == "--replication-factor") {
      o.cluster.replication_factor = parse_positive(f, r.value(f), 64);
    } else if (f == "--topic") {
      cli_topics.push_back(r.value(f));
    } else if (f == "--no-default-topics") {
      r.no_value(f);
      use_defaults = false;
    } else if (f == "--info-file") {
      o.info_file = r.value(f);
    } else if (f == "--control-socket") {
      o.control_socket = r.value(f);
    } else if (f == "--log-level") {
      o.log_threshold = parse_level(r.value(f));
    } else if (f == "--debug") {
      o.cluster.debug = r.value(f);
    } else if (f == "--ports") {
      o.cluster.ports.clear();
      const std::string list = r.value(f);
      for (std::size_t pos = 0; pos <= list.size();) {
        const auto end = std::min(list.find(',', pos), list.size());
        o.cluster.ports.push_back(
          static_cast<uint16_t>(parse_positive(f, list.substr(pos, end - pos), 65535)));
        pos = end + 1;
      }
    } else if (f == "--restart-on-crash") {
      r.no_value(f);
      o.restart_on_crash = true;
    } else {
      throw usage_error("unknown option '" + f + "' (see --help)");
    }
  }
  if (use_defaults)
    for (const auto& t : d.topics)
      add_topic(o.topics, t);
  for (const auto& t : cli_topics)
    add_topic(o.topics, t); // CLI wins on same name
  o.cluster.log_level = o.log_threshold == log::level::debug ? 7 : 6;
  if (!o.cluster.ports.empty() && static_cast<int>(o.cluster.ports.size()) != o.cluster.brokers)
    throw usage_error("--ports needs one port per broker");

  if (o.control_socket.empty()) {
    // Next to the info file when that fits a sockaddr_un, else in $TMPDIR.
    if (!o.info_file.empty() && o.info_file.size() + 5 <= max_unix_path)
      o.control_socket = o.info_file + ".sock";
    else
      o.control_socket = temp_dir() + "/" + program_name(d) + "-" + std::to_string(::getpid())
                         + ".sock";
  }
  if (o.control_socket.size() > max_unix_path)
    throw usage_error("control socket path longer than 107 bytes: " + o.control_socket);
  return o;
}

// Cancels a deadline on scope exit; if teardown takes longer than the
// deadline the process is ended with _exit(1) so a stuck librdkafka
// teardown can never wedge a test run or a dev script.
class shutdown_watchdog {
public:
  explicit shutdown_watchdog(std::chrono::seconds limit)
    : thread_([this, limit] {
        std::unique_lock lock(mutex_);
        if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
          log::error("shutdown deadline exceeded, forcing exit");
          std::_Exit(1);
        }
      }) {}
  ~shutdown_watchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_; // last: started after the members above exist
};

// Removes the info file on scope exit (only if it is still ours).
struct info_file_guard {
  std::string path;
  void remove() {
    if (path.empty())
      return;
    const auto info = read_info_file(path);
    if (info && info->pid == ::getpid())
      ::unlink(path.c_str());
    path.clear();
  }
  ~info_file_guard() { remove(); }
};

int run_broker(const broker_options& o, const defaults& d) {
  log::set_threshold(o.log_threshold);

  // Block the stop signals before librdkafka starts its threads (they inherit
  // the mask), then collect them synchronously with sigtimedwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigset_t old_mask;
  pthread_sigmask(SIG_BLOCK, &stop_signals, &old_mask);
  ::signal(SIGPIPE, SIG_IGN);

  int exit_code = 0;
  // Engaged once a stop signal arrives; declared first so it is destroyed
  // (cancelled) only after the cluster and the control server are gone.
  std::optional<shutdown_watchdog> watchdog;
  try {
    mock_cluster cluster(o.cluster);
    log::info("mock cluster started", {{"bootstrap", cluster.bootstrap()},
                                       {"brokers", std::to_string(cluster.broker_count())}});
    for (const auto& [name, partitions] : o.topics) {
      if (const auto err = cluster.create_topic(name, partitions))
        throw std::runtime_error("create topic " + name + ": " + rd_kafka_err2str(err));
      log::info("topic created", {{"topic", name}, {"partitions", std::to_string(partitions)}});
    }

    command_handler commands(cluster);
    control_server control(o.control_socket,
                           [&commands](std::string_view line) { return commands.handle(line); });
    control.start();
    log::info("control socket listening", {{"path", o.control_socket}});

    std::cout << "bootstrap=" << cluster.bootstrap() << std::endl;
    info_file_guard info_guard;
    if (!o.info_file.empty()) {
      write_info_file(o.info_file, {cluster.bootstrap(), o.control_socket, ::getpid()});
      info_guard.path = o.info_file;
    }
    log::info("ready", {{"program", program_name(d)}, {"pid", std::to_string(::getpid())}});

    int sig = -1;
    while (sig < 0) {
      timespec slice{std::chrono::duration_cast<std::chrono::seconds>(signal_poll).count(), 0};
      sig = ::sigtimedwait(&stop_signals, nullptr, &slice);
    }
    log::info("stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});

    watchdog.emplace(shutdown_deadline);
    // Reverse order of start: info file, control server, then the cluster
    // when it goes out of scope.
    info_guard.remove();
    control.stop();
  } catch (const std::exception& e) {
    log::error("broker failed", {{"error", e.what()}});
    exit_code = 1;
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  if (exit_code == 0)
    log::info("stopped");
  return exit_code;
}

// The ports of a bootstrap list "127.0.0.1:P1,127.0.0.1:P2".
std::vector<uint16_t> ports_of(const std::string& bootstrap) {
  std::vector<uint16_t> out;
  for (std::size_t pos = 0; pos < bootstrap.size();) {
    const auto end = std::min(bootstrap.find(',', pos), bootstrap.size());
    const auto item = bootstrap.substr(pos, end - pos);
    const auto colon = item.rfind(':');
    int port = 0;
    if (colon != std::string::npos) {
      const auto digits = item.substr(colon + 1);
      (void)std::from_chars(digits.data(), digits.data() + digits.size(), port);
    }
    if (port > 0 && port < 65536)
      out.push_back(static_cast<uint16_t>(port));
    pos = end + 1;
  }
  return out;
}

// --restart-on-crash: the cluster runs in a child (this program again,
// without the flag, with --ports once they are known), which dies with us
// (PR_SET_PDEATHSIG). A child that dies of a signal or exits non-zero
// while we were not asked to stop is started again on the same ports, so
// clients find the broker where they left it (empty: topics are created
// again, data and groups are gone; Ping's relay re-sends from its cursor
// and its processor recounts what it missed). SIGTERM/SIGINT are passed on.
int run_supervisor(int argc, char** argv, const broker_options& o) {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGCHLD);
  sigset_t old_mask;
  pthread_sigmask(SIG_BLOCK, &stop_signals, &old_mask);
  std::vector<std::string> base;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--restart-on-crash")
      continue;
    if (a == "--ports") {
      ++i;
      continue;
    }
    if (a.rfind("--ports=", 0) == 0)
      continue;
    base.push_back(a);
  }
  auto ports = o.cluster.ports;
  auto backoff = 200ms;
  const auto parent = ::getpid();
  for (int starts = 0;; ++starts) {
    std::vector<std::string> args{argv[0]}; // run as /proc/self/exe, shown as we are
    args.insert(args.end(), base.begin(), base.end());
    // The control socket path must not depend on the child's pid.
    if (o.info_file.empty())
      args.push_back(std::string{"--control-socket="}.append(o.control_socket));
    if (!ports.empty()) {
      std::string list;
      for (auto p : ports) {
        if (!list.empty())
          list.push_back(',');
        list.append(std::to_string(p));
      }
      args.push_back(std::string{"--ports="}.append(list));
    }
    const auto started = std::chrono::steady_clock::now();
    const pid_t child = ::fork();
    if (child < 0) {
      log::error("cannot fork the broker");
      return 1;
    }
    if (child == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent)
        std::_Exit(1);
      pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
      std::vector<char*> cargs;
      cargs.reserve(args.size() + 1);
      for (auto& a : args)
        cargs.push_back(a.data());
      cargs.push_back(nullptr);
      ::execv("/proc/self/exe", cargs.data());
      std::_Exit(127);
    }
    log::info("broker started",
              {{"pid", std::to_string(child)}, {"start", std::to_string(starts + 1)}});
    int status = 0;
    bool stopping = false;
    for (;;) {
      timespec slice{0, 200'000'000};
      const int sig = ::sigtimedwait(&stop_signals, nullptr, &slice);
      if ((sig == SIGTERM || sig == SIGINT) && !stopping) {
        stopping = true;
        ::kill(child, SIGTERM);
      }
      if (::waitpid(child, &status, WNOHANG) == child)
        break;
    }
    if (stopping || (WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
      return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    }
    std::string how = WIFSIGNALED(status) ? "signal " : "exit ";
    how.append(std::to_string(WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status)));
    if (ports.empty() && !o.info_file.empty())
      if (const auto info = read_info_file(o.info_file))
        ports = ports_of(info->bootstrap);
    // A child that ran a while crashed: start again at once. One that could
    // not start (its ports still taken): back off.
    if (std::chrono::steady_clock::now() - started > 5s)
      backoff = 200ms;
    log::error("broker died; starting it again on the same ports",
               {{"status", how}, {"backoff_ms", std::to_string(backoff.count())}});
    std::this_thread::sleep_for(backoff);
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, 5000ms);
  }
}

int run_ctl(int argc, char** argv) {
  ctl_options o;
  arg_reader r(argc, argv, 2);
  while (!r.done()) {
    const std::string f = r.flag();
    if (f == "--control-socket") {
      o.control_socket = r.value(f);
    } else if (f == "--info-file") {
      o.info_file = r.value(f);
    } else if (f == "--timeout") {
      o.timeout = std::chrono::milliseconds(parse_positive(f, r.value(f), 3'600'000));
    } else if (f == "--") {
      break;
    } else if (f.rfind("--", 0) == 0) {
      throw usage_error("unknown ctl option '" + f + "'");
    } else {
      r.unread();
      break;
    }
  }
  for (const auto& word : r.rest())
    o.command += (o.command.empty() ? "" : " ") + word;
  if (o.command.empty())
    throw usage_error("ctl needs a command (try: ctl ... help)");
  if (o.control_socket.empty()) {
    if (o.info_file.empty())
      throw usage_error("ctl needs --control-socket or --info-file");
    const auto info = read_info_file(o.info_file);
    if (!info) {
      std::cerr << "error cannot read info file " << o.info_file << "\n";
      return 1;
    }
    o.control_socket = info->control;
  }
  try {
    const std::string answer = control(o.control_socket, o.command, o.timeout);
    std::cout << answer << "\n";
    return answer.rfind("ok", 0) == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "error " << e.what() << "\n";
    return 1;
  }
}

} // namespace

int main(int argc, char** argv, const defaults& d) {
  try {
    if (argc >= 2 && std::string_view(argv[1]) == "ctl")
      return run_ctl(argc, argv);
    const auto options = parse_broker_options(argc, argv, d);
    if (!options)
      return 0;
    if (options->restart_on_crash)
      return run_supervisor(argc, argv, *options);
    return run_broker(*options, d);
  } catch (const usage_error& e) {
    std::cerr << program_name(d) << ": " << e.what() << "\n";
    return 2;
  }
}

} // namespace devbroker
