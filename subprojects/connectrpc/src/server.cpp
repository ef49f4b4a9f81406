// Connect unary server on Boost.Beast. The only translation unit that
// includes Beast/Asio.
//
// Structure:
//   server::impl  owns the io_context, the acceptor (on its own strand), the
//                 I/O threads, the route tables, the stats and a registry of
//                 live sessions (for stop()).
//   session       one TCP connection, on its own strand (with one I/O
//                 thread, on the io_context itself). Reads a request
//                 head (header_timeout, max_header_bytes), then the body
//                 (body_timeout for the whole body, body_read_timeout for
//                 each read, min_body_rate, max_body_bytes); until the body
//                 is in, the connection is evictable at the connection cap
//                 (it waits for its client). Then it validates it per the
//                 Connect protocol, decodes the message and calls the
//                 handler. While a call is pending no read is outstanding.
//   call_state    the pending call, shared by the session, the deadline
//                 timer and the responder. Whoever settles it first (the
//                 responder, the deadline, a dropped responder, shutdown)
//                 wins; everyone else is ignored. While pending it keeps
//                 its session alive; settling breaks that link.

#include <utility> // must precede Boost.Asio with C++20 (Boost 1.74 snag)

#include "connectrpc/json.hpp"
#include "connectrpc/protocol.hpp"
#include "connectrpc/server.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cstdio>
#include <iterator>
#include <mutex>
#include <pthread.h>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <unordered_map>

namespace connectrpc {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using namespace std::chrono_literals;

namespace {

// "{}" between JSON whitespace: the empty message, no JSON parser needed
// (protobuf's costs microseconds even for "{}").
bool is_empty_json_object(std::string_view s) noexcept {
  const auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  std::size_t i = 0, j = s.size();
  while (i < j && ws(s[i]))
    ++i;
  while (j > i && ws(s[j - 1]))
    --j;
  return j - i == 2 && s[i] == '{' && s[i + 1] == '}';
}

// The JSON of a message whose fields are all singular integers or bools,
// exactly as MessageToJsonString prints it with default options (fields
// without presence omitted at 0/false, 64-bit integers quoted, lowerCamelCase
// names, field order); false for any other message, which the library then
// prints.
bool print_flat_json(const google::protobuf::Message& m, std::string& out) {
  using fd = google::protobuf::FieldDescriptor;
  const auto* d = m.GetDescriptor();
  const auto* r = m.GetReflection();
  out = "{";
  bool first = true;
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    if (f->is_repeated() || f->real_containing_oneof() != nullptr)
      return false;
    std::string value;
    bool set = false;
    switch (f->cpp_type()) {
      case fd::CPPTYPE_INT32: {
        const auto v = r->GetInt32(m, f);
        set = v != 0;
        value = std::to_string(v);
        break;
      }
      case fd::CPPTYPE_UINT32: {
        const auto v = r->GetUInt32(m, f);
        set = v != 0;
        value = std::to_string(v);
        break;
      }
      case fd::CPPTYPE_INT64: {
        const auto v = r->GetInt64(m, f);
        set = v != 0;
        value = '"' + std::to_string(v) + '"';
        break;
      }
      case fd::CPPTYPE_UINT64: {
        const auto v = r->GetUInt64(m, f);
        set = v != 0;
        value = '"' + std::to_string(v) + '"';
        break;
      }
      case fd::CPPTYPE_BOOL: {
        const auto v = r->GetBool(m, f);
        set = v;
        value = v ? "true" : "false";
        break;
      }
      default:
        return false;
    }
    if (f->has_presence())
      set = r->HasField(m, f);
    if (!set)
      continue;
    if (!first)
      out += ',';
    first = false;
    out += '"';
    out += f->json_name();
    out += "\":";
    out += value;
  }
  out += '}';
  return true;
}

} // namespace

namespace detail {

class session;

/// A settled call: ok with a serialized body, or an error status.
struct call_result {
  status st;
  std::string body;
  header_list headers = {}; // responder::add_header
};

/// Shared state of one pending call (see file comment).
struct call_state {
  std::mutex mu;
  bool settled = false;
  std::shared_ptr<session> owner; // set while pending; cleared when settled
  protocol::codec codec = protocol::codec::json;
  const google::protobuf::Descriptor* response_type = nullptr;
  header_list headers; // responder::add_header, until settled

  bool is_settled() {
    std::lock_guard lock(mu);
    return settled;
  }

  /// Settles the call and posts the result to the session's strand. No-op
  /// if already settled. Callable from any thread.
  void settle(call_result r);

  /// Settles without answering (shutdown).
  void abandon() {
    std::shared_ptr<session> released;
    std::lock_guard lock(mu);
    settled = true;
    released = std::move(owner);
  }
};

/// Held (shared) by all copies of a responder.
struct responder_token {
  explicit responder_token(std::shared_ptr<call_state> s) : state(std::move(s)) {}
  responder_token(const responder_token&) = delete;
  responder_token& operator=(const responder_token&) = delete;

  ~responder_token() {
    if (!used.exchange(true)) {
      state->settle(
        {status{code::internal, "handler dropped the responder without answering"}, {}});
    }
  }

  std::shared_ptr<call_state> state;
  std::atomic<bool> used{false};
};

struct responder_access {
  static responder make(std::shared_ptr<responder_token> t) { return responder(std::move(t)); }
  static responder_token& token(const responder& r) { return *r.token_; }
};

} // namespace detail

// ---------------------------------------------------------------- responder

void responder::ok(const google::protobuf::Message& response) const {
  auto& token = *token_;
  const bool twice = token.used.exchange(true);
  assert(!twice && "connectrpc::responder completed twice");
  if (twice)
    return;
  auto& state = *token.state;
  if (state.is_settled())
    return; // deadline or shutdown won; skip serialization
  if (response.GetDescriptor() != state.response_type) {
    state.settle(
      {status{code::internal, "handler answered with " + response.GetDescriptor()->full_name()
                                + ", expected " + state.response_type->full_name()},
       {}});
    return;
  }
  detail::call_result r;
  if (state.codec == protocol::codec::proto) {
    if (!response.SerializeToString(&r.body)) {
      r.st = status{code::internal, "failed to serialize the response"};
    }
  } else if (!print_flat_json(response, r.body)) {
    r.body.clear();
    google::protobuf::util::JsonPrintOptions opts;
    const auto st = google::protobuf::util::MessageToJsonString(response, &r.body, opts);
    if (!st.ok())
      r.st = status{code::internal, "failed to encode the response as JSON: " + st.ToString()};
  }
  state.settle(std::move(r));
}

