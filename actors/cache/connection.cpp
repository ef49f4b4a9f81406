#include "actors/cache/connection.hpp"

#include <cerrno>
#include <charconv>
#include <optional>

#include <hiredis/hiredis.h>

namespace ping::cache {

void reply_deleter::operator()(redisReply* r) const {
  if (r)
    freeReplyObject(r);
}

endpoint parse_address(std::string_view addr) {
  endpoint ep;
  std::string_view host, port;
  if (!addr.empty() && addr.front() == '[') {
    auto close = addr.find(']');
    if (close == std::string_view::npos || close + 1 >= addr.size() || addr[close + 1] != ':')
      return ep;
    host = addr.substr(1, close - 1);
    port = addr.substr(close + 2);
  } else {
    auto colon = addr.rfind(':');
    if (colon == std::string_view::npos)
      return ep;
    host = addr.substr(0, colon);
    port = addr.substr(colon + 1);
  }
  int p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc{} || ptr != port.data() + port.size() || p <= 0 || p > 65535 || host.empty())
    return ep;
  ep.host = std::string{host};
  ep.port = p;
  return ep;
}

namespace {

timeval to_timeval(caf::timespan t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t).count();
  us = std::max<int64_t>(us, 1000);
  timeval tv;
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(us / 1'000'000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>(us % 1'000'000);
  return tv;
}

void append(redisContext* c, const command_args& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  if (redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())
      != REDIS_OK)
    throw io_failure{c->errstr};
}

} // namespace

connection::connection(const std::string& address, std::string password, caf::timespan timeout)
  : ep_(parse_address(address)), password_(std::move(password)), timeout_(timeout) {}

connection::~connection() {
  drop();
}

void connection::drop() {
  if (ctx_)
    redisFree(ctx_);
  ctx_ = nullptr;
}

void connection::fail(const std::string& what) {
  drop();
  throw io_failure{what};
}

void connection::connect() {
  if (ep_.port == 0)
    throw io_failure{"invalid cache address"};
  auto tv = to_timeval(timeout_);
  ctx_ = redisConnectWithTimeout(ep_.host.c_str(), ep_.port, tv);
  if (!ctx_)
    throw io_failure{"cannot allocate a redis context"};
  if (ctx_->err)
    fail(ctx_->errstr);
  if (redisSetTimeout(ctx_, tv) != REDIS_OK)
    fail("cannot set the socket timeout");
  if (!password_.empty()) {
    const char* argv[] = {"AUTH", password_.c_str()};
    size_t lens[] = {4, password_.size()};
    reply_ptr r{static_cast<redisReply*>(redisCommandArgv(ctx_, 2, argv, lens))};
    if (!r)
      fail(ctx_->errstr);
    if (r->type == REDIS_REPLY_ERROR) // the reply never echoes the password
      fail("AUTH rejected: " + std::string{r->str, r->len});
  }
}

std::vector<reply_ptr> connection::pipeline(const std::vector<command_args>& commands) {
  if (!ctx_)
    connect();
  try {
    for (auto& args : commands)
      append(ctx_, args);
  } catch (const io_failure& e) {
    fail(e.what());
  }
  std::vector<reply_ptr> out;
  out.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
      // hiredis reports a socket timeout as the errno text of EAGAIN.
      if (ctx_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK))
        fail("timed out waiting for a reply");
      fail(ctx_->err ? ctx_->errstr : "no reply");
    }
    out.emplace_back(static_cast<redisReply*>(raw));
  }
  return out;
}

reply_ptr connection::command(const command_args& args) {
  auto replies = pipeline({args});
  auto r = std::move(replies.front());
  if (r->type == REDIS_REPLY_ERROR)
    throw bad_reply{std::string{r->str, r->len}};
  return r;
}

std::optional<int64_t> as_int(const redisReply* r) {
  if (r->type == REDIS_REPLY_INTEGER)
    return static_cast<int64_t>(r->integer);
  if (r->type != REDIS_REPLY_STRING)
    return std::nullopt;
  int64_t v = 0;
  auto end = r->str + r->len;
  auto [ptr, ec] = std::from_chars(r->str, end, v);
  if (ec != std::errc{} || ptr != end)
    return std::nullopt;
  return v;
}

std::optional<int64_t> as_count(const redisReply* r) {
  if (r->type == REDIS_REPLY_NIL)
    return int64_t{0};
  return as_int(r);
}

} // namespace ping::cache
