#include "apps/pingctl/admin_watch.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <ostream>
#include <string>

#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "admin/text/format.hpp"
#include "apps/pingctl/interrupt.hpp"

namespace ping::pingctl {

using namespace ping::admin::text;

namespace {

using steady = std::chrono::steady_clock;

void write_all(const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(STDOUT_FILENO, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return; // the terminal is gone; the next wait ends on EOF or Ctrl-C
    done += static_cast<size_t>(n);
  }
}

std::string local_time_text() {
  auto now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

// The terminal state watch changes, restored in reverse on destruction.
class watch_terminal {
public:
  watch_terminal() {
    sigint_scope::clear();
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &old_mask_);
    blocked_mask_ = old_mask_;
    sigaddset(&blocked_mask_, SIGINT);
    wait_mask_ = old_mask_;
    sigdelset(&wait_mask_, SIGINT);

    stdin_tty_ = ::isatty(STDIN_FILENO) == 1;
    if (stdin_tty_ && tcgetattr(STDIN_FILENO, &saved_) == 0) {
      termios quiet = saved_;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO); // Enter stays a line end
      tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
      termios_saved_ = true;
    }
    write_all("\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J"); // alternate screen, no cursor
  }

  ~watch_terminal() {
    write_all("\x1b[?25h\x1b[?1049l");
    if (termios_saved_) {
      tcflush(STDIN_FILENO, TCIFLUSH); // keys typed while watching
      tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    }
    sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
  }

  watch_terminal(const watch_terminal&) = delete;
  watch_terminal& operator=(const watch_terminal&) = delete;

  // Waits until `until`; false when the user asked to stop (Enter, EOF on
  // stdin, Ctrl-C).
  bool wait(steady::time_point until) {
    for (;;) {
      if (sigint_scope::raised())
        return false;
      auto left = until - steady::now();
      if (left <= steady::duration::zero())
        return true;
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
      pollfd pfd{STDIN_FILENO, POLLIN, 0};
      int n = ::ppoll(&pfd, stdin_tty_ ? 1 : 0, &ts, &wait_mask_);
      if (n < 0 && errno != EINTR)
        return false;
      if (n > 0) {
        if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL))
          return false;
        char buf[256];
        auto got = ::read(STDIN_FILENO, buf, sizeof buf);
        if (got <= 0)
          return false;
        for (ssize_t i = 0; i < got; ++i)
          if (buf[i] == '\n' || buf[i] == '\r')
            return false;
      }
    }
  }

  // Runs `call` with SIGINT deliverable, so Ctrl-C abandons it.
  template <class Call>
  auto interruptible(Call&& call) {
    sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
    auto result = call();
    sigprocmask(SIG_SETMASK, &blocked_mask_, nullptr);
    return result;
  }

  // Rows and columns of the window (24x80 when unknown).
  static std::pair<int, int> size() {
    winsize ws{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
      return {ws.ws_row, ws.ws_col};
    return {24, 80};
  }

private:
  // SIGINT is blocked except in ppoll and during calls, so a Ctrl-C between
  // the flag check and ppoll is not lost.
  sigint_scope ctrl_c_; // first member: its handler outlives the mask
  sigset_t old_mask_{};
  sigset_t blocked_mask_{}; // old_mask_ + SIGINT
  sigset_t wait_mask_{};    // old_mask_ - SIGINT
  termios saved_{};
  bool termios_saved_ = false;
  bool stdin_tty_ = false;
};

} // namespace

int run_watch(admin_session& session, const admin_command& cmd, std::ostream& err) {
  if (::isatty(STDOUT_FILENO) != 1) {
    err << "watch needs a terminal on stdout" << std::endl;
    return 2;
  }
  err.flush();
  std::fflush(stdout); // frames are written to the descriptor directly
  admin_command read;
  read.verb = cmd.watch_target;
  watch_terminal term;
  auto next = steady::now();
  for (std::uint64_t refresh = 1;; ++refresh) {
    auto result = term.interruptible([&] { return session.execute(read, true); });
    if (sigint_scope::raised())
      break;
    auto [rows, cols] = watch_terminal::size();
    std::string text = watch_header(session.label(), verb_word(cmd.watch_target), local_time_text(),
                                    refresh, cmd.watch_interval)
                       + "\n\n" + (result.error ? "error: " : "") + result.text;
    // The last column stays empty: erasing from a pending wrap would eat it.
    auto lines = fit_to_screen(text, rows, cols - 1);
    std::string frame = "\x1b[H";
    for (size_t i = 0; i < lines.size(); ++i)
      frame += lines[i] + (i + 1 < lines.size() ? "\x1b[K\n" : "\x1b[K");
    frame += "\x1b[J";
    write_all(frame);
    next += cmd.watch_interval;
    if (auto now = steady::now(); next < now)
      next = now; // a slow call: refresh right away, do not catch up
    if (!term.wait(next))
      break;
  }
  return 0;
}

} // namespace ping::pingctl
