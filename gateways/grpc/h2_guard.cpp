#include "gateways/grpc/h2_guard.hpp"

#include <cerrno>
#include <cstring>
#include <iterator>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ping::gateways {

namespace {

std::runtime_error sys_error(const std::string& what) {
  return std::runtime_error("h2_guard: " + what + ": " + std::strerror(errno));
}

void set_nonblocking(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// Bytes read from one side and not yet written to the other.
struct buffer {
  explicit buffer(size_t n) : bytes(n) {}
  size_t pending() const { return end - begin; }
  std::vector<char> bytes;
  size_t begin = 0;
  size_t end = 0;
};

struct connection;

// What the guard remembers of one client address.
struct peer {
  token_bucket resets;
  int connections = 0;
};

// The epoll cookie of each side.
struct endpoint {
  connection* conn;
};

// One way of a connection: bytes read from `from`, held in `buf`, written
// to `to`; once `from` reached EOF and everything before it went out, `to`
// is shut down for writing (the other side sees the EOF in order).
struct direction {
  direction(int from, int to, size_t bytes) : from(from), to(to), buf(bytes) {}
  int from;
  int to;
  buffer buf;
  bool eof = false;  // read 0 from `from`
  bool shut = false; // shut down `to` for writing
};

// One client connection: the client's socket and the guard's end of the
// socketpair whose other end the server owns.
struct connection {
  connection(int client, int upstream, const h2_guard_options& o, peer* from)
    : client(client),
      upstream(upstream),
      up(client, upstream, o.buffer_bytes),
      down(upstream, client, o.buffer_bytes),
      from(from) {}
  int client;
  int upstream;
  direction up;   // client -> server, its frames scanned on the way in
  direction down; // server -> client, copied as is
  h2_frame_scanner scanner;
  peer* from; // owned by the guard's address table
  endpoint client_tag{this};
  endpoint upstream_tag{this};
};

enum class io { progress, blocked, closed };

// Reads from `fd` into `b` (when it has room); the new bytes are the `got`
// bytes from `at`.
io fill(int fd, buffer& b, size_t& at, size_t& got) {
  got = 0;
  if (b.begin == b.end)
    b.begin = b.end = 0;
  at = b.end;
  if (b.end == b.bytes.size())
    return io::blocked;
  auto n = ::read(fd, b.bytes.data() + b.end, b.bytes.size() - b.end);
  if (n > 0) {
    got = static_cast<size_t>(n);
    b.end += got;
    return io::progress;
  }
  if (n == 0)
    return io::closed;
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? io::blocked : io::closed;
}

// Writes what `b` holds to `fd`.
io drain(int fd, buffer& b) {
  if (b.pending() == 0)
    return io::blocked;
  auto n = ::send(fd, b.bytes.data() + b.begin, b.pending(), MSG_NOSIGNAL);
  if (n > 0) {
    b.begin += static_cast<size_t>(n);
    return io::progress;
  }
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? io::blocked
                                                                              : io::closed;
}

enum class step { moved, idle, close };

// One step of a direction: reads what fits (`seen` gets the new bytes and
// returns false to close the connection), writes what is held, and passes
// the EOF on once nothing is left before it.
template <class Seen>
step advance(direction& d, Seen&& seen) {
  bool moved = false;
  if (!d.eof) {
    size_t at = 0;
    size_t got = 0;
    switch (fill(d.from, d.buf, at, got)) {
      case io::progress:
        moved = true;
        if (!seen(d.buf.bytes.data() + at, got))
          return step::close;
        break;
      case io::closed:
        d.eof = true;
        moved = true;
        break;
      case io::blocked:
        break;
    }
  }
  switch (drain(d.to, d.buf)) {
    case io::progress:
      moved = true;
      break;
    case io::closed:
      return step::close;
    case io::blocked:
      break;
  }
  if (d.eof && d.buf.pending() == 0 && !d.shut) {
    ::shutdown(d.to, SHUT_WR);
    d.shut = true;
  }
  return moved ? step::moved : step::idle;
}

} // namespace

struct h2_guard::impl {
  impl(h2_guard_options o, handoff h) : opts(std::move(o)), to_server(std::move(h)) {}

