// The cache subsystem against a real redis-server child (started on a free
// port in a temp dir by each test), plus a TCP listener that never answers:
// the reader's snapshots, and the writer's Lua scripts with the schema's
// invariants (sequence compare-and-set, checksum, retention floor).
#define BOOST_TEST_MODULE cache
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
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>
#include <hiredis/hiredis.h>

#include "actors/cache/cache_reader.hpp"
#include "actors/cache/cache_writer.hpp"
#include "actors/cache/range_plan.hpp"
#include "actors/cache/schema.hpp"
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
    char tmpl[] = "/tmp/cache-test-XXXXXX";
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
    std::vector<std::string> args{
      "redis-server", "--port",    std::to_string(port_), "--bind", "127.0.0.1",
      "--save",       "",          "--appendonly",        "no",     "--dir",
      dir_,           "--logfile", dir_ + "/redis.log"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    BOOST_REQUIRE_MESSAGE(
      ::posix_spawnp(&pid_, "redis-server", nullptr, nullptr, argv.data(), environ) == 0,
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

  /// HGET as a string ("" when missing).
  std::string hget(const std::string& key, const std::string& field) {
    auto* c = connect();
    BOOST_REQUIRE(c != nullptr);
    auto* r = static_cast<redisReply*>(redisCommand(c, "HGET %s %s", key.c_str(), field.c_str()));
    std::string out = r && r->type == REDIS_REPLY_STRING ? std::string(r->str, r->len) : "";
    if (r)
      freeReplyObject(r);
    redisFree(c);
    return out;
  }

  bool exists(const std::string& key) {
    auto* c = connect();
    BOOST_REQUIRE(c != nullptr);
    auto* r = static_cast<redisReply*>(redisCommand(c, "EXISTS %s", key.c_str()));
    bool out = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    if (r)
      freeReplyObject(r);
    redisFree(c);
    return out;
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
  cache::snapshot snap;
  std::chrono::milliseconds took;
};

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

  cache::reader_actor make(cache::settings s) {
    auto r = cache::spawn_cache_reader(sys, std::move(s), reg);
    spawned.push_back(caf::actor_cast<caf::actor>(r));
    return r;
  }

  // Waits until the reader's worker runs (its startup, which spawns the
  // worker's thread, is not part of the latency under test).
  cache::reader_actor make_started(cache::settings s) {
    auto r = make(std::move(s));
    ask(r);
    return r;
  }

  timed_answer ask(const cache::reader_actor& r, std::vector<time_range> ranges = {}) {
    return ask_from(self, r, std::move(ranges));
  }

  // Ranges asked summed (and per minute): the count reader's read.
  cache::snapshot ask_sums(const cache::reader_actor& r, std::vector<time_range> summed,
                           std::vector<time_range> per_minute = {}) {
    cache::snapshot out;
    self->request(r, 3s, snapshot_atom::value, per_minute, summed)
      .receive([&](cache::snapshot& s) { out = std::move(s); },
               [&](caf::error& err) {
                 BOOST_ERROR("cache reader replied with an error: " << to_string(err));
               });
    return out;
  }

  static timed_answer ask_from(caf::scoped_actor& from, const cache::reader_actor& r,
                               std::vector<time_range> ranges) {
    timed_answer out{{}, {}};
    auto start = clock_type::now();
    from->request(r, 3s, snapshot_atom::value, ranges)
      .receive([&](cache::snapshot& s) { out.snap = std::move(s); },
               [&](caf::error& err) {
                 BOOST_ERROR("cache reader replied with an error: " << to_string(err));
               });
    out.took = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - start);
    return out;
  }

  std::shared_ptr<telemetry::actor_stats> stats(const std::string& name) {
    for (auto& a : reg.actors())
      if (a->name == name)
        return a;
    return nullptr;
  }

  // Three partitions at seqs 1, 2, 3 with counts summing to `total`.
  static void consistent_state(redis_server& srv, int64_t total = 6) {
    srv.cmd({"HSET",         "ping:offsets",
             "offset:0",     "10",
             "offset:1",     "20",
             "offset:2",     "30",
             "seq:0",        "1",
             "seq:1",        "2",
             "seq:2",        "3",
             "count:0",      "1",
             "count:1",      "2",
             "count:2",      std::to_string(total - 3),
             "floor_minute", std::to_string(now_minute() - 7 * 24 * 60)});
    srv.cmd({"HSET", "ping:counters", "total", std::to_string(total)});
  }

  // -- the writer ------------------------------------------------------------

  cache::writer_actor writer(const std::string& address, caf::timespan retention = 24h,
                             caf::timespan future = 7 * 24h) {
    cache::writer_settings s;
    s.address = address;
    s.timeout = 1s;
    s.retention = retention;
    s.future = future;
    auto w = cache::spawn_cache_writer(sys, s, reg);
    spawned.push_back(caf::actor_cast<caf::actor>(w));
    return w;
  }

  caf::expected<cache::write_result> write(const cache::writer_actor& w, cache::write_request req) {
    caf::expected<cache::write_result> out{caf::make_error(caf::sec::request_timeout)};
    self->request(w, 3s, write_atom::value, req)
      .receive([&](cache::write_result& r) { out = r; }, [&](caf::error& e) { out = e; });
    return out;
  }

  bool verify(const cache::writer_actor& w) {
    bool reset = false;
    self->request(w, 3s, verify_atom::value)
      .receive([&](bool r) { reset = r; }, [](caf::error& e) { BOOST_FAIL(to_string(e)); });
    return reset;
  }
};

