// Trace ids end to end (issue 20) on real services: a ping sent with a
// known W3C traceparent is followed by its trace id from the request to the
// gateway's log (logfmt), PostgreSQL's row, the Kafka event's `traceparent`
// header (read with a consumer of the test's own) and the processor's log
// (JSON). A ping without one gets a new trace, whose id is the ping's id.
// A PingCount is tied the same way to the shared read that answered it.
#define BOOST_TEST_MODULE trace
#include <boost/test/unit_test.hpp>

#include <librdkafka/rdkafkacpp.h>

#include <map>
#include <string>

#include "actors/common/trace.hpp"
#include "tests/support/harness.hpp"

using namespace ping;
using namespace ping::test;

namespace {

constexpr const char* trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr const char* client_parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

struct fixture {
  temp_dir dir;
  std::string dsn = fresh_database("trace");
  test::devbroker broker{dir.path};
  redis_server redis;
  gateway gw{
    dir.path, dsn, broker.bootstrap(), {"--cache.address=" + redis.address(), "--log-level=debug"}};
};

// Value of header `name` (lower-case) in curl's `-D -` output, or "".
std::string header_of(const std::string& head, const std::string& name) {
  size_t at = 0;
  while (at < head.size()) {
    auto end = head.find('\n', at);
    if (end == std::string::npos)
      end = head.size();
    auto line = head.substr(at, end - at);
    at = end + 1;
    auto colon = line.find(':');
    if (colon == std::string::npos)
      continue;
    auto key = line.substr(0, colon);
    for (auto& c : key)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (key != name)
      continue;
    auto value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' '))
      value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == ' '))
      value.pop_back();
    return value;
  }
  return "";
}

// One Connect Ping with curl; returns the response's head and body.
std::string connect_ping(uint16_t port, const std::string& extra_header) {
  return shell_output("curl -sS -m 10 -D - -o - -X POST http://127.0.0.1:" + std::to_string(port)
                      + "/ping.v1.PingService/Ping -H 'Content-Type: application/json' "
                      + extra_header + " -d '{}'");
}

// The `traceparent` header of every event in `topic`, by ping id, until
// `want` ids are seen or the deadline passes.
std::map<std::string, std::string> event_traceparents(const std::string& bootstrap, size_t want) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf{RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL)};
  conf->set("bootstrap.servers", bootstrap, err);
  conf->set("group.id", "ping-trace-test", err);
  conf->set("enable.auto.commit", "false", err);
  conf->set("fetch.wait.max.ms", "50", err);
  std::unique_ptr<RdKafka::KafkaConsumer> consumer{RdKafka::KafkaConsumer::create(conf.get(), err)};
  BOOST_REQUIRE_MESSAGE(consumer, err);
  std::vector<RdKafka::TopicPartition*> parts;
  for (int p = 0; p < 3; ++p)
    parts.push_back(
      RdKafka::TopicPartition::create("ping-events", p, RdKafka::Topic::OFFSET_BEGINNING));
  consumer->assign(parts);
  RdKafka::TopicPartition::destroy(parts);
  std::map<std::string, std::string> out;
  auto deadline = clock::now() + 30s;
  while (out.size() < want && clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> msg{consumer->consume(100)};
    if (msg->err() != RdKafka::ERR_NO_ERROR)
      continue;
    ping::v1::PingEvent ev;
    if (!ev.ParseFromArray(msg->payload(), static_cast<int>(msg->len())))
      continue;
    std::string parent;
    if (auto* h = msg->headers()) {
      auto all = h->get_last("traceparent");
      if (all.err() == RdKafka::ERR_NO_ERROR && all.value() != nullptr)
        parent.assign(static_cast<const char*>(all.value()), all.value_size());
    }
    out[ev.id()] = parent;
  }
  consumer->close();
  return out;
}

std::string dashless(std::string s) {
  std::erase(s, '-');
  return s;
}

bool log_has(process& p, const std::string& a, const std::string& b) {
  auto text = p.log();
  size_t at = 0;
  while ((at = text.find(a, at)) != std::string::npos) {
    auto line_start = text.rfind('\n', at);
    line_start = line_start == std::string::npos ? 0 : line_start + 1;
    auto line_end = text.find('\n', at);
    auto line = text.substr(line_start, line_end - line_start);
    if (line.find(b) != std::string::npos)
      return true;
    at += a.size();
  }
  return false;
}

} // namespace

