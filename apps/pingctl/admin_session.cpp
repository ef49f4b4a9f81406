#include "apps/pingctl/admin_session.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include <google/protobuf/util/json_util.h>

#include "actors/common/build_info.hpp"
#include "admin/text/format.hpp"
#include <connectrpc/client.hpp>

namespace ping::pingctl {

using namespace ping::admin::text;

namespace admin_v1 = ping::admin::v1;

namespace {

constexpr const char* service_path = "/ping.admin.v1.AdminService/";

} // namespace

struct admin_session::impl {
  admin_invocation inv;
  std::string token;
  connectrpc::http_connection conn;
  std::string binary; // known after a successful GetStatus
  std::string json;   // the last response as protobuf JSON (inv.json)

  impl(const admin_invocation& i, std::string t)
    : inv(i), token(std::move(t)), conn(i.host, i.port) {}

  // One call; on failure `failed` gets the operator's error line.
  bool call(const char* method, admin_verb verb, const google::protobuf::Message& req,
            google::protobuf::Message& resp, command_result& failed,
            std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    connectrpc::unary_call c;
    c.path = std::string{service_path} + method;
    c.address = inv.node;
    c.encoding = connectrpc::encoding::json;
    c.timeout = timeout.value_or(admin_timeout(inv, verb));
    c.user_agent = std::string{"pingctl/"} + ping::build::version();
    if (!token.empty())
      c.headers.emplace_back("Authorization", "Bearer " + token);
    auto outcome = connectrpc::call_unary(conn, c, req, resp);
    if (outcome.status.is_ok()) {
      if (inv.json) {
        json.clear();
        (void)google::protobuf::util::MessageToJsonString(resp, &json);
      }
      return true;
    }
    admin_failure f;
    f.method = method;
    f.code = std::string{connectrpc::to_string(outcome.status.c)};
    f.message = outcome.status.message;
    f.transport = outcome.transport;
    f.transport_detail = outcome.transport_detail;
    f.node = inv.node;
    f.token_sent = !token.empty();
    f.timeout = c.timeout;
    failed = {1, true, describe_admin_failure(f) + "\n"};
    return false;
  }