  ~impl() { close_all(); }

  void bind_and_listen() {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    auto host = opts.address;
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    addrinfo* res = nullptr;
    auto service = std::to_string(opts.port);
    if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0)
      throw std::runtime_error("h2_guard: cannot resolve " + opts.address + ": "
                               + ::gai_strerror(rc));
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard{res, ::freeaddrinfo};
    listener = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listener < 0)
      throw sys_error("socket");
    int one = 1;
    ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(listener, res->ai_addr, res->ai_addrlen) != 0 || ::listen(listener, 1024) != 0) {
      auto err = sys_error("cannot listen on " + opts.address + ":" + service);
      ::close(listener);
      listener = -1;
      throw err;
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof(bound);
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&bound), &len);
    bound_port = ntohs(bound.ss_family == AF_INET6
                         ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                         : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }

  void run() {
    std::vector<epoll_event> events(256);
    for (;;) {
      int n = ::epoll_wait(epfd, events.data(), static_cast<int>(events.size()), -1);
      if (n < 0 && errno != EINTR)
        return;
      for (int i = 0; i < n; ++i) {
        void* tag = events[i].data.ptr;
        if (tag == &wake_tag) {
          uint64_t v;
          [[maybe_unused]] auto r = ::read(wakefd, &v, sizeof(v));
          std::lock_guard<std::mutex> lock{mtx};
          if (stopping)
            return;
          if (!accepting && listener >= 0) {
            ::epoll_ctl(epfd, EPOLL_CTL_DEL, listener, nullptr);
            ::close(listener);
            listener = -1;
          }
        } else if (tag == &listen_tag) {
          accept_all();
        } else {
          auto* ep = static_cast<endpoint*>(tag);
          pump(ep->conn);
        }
      }
      for (auto* c : doomed) {
        conns.erase(c);
        delete c;
      }
      doomed.clear();
    }
  }

  // The entry of a client address, forgetting idle ones when the table is full.
  peer* peer_of(const sockaddr_storage& addr, std::chrono::steady_clock::time_point now) {
    std::string key;
    if (addr.ss_family == AF_INET6) {
      auto& a = reinterpret_cast<const sockaddr_in6&>(addr).sin6_addr;
      key.assign(reinterpret_cast<const char*>(&a), sizeof(a));
    } else {
      auto& a = reinterpret_cast<const sockaddr_in&>(addr).sin_addr;
      key.assign(reinterpret_cast<const char*>(&a), sizeof(a));
    }
    auto it = peers.find(key);
    if (it != peers.end())
      return &it->second;
    if (peers.size() >= opts.max_addresses) {
      for (auto i = peers.begin(); i != peers.end();)
        i = i->second.connections == 0 && i->second.resets.full(now) ? peers.erase(i)
                                                                     : std::next(i);
      if (peers.size() >= opts.max_addresses)
        return nullptr;
    }
    return &peers.emplace(key, peer{token_bucket{opts.resets_per_second, opts.reset_burst, now}})
              .first->second;
  }

  void accept_all() {
    for (;;) {
      sockaddr_storage addr{};
      socklen_t len = sizeof(addr);
      int fd = ::accept4(listener, reinterpret_cast<sockaddr*>(&addr), &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0)
        return; // EAGAIN, or a transient error (EMFILE, ECONNABORTED): try on the next event
      auto* from = static_cast<int>(conns.size()) < opts.max_connections
                     ? peer_of(addr, std::chrono::steady_clock::now())
                     : nullptr;
      if (from == nullptr) {
        ++stats.refused;
        ::close(fd);
        continue;
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      int pair[2];
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        ::close(fd);
        continue;
      }
      set_nonblocking(pair[0]);
      set_nonblocking(pair[1]); // gRPC expects a non-blocking descriptor
      auto* c = new connection(fd, pair[0], opts, from);
      ++from->connections;
      conns.insert(c);
      ++stats.accepted;
      ++stats.open;
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
      ev.data.ptr = &c->client_tag;
      ::epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
      ev.data.ptr = &c->upstream_tag;
      ::epoll_ctl(epfd, EPOLL_CTL_ADD, pair[0], &ev);
      to_server(pair[1]);
    }
  }

  // Moves bytes both ways until neither side can make progress.
  void pump(connection* c) {
    if (doomed.count(c) != 0)
      return;
    // The client's bytes pass the frame scanner: too many stream resets
    // close the connection, and so do bytes that are not HTTP/2 with prior
    // knowledge (the server would refuse them too).
    auto scan = [&](const char* bytes, size_t n) {
      auto now = std::chrono::steady_clock::now();
      bool abusive = false;
      bool ok = c->scanner.feed(bytes, n, [&] {
        if (!c->from->resets.take(now))
          abusive = true;
      });
      if (abusive)
        ++stats.closed_for_resets;
      return ok && !abusive;
    };
    auto as_is = [](const char*, size_t) { return true; };
    for (bool moved = true; moved;) {
      auto up = advance(c->up, scan);
      if (up == step::close)
        return close(c);
      auto down = advance(c->down, as_is);
      if (down == step::close || (c->up.shut && c->down.shut))
        return close(c);
      moved = up == step::moved || down == step::moved;
    }
  }

  // Closes both sides; the server sees EOF and cancels the connection's calls.
  void close(connection* c) {
    if (!doomed.insert(c).second)
      return;
    ::close(c->client); // also removes it from the epoll set
    ::close(c->upstream);
    --c->from->connections;
    --stats.open;
  }

  void close_all() {
    for (auto* c : conns) {
      close(c);
      delete c;
    }
    conns.clear();
    doomed.clear();
    if (listener >= 0)
      ::close(listener);
    if (epfd >= 0)
      ::close(epfd);
    if (wakefd >= 0)
      ::close(wakefd);
    listener = epfd = wakefd = -1;
  }

  void wake() {
    uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(wakefd, &one, sizeof(one));
  }

  h2_guard_options opts;
  handoff to_server;
  h2_guard_stats stats;
  int listener = -1;
  int epfd = -1;
  int wakefd = -1;
  uint16_t bound_port = 0;
  char wake_tag = 0;
  char listen_tag = 0;
  std::unordered_set<connection*> conns;       // owned; touched by the guard's thread only
  std::unordered_set<connection*> doomed;      // closed during this round, deleted after it
  std::unordered_map<std::string, peer> peers; // by client address
  std::mutex mtx;                              // guards accepting and stopping
  bool accepting = true;
  bool stopping = false;
  std::thread thread;
};