void responder::fail(status s) const {
  auto& token = *token_;
  const bool twice = token.used.exchange(true);
  assert(!twice && "connectrpc::responder completed twice");
  if (twice)
    return;
  if (s.c == code::ok)
    s.c = code::unknown;
  token.state->settle({std::move(s), {}});
}

bool responder::pending() const noexcept {
  return token_ && !token_->used.load();
}

void responder::add_header(std::string name, std::string value) const {
  auto& state = *token_->state;
  std::lock_guard lock(state.mu);
  if (!state.settled)
    state.headers.emplace_back(std::move(name), std::move(value));
}

// ------------------------------------------------------------------ server::impl

struct server::impl {
  impl(server_options o, std::vector<procedure> procs, std::vector<static_file> files);

  void do_accept();
  void reject(tcp::socket socket);
  /// Closes the connection waiting longest for its client (a request head
  /// or the rest of a body); false if every connection is busy with a call.
  bool evict_idle();
  void unregister(std::uint64_t id);
  template <class F>
  void for_each_session(F&& f);

  // Declared before the io_context so they outlive sessions destroyed
  // during io_context destruction.
  const server_options opts;
  std::unordered_map<std::string, procedure> procedures;
  std::unordered_map<std::string, static_file> files;
  server_stats stats;
  std::atomic<bool> stopping{false};
  std::mutex registry_mu;
  std::unordered_map<std::uint64_t, std::weak_ptr<detail::session>> registry;
  std::uint64_t next_id = 0; // guarded by registry_mu
  std::uint16_t bound_port = 0;
  bool started = false;
  bool stopped = false;

  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  tcp::acceptor acceptor;
  asio::steady_timer accept_retry; // backoff after accept errors (e.g. EMFILE)
  std::vector<std::thread> threads;

  /// A settled call's answer, for its session's executor (any thread).
  void deliver(std::shared_ptr<detail::session> s, detail::call_result r);
  void run_answers();
  using answer = std::pair<std::shared_ptr<detail::session>, detail::call_result>;
  // With one I/O thread, answers settled meanwhile go to it together: the
  // first posts one handler (run_answers) that writes them all, so a batch
  // of answers from another thread costs one handler, not one each.
  // Bounded: a connection has at most one call. Declared after the
  // io_context: the sessions they hold go first.
  std::mutex answers_mu;
  std::vector<answer> answers; // guarded by answers_mu
  std::vector<answer> running; // run_answers' batch (the I/O thread's)
};

namespace detail {

namespace {

constexpr std::string_view accept_post = "application/json, application/proto";

// Beast uses boost::string_view; convert at the boundary.
std::string_view sv(beast::string_view v) noexcept {
  return {v.data(), v.size()};
}

/// Memory for one request's header fields: Beast allocates each field of
/// the head it parses (name and value) on its own; these come from a buffer
/// the connection keeps, handed out in order and taken back all at once
/// when the next request begins (reset). A head larger than the buffer
/// takes the rest from the heap.
struct field_arena {
  static constexpr std::size_t size = 2048;
  alignas(std::max_align_t) std::array<unsigned char, size> buf{};
  std::size_t used = 0;

  void* allocate(std::size_t bytes) {
    constexpr std::size_t align = alignof(std::max_align_t);
    const std::size_t start = (used + align - 1) / align * align;
    if (start + bytes <= size) {
      used = start + bytes;
      return buf.data() + start;
    }
    return ::operator new(bytes);
  }
  void deallocate(void* p) noexcept {
    const auto* b = static_cast<const unsigned char*>(p);
    if (b >= buf.data() && b < buf.data() + size)
      return; // taken back by reset()
    ::operator delete(p);
  }
  void reset() noexcept { used = 0; }
};

template <class T>
struct arena_allocator {
  using value_type = T;
  field_arena* arena;

  explicit arena_allocator(field_arena* a) noexcept : arena(a) {}
  template <class U>
  arena_allocator(const arena_allocator<U>& o) noexcept : arena(o.arena) {} // NOLINT: rebind
  T* allocate(std::size_t n) { return static_cast<T*>(arena->allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) noexcept { arena->deallocate(p); }
  template <class U>
  bool operator==(const arena_allocator<U>& o) const noexcept {
    return arena == o.arena;
  }
  template <class U>
  bool operator!=(const arena_allocator<U>& o) const noexcept {
    return arena != o.arena;
  }
};

using request_fields = http::basic_fields<arena_allocator<char>>;

std::string format_peer(const tcp::endpoint& ep) {
  const auto addr = ep.address();
  std::string host = addr.to_string();
  if (addr.is_v6())
    host = "[" + host + "]";
  return host + ":" + std::to_string(ep.port());
}

} // namespace

/// One HTTP/1.1 connection (see file comment). All members are touched only
/// on the connection's strand, except through call_state (mutex) and the
/// server's atomics.
class session : public std::enable_shared_from_this<session> {
public:
  session(server::impl& srv, tcp::socket socket, std::uint64_t id)
    : srv_(srv), id_(id), socket_(std::move(socket)), timer_(socket_.get_executor()) {
    error_code ec;
    const auto ep = socket_.remote_endpoint(ec);
    if (!ec)
      peer_ = format_peer(ep);
    // Writes are tried at once (send); an answer that does not fit the
    // socket's buffer goes on asynchronously.
    socket_.non_blocking(true, ec);
    srv_.stats.connections_open.fetch_add(1);
    srv_.stats.connections_total.fetch_add(1);
  }

  ~session() {
    if (call_)
      call_->abandon();
    srv_.unregister(id_);
    srv_.stats.connections_open.fetch_sub(1);
  }

  session(const session&) = delete;
  session& operator=(const session&) = delete;

  asio::any_io_executor executor() { return socket_.get_executor(); }
  server::impl& server_impl() { return srv_; }

  void start() {
    asio::dispatch(socket_.get_executor(), [self = shared_from_this()] { self->read_request(); });
  }

