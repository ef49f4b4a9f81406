#include "apps/pingctl/admin_console.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iostream>
#include <optional>
#include <string>

#include <unistd.h>

#include <editline/readline.h>

#include "apps/pingctl/admin_command.hpp"
#include "apps/pingctl/admin_watch.hpp"
#include "apps/pingctl/interrupt.hpp"

namespace ping::pingctl {

namespace {

// Completion: command words first, watch targets after "watch". libedit
// calls the generator with state 0 first, then until it returns nullptr.
const std::vector<std::string>* completion_words = nullptr;

char* word_generator(const char* text, int state) {
  static size_t index = 0;
  if (state == 0)
    index = 0;
  if (!completion_words)
    return nullptr;
  auto prefix_len = std::strlen(text);
  while (index < completion_words->size()) {
    const auto& word = (*completion_words)[index++];
    if (word.compare(0, prefix_len, text) == 0)
      return ::strdup(word.c_str());
  }
  return nullptr;
}

char* no_completion(const char*, int) {
  return nullptr; // never file names
}

char** complete(const char* text, int start, int) {
  static const std::vector<std::string> targets = {"actors", "pipeline", "lag", "status"};
  auto before = split_words(std::string_view{rl_line_buffer, static_cast<size_t>(start)});
  if (before.empty())
    completion_words = &command_words(true);
  else if (before.size() == 1 && before[0] == "watch")
    completion_words = &targets;
  else
    return nullptr;
  return rl_completion_matches(text, word_generator);
}

// One line from the terminal through libedit; nullopt at end of input.
// Ctrl-C abandons the line and prompts again.
std::optional<std::string> edit_line(const std::string& prompt) {
  for (;;) {
    sigint_scope::clear();
    char* raw = ::readline(prompt.c_str());
    if (raw) {
      std::string line{raw};
      std::free(raw);
      return line;
    }
    if (!sigint_scope::raised())
      return std::nullopt;
    std::fputs("\n", stdout);
  }
}

class console {
public:
  console(admin_session& session, std::ostream& out, std::ostream& err)
    : session_(session), out_(out), err_(err), tty_(::isatty(STDIN_FILENO) == 1) {}

  int run() {
    // Ctrl-C drops the line at the prompt and abandons a call in flight.
    std::optional<sigint_scope> ctrl_c;
    if (tty_) {
      ctrl_c.emplace();
      setup_editing();
      auto hello = session_.greet();
      (hello.error ? err_ << "error: " : out_) << hello.text;
    }
    int status = 0;
    bool quit = false;
    while (auto line = next_line()) {
      auto words = split_words(*line);
      if (words.empty())
        continue;
      remember(*line);
      auto parsed = parse_admin_command(words, true);
      if (!parsed.error.empty()) {
        err_ << "error: " << parsed.error << " (help lists the commands)" << std::endl;
        status = 1;
        continue;
      }
      const auto& cmd = parsed.cmd;
      if (cmd.verb == admin_verb::quit) {
        quit = true;
        break;
      }
      sigint_scope::clear();
      if (run_command(cmd) != 0)
        status = 1;
    }
    if (tty_) {
      if (!quit)
        out_ << std::endl; // Ctrl-D left the cursor after the prompt
      return 0;
    }
    return status;
  }

private:
  void setup_editing() {
    rl_readline_name = "pingctl";
    rl_attempted_completion_function = complete;
    rl_completion_entry_function = no_completion;
    stifle_history(max_history);
    // Ctrl-C at the prompt: libedit restores the terminal and passes the
    // signal on to the sigint_scope handler; readline returns nullptr.
  }

  std::optional<std::string> next_line() {
    out_.flush();
    err_.flush();
    if (tty_)
      return edit_line(session_.label() + "> ");
    std::string line;
    if (!std::getline(std::cin, line))
      return std::nullopt;
    return line;
  }

  void remember(const std::string& line) {
    if (!history_.empty() && history_.back() == line)
      return;
    history_.push_back(line);
    if (history_.size() > static_cast<size_t>(max_history))
      history_.pop_front();
    if (tty_)
      ::add_history(line.c_str());
  }

  int run_command(const admin_command& cmd) {
    switch (cmd.verb) {
      case admin_verb::help:
        out_ << console_help_text();
        return 0;
      case admin_verb::history: {
        size_t n = 1;
        for (const auto& line : history_) {
          auto number = std::to_string(n++);
          out_ << std::string(number.size() < 5 ? 5 - number.size() : 0, ' ') << number << "  "
               << line << "\n";
        }
        return 0;
      }
      case admin_verb::watch:
        return run_watch(session_, cmd, err_) == 0 ? 0 : 1;
      default: {
        auto result = session_.execute(cmd);
        if (result.error && sigint_scope::raised())
          out_ << std::endl; // after the terminal's "^C"
        if (result.error)
          err_ << "error: " << result.text;
        else
          out_ << result.text;
        return result.exit_status;
      }
    }
  }

  admin_session& session_;
  std::ostream& out_;
  std::ostream& err_;
  bool tty_;
  std::deque<std::string> history_;
};

} // namespace

int run_console(admin_session& session, std::ostream& out, std::ostream& err) {
  return console{session, out, err}.run();
}

} // namespace ping::pingctl
