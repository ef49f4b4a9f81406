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

// What one worker saw; merged after all workers ended.
struct worker_stats {
  std::vector<double> latencies_ms; // successful calls only
  std::map<std::string, std::uint64_t> errors;
  std::map<std::string, std::string> first_message; // per code
};

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty())
    return 0.0;
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * sorted.size()));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

std::string fixed(double v, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}

} // namespace

int run_load(const load_settings& cfg, const client_factory& make_client,
             std::ostream& out, std::ostream& err) {
  const std::uint64_t total = cfg.requests;
  const unsigned workers =
    static_cast<unsigned>(std::min<std::uint64_t>(cfg.concurrency, total));

  std::atomic<std::uint64_t> next{0};  // requests handed out
  std::atomic<std::uint64_t> done{0};  // requests completed
  std::atomic<std::uint64_t> failed{0};
  std::vector<worker_stats> stats(workers);

  struct sigaction sa{};
  sa.sa_handler = on_sigint;
  sa.sa_flags = SA_RESETHAND; // a second Ctrl-C kills at once
  sigemptyset(&sa.sa_mask);
  struct sigaction old_sa{};
  sigaction(SIGINT, &sa, &old_sa);

  auto started = steady::now();
  std::vector<std::thread> threads;
  threads.reserve(workers);
  for (unsigned w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      auto& st = stats[w];
      st.latencies_ms.reserve(total / workers + 1);
      auto client = make_client();
      ping::v1::PingRequest req;
      req.set_timestamp_ms(cfg.timestamp_ms);
      ping::v1::PingResponse resp;
      while (!interrupted.load(std::memory_order_relaxed)
             && next.fetch_add(1, std::memory_order_relaxed) < total) {
        auto t0 = steady::now();
        auto status = client->ping(req, resp);
        auto t1 = steady::now();
        if (status.ok()) {
          st.latencies_ms.push_back(
            std::chrono::duration<double, std::milli>(t1 - t0).count());
        } else {
          ++st.errors[status.code];
          st.first_message.try_emplace(status.code, status.message);
          failed.fetch_add(1, std::memory_order_relaxed);
        }
        done.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }

  // Progress reporter.
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  std::mutex mtx;
  std::condition_variable cv;
  bool finished = false;
  std::thread reporter([&] {
    std::unique_lock lock{mtx};
    auto last_time = steady::now();
    std::uint64_t last_done = 0;
    bool printed = false;
    while (!cv.wait_for(lock, std::chrono::seconds(1), [&] { return finished; })) {
      auto now = steady::now();
      auto d = done.load();
      double secs = std::chrono::duration<double>(now - last_time).count();
      double rate = secs > 0 ? (d - last_done) / secs : 0.0;
      last_time = now;
      last_done = d;
      std::ostringstream line;
      line << "progress: " << d << "/" << total << " ("
           << fixed(100.0 * d / total, 0) << "%) rate=" << fixed(rate, 0)
           << " req/s errors=" << failed.load();
      if (tty)
        err << "\r" << line.str() << "\x1b[K" << std::flush;
      else
        err << line.str() << std::endl;
      printed = true;
    }
    if (tty && printed)
      err << "\r\x1b[K" << std::flush;
  });

  for (auto& t : threads)
    t.join();
  auto elapsed = std::chrono::duration<double>(steady::now() - started).count();
  {
    std::lock_guard lock{mtx};
    finished = true;
  }
  cv.notify_one();
  reporter.join();
  sigaction(SIGINT, &old_sa, nullptr);

  // Merge.
  std::vector<double> latencies;
  std::map<std::string, std::uint64_t> errors;
  std::map<std::string, std::string> messages;
  for (auto& st : stats) {
    latencies.insert(latencies.end(), st.latencies_ms.begin(),
                     st.latencies_ms.end());
    for (auto& [code, n] : st.errors)
      errors[code] += n;
    for (auto& [code, msg] : st.first_message)
      messages.try_emplace(code, msg);
  }
  std::sort(latencies.begin(), latencies.end());
  const std::uint64_t completed = done.load();
  const std::uint64_t ok = latencies.size();
  const std::uint64_t n_errors = completed - ok;
  const double rps = elapsed > 0 ? completed / elapsed : 0.0;
  const double p50 = percentile(latencies, 50);
  const double p90 = percentile(latencies, 90);
  const double p99 = percentile(latencies, 99);
  const double max = latencies.empty() ? 0.0 : latencies.back();
  const bool was_interrupted = interrupted.load();

  for (auto& [code, msg] : messages)
    err << "error: " << code << ": " << msg << " (" << errors[code]
        << (errors[code] == 1 ? " request" : " requests") << ")\n";
  if (was_interrupted)
    err << "interrupted after " << completed << " of " << total
        << " requests\n";
  err << std::flush;

  auto row = [&out](const std::string& label, const std::string& value) {
    out << "  " << std::left << std::setw(22) << label << value << "\n";
  };
  out << "Summary:\n";
  row("requests", std::to_string(completed) + (was_interrupted
                                                 ? " (of " + std::to_string(total)
                                                     + ", interrupted)"
                                                 : ""));
  row("concurrency", std::to_string(workers));
  row("ok", std::to_string(ok));
  row("errors", std::to_string(n_errors));
  for (auto& [code, n] : errors)
    row("  " + code, std::to_string(n));
  row("elapsed", fixed(elapsed, 3) + " s");
  row("throughput", fixed(rps, 1) + " req/s");
  out << "Latency (successful requests):\n";
  row("p50", fixed(p50, 3) + " ms");
  row("p90", fixed(p90, 3) + " ms");
  row("p99", fixed(p99, 3) + " ms");
  row("max", fixed(max, 3) + " ms");
  out << "requests=" << completed << " ok=" << ok << " errors=" << n_errors
      << " elapsed_s=" << fixed(elapsed, 3) << " rps=" << fixed(rps, 1)
      << " p50_ms=" << fixed(p50, 3) << " p90_ms=" << fixed(p90, 3)
      << " p99_ms=" << fixed(p99, 3) << " max_ms=" << fixed(max, 3);
  for (auto& [code, n] : errors)
    out << " errors_" << code << "=" << n;
  out << std::endl;

  if (was_interrupted)
    return 130;
  return n_errors == 0 ? 0 : 1;
}

} // namespace ping::pingctl
