#include "apps/pingctl/load.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <iomanip>
#include <map>
#include <mutex>
#include <ostream>
#include <sstream>
#include <thread>
#include <vector>

#include <unistd.h>

namespace ping::pingctl {

namespace {

using steady = std::chrono::steady_clock;

std::atomic<bool> interrupted{false};

extern "C" void on_sigint(int) {
  interrupted.store(true);
}

// SIGINT sets `interrupted` while it lives; a second Ctrl-C kills at once.
class sigint_guard {
public:
  sigint_guard() {
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_);
  }
  ~sigint_guard() { sigaction(SIGINT, &old_, nullptr); }
  sigint_guard(const sigint_guard&) = delete;
  sigint_guard& operator=(const sigint_guard&) = delete;

private:
  struct sigaction old_ {};
};

// Shared by the workers and the reporter.
struct load_counters {
  std::uint64_t total = 0;
  std::atomic<std::uint64_t> next{0}; // requests handed out
  std::atomic<std::uint64_t> done{0}; // requests completed
  std::atomic<std::uint64_t> failed{0};
};

// What one worker saw; merged after all workers ended.
struct worker_stats {
  std::vector<double> latencies_ms; // successful calls only
  std::map<std::string, std::uint64_t> errors;
  std::map<std::string, std::string> first_message; // per code
};

// One worker: its own client, pings until the budget is spent or SIGINT.
void run_worker(const load_settings& cfg, const client_factory& make_client, unsigned workers,
                load_counters& counters, worker_stats& st) {
  st.latencies_ms.reserve(counters.total / workers + 1);
  auto client = make_client();
  ping::v1::PingRequest req;
  req.set_timestamp_ms(cfg.timestamp_ms);
  ping::v1::PingResponse resp;
  while (!interrupted.load(std::memory_order_relaxed)
         && counters.next.fetch_add(1, std::memory_order_relaxed) < counters.total) {
    auto t0 = steady::now();
    auto status = client->ping(req, resp);
    auto t1 = steady::now();
    if (status.ok()) {
      st.latencies_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    } else {
      ++st.errors[status.code];
      st.first_message.try_emplace(status.code, status.message);
      counters.failed.fetch_add(1, std::memory_order_relaxed);
    }
    counters.done.fetch_add(1, std::memory_order_relaxed);
  }
}

std::string fixed(double v, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}

// Prints progress to `err` once a second until stop(): one line rewritten in
// place on a TTY, plain lines otherwise.
class progress_reporter {
public:
  progress_reporter(const load_counters& counters, std::ostream& err)
    : counters_(counters),
      err_(err),
      tty_(::isatty(STDERR_FILENO) == 1),
      thread_([this] { run(); }) {}
  progress_reporter(const progress_reporter&) = delete;
  progress_reporter& operator=(const progress_reporter&) = delete;
  ~progress_reporter() { stop(); }

  void stop() {
    {
      std::lock_guard lock{mtx_};
      finished_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable())
      thread_.join();
  }

private:
  void run() {
    std::unique_lock lock{mtx_};
    auto last_time = steady::now();
    std::uint64_t last_done = 0;
    bool printed = false;
    while (!cv_.wait_for(lock, std::chrono::seconds(1), [&] { return finished_; })) {
      auto now = steady::now();
      auto d = counters_.done.load();
      double secs = std::chrono::duration<double>(now - last_time).count();
      double rate = secs > 0 ? static_cast<double>(d - last_done) / secs : 0.0;
      last_time = now;
      last_done = d;
      std::ostringstream line;
      line << "progress: " << d << "/" << counters_.total << " ("
           << fixed(100.0 * static_cast<double>(d) / static_cast<double>(counters_.total), 0)
           << "%) rate=" << fixed(rate, 0) << " req/s errors=" << counters_.failed.load();
      if (tty_)
        err_ << "\r" << line.str() << "\x1b[K" << std::flush;
      else
        err_ << line.str() << std::endl;
      printed = true;
    }
    if (tty_ && printed)
      err_ << "\r\x1b[K" << std::flush;
  }

  const load_counters& counters_;
  std::ostream& err_;
  const bool tty_;
  std::mutex mtx_;
  std::condition_variable cv_;
  bool finished_ = false; // guarded by mtx_
  std::thread thread_;    // last: starts once the members above exist
};

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty())
    return 0.0;
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

