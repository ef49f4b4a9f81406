#include "process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "devbroker/control.hpp"

extern char** environ;

namespace devbroker::test {
namespace {

using clock = std::chrono::steady_clock;

std::vector<char*> c_argv(std::vector<std::string>& args) {
  std::vector<char*> out;
  out.reserve(args.size() + 1);
  for (auto& a : args)
    out.push_back(a.data());
  out.push_back(nullptr);
  return out;
}

} // namespace

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step) {
  const auto deadline = clock::now() + timeout;
  for (;;) {
    if (condition())
      return true;
    if (clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(step);
  }
}

temp_dir::temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/devbroker-test-XXXXXX";
  if (!::mkdtemp(tmpl.data()))
    throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string broker_binary() {
  const char* bin = std::getenv("DEVBROKER_BIN");
  if (!bin || !*bin)
    throw std::runtime_error("DEVBROKER_BIN is not set (run through meson test)");
  return bin;
}

int wait_exit(pid_t pid, std::chrono::milliseconds timeout) {
  int status = 0;
  bool exited = false;
  wait_until(
    [&] {
      const pid_t r = ::waitpid(pid, &status, WNOHANG);
      exited = r == pid || (r < 0 && errno == ECHILD);
      return exited;
    },
    timeout, 10ms);
  return exited ? status : -1;
}

command_result run_command(const std::vector<std::string>& argv_in, const std::string& input,
                           std::chrono::milliseconds timeout) {
  int in_pipe[2], out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe2 failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  auto args = argv_in;
  auto cargs = c_argv(args);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, cargs[0], &actions, nullptr, cargs.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  if (rc != 0) {
    ::close(in_pipe[1]);
    ::close(out_pipe[0]);
    throw std::runtime_error("posix_spawnp " + argv_in[0] + ": " + std::strerror(rc));
  }

  const auto deadline = clock::now() + timeout;
  command_result result;
  std::size_t written = 0;
  int in_fd = in_pipe[1];
  if (input.empty()) {
    ::close(in_fd);
    in_fd = -1;
  } else {
    ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
  }
  bool out_open = true;
  while (out_open) {
    const auto left
      = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      break;
    }
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {in_fd, POLLOUT, 0}};
    const int n = ::poll(fds, in_fd >= 0 ? 2 : 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR)
      continue;
    if (fds[0].revents) {
      char buf[4096];
      const ssize_t r = ::read(out_pipe[0], buf, sizeof buf);
      if (r > 0)
        result.out.append(buf, static_cast<std::size_t>(r));
      else if (r == 0 || errno != EINTR)
        out_open = false;
    }
    if (in_fd >= 0 && fds[1].revents) {
      const ssize_t w = ::write(in_fd, input.data() + written, input.size() - written);
      if (w > 0)
        written += static_cast<std::size_t>(w);
      if (w < 0 && errno != EAGAIN && errno != EINTR)
        written = input.size();
      if (written == input.size()) {
        ::close(in_fd);
        in_fd = -1;
      }
    }
  }
  if (in_fd >= 0)
    ::close(in_fd);
  ::close(out_pipe[0]);
  if (result.timed_out)
    ::kill(pid, SIGKILL);
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
  int status = wait_exit(pid, std::max(left, std::chrono::milliseconds(2000)));
  if (status == -1) {
    ::kill(pid, SIGKILL);
    status = wait_exit(pid, 2s);
    result.timed_out = true;
  }
  if (status != -1 && WIFEXITED(status))
    result.exit_code = WEXITSTATUS(status);
  return result;
}

broker_process::broker_process(std::vector<std::string> args,
                               std::chrono::milliseconds ready_timeout)
  : info_file_(dir_.path() + "/broker.info"), stdout_file_(dir_.path() + "/broker.stdout") {
  std::vector<std::string> argv{broker_binary(), "--info-file", info_file_};
  argv.insert(argv.end(), args.begin(), args.end());
  auto cargs = c_argv(argv);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_file_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const int rc = ::posix_spawn(&pid_, cargs[0], &actions, nullptr, cargs.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0)
    throw std::runtime_error(std::string("posix_spawn broker: ") + std::strerror(rc));

  bool died = false;
  const bool ready = wait_until(
    [&] {
      if (auto info = read_info_file(info_file_)) {
        info_ = *info;
        return true;
      }
      died = ::waitpid(pid_, nullptr, WNOHANG) == pid_;
      return died;
    },
    ready_timeout);
  if (!ready || died) {
    if (!died) {
      ::kill(pid_, SIGKILL);
      wait_exit(pid_, 2s);
    }
    pid_ = -1;
    throw std::runtime_error(died ? "broker exited before becoming ready"
                                  : "broker not ready before the deadline");
  }
}

broker_process::~broker_process() {
  if (pid_ > 0 && stop(SIGTERM, 5s) == -1) {
    ::kill(pid_, SIGKILL);
    wait_exit(pid_, 2s);
  }
}

int broker_process::stop(int sig, std::chrono::milliseconds timeout) {
  if (pid_ <= 0)
    return -1;
  ::kill(pid_, sig);
  const int status = wait_exit(pid_, timeout);
  if (status != -1)
    pid_ = -1;
  return status;
}

std::string broker_process::ctl(const std::string& command) const {
  return control(info_.control, command, 5s);
}

std::string broker_process::stdout_text() const {
  std::ifstream in(stdout_file_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace devbroker::test
