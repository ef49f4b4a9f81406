#include "tests/support/harness.hpp"

#include "apps/common/files.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <random>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <devbroker/control.hpp>
#include <google/protobuf/util/json_util.h>
#include <librdkafka/rdkafkacpp.h>
#include <pqxx/pqxx>

extern char** environ;

namespace ping::test {

namespace fs = std::filesystem;

std::string env(const std::string& name) {
  auto* v = std::getenv(name.c_str());
  if (!v || !*v)
    throw std::runtime_error(name + " is not set: run the tests through scripts/test.sh");
  return v;
}

temp_dir::temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "ping-it.XXXXXX").string();
  if (!mkdtemp(tmpl.data()))
    throw std::runtime_error("mkdtemp failed");
  path = tmpl;
  fs::permissions(path, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec
                          | fs::perms::others_read | fs::perms::others_exec);
}

temp_dir::~temp_dir() {
  if (std::getenv("PING_KEEP_TEST_DIRS"))
    return; // for debugging: logs stay in place
  std::error_code ec;
  fs::remove_all(path, ec);
}

bool wait_until(const std::function<bool()>& pred, clock::duration timeout) {
  auto deadline = clock::now() + timeout;
  for (;;) {
    if (pred())
      return true;
    if (clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(20ms);
  }
}

process::process(std::vector<std::string> argv, std::string log_path)
  : log_path_(std::move(log_path)) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(a.data());
  args.push_back(nullptr);
  // Children start with default signal handling and an empty mask.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  auto rc = posix_spawn(&pid_, args[0], &fa, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0)
    throw std::runtime_error("cannot start " + argv[0]);
}

process::~process() {
  if (alive()) {
    ::kill(pid_, SIGKILL);
    wait(5s);
  }
}

bool process::alive() {
  if (status_)
    return false;
  int st = 0;
  auto r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return false;
  }
  return true;
}

void process::signal(int sig) {
  if (alive())
    ::kill(pid_, sig);
}

std::optional<int> process::wait(clock::duration timeout) {
  wait_until([this] { return !alive(); }, timeout);
  return status_;
}

std::string process::log() const {
  std::ifstream in{log_path_};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int shell(const std::string& cmd) {
  auto rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string shell_output(const std::string& cmd, clock::duration timeout) {
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout).count();
  auto full = "timeout " + std::to_string(std::max<int64_t>(1, secs)) + " " + cmd;
  std::string out;
  if (auto* p = popen(full.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0)
      out.append(buf, n);
    pclose(p);
  }
  return out;
}

namespace {

std::string unique_suffix() {
  static std::mt19937_64 rng{std::random_device{}()};
  return std::to_string(getpid()) + "_" + std::to_string(rng() % 1000000000);
}

std::string admin_dsn() {
  return "host=127.0.0.1 port=" + env("PING_TEST_PG_PORT") + " dbname=postgres user=postgres";
}

uint16_t free_port() {
  auto out = shell_output("python3 -c 'import socket; s=socket.socket(); "
                          "s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])'");
  return static_cast<uint16_t>(std::stoi(out));
}

// The files the binaries write (ports, the broker's info) are read with the
// binaries' own parser.
using apps::read_key;

} // namespace

std::string fresh_database(const std::string& prefix) {
  auto name = prefix + "_" + unique_suffix();
  pqxx::connection c{admin_dsn()};
  pqxx::nontransaction txn{c};
  txn.exec("CREATE DATABASE " + txn.quote_name(name) + " OWNER ping");
  return "host=127.0.0.1 port=" + env("PING_TEST_PG_PORT") + " dbname=" + name + " user=ping";
}

int64_t query_int(const std::string& dsn, const std::string& sql) {
  pqxx::connection c{dsn};
  pqxx::nontransaction txn{c};
  return txn.exec(sql)[0][0].as<int64_t>();
}

pg_cluster::pg_cluster() : port_(free_port()) {
  start();
}

pg_cluster::~pg_cluster() {
  stop();
}

void pg_cluster::start() {
  auto cmd = "bash -c 'source " + env("PING_TEST_ROOT") + "/scripts/lib.sh && pg_start " + dir_.path
             + "/pg " + std::to_string(port_) + "' >/dev/null";
  if (shell(cmd) != 0)
    throw std::runtime_error("cannot start PostgreSQL cluster");
}

void pg_cluster::stop() {
  shell("bash -c 'source " + env("PING_TEST_ROOT") + "/scripts/lib.sh && pg_stop " + dir_.path
        + "/pg' >/dev/null");
}

std::string pg_cluster::dsn() const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=ping user=ping";
}