  /// Server is stopping: no more keep-alive. A call in progress is answered,
  /// then the connection closes. A connection waiting for a request keeps
  /// waiting for drain_idle_grace, so that a request already on its way is
  /// answered (Connection: close) rather than cut by the close; then it
  /// closes.
  void post_server_stop() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      self->keep_alive_ = false;
      if (self->phase_ != phase::idle && self->phase_ != phase::reading_header)
        return;
      const auto grace = self->srv_.opts.drain_idle_grace;
      if (grace.count() <= 0)
        return self->close();
      // Applies while the connection waits for a request or its head.
      self->grace_until_ = clock::now() + grace;
      self->set_deadline(std::min(self->deadline_, self->grace_until_));
    });
  }

  /// Since when (steady clock, ns) this connection waits for its client (a
  /// request head, or the rest of a body); 0 while it is busy with a call.
  /// Read from the accept path.
  std::int64_t waiting_since() const { return waiting_since_.load(std::memory_order_relaxed); }

  /// Room is needed: close if still waiting for its client (a head, or the
  /// rest of a body).
  void post_evict() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      if (self->phase_ == phase::idle || self->phase_ == phase::reading_header
          || self->phase_ == phase::reading_body) {
        self->srv_.stats.connections_evicted.fetch_add(1);
        self->close();
      }
    });
  }

  /// Drain expired: abandon a pending call and close now.
  void post_force_close() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->force_close(); });
  }

  /// Only when no I/O thread runs (after join).
  void force_close() {
    if (call_) {
      call_->abandon();
      call_.reset();
    }
    close();
  }

  /// Called on the strand with the winner's result.
  void finish_call(call_result r) {
    if (phase_ != phase::in_call)
      return;          // closed meanwhile
    deadline_ = never; // the call's, if any (the timer, if armed, finds it gone)
    call_.reset();
    for (auto& h : r.headers)
      cors_headers_.push_back(std::move(h));
    if (!r.st.is_ok()) {
      send_error(r.st);
      return;
    }
    begin_answer(http::status::ok);
    set_field("Content-Type", protocol::content_type(codec_));
    std::string body;
    if (accept_gzip_ && r.body.size() >= srv_.opts.compress_min_bytes) {
      body = protocol::gzip_compress(r.body);
      set_field("Content-Encoding", "gzip");
    } else {
      body = std::move(r.body);
    }
    count(code::ok);
    send(std::move(body));
  }

