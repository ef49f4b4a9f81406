#include <connectrpc/client.hpp>

#include <algorithm>
#include <cctype>
#include <optional>
#include <string_view>

#include <google/protobuf/message.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

namespace connectrpc {

namespace {

namespace pb = google::protobuf;

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
status decode_error(const http_response& res) {
  if (media_type(res.content_type) == "application/json") {
    pb::Struct obj;
    pb::util::JsonParseOptions opts;
    opts.ignore_unknown_fields = true;
    if (pb::util::JsonStringToMessage(res.body, &obj, opts).ok()) {
      const auto& fields = obj.fields();
      auto code = fields.find("code");
      std::optional<connectrpc::code> known;
      if (code != fields.end() && code->second.has_string_value())
        known = code_from_string(code->second.string_value());
      if (known && *known != connectrpc::code::ok) {
        std::string message;
        if (auto msg = fields.find("message");
            msg != fields.end() && msg->second.has_string_value())
          message = msg->second.string_value();
        return status::error(*known, message);
      }
    }
  }
  std::string message = "HTTP " + std::to_string(res.status);
  if (!res.reason.empty())
    message += " " + res.reason;
  if (auto text = excerpt(res.body); !text.empty())
    message += ": " + text;
  return status::error(code_from_http_status(static_cast<int>(res.status)), message);
}

} // namespace

unary_outcome call_unary(http_connection& conn, const unary_call& call, const pb::Message& req,
                         pb::Message& resp) {
  unary_outcome out;
  auto fail = [&out](code c, std::string message) {
    out.status = status::error(c, std::move(message));
    return out;
  };
  bool json = call.encoding == encoding::json;
  http_request hreq;
  hreq.target = call.path;
  hreq.content_type = json ? "application/json" : "application/proto";
  hreq.headers = {
    {"Connect-Protocol-Version", "1"},
    {"Connect-Timeout-Ms", std::to_string(call.timeout.count())},
    {"User-Agent", call.user_agent},
  };
  hreq.headers.insert(hreq.headers.end(), call.headers.begin(), call.headers.end());
  if (json) {
    if (auto st = pb::util::MessageToJsonString(req, &hreq.body); !st.ok())
      return fail(code::internal, "cannot encode request: " + st.ToString());
  } else if (!req.SerializeToString(&hreq.body)) {
    return fail(code::internal, "cannot encode request");
  }

  auto deadline = std::chrono::steady_clock::now() + call.timeout;
  auto result = conn.post(hreq, deadline);
  out.transport = result.failure;
  out.transport_detail = result.detail;
  switch (result.failure) {
    case http_failure::none:
      break;
    case http_failure::connect_failed:
      return fail(code::unavailable,
                  "cannot connect to " + call.address + " (" + result.detail + ")");
    case http_failure::timed_out:
      return fail(code::deadline_exceeded,
                  "no response within " + std::to_string(call.timeout.count()) + " ms");
    case http_failure::io_error:
      return fail(code::unavailable, call.address + ": " + result.detail);
    case http_failure::interrupted:
      return fail(code::canceled, "interrupted");
  }

  const auto& res = result.response;
  if (res.status != 200) {
    out.status = decode_error(res);
    return out;
  }
  if (media_type(res.content_type) != media_type(hreq.content_type))
    return fail(code::internal, "unexpected response content-type \"" + res.content_type + "\"");
  if (!res.content_encoding.empty() && res.content_encoding != "identity")
    return fail(code::internal,
                "unexpected response content-encoding \"" + res.content_encoding + "\"");
  if (json) {
    pb::util::JsonParseOptions opts;
    opts.ignore_unknown_fields = true;
    if (auto st = pb::util::JsonStringToMessage(res.body, &resp, opts); !st.ok())
      return fail(code::internal, "cannot decode response: " + st.ToString());
  } else if (!resp.ParseFromString(res.body)) {
    return fail(code::internal, "cannot decode response");
  }
  return out;
}

} // namespace connectrpc
