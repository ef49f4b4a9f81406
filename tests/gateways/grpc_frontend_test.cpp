// The gRPC front-end against a fake gateway actor, through a real grpc++
// client on 127.0.0.1 (ephemeral port): status translation, deadlines,
// health and reflection v1. Uses CAF's real scheduler, since the replies
// cross gRPC's threads.
#define BOOST_TEST_MODULE grpc_frontend
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <mutex>
#include <thread>

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "actors/common/errors.hpp"
#include "actors/common/trace.hpp"
#include "actors/gateway/protocol.hpp"
#include "gateways/grpc/grpc_frontend.hpp"
#include "grpc/health/v1/health.pb.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "ping/v1/ping.grpc.pb.h"

using namespace std::chrono_literals;
using ping::gateways::grpc_frontend;
using ping::gateways::grpc_options;

namespace {

// Timestamps that make the fake misbehave.
constexpr int64_t bad_ts = 13;    // answers invalid_argument
constexpr int64_t silent_ts = 99; // never answers

// The count the fake answers: encodes the range it received.
int64_t encode(const ping::time_range& r) {
  return r.bounded ? r.start_ms * 1'000'000 + r.end_ms : -1;
}

// Calls for silent_ts are answered as the real gateway answers a call that
// persistence never acknowledges: deadline_exceeded at the deadline.
struct late_answers {
  std::mutex mtx;
  std::vector<std::thread> threads;
  void at_deadline(ping::gateway::ping_reply reply) {
    std::lock_guard<std::mutex> guard{mtx};
    threads.emplace_back([reply]() mutable {
      std::this_thread::sleep_until(reply.deadline());
      reply.deliver(
        caf::error{ping::ping_errc::deadline_exceeded, std::string{"deadline exceeded"}});
    });
  }
  void join() {
    std::lock_guard<std::mutex> guard{mtx};
    for (auto& t : threads)
      t.join();
    threads.clear();
  }
};
late_answers late;

// How long the last call's reply allowed (its deadline, seen on arrival).
std::atomic<int64_t> last_budget_ms{-1};

void note_budget(std::chrono::steady_clock::time_point deadline) {
  last_budget_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     deadline - std::chrono::steady_clock::now())
                     .count();
}

// The idempotency key of the last keyed Ping the fake received.
std::mutex key_mtx;
std::string last_key = "(none)";
ping::trace::context last_trace; // ... and its trace (guarded by key_mtx)

void fake_ping(int64_t ts, ping::gateway::ping_reply& reply) {
  note_budget(reply.deadline());
  if (ts == bad_ts)
    reply.deliver(
      caf::error{ping::ping_errc::invalid_argument, std::string{"timestamp_ms out of range"}});
  else if (ts == silent_ts)
    late.at_deadline(reply);
  else
    reply.deliver(ping::gateway::ping_ack{"0190-fake", ts});
}