private:
  enum class phase { idle, reading_header, reading_body, in_call, writing, closing, closed };

  std::atomic<std::int64_t> waiting_since_{0};
  std::string path_;                              // the request's path, for on_response
  header_list cors_headers_;                      // for every answer to this request (cors.hpp)
  std::chrono::steady_clock::time_point started_; // when the request was complete

  // ---- deadlines
  //
  // One timer per connection, armed lazily: each phase stores its deadline
  // in deadline_ (never: none); before the connection waits (a read, a
  // write that did not complete at once, a call with a deadline), the timer
  // is armed if that deadline comes earlier than the time it is armed for
  // (timer_at_). When it fires, it re-arms to a deadline that moved later,
  // or enforces one that passed. So the common request (head and body in
  // the read that ended the idle wait, answer written at once) arms,
  // cancels and runs no timer at all; a busy connection's timer fires about
  // once per idle_timeout, to move on to the current idle deadline.

  using clock = std::chrono::steady_clock;
  static constexpr clock::time_point never = clock::time_point::max();

  void set_deadline(clock::time_point at) {
    deadline_ = at;
    watch_deadline();
  }

  /// The connection is about to wait: the timer must fire by deadline_.
  void watch_deadline() {
    if (deadline_ < timer_at_)
      arm(deadline_);
  }

  void arm(clock::time_point at) {
    timer_at_ = at;
    timer_.expires_at(at); // a wait armed for later ends with operation_aborted
    timer_.async_wait([weak = weak_from_this()](error_code ec) {
      if (ec)
        return; // re-armed earlier, or the connection is gone
      if (auto self = weak.lock())
        self->on_timer();
    });
  }

  void on_timer() {
    timer_at_ = never;
    if (phase_ == phase::closed || deadline_ == never)
      return; // armed again when a phase sets a deadline
    const auto now = clock::now();
    if (deadline_ > now) {
      arm(deadline_);
      return;
    }
    deadline_ = never;
    on_deadline(now);
  }

  // The phase's deadline passed; the same outcome as each phase had with a
  // timed stream: a head or body too slow counts a timeout and closes, an
  // idle connection, a stuck write or the drain closes, a call is answered
  // deadline_exceeded.
  void on_deadline(clock::time_point now) {
    switch (phase_) {
      case phase::reading_header:
        if (now < grace_until_)
          srv_.stats.timeouts.fetch_add(1);
        close();
        break;
      case phase::reading_body:
        body_too_slow();
        break;
      case phase::in_call:
        if (call_)
          call_->settle({status{code::deadline_exceeded, "the call exceeded its deadline"}, {}});
        break;
      case phase::idle:
      case phase::writing:
      case phase::closing:
        close();
        break;
      case phase::closed:
        break;
    }
  }

  // ---- reading
  //
  // One loop reads a request's head and body: parse() feeds the parser
  // what is buffered; read_more() reads from the socket when it needs more,
  // under the phase's deadline (set only then).

  void read_request() {
    if (srv_.stopping.load()) {
      close();
      return;
    }
    const auto now = clock::now();
    waiting_since_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
    parser_.reset();
    arena_.reset(); // the last request's fields are gone with its parser
    parser_.emplace(std::piecewise_construct, std::make_tuple(),
                    std::make_tuple(arena_allocator<char>{&arena_}));
    parser_->header_limit(static_cast<std::uint32_t>(srv_.opts.max_header_bytes));
    parser_->body_limit(srv_.opts.max_body_bytes);
    continue_sent_ = false;
    if (!first_request_ && buffer_.size() == 0) {
      // Keep-alive: wait (idle_timeout) for the first byte of the next request.
      phase_ = phase::idle;
      deadline_ = std::min(now + srv_.opts.idle_timeout, grace_until_);
      read_more();
      return;
    }
    begin_header(now);
    parse();
  }

  // The head's time (header_timeout) runs from its first byte (from the
  // connection's start for the first request).
  void begin_header(clock::time_point now) {
    phase_ = phase::reading_header;
    deadline_ = std::min(now + srv_.opts.header_timeout, grace_until_);
  }

  void parse() {
    for (;;) {
      if (parser_->is_done()) {
        process();
        return;
      }
      if (buffer_.size() == 0)
        break;
      const bool in_body = parser_->is_header_done();
      error_code ec;
      const auto used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (in_body)
        body_read_ += used;
      if (ec == http::error::need_more)
        break;
      if (on_read_error(ec))
        return;
      if (!in_body && parser_->is_header_done())
        begin_body();
      if (used == 0)
        break;
    }
    if (phase_ == phase::reading_body && !continue_sent_
        && protocol::iequals(sv(parser_->get()[http::field::expect]), "100-continue")) {
      // The client waits for this before it sends the body.
      continue_sent_ = true;
      watch_deadline();
      static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(socket_, asio::buffer(cont.data(), cont.size()),
                        [self = shared_from_this()](error_code wec, std::size_t) {
                          if (wec) {
                            self->close();
                            return;
                          }
                          self->read_more();
                        });
      return;
    }
    read_more();
  }

  // The head is in; until the body is too, the connection still waits for
  // its client (waiting_since_ stays set: evictable).
  void begin_body() {
    phase_ = phase::reading_body;
    body_started_ = clock::now();
    body_read_ = 0;
    deadline_ = body_started_ + std::min(srv_.opts.body_timeout, srv_.opts.body_read_timeout);
  }

  // The body, one read at a time: each read waits at most
  // body_read_timeout, the whole body at most body_timeout, and after a
  // grace of one body_read_timeout the body must have come at
  // min_body_rate at least.
  void read_more() {
    if (phase_ == phase::reading_body) {
      const auto now = clock::now();
      const auto elapsed = now - body_started_;
      if (srv_.opts.min_body_rate > 0) {
        const auto late = elapsed - srv_.opts.body_read_timeout;
        if (late > clock::duration::zero()) {
          const double due = std::chrono::duration<double>(late).count()
                             * static_cast<double>(srv_.opts.min_body_rate);
          if (static_cast<double>(body_read_) < due)
            return body_too_slow();
        }
      }
      const auto left = srv_.opts.body_timeout - elapsed;
      if (left <= clock::duration::zero())
        return body_too_slow();
      deadline_ = now + std::min<clock::duration>(left, srv_.opts.body_read_timeout);
    }
    watch_deadline();
    const auto room = std::clamp<std::size_t>(buffer_.capacity() - buffer_.size(), 4096, 65536);
    socket_.async_read_some(buffer_.prepare(room),
                            [self = shared_from_this()](error_code ec, std::size_t n) {
                              self->on_read(ec, n);
                            });
  }

  void on_read(error_code ec, std::size_t n) {
    buffer_.commit(n);
    if (phase_ == phase::closed)
      return; // closed meanwhile (evicted, timed out, stopped)
    if (phase_ == phase::idle) {
      if (ec) {
        close();
        return;
      }
      begin_header(clock::now());
    } else if (ec) {
      if (ec == asio::error::eof) {
        // As Beast's read: the end of a message cut short, or before one.
        if (parser_->got_some())
          parser_->put_eof(ec);
        else
          ec = http::error::end_of_stream;
        if (!ec && parser_->is_done()) {
          process();
          return;
        }
        if (!ec)
          ec = http::error::partial_message;
      }
      on_read_error(ec);
      return;
    }
    parse();
  }

  // Maps read errors to an answer (or a plain close). Returns true if handled.
  bool on_read_error(error_code ec) {
    if (!ec)
      return false;
    keep_alive_ = false;
    version_ = 11;
    if (ec == http::error::header_limit) {
      srv_.stats.http_errors.fetch_add(1);
      begin_answer(http::status::request_header_fields_too_large);
      send({});
    } else if (ec == http::error::body_limit) {
      send_error(status{code::resource_exhausted, "request body exceeds the limit of "
                                                    + std::to_string(srv_.opts.max_body_bytes)
                                                    + " bytes"});
    } else if (malformed_http(ec)) {
      srv_.stats.http_errors.fetch_add(1);
      begin_answer(http::status::bad_request);
      send({});
    } else {
      close(); // end of stream, partial message, reset, aborted, ...
    }
    return true;
  }

  // Beast's HTTP parse errors, less the two that mean the client went away
  // (they share the category).
  static bool malformed_http(error_code ec) {
    return ec.category() == http::make_error_code(http::error::bad_target).category()
           && ec != http::error::end_of_stream && ec != http::error::partial_message;
  }

  void body_too_slow() {
    keep_alive_ = false;
    srv_.stats.timeouts.fetch_add(1);
    close();
  }

  // ---- request processing (Connect rules)
  //
  // process() runs the steps in order; each step that rejects the request
  // answers it itself and returns false (or null).

  void process() {
    begin_request();
    auto& req = parser_->get();
    const std::string_view target = sv(req.target());
    const auto qpos = target.find('?');
    path_.assign(target.substr(0, qpos)); // keeps path_'s buffer across requests
    if (!srv_.opts.cors.allowed_origins.empty() && answer_cors(req))
      return;
    const std::string_view query = qpos == std::string_view::npos ? std::string_view{}
                                                                  : target.substr(qpos + 1);
    const auto method = req.method();

    if ((method == http::verb::get || method == http::verb::head) && serve_file(req, method))
      return;

    const auto it = srv_.procedures.find(path_);
    if (it == srv_.procedures.end()) {
      send_error(status{code::unimplemented, "no procedure at " + path_}, http::status::not_found);
      return;
    }
    // Built once: for authorize, then handed to the handler.
    call_context ctx = make_context(req);
    if (srv_.opts.authorize && !srv_.opts.authorize(ctx)) {
      send_error(status{code::unauthenticated, "missing or wrong bearer token"});
      return;
    }
    const procedure& proc = it->second;
    if (!method_allowed(proc, method))
      return;

    const bool is_get = method == http::verb::get;
    std::string payload;
    protocol::coding coding = protocol::coding::identity;
    if (is_get ? !read_get_message(req, query, payload, coding)
               : !read_post_message(req, payload, coding))
      return;
    choose_response_coding(req, coding);
    std::optional<std::chrono::milliseconds> timeout;
    if (!read_timeout(req, timeout))
      return;
    if (!inflate(coding, payload))
      return;
    auto request = decode(proc, payload);
    if (!request)
      return;

    if (timeout)
      ctx.deadline = std::chrono::steady_clock::now() + *timeout;
    dispatch_call(proc, std::move(request), std::move(ctx));
  }

  using request_message = http::request<http::string_body, request_fields>;

  /// The request is complete: the connection is busy with it now.
  void begin_request() {
    deadline_ = never; // the timer, if armed, finds none and stops
    first_request_ = false;
    waiting_since_.store(0, std::memory_order_relaxed);
    const auto& req = parser_->get();
    srv_.stats.requests_total.fetch_add(1);
    version_ = req.version();
    keep_alive_ = req.keep_alive() && !srv_.stopping.load();
    started_ = std::chrono::steady_clock::now();
  }

  /// The handler's view of the request: procedure, peer, headers (names in
  /// lower case; only server_options::context_headers when they are listed).
  call_context make_context(const request_message& req) const {
    call_context ctx;
    ctx.procedure = path_;
    ctx.peer = peer_;
    const auto& wanted = srv_.opts.context_headers;
    if (!wanted) {
      ctx.headers.reserve(static_cast<std::size_t>(std::distance(req.begin(), req.end())));
      for (const auto& field : req) {
        ctx.headers.emplace_back(protocol::to_lower(sv(field.name_string())),
                                 std::string(sv(field.value())));
      }
      return ctx;
    }
    for (const auto& field : req) {
      const auto name = sv(field.name_string());
      for (const auto& w : *wanted) {
        if (protocol::iequals(name, w)) {
          ctx.headers.emplace_back(w, std::string(sv(field.value())));
          break;
        }
      }
    }
    return ctx;
  }

  /// GET/HEAD of a static file (server.hpp); false if none is at this path.
  bool serve_file(const request_message& req, http::verb method) {
    const auto f = srv_.files.find(path_);
    if (f == srv_.files.end())
      return false;
    const auto& file = f->second;
    std::optional<call_context> ctx;
    if (!file.open && srv_.opts.authorize && !srv_.opts.authorize(ctx.emplace(make_context(req)))) {
      send_error(status{code::unauthenticated, "missing or wrong bearer token"});
      return true;
    }
    http_answer answer{200, file.content_type, {}};
    if (file.render) {
      try {
        answer = file.render(ctx ? *ctx : ctx.emplace(make_context(req)));
      } catch (const std::exception& e) {
        answer = {500, "text/plain; charset=utf-8", std::string{"internal error: "} + e.what()};
      }
    } else {
      answer.body = file.body;
    }
    begin_answer(static_cast<http::status>(answer.status));
    set_field("Content-Type", answer.content_type); // answer outlives send()
    send(std::move(answer.body), method == http::verb::head);
    return true;
  }

  /// POST always; GET for procedures without side effects.
  bool method_allowed(const procedure& proc, http::verb method) {
    if (method == http::verb::post || (method == http::verb::get && proc.no_side_effects))
      return true;
    begin_answer(http::status::method_not_allowed);
    set_field("Allow", proc.no_side_effects ? "GET, POST" : "POST");
    srv_.stats.http_errors.fetch_add(1);
    send({});
    return false;
  }

  /// A GET call: message, encoding, compression, connect and base64 in the
  /// query. Sets codec_, `payload` and `coding`.
  bool read_get_message(const request_message& req, std::string_view query, std::string& payload,
                        protocol::coding& coding) {
    if (!req.body().empty())
      return reject_unsupported_media();
    auto params = protocol::parse_query(query);
    if (!params)
      return reject(status{code::invalid_argument, "malformed percent-encoding in query"});
    const std::string* message = nullptr;
    const std::string* encoding = nullptr;
    const std::string* compression = nullptr;
    const std::string* connect = nullptr;
    bool base64 = false;
    for (const auto& [k, v] : *params) {
      if (k == "message")
        message = &v;
      else if (k == "encoding")
        encoding = &v;
      else if (k == "compression")
        compression = &v;
      else if (k == "connect")
        connect = &v;
      else if (k == "base64")
        base64 = v == "1";
    }
    const auto c = encoding ? protocol::parse_encoding_param(*encoding) : std::nullopt;
    if (!c)
      return reject_unsupported_media();
    codec_ = *c;
    if (connect ? *connect != "v1" : srv_.opts.require_protocol_version) {
      return reject(status{code::invalid_argument, "connect query parameter must be \"v1\""});
    }
    if (compression) {
      const auto cd = protocol::parse_coding(*compression);
      if (!cd)
        return reject_unknown_coding(*compression);
      coding = *cd;
    }
    if (!message)
      return reject(status{code::invalid_argument, "missing message query parameter"});
    if (base64) {
      auto decoded = protocol::base64_decode(*message);
      if (!decoded)
        return reject(
          status{code::invalid_argument, "message query parameter is not valid base64"});
      payload = std::move(*decoded);
    } else {
      payload = *message;
    }
    if (payload.size() > srv_.opts.max_body_bytes)
      return reject_too_large();
    return true;
  }

  /// A POST call: Content-Type, Connect-Protocol-Version, Content-Encoding,
  /// and the body. Sets codec_, `payload` and `coding`.
  bool read_post_message(request_message& req, std::string& payload, protocol::coding& coding) {
    const auto c = protocol::parse_content_type(sv(req[http::field::content_type]));
    if (!c)
      return reject_unsupported_media();
    codec_ = *c;
    const auto version = req.find("connect-protocol-version");
    if (version != req.end() ? version->value() != "1" : srv_.opts.require_protocol_version) {
      return reject(status{code::invalid_argument, "connect-protocol-version must be \"1\""});
    }
    const auto enc = req.find(http::field::content_encoding);
    if (enc != req.end()) {
      const auto cd = protocol::parse_coding(sv(enc->value()));
      if (!cd)
        return reject_unknown_coding(sv(enc->value()));
      coding = *cd;
    }
    payload = std::move(req.body());
    return true;
  }

  /// Response compression: the client's Accept-Encoding, else the request's coding.
  void choose_response_coding(const request_message& req, protocol::coding coding) {
    if (const auto ae = req.find(http::field::accept_encoding); ae != req.end()) {
      accept_gzip_ = protocol::accepts_gzip(sv(ae->value()));
    } else {
      accept_gzip_ = coding == protocol::coding::gzip;
    }
  }

  /// Connect-Timeout-Ms, clamped by max_timeout.
  bool read_timeout(const request_message& req, std::optional<std::chrono::milliseconds>& timeout) {
    if (const auto t = req.find("connect-timeout-ms"); t != req.end()) {
      const auto ms = protocol::parse_timeout_ms(sv(t->value()));
      if (!ms)
        return reject(status{code::invalid_argument, "connect-timeout-ms must be 1 to 10 digits"});
      timeout = std::chrono::milliseconds(*ms);
    }
    if (srv_.opts.max_timeout.count() > 0 && (!timeout || *timeout > srv_.opts.max_timeout)) {
      timeout = srv_.opts.max_timeout;
    }
    return true;
  }

  /// Inflates a gzip payload, at most max_body_bytes.
  bool inflate(protocol::coding coding, std::string& payload) {
    if (coding != protocol::coding::gzip || payload.empty())
      return true;
    std::string inflated;
    switch (protocol::gzip_decompress(payload, srv_.opts.max_body_bytes, inflated)) {
      case protocol::inflate_result::ok:
        payload = std::move(inflated);
        return true;
      case protocol::inflate_result::too_large:
        return reject_too_large();
      case protocol::inflate_result::corrupt:
        return reject(status{code::invalid_argument, "request body is not valid gzip"});
    }
    return true;
  }

  /// The request message in codec_; null if it does not parse.
  std::unique_ptr<google::protobuf::Message> decode(const procedure& proc,
                                                    const std::string& payload) {
    std::unique_ptr<google::protobuf::Message> request(proc.request_prototype->New());
    if (codec_ == protocol::codec::proto) {
      if (!request->ParseFromString(payload)) {
        reject(status{code::invalid_argument,
                      "cannot unmarshal " + request->GetTypeName() + " from proto"});
        return nullptr;
      }
      return request;
    }
    if (payload.empty()) {
      reject(status{code::invalid_argument, "empty JSON body; send {} for an empty message"});
      return nullptr;
    }
    if (is_empty_json_object(payload))
      return request;
    // A few plain integers (most requests): no stream converter. Anything
    // else, errors included, is protobuf's to parse and to word.
    if (json::parse_plain(payload, *request))
      return request;
    request->Clear();
    google::protobuf::util::JsonParseOptions opts;
    opts.ignore_unknown_fields = true;
    const auto st = google::protobuf::util::JsonStringToMessage(payload, request.get(), opts);
    if (!st.ok()) {
      reject(status{code::invalid_argument,
                    "cannot unmarshal " + request->GetTypeName() + " from JSON: " + st.ToString()});
      return nullptr;
    }
    return request;
  }

  // Answer a rejected request; false, for the steps above.
  bool reject(const status& s) {
    send_error(s);
    return false;
  }
  bool reject_unsupported_media() {
    send_unsupported_media();
    return false;
  }
  bool reject_unknown_coding(std::string_view name) {
    send_unknown_coding(name);
    return false;
  }
  bool reject_too_large() {
    send_too_large();
    return false;
  }

  void dispatch_call(const procedure& proc, std::unique_ptr<google::protobuf::Message> request,
                     call_context ctx) {
    auto state = std::make_shared<call_state>();
    state->owner = shared_from_this();
    state->codec = codec_;
    state->response_type = proc.response_prototype->GetDescriptor();
    call_ = state;
    phase_ = phase::in_call;
    parser_.reset(); // free the request body

    if (ctx.deadline)
      set_deadline(*ctx.deadline); // on_deadline settles it deadline_exceeded

    auto token = std::make_shared<responder_token>(state);
    // `keep` holds a reference across the call so an exception is reported
    // as such rather than as a dropped responder.
    const responder keep = responder_access::make(token);
    try {
      proc.fn(std::move(request), std::move(ctx), keep);
    } catch (const std::exception& e) {
      if (!token->used.exchange(true))
        state->settle({status{code::internal, std::string("handler threw: ") + e.what()}, {}});
    } catch (...) {
      if (!token->used.exchange(true))
        state->settle({status{code::internal, "handler threw"}, {}});
    }
  }

  // ---- responses

  /// CORS (cors.hpp): notes the headers of this request's answer; answers a
  /// preflight itself (true).
  template <class Request>
  bool answer_cors(const Request& req) {
    const auto origin = sv(req[http::field::origin]);
    cors_headers_ = cors_response_headers(srv_.opts.cors, origin);
    auto preflight = cors_preflight(srv_.opts.cors, sv(req.method_string()), origin,
                                    sv(req[http::field::access_control_request_method]));
    if (!preflight)
      return false;
    cors_headers_ = std::move(*preflight);
    path_.clear();
    begin_answer(http::status::no_content);
    send({});
    return true;
  }

  // An answer is built in three steps: begin_answer(), set_field() for its
  // fields, send() with its body. The head is written into one buffer
  // (out_) that the connection keeps, and goes out with the body in one
  // system call: no field or serializer allocated per answer.

  void begin_answer(http::status s) {
    status_ = s;
    fields_.clear();
  }

  /// Sets a field of the answer begun, replacing one of the same name (any
  /// case). `name` and `value` must stay valid until send() returns.
  void set_field(std::string_view name, std::string_view value) {
    for (auto& f : fields_) {
      if (protocol::iequals(f.first, name)) {
        f.second = value;
        return;
      }
    }
    fields_.emplace_back(name, value);
  }

  bool has_field(std::string_view name) const {
    return std::any_of(fields_.begin(), fields_.end(),
                       [name](const auto& f) { return protocol::iequals(f.first, name); });
  }

  void count(code c) {
    srv_.stats.responses_by_code[static_cast<std::size_t>(c)].fetch_add(1);
    if (srv_.opts.on_response)
      srv_.opts.on_response(path_, c, std::chrono::steady_clock::now() - started_);
    path_.clear();
  }

  void send_error(const status& s, std::optional<http::status> http_override = std::nullopt) {
    const code c = s.c == code::ok ? code::unknown : s.c;
    begin_answer(http_override ? *http_override : static_cast<http::status>(http_status(c)));
    set_field("Content-Type", "application/json");
    auto body = protocol::error_json(status{c, s.message});
    count(c);
    send(std::move(body));
  }

  void send_unsupported_media() {
    begin_answer(http::status::unsupported_media_type);
    set_field("Accept-Post", accept_post);
    srv_.stats.http_errors.fetch_add(1);
    send({});
  }

  void send_unknown_coding(std::string_view name) {
    send_error(status{code::unimplemented,
                      "unsupported compression \"" + std::string(name)
                        + "\"; supported: " + std::string(protocol::supported_codings)});
  }

  void send_too_large() {
    send_error(status{code::resource_exhausted, "message exceeds the limit of "
                                                  + std::to_string(srv_.opts.max_body_bytes)
                                                  + " bytes"});
  }

  /// Sends the answer begun with `body`; for a HEAD request (`head_only`),
  /// its head alone, with the Content-Length the body would have had.
  void send(std::string body, bool head_only = false) {
    if (!has_field("Accept-Encoding"))
      set_field("Accept-Encoding", "gzip");
    set_field("Vary", "Accept-Encoding");
    for (const auto& [name, value] : cors_headers_)
      set_field(name, value);
    // Connection as Beast's keep_alive(): the version's default is not written.
    if (version_ >= 11 && !keep_alive_)
      set_field("Connection", "close");
    else if (version_ < 11 && keep_alive_)
      set_field("Connection", "keep-alive");
    write_head(body.size());
    fields_.clear();
    cors_headers_.clear(); // after write_head: fields_ pointed into it
    if (head_only || !has_body())
      body.clear();
    body_ = std::move(body);
    sent_ = 0;
    phase_ = phase::writing;
    // Most answers fit the socket's send buffer: written now, with no
    // deadline and no handler run; the rest goes on asynchronously.
    error_code ec;
    while (!ec && sent_ < out_.size() + body_.size())
      sent_ += socket_.send(unsent(), 0, ec);
    if (!ec) {
      if (buffer_.size() == 0 || !keep_alive_) {
        written({});
      } else {
        // The next request is already here (pipelined): parse it in a new
        // handler rather than deeper in this one's stack.
        asio::post(socket_.get_executor(), [self = shared_from_this()] { self->written({}); });
      }
      return;
    }
    if (ec != asio::error::would_block && ec != asio::error::try_again) {
      written(ec);
      return;
    }
    set_deadline(clock::now() + srv_.opts.write_timeout);
    asio::async_write(socket_, unsent(), [self = shared_from_this()](error_code wec, std::size_t) {
      self->written(wec);
    });
  }

  // Beast's prepare_payload(): no Content-Length (nor body) for 1xx, 204 and 304.
  bool has_body() const {
    const auto s = static_cast<unsigned>(status_);
    return (s < 100 || s >= 200) && s != 204 && s != 304;
  }

  /// The status line, the fields and Content-Length (`length`, unless the
  /// status has no body) into out_.
  void write_head(std::size_t length) {
    out_.clear();
    const auto s = static_cast<unsigned>(status_) % 1000;
    const auto digit = [](unsigned d) { return static_cast<char>('0' + d % 10); };
    const std::array<char, 13> line{'H',
                                    'T',
                                    'T',
                                    'P',
                                    '/',
                                    digit(version_ / 10),
                                    '.',
                                    digit(version_),
                                    ' ',
                                    digit(s / 100),
                                    digit(s / 10),
                                    digit(s),
                                    ' '};
    out_.append(line.data(), line.size());
    const auto reason = http::obsolete_reason(status_);
    out_.append(reason.data(), reason.size());
    out_ += "\r\n";
    for (const auto& [name, value] : fields_) {
      out_ += name;
      out_ += ": ";
      out_ += value;
      out_ += "\r\n";
    }
    if (has_body()) {
      out_ += "Content-Length: ";
      out_ += std::to_string(length);
      out_ += "\r\n";
    }
    out_ += "\r\n";
  }

  /// What is left to write of the head (out_) and the body (body_).
  std::array<asio::const_buffer, 2> unsent() const {
    if (sent_ < out_.size())
      return {asio::buffer(out_.data() + sent_, out_.size() - sent_), asio::buffer(body_)};
    const auto b = sent_ - out_.size();
    return {asio::const_buffer{}, asio::buffer(body_.data() + b, body_.size() - b)};
  }

  void written(error_code ec) {
    if (body_.capacity() > 65536)
      std::string{}.swap(body_); // a large answer's memory goes with it
    else
      body_.clear();
    if (phase_ == phase::closed)
      return;
    if (ec) {
      close();
    } else if (!keep_alive_) {
      linger_close();
    } else {
      read_request();
    }
  }

  // ---- closing

  /// Half-closes and discards (bounded, 500 ms) what the client still sends,
  /// so that closing with unread input does not reset the connection before
  /// the client has read our answer.
  void linger_close() {
    phase_ = phase::closing;
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    set_deadline(clock::now() + 500ms);
    drain();
  }

  void drain() {
    socket_.async_read_some(asio::buffer(drain_buf_),
                            [self = shared_from_this()](error_code ec, std::size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > (1u << 20)) {
                                self->close();
                                return;
                              }
                              self->drain();
                            });
  }

  void close() {
    if (phase_ == phase::closed)
      return;
    phase_ = phase::closed;
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    deadline_ = never;
    timer_.cancel(); // its handler holds no reference: the session can go now
  }

  server::impl& srv_;
  const std::uint64_t id_;
  tcp::socket socket_;
  asio::steady_timer timer_;              // the deadlines' one timer (see "deadlines")
  clock::time_point deadline_ = never;    // the current phase's deadline
  clock::time_point timer_at_ = never;    // when timer_ fires (never: not armed)
  clock::time_point grace_until_ = never; // stop(): close if still idle by then
  beast::flat_buffer buffer_;
  field_arena arena_; // parser_'s fields; declared first: it outlives them
  std::optional<http::request_parser<http::string_body, arena_allocator<char>>> parser_;
  http::status status_ = http::status::ok;                            // the answer begun
  std::vector<std::pair<std::string_view, std::string_view>> fields_; // its fields (set_field)
  std::string out_;            // its head, as written (kept: its capacity serves every answer)
  std::string body_;           // its body, as written
  std::size_t sent_ = 0;       // bytes of out_ and body_ written
  bool continue_sent_ = false; // 100 Continue sent for this request
  std::shared_ptr<call_state> call_;
  std::string peer_;
  phase phase_ = phase::reading_header;
  bool first_request_ = true;
  bool keep_alive_ = false;
  unsigned version_ = 11;
  protocol::codec codec_ = protocol::codec::json;
  bool accept_gzip_ = false;
  std::array<char, 4096> drain_buf_{};
  std::size_t drained_ = 0;
  std::chrono::steady_clock::time_point body_started_{};
  std::size_t body_read_ = 0; // body bytes parsed so far
};