  // Calls `method` with a default Req and renders Resp with `render`.
  template <class Req, class Resp, class Render>
  command_result simple(const char* method, admin_verb verb, Render&& render,
                        const Req& req = Req{}) {
    Resp resp;
    command_result out;
    if (!call(method, verb, req, resp, out))
      return out;
    out.text = render(resp);
    return out;
  }
};

admin_session::admin_session(const admin_invocation& inv, std::string token)
  : impl_(std::make_unique<impl>(inv, std::move(token))) {}

admin_session::~admin_session() = default;

void admin_session::set_interrupt_check(std::function<bool()> check) {
  impl_->conn.set_interrupt_check(std::move(check));
}

std::string admin_session::label() const {
  if (impl_->binary.empty())
    return impl_->inv.node;
  return impl_->binary + "@" + impl_->inv.node;
}

command_result admin_session::greet() {
  admin_v1::GetStatusResponse resp;
  command_result out;
  if (!impl_->call("GetStatus", admin_verb::status, admin_v1::GetStatusRequest{}, resp, out))
    return out;
  impl_->binary = resp.binary();
  out.text = resp.binary() + " " + resp.version() + " at " + impl_->inv.node + ", up "
             + format_duration_ms(resp.uptime_ms()) + (resp.ready() ? "" : ", NOT ready")
             + (resp.paused() ? ", consumption paused" : "") + ". Type help for the commands.\n";
  return out;
}

command_result admin_session::execute(const admin_command& cmd, bool compact) {
  impl_->json.clear();
  auto out = execute_text(cmd, compact);
  if (impl_->inv.json && !out.error && !impl_->json.empty())
    out.text = impl_->json + "\n";
  return out;
}

command_result admin_session::execute_text(const admin_command& cmd, bool compact) {
  using namespace admin_v1;
  auto& s = *impl_;
  switch (cmd.verb) {
    case admin_verb::status:
      return s.simple<GetStatusRequest, GetStatusResponse>(
        "GetStatus", cmd.verb, [&s, compact](const GetStatusResponse& r) {
          s.binary = r.binary();
          return format_status(r, !compact);
        });
    case admin_verb::actors:
      return s.simple<ListActorsRequest, ListActorsResponse>(
        "ListActors", cmd.verb, [](const auto& r) { return format_actors(r); });
    case admin_verb::pipeline:
      return s.simple<GetPipelineRequest, GetPipelineResponse>(
        "GetPipeline", cmd.verb, [](const auto& r) { return format_pipeline(r); });
    case admin_verb::lag:
      return s.simple<GetLagRequest, GetLagResponse>("GetLag", cmd.verb,
                                                     [](const auto& r) { return format_lag(r); });
    case admin_verb::minutes: {
      GetMinuteCountsRequest req;
      req.set_minutes(cmd.minutes);
      return s.simple<GetMinuteCountsRequest, GetMinuteCountsResponse>(
        "GetMinuteCounts", cmd.verb, [](const auto& r) { return format_minutes(r); }, req);
    }
    case admin_verb::flush: {
      FlushResponse resp;
      command_result out;
      if (!s.call("Flush", cmd.verb, FlushRequest{}, resp, out))
        return out;
      out.text = format_flush(resp);
      out.exit_status = resp.complete() ? 0 : 1; // scripts run `flush && ...`
      return out;
    }
    case admin_verb::pause:
      return s.simple<PauseConsumptionRequest, PauseConsumptionResponse>(
        "PauseConsumption", cmd.verb, [](const auto& r) { return format_pause(r); });
    case admin_verb::resume:
      return s.simple<ResumeConsumptionRequest, ResumeConsumptionResponse>(
        "ResumeConsumption", cmd.verb, [](const auto& r) { return format_resume(r); });
    case admin_verb::rebuild_cache:
      return s.simple<RebuildCacheRequest, RebuildCacheResponse>(
        "RebuildCache", cmd.verb, [](const auto& r) { return format_rebuild(r); });
    case admin_verb::log_level: {
      SetLogLevelRequest req;
      req.set_level(cmd.level);
      return s.simple<SetLogLevelRequest, SetLogLevelResponse>(
        "SetLogLevel", cmd.verb, [](const auto& r) { return format_log_level(r); }, req);
    }
    case admin_verb::cluster: {
      if (!cmd.cluster_action)
        return s.simple<GetClusterRequest, GetClusterResponse>(
          "GetCluster", cmd.verb, [](const auto& r) { return format_cluster(r); });
      RunNodeCommandRequest req;
      req.set_node(cmd.cluster_node);
      switch (*cmd.cluster_action) {
        case admin_verb::flush:
          req.set_method("Flush");
          break;
        case admin_verb::pause:
          req.set_method("PauseConsumption");
          break;
        case admin_verb::resume:
          req.set_method("ResumeConsumption");
          break;
        default:
          req.set_method("RebuildCache");
          break;
      }
      RunNodeCommandResponse resp;
      command_result out;
      if (!s.call("RunNodeCommand", cmd.verb, req, resp, out, admin_timeout(s.inv, cmd)))
        return out;
      out.text = format_node_command(resp);
      out.exit_status = req.method() == "Flush" && !resp.complete() ? 1 : 0;
      return out;
    }
    case admin_verb::watch:
    case admin_verb::help:
    case admin_verb::history:
    case admin_verb::quit:
      break;
  }
  return {1, true, std::string{verb_word(cmd.verb)} + " is not a call to the node\n"};
}

bool read_token_file(const std::string& path, std::string& token, std::string& error) {
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    error = "cannot read the token file " + path + ": " + std::strerror(errno);
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  if (!check_token(ss.str(), token, error)) {
    error = "the token file " + path + " " + error;
    return false;
  }
  return true;
}

} // namespace ping::pingctl