ping::gateway::gateway_actor::behavior_type fake_gateway() {
  return {
    [=](ping::ping_atom, int64_t ts, ping::gateway::ping_reply& reply) { fake_ping(ts, reply); },
    [=](ping::ping_atom, int64_t ts, std::string& key, ping::gateway::ping_reply& reply) {
      {
        std::lock_guard<std::mutex> guard{key_mtx};
        last_key = key;
      }
      fake_ping(ts, reply);
    },
    [=](ping::ping_atom, int64_t ts, std::string& key, ping::trace::context tc,
        ping::gateway::ping_reply& reply) {
      {
        std::lock_guard<std::mutex> guard{key_mtx};
        last_key = key;
        last_trace = tc;
      }
      fake_ping(ts, reply);
    },
    [=](ping::count_atom, ping::time_range range, ping::gateway::count_reply& reply) {
      note_budget(reply.deadline());
      reply.deliver(ping::count_result{encode(range), "fake"});
    },
    [=](ping::count_atom, ping::time_range range, ping::trace::context tc,
        ping::gateway::count_reply& reply) {
      {
        std::lock_guard<std::mutex> guard{key_mtx};
        last_trace = tc;
      }
      note_budget(reply.deadline());
      reply.deliver(ping::count_result{encode(range), "fake"});
    },
    [=](ping::drain_atom) {},
    [=](ping::count_atom, const ping::gateway::count_round&) {}, // the Connect count board's
    [=](ping::batch_atom, ping::gateway::call_batch& batch) {
      if (batch.take) // the calls queued until now (the gRPC front-end)
        batch.take(batch);
      // Each call as the single calls above.
      std::vector<ping::gateway::answer> answers;
      std::vector<ping::gateway::answer> silent;
      auto latest = std::chrono::steady_clock::time_point{};
      for (uint32_t i = 0; i < batch.calls.size(); ++i) {
        auto& c = batch.calls[i];
        note_budget(c.deadline);
        if (!c.count) {
          std::lock_guard<std::mutex> guard{key_mtx};
          last_key = c.key;
          last_trace = c.trace;
        }
        ping::gateway::answer a;
        a.index = i;
        if (c.count)
          a.count = ping::count_result{encode(c.range), "fake"};
        else if (c.timestamp_ms == bad_ts)
          a.err = caf::error{ping::ping_errc::invalid_argument,
                             std::string{"timestamp_ms out of range"}};
        else if (c.timestamp_ms == silent_ts) {
          a.err = caf::error{ping::ping_errc::deadline_exceeded, std::string{"deadline exceeded"}};
          latest = std::max(latest, c.deadline);
          silent.push_back(std::move(a));
          continue;
        } else
          a.ack = ping::gateway::ping_ack{"0190-fake", c.timestamp_ms};
        answers.push_back(std::move(a));
      }
      batch.reply->deliver(answers);
      if (!silent.empty()) { // answered at the deadline (the reply is the thread's alone now)
        std::lock_guard<std::mutex> guard{late.mtx};
        late.threads.emplace_back([reply = batch.reply, silent, latest]() mutable {
          std::this_thread::sleep_until(latest);
          reply->deliver(silent);
        });
      }
    },
  };
}

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  ping::gateway::gateway_actor gw = sys.spawn(fake_gateway);
  std::unique_ptr<grpc_frontend> frontend;
  std::shared_ptr<grpc::Channel> channel;

  fixture() {
    grpc_options opts;
    opts.port = 0;
    opts.default_timeout = 1s;
    frontend = std::make_unique<grpc_frontend>(gw, opts);
    frontend->start();
    BOOST_REQUIRE_NE(frontend->port(), 0);
    channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(frontend->port()),
                                  grpc::InsecureChannelCredentials());
  }

  ~fixture() {
    late.join();
    frontend->stop(1s);
    caf::anon_send_exit(gw, caf::exit_reason::user_shutdown);
  }

  static void set_deadline(grpc::ClientContext& ctx, std::chrono::milliseconds d = 5s) {
    ctx.set_deadline(std::chrono::system_clock::now() + d);
  }

  grpc::Status ping(int64_t ts, std::chrono::milliseconds deadline = 5s) {
    auto stub = ping::v1::PingService::NewStub(channel);
    grpc::ClientContext ctx;
    set_deadline(ctx, deadline);
    ping::v1::PingRequest req;
    req.set_timestamp_ms(ts);
    ping::v1::PingResponse resp;
    return stub->Ping(&ctx, req, &resp);
  }

  grpc::Status health(const std::string& service, grpc::health::v1::HealthCheckResponse& resp) {
    grpc::TemplatedGenericStub<grpc::health::v1::HealthCheckRequest,
                               grpc::health::v1::HealthCheckResponse>
      stub{channel};
    grpc::ClientContext ctx;
    set_deadline(ctx);
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    std::promise<grpc::Status> done;
    stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions{}, &req, &resp,
                   [&](grpc::Status st) { done.set_value(st); });
    return done.get_future().get();
  }

  // One reflection v1 round trip on a fresh stream.
  grpc::reflection::v1::ServerReflectionResponse reflect(
    const grpc::reflection::v1::ServerReflectionRequest& req) {
    auto stub = grpc::reflection::v1::ServerReflection::NewStub(channel);
    grpc::ClientContext ctx;
    set_deadline(ctx);
    auto stream = stub->ServerReflectionInfo(&ctx);
    BOOST_REQUIRE(stream->Write(req));
    grpc::reflection::v1::ServerReflectionResponse resp;
    BOOST_REQUIRE(stream->Read(&resp));
    BOOST_REQUIRE(stream->WritesDone());
    auto st = stream->Finish();
    BOOST_REQUIRE_MESSAGE(st.ok(), st.error_message());
    return resp;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(grpc_frontend_tests, fixture)

BOOST_AUTO_TEST_CASE(ping_ok) {
  auto st = ping(1'700'000'000'000);
  BOOST_TEST(st.ok(), st.error_message());
}

BOOST_AUTO_TEST_CASE(invalid_argument_passes_through) {
  auto st = ping(bad_ts);
  BOOST_TEST(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  BOOST_TEST(st.error_message() == "timestamp_ms out of range");
}

BOOST_AUTO_TEST_CASE(silent_gateway_hits_client_deadline) {
  auto t0 = std::chrono::steady_clock::now();
  auto st = ping(silent_ts, 200ms);
  auto took = std::chrono::steady_clock::now() - t0;
  BOOST_TEST(st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
  BOOST_TEST(took < 900ms); // the client's deadline, not the 1 s default
}

BOOST_AUTO_TEST_CASE(the_gateway_gets_the_callers_deadline_capped_at_the_default) {
  // The gateway actor answers at the deadline the front-end hands it: the
  // client's when it is shorter than the 1 s default, else the default.
  BOOST_TEST(ping(1, 300ms).ok());
  BOOST_TEST(last_budget_ms.load() <= 300);
  BOOST_TEST(last_budget_ms.load() > 100);
  BOOST_TEST(ping(1, 5s).ok());
  BOOST_TEST(last_budget_ms.load() <= 1000);
  BOOST_TEST(last_budget_ms.load() > 800);
}

BOOST_AUTO_TEST_CASE(ping_count_without_and_with_range) {
  auto stub = ping::v1::PingService::NewStub(channel);
  {
    grpc::ClientContext ctx;
    set_deadline(ctx);
    ping::v1::PingCountRequest req;
    ping::v1::PingCountResponse resp;
    auto st = stub->PingCount(&ctx, req, &resp);
    BOOST_REQUIRE_MESSAGE(st.ok(), st.error_message());
    BOOST_TEST(resp.ping_count() == encode(ping::time_range{}));
  }
  {
    grpc::ClientContext ctx;
    set_deadline(ctx);
    ping::v1::PingCountRequest req;
    req.mutable_time_range()->set_start(7);
    req.mutable_time_range()->set_end(1234);
    ping::v1::PingCountResponse resp;
    auto st = stub->PingCount(&ctx, req, &resp);
    BOOST_REQUIRE_MESSAGE(st.ok(), st.error_message());
    BOOST_TEST(resp.ping_count() == encode(ping::time_range{true, 7, 1234}));
  }
  {
    // A present but empty range is still a range: [0, 0).
    grpc::ClientContext ctx;
    set_deadline(ctx);
    ping::v1::PingCountRequest req;
    req.mutable_time_range();
    ping::v1::PingCountResponse resp;
    auto st = stub->PingCount(&ctx, req, &resp);
    BOOST_REQUIRE_MESSAGE(st.ok(), st.error_message());
    BOOST_TEST(resp.ping_count() == encode(ping::time_range{true, 0, 0}));
  }
}

BOOST_AUTO_TEST_CASE(health_follows_set_serving) {
  using hc = grpc::health::v1::HealthCheckResponse;
  for (const auto* name : {"", "ping.v1.PingService"}) {
    hc resp;
    auto st = health(name, resp);
    BOOST_REQUIRE_MESSAGE(st.ok(), st.error_message());
    BOOST_TEST(resp.status() == hc::SERVING, "service '" << name << "'");
  }
  frontend->set_serving(false);
  for (const auto* name : {"", "ping.v1.PingService"}) {
    hc resp;
    auto st = health(name, resp);
    BOOST_REQUIRE_MESSAGE(st.ok(), st.error_message());
    BOOST_TEST(resp.status() == hc::NOT_SERVING, "service '" << name << "'");
  }
  hc resp;
  BOOST_TEST(health("no.such.Service", resp).error_code() == grpc::StatusCode::NOT_FOUND);
}

BOOST_AUTO_TEST_CASE(reflection_v1_lists_services) {
  grpc::reflection::v1::ServerReflectionRequest req;
  req.set_list_services("");
  auto resp = reflect(req);
  BOOST_REQUIRE(resp.has_list_services_response());
  std::vector<std::string> names;
  for (const auto& s : resp.list_services_response().service())
    names.push_back(s.name());
  auto has = [&](const std::string& n) {
    return std::find(names.begin(), names.end(), n) != names.end();
  };
  BOOST_TEST(has("ping.v1.PingService"));
  BOOST_TEST(has("grpc.health.v1.Health"));
  BOOST_TEST(has("grpc.reflection.v1.ServerReflection"));
  BOOST_TEST(has("grpc.reflection.v1alpha.ServerReflection"));
}

BOOST_AUTO_TEST_CASE(reflection_v1_describes_files) {
  grpc::reflection::v1::ServerReflectionRequest req;
  req.set_file_containing_symbol("ping.v1.PingService");
  auto resp = reflect(req);
  BOOST_REQUIRE(resp.has_file_descriptor_response());
  BOOST_TEST(resp.original_request().file_containing_symbol() == "ping.v1.PingService");
  const auto& files = resp.file_descriptor_response().file_descriptor_proto();
  BOOST_REQUIRE(files.size() >= 1);
  google::protobuf::FileDescriptorProto file;
  BOOST_REQUIRE(file.ParseFromString(files[0]));
  BOOST_TEST(file.name() == "ping/v1/ping.proto");
  BOOST_TEST(file.package() == "ping.v1");

  // The health service can be described too (our copy of health.proto).
  req.set_file_containing_symbol("grpc.health.v1.Health");
  resp = reflect(req);
  BOOST_REQUIRE(resp.has_file_descriptor_response());
  BOOST_REQUIRE(file.ParseFromString(resp.file_descriptor_response().file_descriptor_proto(0)));
  BOOST_TEST(file.name() == "grpc/health/v1/health.proto");

  // A file comes with its transitive imports, the file itself first.
  req.set_file_by_filename("google/protobuf/type.proto");
  resp = reflect(req);
  BOOST_REQUIRE(resp.has_file_descriptor_response());
  std::vector<std::string> names;
  for (const auto& bytes : resp.file_descriptor_response().file_descriptor_proto()) {
    BOOST_REQUIRE(file.ParseFromString(bytes));
    names.push_back(file.name());
  }
  BOOST_REQUIRE(!names.empty());
  BOOST_TEST(names[0] == "google/protobuf/type.proto");
  std::sort(names.begin(), names.end());
  BOOST_TEST(names
               == (std::vector<std::string>{"google/protobuf/any.proto",
                                            "google/protobuf/source_context.proto",
                                            "google/protobuf/type.proto"}),
             boost::test_tools::per_element());

  req.set_file_containing_symbol("no.such.Symbol");
  resp = reflect(req);
  BOOST_REQUIRE(resp.has_error_response());
  BOOST_TEST(resp.error_response().error_code() == static_cast<int>(grpc::StatusCode::NOT_FOUND));

  req.set_file_by_filename("no/such/file.proto");
  resp = reflect(req);
  BOOST_REQUIRE(resp.has_error_response());
  BOOST_TEST(resp.error_response().error_code() == static_cast<int>(grpc::StatusCode::NOT_FOUND));
}

BOOST_AUTO_TEST_CASE(reflection_v1_extensions) {
  // descriptor.proto is in the pool; it declares extension ranges but, in a
  // plain pool, no extensions: the answer is an empty list, not an error.
  grpc::reflection::v1::ServerReflectionRequest req;
  req.set_all_extension_numbers_of_type("google.protobuf.MessageOptions");
  auto resp = reflect(req);
  BOOST_REQUIRE(resp.has_all_extension_numbers_response());
  BOOST_TEST(resp.all_extension_numbers_response().base_type_name()
             == "google.protobuf.MessageOptions");

  req.set_all_extension_numbers_of_type("no.such.Type");
  resp = reflect(req);
  BOOST_REQUIRE(resp.has_error_response());

  auto* ext = req.mutable_file_containing_extension();
  ext->set_containing_type("google.protobuf.MessageOptions");
  ext->set_extension_number(123456);
  resp = reflect(req);
  BOOST_REQUIRE(resp.has_error_response());
  BOOST_TEST(resp.error_response().error_code() == static_cast<int>(grpc::StatusCode::NOT_FOUND));
}

BOOST_AUTO_TEST_CASE(start_throws_when_the_port_is_taken) {
  grpc_options opts;
  opts.port = frontend->port();
  grpc_frontend second{gw, opts};
  BOOST_CHECK_THROW(second.start(), std::runtime_error);
  BOOST_TEST(ping(1).ok()); // the first one still serves
}

// Issue 19 item 13: the idempotency key reaches the gateway from the field
// or the `idempotency-key` metadata; both given and different, or a key
// with characters outside the allowed set, is invalid_argument.
BOOST_AUTO_TEST_CASE(the_idempotency_key_comes_from_the_field_or_the_metadata) {
  auto call = [&](const std::string& field, const std::string& meta) {
    auto stub = ping::v1::PingService::NewStub(channel);
    grpc::ClientContext ctx;
    set_deadline(ctx);
    if (!meta.empty())
      ctx.AddMetadata("idempotency-key", meta);
    ping::v1::PingRequest req;
    req.set_timestamp_ms(1);
    req.set_idempotency_key(field);
    ping::v1::PingResponse resp;
    return stub->Ping(&ctx, req, &resp);
  };
  auto key = [] {
    std::lock_guard<std::mutex> guard{key_mtx};
    return last_key;
  };
  BOOST_TEST(call("from-field", "").ok());
  BOOST_TEST(key() == "from-field");
  BOOST_TEST(call("", "from-metadata").ok());
  BOOST_TEST(key() == "from-metadata");
  BOOST_TEST(call("same", "same").ok());
  BOOST_TEST(key() == "same");
  BOOST_TEST(call("", "").ok());
  BOOST_TEST(key() == "");
  BOOST_TEST(call("one", "other").error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  BOOST_TEST(call("bad key!", "").error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  BOOST_TEST(call(std::string(129, 'k'), "").error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  BOOST_TEST(key() == ""); // the refused ones never reached the gateway
}

// Issue 20: the traceparent metadata reaches the gateway actor with a span
// of ours, and the answer's initial metadata echoes it; without one (or an
// invalid one) a new trace starts.
BOOST_AUTO_TEST_CASE(the_traceparent_metadata_is_taken_and_echoed) {
  auto call = [&](const std::string& meta, std::string& echoed) {
    auto stub = ping::v1::PingService::NewStub(channel);
    grpc::ClientContext ctx;
    set_deadline(ctx);
    if (!meta.empty())
      ctx.AddMetadata("traceparent", meta);
    ping::v1::PingRequest req;
    req.set_timestamp_ms(1);
    ping::v1::PingResponse resp;
    auto st = stub->Ping(&ctx, req, &resp);
    auto m = ctx.GetServerInitialMetadata().find("traceparent");
    echoed = m == ctx.GetServerInitialMetadata().end()
               ? std::string{}
               : std::string{m->second.data(), m->second.size()};
    return st;
  };
  auto seen = [] {
    std::lock_guard<std::mutex> guard{key_mtx};
    return last_trace;
  };
  std::string echoed;
  BOOST_REQUIRE(call("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", echoed).ok());
  auto tc = seen();
  BOOST_TEST(tc.trace_hi == 0x4bf92f3577b34da6ull);
  BOOST_TEST(tc.trace_lo == 0xa3ce929d0e0e4736ull);
  BOOST_TEST(!tc.started);
  BOOST_TEST(tc.span != 0x00f067aa0ba902b7ull);
  BOOST_TEST(echoed == std::string{ping::trace::view(ping::trace::format(tc))});
  BOOST_REQUIRE(call("", echoed).ok());
  BOOST_TEST(seen().started);
  BOOST_TEST(echoed == std::string{ping::trace::view(ping::trace::format(seen()))});
  BOOST_REQUIRE(call("00-00000000000000000000000000000000-00f067aa0ba902b7-01", echoed).ok());
  BOOST_TEST(seen().started);
  BOOST_TEST(echoed.substr(0, 35) != "00-00000000000000000000000000000000");
}

// PingCount as Ping: the traceparent metadata reaches the gateway actor
// with a span of ours, echoed in the initial metadata.
BOOST_AUTO_TEST_CASE(a_pingcounts_traceparent_is_taken_and_echoed) {
  auto stub = ping::v1::PingService::NewStub(channel);
  grpc::ClientContext ctx;
  set_deadline(ctx);
  ctx.AddMetadata("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  ping::v1::PingCountRequest req;
  ping::v1::PingCountResponse resp;
  BOOST_REQUIRE(stub->PingCount(&ctx, req, &resp).ok());
  ping::trace::context tc;
  {
    std::lock_guard<std::mutex> guard{key_mtx};
    tc = last_trace;
  }
  BOOST_TEST(ping::trace::trace_id_string(tc) == "0af7651916cd43dd8448eb211c80319c");
  BOOST_TEST(tc.span != 0xb7ad6b7169203331ull);
  auto m = ctx.GetServerInitialMetadata().find("traceparent");
  BOOST_REQUIRE(m != ctx.GetServerInitialMetadata().end());
  BOOST_TEST(std::string(m->second.data(), m->second.size())
             == std::string{ping::trace::view(ping::trace::format(tc))});
}

// stop(drain) is bounded, even with a call in flight that is answered only
// later (the fake answers a silent call at its 1 s deadline, as the gateway
// actor would); a second stop() returns at once; and the stopped front-end
// takes no more calls. Measured bound: drain + the call's own deadline, not
// drain alone: gRPC's Shutdown(deadline) cancels the call at the drain but
// then waits for its reactor to Finish, which our reply does when the
// gateway answers (at the latest at default_timeout). Seen: 1332 ms for
// stop(100 ms) with a 1 s call in flight.
BOOST_AUTO_TEST_CASE(stop_is_bounded_and_idempotent) {
  last_budget_ms = -1;
  auto in_flight = std::async(std::launch::async, [this] { return ping(silent_ts, 5s); });
  auto arrived_by = std::chrono::steady_clock::now() + 5s;
  while (last_budget_ms.load() < 0 && std::chrono::steady_clock::now() < arrived_by)
    std::this_thread::sleep_for(1ms);
  BOOST_REQUIRE(last_budget_ms.load() >= 0); // the call reached the gateway
  auto t0 = std::chrono::steady_clock::now();
  frontend->stop(100ms);
  auto first = std::chrono::steady_clock::now() - t0;
  t0 = std::chrono::steady_clock::now();
  frontend->stop(100ms);
  auto second = std::chrono::steady_clock::now() - t0;
  BOOST_TEST_MESSAGE(
    "stop with a call in flight: "
    << std::chrono::duration_cast<std::chrono::milliseconds>(first).count() << " ms; again: "
    << std::chrono::duration_cast<std::chrono::milliseconds>(second).count() << " ms");
  BOOST_TEST((first >= 100ms));             // it did wait for the call in flight, up to its drain
  BOOST_TEST((first < 100ms + 1s + 700ms)); // drain + default_timeout + scheduling
  BOOST_TEST((second < 50ms));
  BOOST_TEST(!ping(1, 1s).ok());
  auto st = in_flight.get(); // cut at the drain: an error, not a hang
  BOOST_TEST(!st.ok());
}

// Issue 18: Pings reach the gateway in batches (one message per hand-over,
// taken when the gateway runs it). Concurrent calls each get their own
// answer; a hand-over the gateway never runs (it stopped) still answers
// its calls, unavailable, instead of leaving them to the client's deadline.
BOOST_AUTO_TEST_CASE(batched_pings_are_each_answered_even_by_a_stopped_gateway) {
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i)
    clients.emplace_back([&, i] {
      if (ping(100 + i).ok())
        ++ok;
    });
  for (auto& t : clients)
    t.join();
  BOOST_TEST(ok.load() == 8);
  caf::anon_send_exit(gw, caf::exit_reason::user_shutdown);
  auto started = std::chrono::steady_clock::now();
  auto st = ping(1, 5s);
  BOOST_TEST((st.error_code() == grpc::StatusCode::UNAVAILABLE));
  BOOST_TEST((std::chrono::steady_clock::now() - started < 4s)); // not the client's deadline
}

BOOST_AUTO_TEST_SUITE_END()