h2_guard::h2_guard(h2_guard_options opts, handoff to_server)
  : impl_(std::make_unique<impl>(std::move(opts), std::move(to_server))) {}

h2_guard::~h2_guard() {
  stop();
}

void h2_guard::start() {
  auto& d = *impl_;
  if (d.thread.joinable() || d.stopping)
    throw std::runtime_error("h2_guard: start() called twice or after stop()");
  d.bind_and_listen();
  d.epfd = ::epoll_create1(EPOLL_CLOEXEC);
  d.wakefd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (d.epfd < 0 || d.wakefd < 0)
    throw sys_error("epoll");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &d.listen_tag;
  ::epoll_ctl(d.epfd, EPOLL_CTL_ADD, d.listener, &ev);
  ev.data.ptr = &d.wake_tag;
  ::epoll_ctl(d.epfd, EPOLL_CTL_ADD, d.wakefd, &ev);
  d.thread = std::thread([&d] { d.run(); });
}

uint16_t h2_guard::port() const {
  return impl_->bound_port;
}

void h2_guard::stop_accepting() {
  std::lock_guard<std::mutex> lock{impl_->mtx};
  if (!impl_->accepting)
    return;
  impl_->accepting = false;
  if (impl_->wakefd >= 0)
    impl_->wake();
}

void h2_guard::stop() {
  {
    std::lock_guard<std::mutex> lock{impl_->mtx};
    if (impl_->stopping)
      return;
    impl_->stopping = true;
    if (impl_->wakefd >= 0)
      impl_->wake();
  }
  if (impl_->thread.joinable())
    impl_->thread.join();
  impl_->close_all();
}

const h2_guard_stats& h2_guard::stats() const {
  return impl_->stats;
}

} // namespace ping::gateways
