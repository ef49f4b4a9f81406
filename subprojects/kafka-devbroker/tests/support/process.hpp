#pragma once
// Test helpers: temp dirs, deadline polling, child processes (the broker,
// kcat, the ctl subcommand). Everything here has a deadline.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "devbroker/info_file.hpp"

namespace devbroker::test {

using namespace std::chrono_literals;

// Polls `condition` every `step` until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = 20ms);

// A fresh directory under $TMPDIR, removed recursively on destruction.
class temp_dir {
public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

// Path of the kafka-devbroker binary under test ($DEVBROKER_BIN, set by meson).
std::string broker_binary();

struct command_result {
  int exit_code = -1; // -1: killed at the deadline or did not exit normally
  std::string out;    // stdout
  bool timed_out = false;
};

// Runs argv[0] (PATH lookup) with `input` on stdin; stdout is captured and
// stderr inherited. Killed with SIGKILL at the deadline.
command_result run_command(const std::vector<std::string>& argv, const std::string& input,
                           std::chrono::milliseconds timeout);

// Waits for `pid` to exit; returns the raw wait status or -1 on timeout.
int wait_exit(pid_t pid, std::chrono::milliseconds timeout);

// One kafka-devbroker child with its own temp dir and info file.
// The constructor waits (bounded) until the info file exists; the destructor
// sends SIGTERM and escalates to SIGKILL after a deadline.
class broker_process {
public:
  explicit broker_process(std::vector<std::string> args = {},
                          std::chrono::milliseconds ready_timeout = 10s);
  ~broker_process();
  broker_process(const broker_process&) = delete;
  broker_process& operator=(const broker_process&) = delete;

  const broker_info& info() const { return info_; }
  const std::string& bootstrap() const { return info_.bootstrap; }
  const std::string& info_file() const { return info_file_; }
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_.path(); }

  // Sends one control command (5 s deadline); returns the answer line.
  std::string ctl(const std::string& command) const;

  // Sends `sig` and waits; returns the wait status, or -1 on timeout.
  int stop(int sig, std::chrono::milliseconds timeout);

  // Everything the broker wrote to stdout so far.
  std::string stdout_text() const;

private:
  temp_dir dir_;
  std::string info_file_;
  std::string stdout_file_;
  pid_t pid_ = -1;
  broker_info info_;
};

} // namespace devbroker::test