BOOST_FIXTURE_TEST_CASE(a_pings_trace_id_is_followed_from_the_request_to_the_processor, fixture) {
  // The processor logs in JSON, at debug (per-ping lines).
  processor proc{dir.path,           "processor",     dsn,
                 broker.bootstrap(), redis.address(), {"--log-level=debug", "--log-format=json"}};
  // Assigned and caught up first: pings stored before a partition's cold
  // start are counted by its resync from PostgreSQL, not consumed one by one.
  BOOST_REQUIRE(wait_until([&] { return cache_complete(redis); }, 60s));

  // 1. The request: Connect with the client's traceparent. The answer
  //    echoes the trace id with a span id of the gateway's.
  //    It carries an idempotency key and is sent twice (a retry): stored once.
  auto traced_headers = std::string{"-H 'Idempotency-Key: trace-test-1' -H 'traceparent: "}
                        + client_parent + "'";
  auto traced = connect_ping(gw.connect_port(), traced_headers);
  BOOST_REQUIRE(connect_ping(gw.connect_port(), traced_headers).find(" 200") != std::string::npos);
  BOOST_TEST_MESSAGE(traced);
  BOOST_REQUIRE(traced.find(" 200") != std::string::npos);
  auto echoed = header_of(traced, "traceparent");
  trace::context back;
  BOOST_REQUIRE_MESSAGE(trace::parse(echoed, back), "echoed traceparent: " << echoed);
  BOOST_TEST(trace::trace_id_string(back) == trace_id);
  BOOST_TEST(back.span != 0x00f067aa0ba902b7ull); // our span, not the caller's
  BOOST_TEST(back.flags == 0x01);

  // A ping without a traceparent starts a trace; its id is the ping's id.
  auto plain = connect_ping(gw.connect_port(), "");
  BOOST_REQUIRE(plain.find(" 200") != std::string::npos);
  trace::context started;
  BOOST_REQUIRE(trace::parse(header_of(plain, "traceparent"), started));
  auto started_id = trace::trace_id_string(started);
  BOOST_TEST(started_id != trace_id);

  // An invalid one (uppercase hex) is not taken: a new trace again.
  auto bad = connect_ping(
    gw.connect_port(), "-H 'traceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01'");
  trace::context fresh;
  BOOST_REQUIRE(trace::parse(header_of(bad, "traceparent"), fresh));
  BOOST_TEST(trace::trace_id_string(fresh) != "4bf92f3577b34da6a3ce929d0e0e4736");

  // gRPC takes it from the metadata and echoes it in the initial metadata.
  {
    auto stub = gw.stub();
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    ctx.AddMetadata("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    ping::v1::PingRequest req;
    ping::v1::PingResponse resp;
    auto st = stub->Ping(&ctx, req, &resp);
    BOOST_REQUIRE_MESSAGE(st.ok(), st.error_message());
    auto m = ctx.GetServerInitialMetadata().find("traceparent");
    BOOST_REQUIRE(m != ctx.GetServerInitialMetadata().end());
    trace::context g;
    BOOST_REQUIRE(trace::parse(std::string_view{m->second.data(), m->second.size()}, g));
    BOOST_TEST(trace::trace_id_string(g) == "0af7651916cd43dd8448eb211c80319c");
  }

  // 2. The gateway's log: accepted and committed, each with the trace id.
  auto tid = std::string{"trace_id="} + trace_id;
  BOOST_REQUIRE_MESSAGE(
    wait_until([&] { return log_has(gw.proc(), tid, "msg=\"ping committed\""); }, 10s),
    gw.proc().log());
  BOOST_TEST(log_has(gw.proc(), tid, "msg=\"ping accepted\""));
  BOOST_TEST(log_has(gw.proc(), "trace_id=" + started_id, "msg=\"ping committed\""));

  // 3. PostgreSQL: the client's trace id is stored with its row; the
  //    started trace's row stores none (its id is the trace id).
  BOOST_TEST(
    query_int(dsn, std::string{"SELECT count(*) FROM pings WHERE trace_id = '"} + trace_id + "'")
    == 1);
  BOOST_TEST(query_int(dsn, "SELECT count(*) FROM pings WHERE trace_id IS NULL "
                            "AND replace(id::text, '-', '') = '"
                              + started_id + "'")
             == 1);

  // 4. Kafka: each event carries a traceparent with its ping's trace id.
  auto events = event_traceparents(broker.bootstrap(), 4);
  BOOST_REQUIRE_EQUAL(events.size(), 4u);
  std::map<std::string, std::string> trace_of; // trace id -> ping id
  for (auto& [id, parent] : events) {
    trace::context c;
    BOOST_REQUIRE_MESSAGE(trace::parse(parent, c), "event " << id << ": '" << parent << "'");
    trace_of[trace::trace_id_string(c)] = id;
  }
  BOOST_REQUIRE(trace_of.count(trace_id));
  BOOST_REQUIRE(trace_of.count(started_id));
  BOOST_TEST(dashless(trace_of[started_id]) == started_id);
  BOOST_TEST(trace_of.count("0af7651916cd43dd8448eb211c80319c") == 1u);
  BOOST_TEST(log_has(gw.proc(), tid, "msg=\"event produced\""));

  // 5. The processor's log (JSON this time): the event consumed, with the
  //    same trace id.
  auto consumed = [&](const std::string& id) {
    return log_has(proc.proc(), std::string{"\"trace_id\":\""} + id + "\"",
                   "\"msg\":\"event consumed\"");
  };
  // (Joining the consumer group takes a few seconds; more on a loaded machine.)
  BOOST_REQUIRE_MESSAGE(wait_until([&] { return consumed(trace_id) && consumed(started_id); }, 90s),
                        "alive " << proc.proc().alive() << "\n"
                                 << proc.proc().log());
}

namespace {

// The value of `key=` on a logfmt line (up to the next space), or "".
std::string field_of(const std::string& line, const std::string& key) {
  auto at = line.find(" " + key + "=");
  if (at == std::string::npos)
    return "";
  at += key.size() + 2;
  return line.substr(at, line.find(' ', at) - at);
}

// The first line of `text` holding both `a` and `b`, or "".
std::string line_with(const std::string& text, const std::string& a, const std::string& b) {
  size_t at = 0;
  while (at < text.size()) {
    auto end = text.find('\n', at);
    if (end == std::string::npos)
      end = text.size();
    auto line = text.substr(at, end - at);
    if (line.find(a) != std::string::npos && line.find(b) != std::string::npos)
      return line;
    at = end + 1;
  }
  return "";
}

struct count_fixture {
  temp_dir dir;
  std::string dsn = fresh_database("trace_count");
  test::devbroker broker{dir.path};
  redis_server redis;
  // Every shared read and every PingCount logged (threshold 0).
  gateway gw{dir.path,
             dsn,
             broker.bootstrap(),
             {"--cache.address=" + redis.address(), "--counts.slow-threshold=0ms"}};
};

// The PingCount of trace `id`: its gateway line names its shared read, and
// that read's own line (duration, requests answered, the statement's time,
// tail rows) the same id.
void check_count_lines(gateway& gw, const std::string& id) {
  std::string count_line;
  BOOST_REQUIRE_MESSAGE(wait_until(
                          [&] {
                            count_line = line_with(gw.proc().log(), "trace_id=" + id,
                                                   "msg=\"slow PingCount\"");
                            return !count_line.empty();
                          },
                          10s),
                        gw.proc().log());
  BOOST_TEST_MESSAGE(count_line);
  auto read = field_of(count_line, "read");
  BOOST_REQUIRE_MESSAGE(!read.empty() && read != "0", count_line);
  BOOST_TEST(!field_of(count_line, "ms").empty());
  auto read_line = line_with(gw.proc().log(), " read=" + read + " ", "msg=\"slow count read\"");
  BOOST_REQUIRE_MESSAGE(!read_line.empty(), gw.proc().log());
  BOOST_TEST_MESSAGE(read_line);
  BOOST_TEST(!field_of(read_line, "ms").empty());
  BOOST_TEST(std::stoi(field_of(read_line, "requests")) >= 1);
  // The tail's rows when the cache answered; PostgreSQL alone otherwise
  // (here the cache is cold: no processor fills it).
  auto source = field_of(read_line, "source");
  BOOST_TEST((source == "cache" || source == "postgres"));
  BOOST_TEST(field_of(read_line, "tail_rows").empty() == (source == "postgres"));
}

} // namespace

BOOST_FIXTURE_TEST_CASE(a_pingcounts_trace_id_is_tied_to_its_shared_read, count_fixture) {
  // Connect: the traceparent is taken and echoed (with our span id).
  auto head = shell_output(
    "curl -sS -m 10 -D - -o - -X POST http://127.0.0.1:" + std::to_string(gw.connect_port())
    + "/ping.v1.PingService/PingCount -H 'Content-Type: application/json' -H 'traceparent: "
    + client_parent + "' -d '{}'");
  BOOST_TEST_MESSAGE(head);
  BOOST_REQUIRE(head.find(" 200") != std::string::npos);
  trace::context back;
  BOOST_REQUIRE_MESSAGE(trace::parse(header_of(head, "traceparent"), back), head);
  BOOST_TEST(trace::trace_id_string(back) == trace_id);
  check_count_lines(gw, trace_id);

  // gRPC: from the metadata, echoed in the initial metadata.
  const std::string grpc_id = "0af7651916cd43dd8448eb211c80319c";
  auto stub = gw.stub();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  ctx.AddMetadata("traceparent", "00-" + grpc_id + "-b7ad6b7169203331-01");
  ping::v1::PingCountRequest req;
  ping::v1::PingCountResponse resp;
  auto st = stub->PingCount(&ctx, req, &resp);
  BOOST_REQUIRE_MESSAGE(st.ok(), st.error_message());
  auto m = ctx.GetServerInitialMetadata().find("traceparent");
  BOOST_REQUIRE(m != ctx.GetServerInitialMetadata().end());
  trace::context g;
  BOOST_REQUIRE(trace::parse(std::string_view{m->second.data(), m->second.size()}, g));
  BOOST_TEST(trace::trace_id_string(g) == grpc_id);
  check_count_lines(gw, grpc_id);
}
