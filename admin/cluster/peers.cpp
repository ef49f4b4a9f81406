#include "admin/cluster/peers.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <ctime>

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

namespace ping::admin::cluster {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.'
         || c == '-' || c == '_';
}

} // namespace

std::string format_endpoint(const endpoint& e) {
  if (e.host.find(':') != std::string::npos)
    return "[" + e.host + "]:" + std::to_string(e.port);
  return e.host + ":" + std::to_string(e.port);
}

bool is_numeric_host(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

endpoint_parse parse_endpoint(std::string_view text) {
  endpoint_parse out;
  auto bad = [&](std::string_view why) {
    // Appended piecewise: GCC 12 warns (-Wrestrict) on a chain of + here.
    out.error.assign(1, '\'');
    out.error.append(text);
    out.error.append("': ");
    out.error.append(why);
    return out;
  };
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return bad("expected [IPv6]:PORT");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (!is_numeric_host(std::string{host}) || host.find(':') == std::string_view::npos)
      return bad("not an IPv6 address in brackets");
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return bad("expected HOST:PORT");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.empty())
      return bad("no host");
    if (!std::all_of(host.begin(), host.end(), host_char))
      return bad("a host name or IPv4 address (IPv6 in brackets)");
  }
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc{} || ptr != port.data() + port.size() || value == 0
      || value > 65535)
    return bad("port must be 1..65535");
  out.value = {std::string{host}, static_cast<uint16_t>(value)};
  return out;
}

peers_parse parse_peers(std::string_view text, size_t max_entries) {
  peers_parse out;
  size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    if (comma == std::string_view::npos)
      comma = text.size();
    auto entry = trim(text.substr(start, comma - start));
    start = comma + 1;
    if (entry.empty())
      continue;
    auto parsed = parse_endpoint(entry);
    if (!parsed.error.empty()) {
      out.error = parsed.error;
      out.peers.clear();
      return out;
    }
    if (std::find(out.peers.begin(), out.peers.end(), parsed.value) != out.peers.end())
      continue;
    if (out.peers.size() == max_entries) {
      out.error = "more than " + std::to_string(max_entries) + " peers";
      out.peers.clear();
      return out;
    }
    out.peers.push_back(std::move(parsed.value));
  }
  return out;
}

// One getaddrinfo_a request; glibc writes into it until it completes, so
// it stays put (heap) until then.
struct resolver::lookup {
  std::string host;
  addrinfo hints{};
  gaicb cb{};
};

resolver::resolver() = default;

resolver::~resolver() {
  // Lookups glibc still runs must not be freed under it: cancel, and wait
  // for the ones it cannot cancel (bounded by the resolver's own timeouts).
  for (auto& l : abandoned_) {
    gaicb* list[1] = {&l->cb};
    if (gai_cancel(&l->cb) == EAI_NOTCANCELED)
      while (gai_error(&l->cb) == EAI_INPROGRESS)
        gai_suspend(list, 1, nullptr);
    if (l->cb.ar_result)
      freeaddrinfo(l->cb.ar_result);
  }
}

void resolver::reap() {
  std::erase_if(abandoned_, [](const std::unique_ptr<lookup>& l) {
    if (gai_error(&l->cb) == EAI_INPROGRESS)
      return false;
    if (l->cb.ar_result)
      freeaddrinfo(l->cb.ar_result);
    return true;
  });
}

resolver::result resolver::resolve(const std::string& host, std::chrono::milliseconds deadline) {
  result out;
  if (is_numeric_host(host)) {
    out.addresses.push_back(host);
    return out;
  }
  reap();
  if (abandoned_.size() >= max_abandoned) {
    out.error = "resolver busy: " + std::to_string(abandoned_.size()) + " lookups overdue";
    return out;
  }
  auto l = std::make_unique<lookup>();
  l->host = host;
  l->hints.ai_family = AF_UNSPEC;
  l->hints.ai_socktype = SOCK_STREAM;
  l->cb.ar_name = l->host.c_str();
  l->cb.ar_request = &l->hints;
  gaicb* list[1] = {&l->cb};
  if (int rc = getaddrinfo_a(GAI_NOWAIT, list, 1, nullptr); rc != 0) {
    out.error = gai_strerror(rc);
    return out;
  }
  auto until = std::chrono::steady_clock::now() + deadline;
  int rc = EAI_INPROGRESS;
  for (;;) {
    rc = gai_error(&l->cb);
    if (rc != EAI_INPROGRESS)
      break;
    auto left = until - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero())
      break;
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    gai_suspend(list, 1, &ts); // EAI_AGAIN (timeout), EAI_INTR or done: looked at above
  }
  if (rc == EAI_INPROGRESS) {
    if (gai_cancel(&l->cb) == EAI_NOTCANCELED || gai_error(&l->cb) == EAI_INPROGRESS)
      abandoned_.push_back(std::move(l)); // glibc still writes into it
    else if (l->cb.ar_result)
      freeaddrinfo(l->cb.ar_result);
    out.error = "no answer within " + std::to_string(deadline.count()) + " ms";
    return out;
  }
  if (rc != 0) {
    out.error = gai_strerror(rc);
    return out;
  }
  std::vector<std::string> v4, v6;
  for (auto* ai = l->cb.ar_result; ai; ai = ai->ai_next) {
    char buf[NI_MAXHOST];
    if (getnameinfo(ai->ai_addr, ai->ai_addrlen, buf, sizeof buf, nullptr, 0, NI_NUMERICHOST) != 0)
      continue;
    auto& dest = ai->ai_family == AF_INET6 ? v6 : v4;
    if (std::find(dest.begin(), dest.end(), buf) == dest.end())
      dest.emplace_back(buf);
  }
  freeaddrinfo(l->cb.ar_result);
  l->cb.ar_result = nullptr;
  out.addresses = std::move(v4);
  out.addresses.insert(out.addresses.end(), v6.begin(), v6.end());
  if (out.addresses.empty())
    out.error = "no addresses";
  return out;
}

} // namespace ping::admin::cluster