void call_state::settle(call_result r) {
  std::shared_ptr<session> target;
  {
    std::lock_guard lock(mu);
    if (settled)
      return;
    settled = true;
    target = std::move(owner);
    r.headers = std::move(headers);
  }
  if (!target)
    return;
  auto& srv = target->server_impl();
  srv.deliver(std::move(target), std::move(r));
}

} // namespace detail

// ------------------------------------------------------------------ server::impl

server::impl::impl(server_options o, std::vector<procedure> procs, std::vector<static_file> fs)
  : opts(std::move(o)), acceptor(asio::make_strand(ioc)), accept_retry(acceptor.get_executor()) {
  for (auto& p : procs) {
    if (!p.request_prototype || !p.response_prototype || !p.fn) {
      throw std::invalid_argument("connectrpc: procedure " + p.path
                                  + " lacks prototypes or a handler");
    }
    std::string path = p.path;
    if (!procedures.emplace(std::move(path), std::move(p)).second) {
      throw std::invalid_argument("connectrpc: duplicate procedure path");
    }
  }
  for (auto& f : fs) {
    std::string path = f.path;
    files.emplace(std::move(path), std::move(f));
  }
}

void server::impl::do_accept() {
  // With one I/O thread its loop already runs a connection's handlers one at
  // a time: no strand (a strand costs a lock and a queue per handler).
  const auto executor = opts.threads <= 1 ? asio::any_io_executor(ioc.get_executor())
                                          : asio::any_io_executor(asio::make_strand(ioc));
  acceptor.async_accept(executor, [this](error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open())
        return;
      // Resource exhaustion (EMFILE, ENOBUFS...): back off instead of spinning.
      accept_retry.expires_after(100ms);
      accept_retry.async_wait([this](error_code wec) {
        if (!wec && acceptor.is_open())
          do_accept();
      });
      return;
    }
    if (stopping.load()) {
      error_code ignored;
      socket.close(ignored);
      return;
    }
    if (stats.connections_open.load() >= opts.max_connections && !evict_idle()) {
      reject(std::move(socket));
    } else {
      std::shared_ptr<detail::session> s;
      {
        std::lock_guard lock(registry_mu);
        const std::uint64_t id = next_id++;
        s = std::make_shared<detail::session>(*this, std::move(socket), id);
        registry.emplace(id, s);
      }
      s->start();
    }
    do_accept();
  });
}