using outcome = cache::schema::write_outcome;

int32_t code(outcome o) {
  return static_cast<int32_t>(o);
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(cache_reader, fixture)

BOOST_AUTO_TEST_CASE(cold_cache_is_not_usable) {
  redis_server srv;
  srv.cmd({"HSET", "ping:counters", "total", "5"});
  auto r = make(defaults(srv.address()));
  auto t = ask(r, {minutes(now_minute() - 2, now_minute())});
  BOOST_TEST(!t.snap.usable);
  BOOST_TEST(t.snap.ranges.size() == 1u);
  BOOST_TEST(!t.snap.ranges[0].covered);
  BOOST_TEST(reg.counter_at("cache_misses_total").load() == 1u);
}

BOOST_AUTO_TEST_CASE(a_partition_without_state_makes_it_unusable) {
  redis_server srv;
  consistent_state(srv);
  srv.cmd({"HDEL", "ping:offsets", "seq:1"});
  auto r = make(defaults(srv.address()));
  auto t = ask(r);
  BOOST_TEST(!t.snap.usable);
  BOOST_TEST(t.snap.why.find("partition 1") != std::string::npos, t.snap.why);
}

BOOST_AUTO_TEST_CASE(a_consistent_cache_gives_its_sequences_and_total) {
  redis_server srv;
  consistent_state(srv, 42);
  auto r = make(defaults(srv.address()));
  auto t = ask(r);
  BOOST_REQUIRE(t.snap.usable);
  BOOST_TEST(t.snap.total == 42);
  BOOST_TEST((t.snap.seqs == std::vector<int64_t>{1, 2, 3}));
  BOOST_TEST(reg.counter_at("cache_hits_total").load() == 1u);
}

// The checksum: total == sum of the partitions' counts. A cache that fails
// it (a script that stopped halfway, counters and offsets lost apart) is
// never used.
BOOST_AUTO_TEST_CASE(a_failed_checksum_makes_it_unusable) {
  redis_server srv;
  consistent_state(srv, 42);
  srv.cmd({"HINCRBY", "ping:counters", "total", "1"});
  auto r = make(defaults(srv.address()));
  auto t = ask(r);
  BOOST_TEST(!t.snap.usable);
  BOOST_TEST(t.snap.why.find("checksum") != std::string::npos, t.snap.why);
}

BOOST_AUTO_TEST_CASE(aligned_ranges_get_their_minute_buckets) {
  redis_server srv;
  consistent_state(srv);
  auto m = now_minute();
  auto field = [](int64_t minute) { return "minute:" + std::to_string(minute); };
  srv.cmd({"HSET", "ping:counters", field(m - 4), "100", field(m - 3), "5", field(m - 1), "7",
           field(m), "2", field(m + 1), "9"});
  auto r = make(defaults(srv.address()));
  auto t = ask(r, {minutes(m - 3, m),
                   minutes(m - 4, m + 2),
                   minutes(m - 2, m - 1),
                   {true, (m - 1) * minute_ms + 1, m * minute_ms}, // unaligned
                   {true, m * minute_ms, (m - 1) * minute_ms}});   // inverted
  BOOST_REQUIRE(t.snap.usable);
  BOOST_REQUIRE(t.snap.ranges.size() == 5u);
  BOOST_TEST((t.snap.ranges[0].buckets == std::vector<int64_t>{5, 0, 7}));
  BOOST_TEST((t.snap.ranges[1].buckets == std::vector<int64_t>{100, 5, 0, 7, 2, 9}));
  BOOST_TEST((t.snap.ranges[2].buckets == std::vector<int64_t>{0}));
  BOOST_TEST(t.snap.ranges[0].covered);
  BOOST_TEST(!t.snap.ranges[3].covered);
  BOOST_TEST(!t.snap.ranges[4].covered);
}

// Defect 6 of the exactness issue: the retention was written only with a
// recount and judged by the reader's own clock. Now the floor is the
// cache's, raised by every write, and the reader compares with it alone.
BOOST_AUTO_TEST_CASE(ranges_below_the_cache_floor_are_not_covered) {
  redis_server srv;
  consistent_state(srv);
  auto m = now_minute();
  srv.cmd({"HSET", "ping:offsets", "floor_minute", std::to_string(m - 10)});
  auto s = defaults(srv.address());
  s.max_minutes = 60;
  auto r = make(s);
  auto t = ask(r, {minutes(m - 5, m), minutes(m - 20, m - 19), minutes(m - 11, m),
                   minutes(m - 10, m + 51)});
  BOOST_REQUIRE(t.snap.usable);
  BOOST_TEST(t.snap.ranges[0].covered);
  BOOST_TEST(!t.snap.ranges[1].covered);
  BOOST_TEST(!t.snap.ranges[2].covered);
  BOOST_TEST(!t.snap.ranges[3].covered); // more buckets than one read takes
  // A floor far in the past covers old minutes, whatever this clock says.
  srv.cmd({"HSET", "ping:offsets", "floor_minute", "0"});
  BOOST_TEST(ask(r, {minutes(1000, 1001)}).snap.ranges[0].covered);
  // No floor: no bucket is trusted.
  srv.cmd({"HDEL", "ping:offsets", "floor_minute"});
  BOOST_TEST(!ask(r, {minutes(m - 5, m)}).snap.ranges[0].covered);
}

BOOST_AUTO_TEST_CASE(password_is_sent_when_set) {
  redis_server srv{{"--requirepass", "s3cret"}};
  srv.password = "s3cret";
  consistent_state(srv, 8);
  auto s = defaults(srv.address());
  BOOST_TEST(!ask(make(s)).snap.usable); // NOAUTH
  s.password = "wrong";
  BOOST_TEST(!ask(make(s)).snap.usable);
  s.password = "s3cret";
  auto t = ask(make(s));
  BOOST_TEST(t.snap.usable);
  BOOST_TEST(t.snap.total == 8);
}

BOOST_AUTO_TEST_CASE(redis_outage_is_answered_fast_and_recovers) {
  redis_server srv;
  consistent_state(srv, 42);
  auto r = make_started(fast(srv.address()));
  BOOST_REQUIRE(eventually([&] { return ask(r).snap.usable; }));
  srv.stop();
  for (int i = 0; i < 20; ++i) {
    auto t = ask(r);
    BOOST_TEST(!t.snap.usable);
    BOOST_TEST(t.took < fast_bound, "read " << i << " took " << t.took.count() << " ms");
  }
  auto reader = stats("cache.reader");
  BOOST_REQUIRE(reader);
  BOOST_TEST(!reader->up.load());
  srv.start(); // same port, empty data set: cold until the processor rebuilds
  BOOST_TEST(eventually([&] {
    auto usable = ask(r).snap.usable;
    return reader->up.load() && !usable; // reachable again, and cold
  }));
  consistent_state(srv, 43);
  BOOST_TEST(eventually([&] { return ask(r).snap.total == 43; }));
  BOOST_TEST(reader->restarts.load() == 0u); // the same worker reconnected
}

BOOST_AUTO_TEST_CASE(silent_server_is_answered_fast) {
  silent_server srv;
  auto r = make_started(fast(srv.address()));
  for (int i = 0; i < 5; ++i) {
    auto t = ask(r);
    BOOST_TEST(!t.snap.usable);
    BOOST_TEST(t.took < fast_bound, "read " << i << " took " << t.took.count() << " ms");
  }
}

BOOST_AUTO_TEST_CASE(reads_never_queue_behind_a_busy_worker) {
  silent_server srv;
  auto s = fast(srv.address());
  s.timeout = 400ms; // the worker blocks this long on the silent server
  auto r = make(s);
  BOOST_REQUIRE(eventually([&] { return stats("cache.reader") != nullptr; }));
  auto handled_before = stats("cache.reader")->handled.load();
  timed_answer first{{}, {}};
  std::jthread t{[&] {
    caf::scoped_actor other{sys};
    first = ask_from(other, r, {});
  }};
  auto facade = stats("cache");
  BOOST_REQUIRE(facade);
  BOOST_REQUIRE(eventually([&] { return facade->backlog.load() == 1; }, 1s));
  for (int i = 0; i < 5; ++i) {
    auto other = ask(r);
    BOOST_TEST(!other.snap.usable);
    BOOST_TEST(other.took < fast_bound, "read " << i << " took " << other.took.count() << " ms");
  }
  t.join();
  BOOST_TEST(!first.snap.usable);
  BOOST_TEST(first.took.count() >= 400); // answered at timeout (+ slack)
  BOOST_TEST(first.took.count() < 2000);
  // The others never reached the worker.
  BOOST_TEST(stats("cache.reader")->handled.load() - handled_before == 1u);
}

BOOST_AUTO_TEST_CASE(silent_worker_is_replaced) {
  silent_server srv;
  auto s = fast(srv.address());
  s.timeout = 2s;        // the worker blocks long on the silent server
  s.stuck_after = 100ms; // the facade gives up on it much earlier
  auto r = make(s);
  auto t = ask(r);
  BOOST_TEST(!t.snap.usable);
  BOOST_TEST(t.took.count() < 1000);
  auto reader = stats("cache.reader");
  auto facade = stats("cache");
  BOOST_REQUIRE(reader);
  BOOST_REQUIRE(facade);
  BOOST_TEST(reader->restarts.load() == 1u); // counted before the answer
  BOOST_TEST(facade->backlog.load() == 0);   // the slot was freed
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(cache_writer, fixture)

BOOST_AUTO_TEST_CASE(writes_apply_only_on_top_of_their_sequence) {
  redis_server srv;
  auto w = writer(srv.address());
  auto m = now_minute();
  // A partition with no state is adopted by a write from 0.
  auto r = write(w, {0, 0, 5, 50, 5, {{m, 3}, {m - 1, 2}}});
  BOOST_REQUIRE(r);
  BOOST_TEST(r->outcome == code(outcome::applied));
  BOOST_TEST(r->stored_seq == 5);
  r = write(w, {0, 5, 8, 80, 3, {{m, 3}}});
  BOOST_TEST(r->outcome == code(outcome::applied));
  // The same write again (a retry after a lost reply): a duplicate.
  r = write(w, {0, 5, 8, 80, 3, {{m, 3}}});
  BOOST_TEST(r->outcome == code(outcome::duplicate));
  // A write from elsewhere: a conflict that says where the cache stands.
  r = write(w, {0, 4, 9, 90, 5, {{m, 5}}});
  BOOST_TEST(r->outcome == code(outcome::conflict));
  BOOST_TEST(r->stored_seq == 8);
  // A write from a nonzero sequence onto no state: lost.
  r = write(w, {1, 3, 4, 4, 1, {{m, 1}}});
  BOOST_TEST(r->outcome == code(outcome::lost));
  BOOST_TEST(srv.hget("ping:counters", "total") == "8");
  BOOST_TEST(srv.hget("ping:counters", "minute:" + std::to_string(m)) == "6");
  BOOST_TEST(srv.hget("ping:counters", "minute:" + std::to_string(m - 1)) == "2");
  BOOST_TEST(srv.hget("ping:offsets", "seq:0") == "8");
  BOOST_TEST(srv.hget("ping:offsets", "count:0") == "8");
  BOOST_TEST(srv.hget("ping:offsets", "offset:0") == "80");
  BOOST_TEST(!verify(w)); // consistent: nothing reset
}

// Counters whose partition states are gone (deleted apart, evicted) cannot
// be trusted: the first partition adopted clears them.
BOOST_AUTO_TEST_CASE(adopting_into_an_inconsistent_cache_clears_it_first) {
  redis_server srv;
  srv.cmd({"HSET", "ping:counters", "total", "100", "minute:7", "100"});
  auto w = writer(srv.address());
  auto r = write(w, {2, 0, 4, 4, 4, {{now_minute(), 4}}});
  BOOST_REQUIRE(r);
  BOOST_TEST(r->outcome == code(outcome::applied));
  BOOST_TEST(srv.hget("ping:counters", "total") == "4");
  BOOST_TEST(srv.hget("ping:counters", "minute:7") == "");
}

BOOST_AUTO_TEST_CASE(verify_resets_only_an_inconsistent_cache) {
  redis_server srv;
  auto w = writer(srv.address());
  BOOST_REQUIRE(write(w, {0, 0, 3, 3, 3, {{now_minute(), 3}}}));
  BOOST_REQUIRE(write(w, {1, 0, 2, 2, 2, {{now_minute(), 2}}}));
  BOOST_TEST(!verify(w));
  BOOST_TEST(srv.exists("ping:counters"));
  srv.cmd({"HINCRBY", "ping:counters", "total", "1"});
  BOOST_TEST(verify(w));
  BOOST_TEST(!srv.exists("ping:counters"));
  BOOST_TEST(!srv.exists("ping:offsets"));
}

// Issue 19, item 5: the loader counted a partition as having state only with
// both `offset:p` and `seq:p`, the write script with `seq:p`. With the
// offset missing, the window recounted the partition from 0, the script
// refused that against `seq:p` (conflict), and the window reloaded 0 again,
// forever. One definition now (schema::has_state): `seq:p`; the resync from
// where the loader says the partition stands applies.
BOOST_AUTO_TEST_CASE(a_sequence_without_an_offset_is_state_for_the_loader) {
  redis_server srv;
  auto w = writer(srv.address());
  auto m = now_minute();
  BOOST_REQUIRE(write(w, {0, 0, 5, 50, 5, {{m, 5}}}));
  srv.cmd({"HDEL", "ping:offsets", "offset:0"});
  std::vector<cache::partition_state> states;
  self->request(w, 3s, load_atom::value, std::vector<int32_t>{0, 1})
    .receive([&](std::vector<cache::partition_state>& xs) { states = xs; },
             [](caf::error& e) { BOOST_FAIL(to_string(e)); });
  BOOST_REQUIRE(states.size() == 2u);
  BOOST_TEST(states[0].stored);
  BOOST_TEST(states[0].seq == 5);
  BOOST_TEST(states[0].next_offset == cache::schema::unknown_offset);
  BOOST_TEST(!states[1].stored);
  // The resync on top of what the loader said applies (it used to be a
  // write from 0: a conflict, every round).
  auto from = states[0].stored ? states[0].seq : 0;
  auto r = write(w, {0, from, 7, 70, 7 - from, {{m, 7 - from}}});
  BOOST_REQUIRE(r);
  BOOST_TEST(r->outcome == code(outcome::applied));
  BOOST_TEST(srv.hget("ping:offsets", "offset:0") == "70");
  BOOST_TEST(srv.hget("ping:counters", "total") == "7");
  BOOST_TEST(!verify(w));
}

// Defect 8: a script that fails halfway leaves `total` incremented without
// its partition's state, so its retry counted twice, unnoticed. The failure
// is real here: a bucket that is not an integer makes HINCRBY fail after
// `total` was incremented. The checksum shows it, and the verification
// resets the cache (every processor then recounts its partitions).
BOOST_AUTO_TEST_CASE(a_script_failing_halfway_is_caught_by_the_checksum) {
  redis_server srv;
  auto w = writer(srv.address());
  auto m = now_minute();
  BOOST_REQUIRE(write(w, {0, 0, 3, 3, 3, {{m, 3}}}));
  srv.cmd({"HSET", "ping:counters", "minute:" + std::to_string(m + 1), "not-a-number"});
  auto r = write(w, {0, 3, 5, 5, 2, {{m, 1}, {m + 1, 1}}});
  BOOST_TEST(!r);                                        // the script failed...
  BOOST_TEST(srv.hget("ping:counters", "total") == "5"); // ...after counting
  BOOST_TEST(srv.hget("ping:offsets", "seq:0") == "3");
  // The retry would count twice; the checksum says so first.
  BOOST_TEST(verify(w));
  BOOST_TEST(!srv.exists("ping:counters"));
}

// Minute buckets below the retention floor are never written, and raising
// the floor deletes the ones below it; `total` counts every ping.
BOOST_AUTO_TEST_CASE(the_retention_floor_is_kept_by_every_write) {
  redis_server srv;
  auto w = writer(srv.address(), 10min);
  auto m = now_minute();
  BOOST_REQUIRE(write(w, {0, 0, 3, 3, 3, {{m - 20, 1}, {m - 5, 1}, {m, 1}}}));
  BOOST_TEST(srv.hget("ping:counters", "total") == "3");
  BOOST_TEST(srv.hget("ping:counters", "minute:" + std::to_string(m - 20)) == "");
  BOOST_TEST(srv.hget("ping:counters", "minute:" + std::to_string(m - 5)) == "1");
  auto floor = std::stoll(srv.hget("ping:offsets", "floor_minute"));
  BOOST_TEST(floor >= m - 10);
  BOOST_TEST(floor <= m - 9);
  // An older floor with a stale bucket below the retention: the next write
  // raises the floor and deletes it.
  srv.cmd({"HSET", "ping:offsets", "floor_minute", std::to_string(m - 30)});
  srv.cmd({"HSET", "ping:counters", "minute:" + std::to_string(m - 25), "1"});
  BOOST_REQUIRE(write(w, {0, 3, 3, 3, 0, {}}));
  BOOST_TEST(srv.hget("ping:counters", "minute:" + std::to_string(m - 25)) == "");
  BOOST_TEST(std::stoll(srv.hget("ping:offsets", "floor_minute")) >= m - 10);
}

// Issue 11's item 8: pings dated far in the future created buckets that
// were never pruned. No bucket is kept beyond the ceiling (now + `future`);
// such pings count in `total` and wait in ping:future, one field per
// minute, until the ceiling reaches them.
BOOST_AUTO_TEST_CASE(no_buckets_are_kept_far_in_the_future) {
  redis_server srv;
  auto w = writer(srv.address());
  auto m = now_minute();
  auto far = m + 400 * 24 * 60; // a year and more ahead
  BOOST_REQUIRE(write(w, {0, 0, 4, 4, 4, {{m, 1}, {m + 60, 1}, {far, 1}, {far + 5, 1}}}));
  BOOST_TEST(srv.hget("ping:counters", "total") == "4");
  BOOST_TEST(srv.hget("ping:counters", "minute:" + std::to_string(m + 60)) == "1");
  BOOST_TEST(srv.hget("ping:counters", "minute:" + std::to_string(far)) == "");
  BOOST_TEST(srv.hget("ping:counters", "minute:" + std::to_string(far + 5)) == "");
  BOOST_TEST(srv.hget("ping:future", std::to_string(far)) == "1");
  BOOST_TEST(srv.hget("ping:offsets", "future_minute") == std::to_string(far));
  BOOST_TEST(srv.hget("ping:offsets", "gap_minute") == "");
  // The reader covers ranges up to the ceiling, and no bucket beyond it.
  for (auto p : {1, 2})
    BOOST_REQUIRE(write(w, {p, 0, 0, 0, 0, {}}));
  auto ceiling = std::stoll(srv.hget("ping:offsets", "ceiling_minute"));
  BOOST_TEST(ceiling >= m + 7 * 24 * 60 - 1);
  BOOST_TEST(ceiling < far);
  auto r = make(defaults(srv.address()));
  auto t = ask(r, {minutes(m, m + 61), minutes(far - 1, far + 1)});
  BOOST_REQUIRE(t.snap.usable);
  BOOST_TEST(t.snap.ranges[0].covered);
  BOOST_TEST(!t.snap.ranges[1].covered);
  auto s = ask_sums(r, {minutes(m, far + 10)});
  BOOST_REQUIRE(s.usable);
  BOOST_TEST(s.sums[0].first_minute == m);
  BOOST_TEST(s.sums[0].end_minute == ceiling + 1); // the rest is PostgreSQL's
  BOOST_TEST(s.sums[0].count == 2);
}

// Issue 17, item 7: one ping dated far in the future left `gap_minute`
// behind, and every range reaching it went to PostgreSQL until someone
// rebuilt the cache. Now it waits in ping:future and moves into its buckets
// when the ceiling reaches it (here: a second writer whose clock is further
// ahead stands for time passing).
BOOST_AUTO_TEST_CASE(a_far_future_ping_reaches_its_bucket_when_the_ceiling_does) {
  redis_server srv;
  auto early = writer(srv.address(), 24h, 2min);
  auto later = writer(srv.address(), 24h, 30min);
  auto m = now_minute();
  BOOST_REQUIRE(write(early, {0, 0, 2, 2, 2, {{m, 1}, {m + 10, 1}}}));
  for (auto p : {1, 2})
    BOOST_REQUIRE(write(early, {p, 0, 0, 0, 0, {}}));
  BOOST_TEST(srv.hget("ping:counters", "minute:" + std::to_string(m + 10)) == "");
  // Time passes: the next write (a heartbeat) raises the ceiling past it.
  BOOST_REQUIRE(write(later, {1, 0, 0, 0, 0, {}}));
  BOOST_TEST(srv.hget("ping:counters", "minute:" + std::to_string(m + 10)) == "1");
  BOOST_TEST(srv.hget("ping:offsets", "gap_minute") == "");
  BOOST_TEST(srv.hget("ping:offsets", "future_minute") == "");
  BOOST_TEST(!srv.exists("ping:future"));
  auto r = make(defaults(srv.address()));
  auto t = ask(r, {minutes(m, m + 11)});
  BOOST_REQUIRE(t.snap.usable);
  BOOST_REQUIRE(t.snap.ranges[0].covered);
  BOOST_TEST(t.snap.ranges[0].buckets.back() == 1);
  auto s = ask_sums(r, {minutes(m, m + 20)});
  BOOST_TEST(s.sums[0].end_minute == m + 20);
  BOOST_TEST(s.sums[0].count == 2);
  auto w = writer(srv.address());
  BOOST_TEST(!verify(w)); // the checksum holds
}

// Far-future pings held without their counters (ping:offsets deleted apart,
// say by an older processor's reset) are dropped, never moved into buckets
// of a fresh cache that recounted them.
BOOST_AUTO_TEST_CASE(far_pings_without_their_counters_are_dropped) {
  redis_server srv;
  auto w = writer(srv.address(), 24h, 2min);
  auto m = now_minute();
  srv.cmd({"HSET", "ping:future", std::to_string(m + 10), "5"}); // stale
  BOOST_REQUIRE(write(w, {0, 0, 1, 1, 1, {{m + 20, 1}}}));
  BOOST_TEST(srv.hget("ping:future", std::to_string(m + 10)) == "");
  BOOST_TEST(srv.hget("ping:future", std::to_string(m + 20)) == "1");
  auto later = writer(srv.address(), 24h, 30min);
  BOOST_REQUIRE(write(later, {0, 1, 1, 1, 0, {}}));
  BOOST_TEST(srv.hget("ping:counters", "minute:" + std::to_string(m + 10)) == "");
  BOOST_TEST(srv.hget("ping:counters", "minute:" + std::to_string(m + 20)) == "1");
}

// Hour and day buckets are written by the same script as the minutes, only
// for hours and days that start at or above the floor, and deleted with it.
BOOST_AUTO_TEST_CASE(coarse_buckets_are_kept_beside_the_minutes) {
  redis_server srv;
  auto w = writer(srv.address(), 72h);
  auto m = now_minute();
  std::vector<std::pair<int64_t, int64_t>> deltas{
    {m, 1}, {m - 1, 2}, {m - 61, 3}, {m - 2 * 1440, 4}, {m - 3 * 1440 + 30, 5}, {m - 4 * 1440, 6}};
  BOOST_REQUIRE(write(w, {0, 0, 21, 21, 21, deltas}));
  auto floor = std::stoll(srv.hget("ping:offsets", "floor_minute"));
  std::map<std::string, int64_t> want;
  for (auto [minute, n] : deltas) {
    if (minute < floor)
      continue;
    want["minute:" + std::to_string(minute)] += n;
    auto h = cache::floor_div(minute, 60), d = cache::floor_div(minute, 1440);
    if (h * 60 >= floor)
      want["hour:" + std::to_string(h)] += n;
    if (d * 1440 >= floor)
      want["day:" + std::to_string(d)] += n;
  }
  for (auto& [field, n] : want)
    BOOST_TEST(srv.hget("ping:counters", field) == std::to_string(n), field);
  // The hour and day that straddle the floor are not kept.
  auto straddling = cache::floor_div(floor, 1440);
  if (straddling * 1440 < floor)
    BOOST_TEST(srv.hget("ping:counters", "day:" + std::to_string(straddling)) == "");
  BOOST_TEST(srv.hget("ping:offsets", "layout") == "2");
  // A shorter retention raises the floor; everything starting below it goes.
  auto w1 = writer(srv.address(), 24h);
  BOOST_REQUIRE(write(w1, {0, 21, 21, 21, 0, {}}));
  auto raised = std::stoll(srv.hget("ping:offsets", "floor_minute"));
  BOOST_TEST(raised >= m - 1440);
  for (auto& [field, n] : want) {
    auto colon = field.find(':');
    auto index = std::stoll(field.substr(colon + 1));
    auto size = field[0] == 'd' ? 1440 : field[0] == 'h' ? 60 : 1;
    if (index * size < raised)
      BOOST_TEST(srv.hget("ping:counters", field) == "", field);
    else
      BOOST_TEST(srv.hget("ping:counters", field) == std::to_string(n), field);
  }
}

// A cache written by the older layout (minute buckets only) is cleared by
// the first write, so every partition is recounted with coarse buckets.
BOOST_AUTO_TEST_CASE(a_cache_of_the_older_layout_is_recounted) {
  redis_server srv;
  consistent_state(srv);
  auto w = writer(srv.address());
  auto r = write(w, {0, 1, 2, 11, 1, {{now_minute(), 1}}});
  BOOST_REQUIRE(r);
  BOOST_TEST(r->outcome == code(outcome::lost));
  BOOST_TEST(!srv.exists("ping:counters"));
  BOOST_TEST(!srv.exists("ping:offsets"));
}

// Items 2 and 6: a summed range reads the fewest day, hour and minute
// buckets of its span within [floor, ceiling]; the sums are exact against
// a model of what was written, for ranges from a minute to 400 days,
// aligned or not, inside and before the retention.
BOOST_AUTO_TEST_CASE(summed_ranges_are_exact_from_coarse_buckets) {
  redis_server srv;
  auto w = writer(srv.address(), 20 * 24h, 24h);
  auto m = now_minute();
  std::mt19937_64 rng{6};
  std::map<int64_t, int64_t> model; // minute -> pings written
  int64_t seq = 0;
  for (int batch = 0; batch < 20; ++batch) {
    std::map<int64_t, int64_t> deltas;
    for (int i = 0; i < 200; ++i) {
      auto minute = m - 21 * 1440 + static_cast<int64_t>(rng() % (23 * 1440));
      deltas[minute] += 1;
    }
    cache::write_request req{0, seq, seq + 200, seq + 200, 200, {}};
    req.minutes.assign(deltas.begin(), deltas.end());
    BOOST_REQUIRE(write(w, req));
    seq += 200;
    for (auto& [minute, n] : deltas)
      model[minute] += n;
  }
  for (auto p : {1, 2})
    BOOST_REQUIRE(write(w, {p, 0, 0, 0, 0, {}}));
  auto floor = std::stoll(srv.hget("ping:offsets", "floor_minute"));
  auto ceiling = std::stoll(srv.hget("ping:offsets", "ceiling_minute"));
  cache::bucket_bounds bounds{floor, ceiling + 1, true};
  auto s = defaults(srv.address());
  auto r = make(s);
  std::vector<time_range> ranges{
    minutes(m - 7 * 1440, m),                                    // a week, aligned
    {true, (m - 7 * 1440) * minute_ms + 123, m * minute_ms - 7}, // a week, unaligned
    minutes(m - 400 * 1440, m + 1),  // 400 days, mostly before the floor
    minutes(m - 5, m - 4),           // one minute
    minutes(m + 1440, m + 3 * 1440), // past the ceiling
  };
  for (int i = 0; i < 60; ++i) {
    auto start = (m - 25 * 1440) * minute_ms
                 + static_cast<int64_t>(rng() % (27ull * 1440 * minute_ms));
    auto len = 1 + static_cast<int64_t>(rng() % (10ull * 1440 * minute_ms));
    ranges.push_back({true, start, start + len});
  }
  auto snap = ask_sums(r, ranges);
  BOOST_REQUIRE(snap.usable);
  BOOST_REQUIRE(snap.sums.size() == ranges.size());
  for (size_t i = 0; i < ranges.size(); ++i) {
    auto want = cache::cached_span(ranges[i], bounds, s.max_span_minutes);
    auto& got = snap.sums[i];
    BOOST_TEST(got.first_minute == (want.empty() ? 0 : want.lo), i);
    BOOST_TEST(got.end_minute == (want.empty() ? 0 : want.hi), i);
    int64_t n = 0;
    for (auto it = model.lower_bound(want.lo);
         !want.empty() && it != model.end() && it->first < want.hi; ++it)
      n += it->second;
    BOOST_TEST(got.count == n, i);
    // The fullest partial edge minute, as written; -1 when one lies
    // outside [floor, ceiling].
    int64_t edge = 0;
    for (auto e : cache::edge_minutes(ranges[i]))
      edge = edge < 0 || e < floor || e > ceiling ? -1 : std::max(edge, model[e]);
    BOOST_TEST(got.edge_pings == edge, i);
  }
  // Before the floor: PostgreSQL's, up to the first day boundary above it
  // (the range ends past it).
  BOOST_TEST(snap.sums[2].first_minute == (floor + 1439) / 1440 * 1440);
}

BOOST_AUTO_TEST_SUITE_END()

// Issue 19, item 3: the cache keeps the identity of the ping at each
// partition's sequence (`ident:p`), written by the same script; the loader
// gives it only while it belongs to `seq:p` (a writer that knows no
// identities, such as an older processor, moves the sequence alone).
BOOST_FIXTURE_TEST_CASE(the_identity_at_the_sequence_is_kept_with_it, fixture) {
  redis_server srv;
  auto w = writer(srv.address());
  auto m = now_minute();
  auto load = [&] {
    cache::partition_state out;
    self->request(w, 3s, load_atom::value, std::vector<int32_t>{0})
      .receive([&](std::vector<cache::partition_state>& xs) { out = xs.at(0); },
               [](caf::error& e) { BOOST_FAIL(to_string(e)); });
    return out;
  };
  auto ident = cache::schema::ident_of("0190f5c2-7b3a-7cc1-9a2e-3f1d2c4b5a69");
  BOOST_REQUIRE(write(w, {0, 0, 5, 5, 5, {{m, 5}}, ident}));
  BOOST_TEST(load().ident == ident);
  BOOST_REQUIRE(write(w, {0, 5, 5, 5, 0, {}, 0})); // a heartbeat keeps it
  BOOST_TEST(load().ident == ident);
  BOOST_REQUIRE(write(w, {0, 5, 7, 7, 2, {{m, 2}}, 0})); // unknown at 7
  BOOST_TEST(load().ident == 0);
  BOOST_REQUIRE(write(w, {0, 7, 8, 8, 1, {{m, 1}}, ident + 2}));
  BOOST_TEST(load().ident == ident + 2);
  // The gateway's reader takes the identity fields in its stride.
  auto s = defaults(srv.address());
  s.partitions = 1;
  auto t = ask(make(s));
  BOOST_TEST(t.snap.usable, t.snap.why);
  BOOST_TEST(t.snap.total == 8);
  // An older writer's script: the sequence moves, the identity stays behind.
  srv.cmd({"HSET", "ping:offsets", "seq:0", "9"});
  BOOST_TEST(load().ident == 0);
  BOOST_TEST(load().seq == 9);
}
