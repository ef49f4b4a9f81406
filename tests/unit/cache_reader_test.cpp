// The cache reader against a real redis-server child (started on a free port
// in a temp dir by each test), plus a TCP listener that never answers.
#define BOOST_TEST_MODULE cache_reader
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>
#include <hiredis/hiredis.h>

#include "actors/cache/cache_reader.hpp"
#include "actors/common/ids.hpp"

extern char** environ;

using namespace ping;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr int64_t minute_ms = 60000;

// Bound for "answered fast": 70 ms nominal (timeout 50 ms + slack 20 ms),
// plus margin for scheduling on a loaded, shared 2-core machine.
constexpr auto fast_bound = 150ms;

// Polls `f` until it is true or `deadline` passed.
template <class F>
bool eventually(F f, std::chrono::milliseconds deadline = 5s) {
  auto until = clock_type::now() + deadline;
  while (clock_type::now() < until) {
    if (f())
      return true;
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// A listening socket that completes TCP handshakes (kernel backlog) but is
/// never read from: a server that accepts and never answers.
struct silent_server {
  int fd = -1;
  int port = 0;
  silent_server() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    BOOST_REQUIRE(::listen(fd, 64) == 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
  ~silent_server() { ::close(fd); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
};

/// A redis-server child process with its own temp dir, no persistence.
class redis_server {
public:
  explicit redis_server(std::vector<std::string> extra = {})
    : port_(free_port()), extra_(std::move(extra)) {
    char tmpl[] = "/tmp/cache-reader-test-XXXXXX";
    BOOST_REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    start();
  }

  ~redis_server() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void start() {
    std::vector<std::string> args{"redis-server", "--port", std::to_string(port_),
                                  "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no", "--dir", dir_,
                                  "--logfile", dir_ + "/redis.log"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    BOOST_REQUIRE_MESSAGE(::posix_spawnp(&pid_, "redis-server", nullptr, nullptr,
                                         argv.data(), environ) == 0,
                          "cannot start redis-server");
    BOOST_REQUIRE_MESSAGE(eventually([this] { return ping(); }),
                          "redis-server did not come up on port " << port_);
  }

  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  /// Runs one command on a fresh connection; fails the test on errors.
  void cmd(std::initializer_list<std::string> args) {
    auto* c = connect();
    BOOST_REQUIRE(c != nullptr);
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
    BOOST_REQUIRE(r != nullptr);
    BOOST_REQUIRE_MESSAGE(r->type != REDIS_REPLY_ERROR, std::string(r->str, r->len));
    freeReplyObject(r);
    redisFree(c);
  }

  std::string password;

private:
  redisContext* connect() {
    auto* c = redisConnectWithTimeout("127.0.0.1", port_, timeval{1, 0});
    if (c == nullptr || c->err) {
      if (c)
        redisFree(c);
      return nullptr;
    }
    if (!password.empty()) {
      auto* r = static_cast<redisReply*>(redisCommand(c, "AUTH %s", password.c_str()));
      if (r)
        freeReplyObject(r);
    }
    return c;
  }

  bool ping() {
    auto* c = connect();
    if (!c)
      return false;
    auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
    bool ok = r && (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR);
    if (r)
      freeReplyObject(r);
    redisFree(c);
    return ok;
  }

  int port_;
  std::vector<std::string> extra_;
  std::string dir_;
  pid_t pid_ = -1;
};

struct timed_answer {
  cache::cache_answer answer;
  std::chrono::milliseconds took;
};

time_range all_time() {
  return {};
}

time_range minutes(int64_t first, int64_t last_exclusive) {
  return {true, first * minute_ms, last_exclusive * minute_ms};
}

int64_t now_minute() {
  return now_ms() / minute_ms;
}

struct fixture {
  // The registry outlives the actor system: actors write to it until they end.
  telemetry::registry reg;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::vector<caf::actor> spawned;

  ~fixture() {
    for (auto& a : spawned)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }

  // Functional tests: a generous timeout, so a loaded machine (redis-server
  // competing for the CPU) cannot turn a hit into a miss.
  static cache::settings defaults(std::string address) {
    cache::settings s;
    s.address = std::move(address);
    s.partitions = 3;
    s.timeout = 1s;
    s.backoff_min = 50ms;
    s.backoff_max = 200ms;
    return s;
  }

  // Latency tests: the production default timeout.
  static cache::settings fast(std::string address) {
    auto s = defaults(std::move(address));
    s.timeout = 50ms;
    s.answer_slack = 20ms;
    return s;
  }

  cache::cache_actor make(cache::settings s) {
    auto r = cache::spawn_cache_reader(sys, std::move(s), reg);
    spawned.push_back(caf::actor_cast<caf::actor>(r));
    return r;
  }

  // Waits until the reader runs (its startup, which spawns the worker's
  // thread, is not part of the latency under test). An empty range is
  // answered by the facade itself.
  cache::cache_actor make_started(cache::settings s) {
    auto r = make(std::move(s));
    BOOST_REQUIRE(ask(r, {true, 0, 0}).answer.found);
    return r;
  }

  timed_answer ask(const cache::cache_actor& r, time_range range) {
    return ask_from(self, r, range);
  }

  static timed_answer ask_from(caf::scoped_actor& from, const cache::cache_actor& r,
                               time_range range) {
    timed_answer out{{}, {}};
    auto start = clock_type::now();
    from->request(r, 2s, count_atom::value, range)
      .receive([&](cache::cache_answer& a) { out.answer = a; },
               [&](caf::error& err) {
                 BOOST_ERROR("cache reader replied with an error: " << to_string(err));
               });
    out.took = std::chrono::duration_cast<std::chrono::milliseconds>(
      clock_type::now() - start);
    return out;
  }

  std::shared_ptr<telemetry::actor_stats> stats(const std::string& name) {
    for (auto& a : reg.actors())
      if (a->name == name)
        return a;
    return nullptr;
  }

  static void complete_offsets(redis_server& srv) {
    srv.cmd({"HSET", "ping:offsets", "offset:0", "10", "offset:1", "20", "offset:2",
             "30", "seq:0", "1", "seq:1", "2", "seq:2", "3"});
  }
};

bool found(const timed_answer& t, int64_t count) {
  return t.answer.found && t.answer.count == count;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(cache_reader, fixture)

BOOST_AUTO_TEST_CASE(cold_cache_is_not_found) {
  redis_server srv;
  srv.cmd({"HSET", "ping:counters", "total", "5"});
  auto r = make(defaults(srv.address()));
  auto m = now_minute();
  BOOST_TEST(!ask(r, all_time()).answer.found);
  BOOST_TEST(!ask(r, minutes(m - 2, m)).answer.found);
  BOOST_TEST(reg.counter("cache_misses_total").load() == 2u);
  BOOST_TEST(reg.counter("cache_hits_total").load() == 0u);
}

BOOST_AUTO_TEST_CASE(partial_offsets_are_not_found) {
  redis_server srv;
  srv.cmd({"HSET", "ping:counters", "total", "5"});
  srv.cmd({"HSET", "ping:offsets", "offset:0", "10", "offset:2", "30", "seq:1", "4"});
  auto r = make(defaults(srv.address()));
  BOOST_TEST(!ask(r, all_time()).answer.found);
  srv.cmd({"HSET", "ping:offsets", "offset:1", "20"});
  BOOST_TEST(found(ask(r, all_time()), 5));
}

BOOST_AUTO_TEST_CASE(complete_cache_answers_total) {
  redis_server srv;
  complete_offsets(srv);
  auto r = make(defaults(srv.address()));
  BOOST_TEST(found(ask(r, all_time()), 0)); // complete, no ping yet
  srv.cmd({"HSET", "ping:counters", "total", "42"});
  BOOST_TEST(found(ask(r, all_time()), 42));
  BOOST_TEST(reg.counter("cache_hits_total").load() == 2u);
}

BOOST_AUTO_TEST_CASE(aligned_range_sums_its_minute_buckets) {
  redis_server srv;
  complete_offsets(srv);
  auto m = now_minute();
  auto field = [](int64_t minute) { return "minute:" + std::to_string(minute); };
  srv.cmd({"HSET", "ping:counters", "total", "1000", field(m - 4), "100",
           field(m - 3), "5", field(m - 1), "7", field(m), "2", field(m + 1), "9"});
  auto r = make(defaults(srv.address()));
  BOOST_TEST(found(ask(r, minutes(m - 3, m)), 12));    // m-2 is nil: 0
  BOOST_TEST(found(ask(r, minutes(m - 3, m + 1)), 14));
  BOOST_TEST(found(ask(r, minutes(m - 2, m - 1)), 0)); // one empty minute
  BOOST_TEST(found(ask(r, minutes(m - 4, m + 2)), 123));
  BOOST_TEST(found(ask(r, minutes(m, m)), 0));         // empty range
}

BOOST_AUTO_TEST_CASE(unaligned_or_inverted_ranges_are_not_found) {
  redis_server srv;
  complete_offsets(srv);
  auto m = now_minute();
  srv.cmd({"HSET", "ping:counters", "minute:" + std::to_string(m - 1), "3"});
  auto r = make(defaults(srv.address()));
  BOOST_TEST(found(ask(r, minutes(m - 1, m)), 3));
  BOOST_TEST(!ask(r, {true, (m - 1) * minute_ms + 1, m * minute_ms}).answer.found);
  BOOST_TEST(!ask(r, {true, (m - 1) * minute_ms, m * minute_ms - 1}).answer.found);
  BOOST_TEST(!ask(r, {true, m * minute_ms, (m - 1) * minute_ms}).answer.found);
  auto same = ask(r, {true, m * minute_ms + 17, m * minute_ms + 17});
  BOOST_TEST(found(same, 0));
}

BOOST_AUTO_TEST_CASE(ranges_older_than_retention_are_not_found) {
  redis_server srv;
  complete_offsets(srv);
  auto m = now_minute();
  srv.cmd({"HSET", "ping:counters", "minute:" + std::to_string(m - 20), "4",
           "minute:" + std::to_string(m - 5), "6"});
  // The processor's retention (10 minutes) wins over the settings (7 days).
  srv.cmd({"HSET", "ping:offsets", "retention_ms", "600000"});
  auto r = make(defaults(srv.address()));
  BOOST_TEST(found(ask(r, minutes(m - 5, m)), 6));
  BOOST_TEST(!ask(r, minutes(m - 20, m - 19)).answer.found);
  BOOST_TEST(!ask(r, minutes(m - 20, m)).answer.found);
  // Without retention_ms in the cache, the settings' fallback applies.
  srv.cmd({"HDEL", "ping:offsets", "retention_ms"});
  auto s = defaults(srv.address());
  s.retention_ms = 10 * minute_ms;
  auto r2 = make(s);
  BOOST_TEST(found(ask(r2, minutes(m - 5, m)), 6));
  BOOST_TEST(!ask(r2, minutes(m - 20, m - 19)).answer.found);
  BOOST_TEST(!ask(r2, minutes(m - 5, m + 20)).answer.found); // more buckets than retained
}

BOOST_AUTO_TEST_CASE(password_is_sent_when_set) {
  redis_server srv{{"--requirepass", "s3cret"}};
  srv.password = "s3cret";
  complete_offsets(srv);
  srv.cmd({"HSET", "ping:counters", "total", "8"});
  auto s = defaults(srv.address());
  BOOST_TEST(!ask(make(s), all_time()).answer.found); // NOAUTH
  s.password = "wrong";
  BOOST_TEST(!ask(make(s), all_time()).answer.found);
  s.password = "s3cret";
  BOOST_TEST(found(ask(make(s), all_time()), 8));
}

BOOST_AUTO_TEST_CASE(redis_outage_is_answered_fast_and_recovers) {
  redis_server srv;
  complete_offsets(srv);
  srv.cmd({"HSET", "ping:counters", "total", "42"});
  auto r = make_started(fast(srv.address()));
  BOOST_REQUIRE(eventually([&] { return found(ask(r, all_time()), 42); }));
  srv.stop();
  for (int i = 0; i < 20; ++i) {
    auto t = ask(r, all_time());
    BOOST_TEST(!t.answer.found);
    BOOST_TEST(t.took < fast_bound, "read " << i << " took " << t.took.count() << " ms");
  }
  auto reader = stats("cache.reader");
  BOOST_REQUIRE(reader);
  BOOST_TEST(!reader->up.load());
  srv.start(); // same port, empty data set: cold until the processor rebuilds
  BOOST_TEST(eventually([&] { return reader->up.load() || ask(r, all_time()).answer.found; }));
  BOOST_TEST(!ask(r, all_time()).answer.found);
  complete_offsets(srv);
  srv.cmd({"HSET", "ping:counters", "total", "43"});
  BOOST_TEST(eventually([&] { return found(ask(r, all_time()), 43); }));
  BOOST_TEST(reader->restarts.load() == 0u); // the same worker reconnected
}

BOOST_AUTO_TEST_CASE(silent_server_is_answered_fast) {
  silent_server srv;
  auto r = make_started(fast(srv.address()));
  for (int i = 0; i < 5; ++i) {
    auto t = ask(r, all_time());
    BOOST_TEST(!t.answer.found);
    BOOST_TEST(t.took < fast_bound, "read " << i << " took " << t.took.count() << " ms");
  }
}

BOOST_AUTO_TEST_CASE(reads_never_queue_behind_a_busy_worker) {
  silent_server srv;
  auto s = fast(srv.address());
  s.timeout = 400ms; // the worker blocks this long on the silent server
  auto r = make_started(s);
  timed_answer first{{}, {}};
  std::jthread t{[&] {
    caf::scoped_actor other{sys};
    first = ask_from(other, r, all_time());
  }};
  auto facade = stats("cache");
  BOOST_REQUIRE(facade);
  BOOST_REQUIRE(eventually([&] { return facade->backlog.load() == 1; }, 1s));
  for (int i = 0; i < 5; ++i) {
    auto other = ask(r, all_time());
    BOOST_TEST(!other.answer.found);
    BOOST_TEST(other.took < fast_bound, "read " << i << " took " << other.took.count() << " ms");
  }
  t.join();
  BOOST_TEST(!first.answer.found);
  BOOST_TEST(first.took.count() >= 400); // answered at timeout (+ slack)
  BOOST_TEST(first.took.count() < 2000);
  BOOST_TEST(stats("cache.reader")->handled.load() == 1u); // the others never reached it
}

BOOST_AUTO_TEST_CASE(silent_worker_is_replaced) {
  silent_server srv;
  auto s = fast(srv.address());
  s.timeout = 2s;           // the worker blocks long on the silent server
  s.stuck_after = 100ms;    // the facade gives up on it much earlier
  auto r = make(s);
  auto t = ask(r, all_time());
  BOOST_TEST(!t.answer.found);
  BOOST_TEST(t.took.count() < 1000);
  auto reader = stats("cache.reader");
  auto facade = stats("cache");
  BOOST_REQUIRE(reader);
  BOOST_REQUIRE(facade);
  BOOST_TEST(reader->restarts.load() == 1u); // counted before the answer
  BOOST_TEST(facade->backlog.load() == 0);   // the slot was freed
}

BOOST_AUTO_TEST_SUITE_END()