// The oldest connection waiting for its client: idle, reading a head, or
// reading a body (see session::waiting_since).
bool server::impl::evict_idle() {
  std::shared_ptr<detail::session> oldest;
  std::int64_t since = 0;
  {
    std::lock_guard lock(registry_mu);
    for (auto& [id, weak] : registry) {
      auto s = weak.lock();
      if (!s)
        continue;
      auto t = s->waiting_since();
      if (t != 0 && (since == 0 || t < since)) {
        since = t;
        oldest = std::move(s);
      }
    }
  }
  if (!oldest)
    return false;
  oldest->post_evict();
  return true;
}

void server::impl::reject(tcp::socket socket) {
  stats.connections_rejected.fetch_add(1);
  static const std::string body
    = protocol::error_json(status{code::unavailable, "too many connections"});
  static const std::string answer
    = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
      "Connection: close\r\nContent-Length: "
      + std::to_string(body.size()) + "\r\n\r\n" + body;
  auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
  stream->expires_after(1s);
  asio::async_write(*stream, asio::buffer(answer), [stream](error_code, std::size_t) {
    error_code ignored;
    stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream->close();
  });
}

void server::impl::deliver(std::shared_ptr<detail::session> s, detail::call_result r) {
  if (opts.threads > 1) { // to the session's strand
    auto* p = s.get();
    asio::post(p->executor(),
               [s = std::move(s), r = std::move(r)]() mutable { s->finish_call(std::move(r)); });
    return;
  }
  bool first = false;
  {
    std::lock_guard lock(answers_mu);
    first = answers.empty();
    answers.emplace_back(std::move(s), std::move(r));
  }
  if (first)
    asio::post(ioc, [this] { run_answers(); });
}