// Every worker's stats, merged.
struct load_result {
  std::vector<double> latencies; // sorted
  std::map<std::string, std::uint64_t> errors;
  std::map<std::string, std::string> messages; // first message per code
  std::uint64_t total = 0;
  std::uint64_t completed = 0;
  unsigned workers = 0;
  double elapsed = 0; // seconds
  bool interrupted = false;
};

void merge(const std::vector<worker_stats>& stats, load_result& r) {
  for (const auto& st : stats) {
    r.latencies.insert(r.latencies.end(), st.latencies_ms.begin(), st.latencies_ms.end());
    for (const auto& [code, n] : st.errors)
      r.errors[code] += n;
    for (const auto& [code, msg] : st.first_message)
      r.messages.try_emplace(code, msg);
  }
  std::sort(r.latencies.begin(), r.latencies.end());
}

// Errors to `err`; the summary to `out`, ending in one line of key=value
// fields. Returns the exit status.
int print_summary(load_result& r, std::ostream& out, std::ostream& err) {
  const std::uint64_t ok = r.latencies.size();
  const std::uint64_t n_errors = r.completed - ok;
  const double rps = r.elapsed > 0 ? static_cast<double>(r.completed) / r.elapsed : 0.0;
  const double p50 = percentile(r.latencies, 50);
  const double p90 = percentile(r.latencies, 90);
  const double p99 = percentile(r.latencies, 99);
  const double max = r.latencies.empty() ? 0.0 : r.latencies.back();

  for (const auto& [code, msg] : r.messages)
    err << "error: " << code << ": " << msg << " (" << r.errors[code]
        << (r.errors[code] == 1 ? " request" : " requests") << ")\n";
  if (r.interrupted)
    err << "interrupted after " << r.completed << " of " << r.total << " requests\n";
  err << std::flush;

  auto row = [&out](const std::string& label, const std::string& value) {
    out << "  " << std::left << std::setw(22) << label << value << "\n";
  };
  out << "Summary:\n";
  row("requests", std::to_string(r.completed)
                    + (r.interrupted ? " (of " + std::to_string(r.total) + ", interrupted)" : ""));
  row("concurrency", std::to_string(r.workers));
  row("ok", std::to_string(ok));
  row("errors", std::to_string(n_errors));
  for (const auto& [code, n] : r.errors)
    row("  " + code, std::to_string(n));
  row("elapsed", fixed(r.elapsed, 3) + " s");
  row("throughput", fixed(rps, 1) + " req/s");
  out << "Latency (successful requests):\n";
  row("p50", fixed(p50, 3) + " ms");
  row("p90", fixed(p90, 3) + " ms");
  row("p99", fixed(p99, 3) + " ms");
  row("max", fixed(max, 3) + " ms");
  out << "requests=" << r.completed << " ok=" << ok << " errors=" << n_errors
      << " elapsed_s=" << fixed(r.elapsed, 3) << " rps=" << fixed(rps, 1)
      << " p50_ms=" << fixed(p50, 3) << " p90_ms=" << fixed(p90, 3) << " p99_ms=" << fixed(p99, 3)
      << " max_ms=" << fixed(max, 3);
  for (const auto& [code, n] : r.errors)
    out << " errors_" << code << "=" << n;
  out << std::endl;

  if (r.interrupted)
    return 130;
  return n_errors == 0 ? 0 : 1;
}

} // namespace

int run_load(const load_settings& cfg, const client_factory& make_client, std::ostream& out,
             std::ostream& err) {
  load_counters counters;
  counters.total = cfg.requests;
  const auto workers
    = static_cast<unsigned>(std::min<std::uint64_t>(cfg.concurrency, counters.total));
  std::vector<worker_stats> stats(workers);
  load_result result;
  {
    sigint_guard on_ctrl_c;
    auto started = steady::now();
    std::vector<std::thread> threads;
    threads.reserve(workers);
    for (unsigned w = 0; w < workers; ++w)
      threads.emplace_back([&, w] { run_worker(cfg, make_client, workers, counters, stats[w]); });
    progress_reporter reporter{counters, err};
    for (auto& t : threads)
      t.join();
    result.elapsed = std::chrono::duration<double>(steady::now() - started).count();
    reporter.stop();
  }
  merge(stats, result);
  result.total = counters.total;
  result.completed = counters.done.load();
  result.workers = workers;
  result.interrupted = interrupted.load();
  return print_summary(result, out, err);
}

} // namespace ping::pingctl
