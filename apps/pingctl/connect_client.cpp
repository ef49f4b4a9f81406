// The Connect unary protocol (HTTP/1.1, application/proto or
// application/json) on top of http_connection.

#include <algorithm>
#include <cctype>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "apps/pingctl/http_connection.hpp"
#include "apps/pingctl/rpc.hpp"

#ifndef PINGCTL_VERSION
#define PINGCTL_VERSION "dev"
#endif

namespace ping::pingctl {

namespace {

namespace pb = google::protobuf;

constexpr const char* ping_path = "/ping.v1.PingService/Ping";
constexpr const char* count_path = "/ping.v1.PingService/PingCount";

// The media type without parameters, lower-cased.
std::string media_type(std::string_view content_type) {
  auto end = content_type.find(';');
  auto type = content_type.substr(0, end);
  while (!type.empty() && type.back() == ' ')
    type.remove_suffix(1);
  std::string out{type};
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

// A short, printable excerpt of a body that is not a Connect error.
std::string excerpt(const std::string& body) {
  constexpr size_t max_len = 200;
  std::string out;
  for (char c : body.substr(0, max_len)) {
    auto u = static_cast<unsigned char>(c);
    out += (u == '\n' || u == '\r' || u == '\t') ? ' ' : (u < 0x20 ? '?' : c);
  }
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  if (body.size() > max_len)
    out += "...";
  return out;
}

// A non-200 response: the Connect JSON error body when there is a valid
// one, else the code inferred from the HTTP status.
call_status decode_error(const http_response& res) {
  if (media_type(res.content_type) == "application/json") {
    pb::Struct obj;
    pb::util::JsonParseOptions opts;
    opts.ignore_unknown_fields = true;
    if (pb::util::JsonStringToMessage(res.body, &obj, opts).ok()) {
      const auto& fields = obj.fields();
      auto code = fields.find("code");
      if (code != fields.end() && code->second.has_string_value()
          && is_known_code(code->second.string_value())) {
        std::string message;
        if (auto msg = fields.find("message");
            msg != fields.end() && msg->second.has_string_value())
          message = msg->second.string_value();
        return call_status::error(code->second.string_value(), message);
      }
    }
  }
  std::string message = "HTTP " + std::to_string(res.status);
  if (!res.reason.empty())
    message += " " + res.reason;
  if (auto text = excerpt(res.body); !text.empty())
    message += ": " + text;
  return call_status::error(code_from_http_status(res.status), message);
}

class connect_client final : public rpc_client {
public:
  explicit connect_client(const client_settings& cfg)
    : cfg_(cfg), conn_(cfg.host, cfg.port) {
  }

  call_status ping(const ping::v1::PingRequest& req,
                   ping::v1::PingResponse& resp) override {
    return unary(ping_path, req, resp);
  }

  call_status count(const ping::v1::PingCountRequest& req,
                    ping::v1::PingCountResponse& resp) override {
    return unary(count_path, req, resp);
  }

private:
  bool json() const { return cfg_.encoding == wire_encoding::json; }

  call_status unary(const char* path, const pb::Message& req,
                    pb::Message& resp) {
    http_request hreq;
    hreq.target = path;
    hreq.content_type = json() ? "application/json" : "application/proto";
    hreq.headers = {
      {"Connect-Protocol-Version", "1"},
      {"Connect-Timeout-Ms", std::to_string(cfg_.timeout.count())},
      {"User-Agent", "pingctl/" PINGCTL_VERSION},
    };
    if (json()) {
      if (auto st = pb::util::MessageToJsonString(req, &hreq.body); !st.ok())
        return call_status::error("internal", "cannot encode request: "
                                                + st.ToString());
    } else if (!req.SerializeToString(&hreq.body)) {
      return call_status::error("internal", "cannot encode request");
    }

    auto deadline = std::chrono::steady_clock::now() + cfg_.timeout;
    auto result = conn_.post(hreq, deadline);
    switch (result.failure) {
      case http_failure::none:
        break;
      case http_failure::connect_failed:
        return call_status::error("unavailable", "cannot connect to "
                                                   + cfg_.address + " ("
                                                   + result.detail + ")");
      case http_failure::timed_out:
        return call_status::error("deadline_exceeded",
                                  "no response within "
                                    + std::to_string(cfg_.timeout.count())
                                    + " ms");
      case http_failure::io_error:
        return call_status::error("unavailable",
                                  cfg_.address + ": " + result.detail);
    }

    const auto& res = result.response;
    if (res.status != 200)
      return decode_error(res);
    if (media_type(res.content_type) != media_type(hreq.content_type))
      return call_status::error("internal",
                                "unexpected response content-type \""
                                  + res.content_type + "\"");
    if (!res.content_encoding.empty() && res.content_encoding != "identity")
      return call_status::error("internal",
                                "unexpected response content-encoding \""
                                  + res.content_encoding + "\"");
    if (json()) {
      pb::util::JsonParseOptions opts;
      opts.ignore_unknown_fields = true;
      if (auto st = pb::util::JsonStringToMessage(res.body, &resp, opts);
          !st.ok())
        return call_status::error("internal", "cannot decode response: "
                                                + st.ToString());
    } else if (!resp.ParseFromString(res.body)) {
      return call_status::error("internal", "cannot decode response");
    }
    return call_status::success();
  }

  client_settings cfg_;
  http_connection conn_;
};

} // namespace

std::unique_ptr<rpc_client> make_connect_client(const client_settings& cfg) {
  return std::make_unique<connect_client>(cfg);
}

} // namespace ping::pingctl