void server::impl::run_answers() {
  {
    std::lock_guard lock(answers_mu);
    running.swap(answers);
  }
  for (auto& [s, r] : running)
    s->finish_call(std::move(r));
  running.clear();
}

void server::impl::unregister(std::uint64_t id) {
  std::lock_guard lock(registry_mu);
  registry.erase(id);
}

template <class F>
void server::impl::for_each_session(F&& f) {
  std::vector<std::shared_ptr<detail::session>> live;
  {
    std::lock_guard lock(registry_mu);
    for (auto& [id, weak] : registry) {
      if (auto s = weak.lock())
        live.push_back(std::move(s));
    }
  }
  for (auto& s : live)
    f(*s);
}

// ------------------------------------------------------------------ server

server::server(server_options options, std::vector<procedure> procedures,
               std::vector<static_file> files)
  : impl_(std::make_unique<impl>(std::move(options), std::move(procedures), std::move(files))) {}

server::~server() {
  try {
    stop(std::chrono::milliseconds{0});
  } catch (
    ...) { // a failed join at destruction: nothing left to do (thrown on, it would terminate)
  }
}

void server::start() {
  auto& m = *impl_;
  if (m.started)
    throw std::logic_error("connectrpc::server::start called twice");
  try {
    const tcp::endpoint ep(asio::ip::make_address(m.opts.address), m.opts.port);
    m.acceptor.open(ep.protocol());
    m.acceptor.set_option(asio::socket_base::reuse_address(true));
    m.acceptor.bind(ep);
    m.acceptor.listen(asio::socket_base::max_listen_connections);
    m.bound_port = m.acceptor.local_endpoint().port();
  } catch (const boost::system::system_error& e) {
    error_code ignored;
    m.acceptor.close(ignored);
    throw std::system_error(std::error_code(e.code().value(), std::system_category()),
                            "connectrpc: cannot listen on " + m.opts.address + ":"
                              + std::to_string(m.opts.port));
  }
  m.started = true;
  m.work.emplace(m.ioc.get_executor());
  asio::post(m.acceptor.get_executor(), [&m] { m.do_accept(); });
  const unsigned n = m.opts.threads == 0 ? 1 : m.opts.threads;
  for (unsigned i = 0; i < n; ++i) {
    m.threads.emplace_back([&m] {
      if (!m.opts.thread_name.empty()) // Linux keeps 15 characters
        pthread_setname_np(pthread_self(), m.opts.thread_name.substr(0, 15).c_str());
      for (;;) {
        try {
          m.ioc.run();
          return;
        } catch (const std::exception& e) {
          std::fprintf(stderr, "connectrpc: exception on I/O thread: %s\n", e.what());
        }
      }
    });
  }
}