devbroker::devbroker(const std::string& dir)
  : info_(dir + "/devbroker.info"), socket_(dir + "/devbroker.sock") {
  proc_ = std::make_unique<process>(
    std::vector<std::string>{env("PING_TEST_BUILD_DIR") + "/apps/ping-devbroker", "--info-file",
                             info_, "--control-socket", socket_},
    dir + "/devbroker.log");
  if (!wait_until([&] { return !read_key(info_, "bootstrap").empty(); }, 20s))
    throw std::runtime_error("ping-devbroker did not start: " + proc_->log());
  bootstrap_ = read_key(info_, "bootstrap");
}

std::string devbroker::control(const std::string& cmd) {
  return ::devbroker::control(socket_, cmd, std::chrono::milliseconds(5000));
}

gateway::gateway(const std::string& dir, const std::string& dsn, const std::string& bootstrap,
                 std::vector<std::string> extra) {
  auto ports = dir + "/gateway.ports";
  std::remove(ports.c_str());
  std::vector<std::string> argv{env("PING_TEST_BUILD_DIR") + "/apps/ping-gateway",
                                "--connect.port=0",
                                "--grpc.port=0",
                                "--postgres.dsn=" + dsn,
                                "--kafka.bootstrap=" + bootstrap,
                                "--ports-file=" + ports,
                                "--admin.port=0"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  proc_ = std::make_unique<process>(argv, dir + "/gateway.log");
  if (!wait_until([&] { return !read_key(ports, "grpc").empty() || !proc_->alive(); }, 60s)
      || !proc_->alive())
    throw std::runtime_error("ping-gateway did not start: " + proc_->log());
  connect_ = static_cast<uint16_t>(std::stoi(read_key(ports, "connect")));
  admin_ = static_cast<uint16_t>(std::stoi(read_key(ports, "admin")));
  grpc_ = static_cast<uint16_t>(std::stoi(read_key(ports, "grpc")));
}

std::unique_ptr<ping::v1::PingService::Stub> gateway::stub() const {
  auto ch = grpc::CreateChannel("127.0.0.1:" + std::to_string(grpc_),
                                grpc::InsecureChannelCredentials());
  return ping::v1::PingService::NewStub(ch);
}

redis_server::redis_server() : port_(free_port()) {
  start();
}

redis_server::~redis_server() {
  stop();
}

void redis_server::start() {
  proc_ = std::make_unique<process>(
    std::vector<std::string>{"/usr/bin/redis-server", "--bind", "127.0.0.1", "--port",
                             std::to_string(port_), "--save", "", "--appendonly", "no", "--dir",
                             dir_.path},
    dir_.path + "/redis.log");
  if (!wait_until([&] { return cli("PING").find("PONG") != std::string::npos; }, 20s))
    throw std::runtime_error("redis-server did not start: " + proc_->log());
}

void redis_server::stop() {
  if (proc_) {
    proc_->signal(SIGKILL);
    proc_->wait(10s);
    proc_.reset();
  }
}

void redis_server::signal(int sig) {
  if (proc_)
    proc_->signal(sig);
}

std::string redis_server::cli(const std::string& args) const {
  return shell_output("redis-cli -p " + std::to_string(port_) + " " + args + " 2>/dev/null", 10s);
}

std::map<std::string, int64_t> redis_server::hgetall(const std::string& key) const {
  std::map<std::string, int64_t> out;
  std::istringstream in{cli("HGETALL " + key)};
  std::string k, v;
  while (std::getline(in, k) && std::getline(in, v)) {
    try {
      out[k] = std::stoll(v);
    } catch (...) {
      // not a number: not a counter
    }
  }
  return out;
}

processor::processor(const std::string& dir, const std::string& name, const std::string& dsn,
                     const std::string& bootstrap, const std::string& cache_address,
                     std::vector<std::string> extra) {
  auto ports = dir + "/" + name + ".ports";
  std::remove(ports.c_str());
  std::vector<std::string> argv{env("PING_TEST_BUILD_DIR") + "/apps/ping-processor",
                                "--postgres.dsn=" + dsn,
                                "--kafka.bootstrap=" + bootstrap,
                                "--cache.address=" + cache_address,
                                "--kafka.session-timeout-ms=6000",
                                "--ports-file=" + ports,
                                "--admin.port=0"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  proc_ = std::make_unique<process>(argv, dir + "/" + name + ".log");
  if (!wait_until([&] { return !read_key(ports, "admin").empty() || !proc_->alive(); }, 60s)
      || !proc_->alive())
    throw std::runtime_error("ping-processor did not start: " + proc_->log());
  admin_ = static_cast<uint16_t>(std::stoi(read_key(ports, "admin")));
}

admin_reply admin_call(const std::string& host_port, const std::string& method,
                       const std::string& json, const std::string& token) {
  temp_dir tmp;
  auto body = tmp.path + "/body";
  std::ofstream{tmp.path + "/request"} << json;
  std::string cmd = "curl -s -m 10 -o " + body
                    + " -w '%{http_code}' -H 'Content-Type: application/json'";
  if (!token.empty())
    cmd += " -H 'Authorization: Bearer " + token + "'";
  cmd += " --data-binary @" + tmp.path + "/request http://" + host_port
         + "/ping.admin.v1.AdminService/" + method;
  admin_reply r;
  auto code = shell_output(cmd, 15s);
  r.http_status = code.empty() ? 0 : std::atoi(code.c_str());
  std::ifstream in{body};
  std::stringstream ss;
  ss << in.rdbuf();
  r.body = ss.str();
  return r;
}

bool parse_json(const std::string& json, google::protobuf::Message& out) {
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;
  return google::protobuf::util::JsonStringToMessage(json, &out, opts).ok();
}

bool cache_complete(const redis_server& redis, int partitions) {
  auto offsets = redis.hgetall("ping:offsets");
  for (int p = 0; p < partitions; ++p)
    if (!offsets.count("offset:" + std::to_string(p)))
      return false;
  return true;
}

std::map<std::string, int64_t> counts_in_postgres(const std::string& dsn) {
  std::map<std::string, int64_t> out;
  pqxx::connection c{dsn};
  pqxx::nontransaction txn{c};
  int64_t total = 0;
  for (const auto& r : txn.exec("SELECT div(timestamptz_to_ms(pinged_at), 60000), count(*) "
                                "FROM pings GROUP BY 1")) {
    auto minute = r[0].as<int64_t>();
    auto n = r[1].as<int64_t>();
    out["minute:" + std::to_string(minute)] = n;
    // The coarse buckets beside it (pings of these tests are recent: their
    // hours and days start above the cache's floor).
    auto floor_div = [](int64_t a, int64_t b) { return a / b - (a % b != 0 && a < 0); };
    out["hour:" + std::to_string(floor_div(minute, 60))] += n;
    out["day:" + std::to_string(floor_div(minute, 1440))] += n;
    total += n;
  }
  out["total"] = total;
  return out;
}

grpc::Status send_ping(ping::v1::PingService::Stub& stub, int64_t timestamp_ms,
                       clock::duration timeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  ping::v1::PingRequest req;
  req.set_timestamp_ms(timestamp_ms);
  ping::v1::PingResponse resp;
  return stub.Ping(&ctx, req, &resp);
}

int64_t count_pings(ping::v1::PingService::Stub& stub, int64_t start, int64_t end,
                    clock::duration timeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  ping::v1::PingCountRequest req;
  if (start <= end) {
    req.mutable_time_range()->set_start(start);
    req.mutable_time_range()->set_end(end);
  }
  ping::v1::PingCountResponse resp;
  auto st = stub.PingCount(&ctx, req, &resp);
  return st.ok() ? resp.ping_count() : -1;
}

void consume_records(const std::string& bootstrap, const std::string& topic,
                     const std::function<bool(RdKafka::Message&)>& seen, clock::duration timeout) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf{RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL)};
  conf->set("bootstrap.servers", bootstrap, err);
  conf->set("group.id", "ping-test-" + unique_suffix(), err);
  conf->set("enable.auto.commit", "false", err);
  conf->set("fetch.wait.max.ms", "50", err);
  std::unique_ptr<RdKafka::KafkaConsumer> consumer{RdKafka::KafkaConsumer::create(conf.get(), err)};
  if (!consumer)
    throw std::runtime_error("consumer: " + err);
  // Assign all partitions directly: no group join needed.
  std::vector<RdKafka::TopicPartition*> parts;
  for (int p = 0; p < 3; ++p)
    parts.push_back(RdKafka::TopicPartition::create(topic, p, RdKafka::Topic::OFFSET_BEGINNING));
  consumer->assign(parts);
  RdKafka::TopicPartition::destroy(parts);
  auto deadline = clock::now() + timeout;
  bool done = false;
  while (!done && clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> msg{consumer->consume(100)};
    if (msg->err() == RdKafka::ERR_NO_ERROR)
      done = seen(*msg);
  }
  consumer->close();
}

std::vector<ping::v1::PingEvent> consume_events(
  const std::string& bootstrap, const std::string& topic,
  const std::function<bool(const std::vector<ping::v1::PingEvent>&)>& done,
  clock::duration timeout) {
  std::vector<ping::v1::PingEvent> out;
  if (done(out))
    return out;
  consume_records(
    bootstrap, topic,
    [&](RdKafka::Message& msg) {
      ping::v1::PingEvent ev;
      if (ev.ParseFromArray(msg.payload(), static_cast<int>(msg.len())))
        out.push_back(std::move(ev));
      return done(out);
    },
    timeout);
  return out;
}

} // namespace ping::test