std::uint16_t server::port() const noexcept {
  return impl_->bound_port;
}

const server_stats& server::stats() const noexcept {
  return impl_->stats;
}

void server::post(std::function<void()> fn) {
  asio::post(impl_->ioc, std::move(fn));
}

void server::post_at(std::chrono::steady_clock::time_point at, std::function<void()> fn) {
  // The timer owns itself through its handler; stop() stops the io_context,
  // so a timer still pending then never runs `fn`.
  auto timer = std::make_shared<asio::steady_timer>(impl_->ioc, at);
  timer->async_wait([timer, fn = std::move(fn)](error_code ec) {
    if (!ec)
      fn();
  });
}

void server::stop(std::chrono::milliseconds drain) {
  auto& m = *impl_;
  if (!m.started || m.stopped)
    return;
  m.stopped = true;
  m.stopping.store(true);

  asio::post(m.acceptor.get_executor(), [&m] {
    error_code ignored;
    m.acceptor.close(ignored);
    m.accept_retry.cancel();
  });
  m.for_each_session([](detail::session& s) { s.post_server_stop(); });

  const auto wait_closed = [&m](std::chrono::milliseconds budget) {
    const auto until = std::chrono::steady_clock::now() + budget;
    while (m.stats.connections_open.load() > 0 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(2ms);
    }
  };
  wait_closed(drain);
  if (m.stats.connections_open.load() > 0) {
    m.for_each_session([](detail::session& s) { s.post_force_close(); });
    wait_closed(1000ms);
  }

  m.work.reset();
  m.ioc.stop();
  for (auto& t : m.threads)
    t.join();
  m.threads.clear();
  std::vector<impl::answer> late; // settled after the last handler ran
  {
    std::lock_guard lock(m.answers_mu);
    late.swap(m.answers);
  }
  late.clear();
  m.running.clear();
  // No I/O thread runs now: detach any call still pending so late responders
  // become no-ops instead of posting to a dead io_context.
  m.for_each_session([](detail::session& s) { s.force_close(); });
}

} // namespace connectrpc
