#pragma once
// Connect protocol (unary, HTTP/1.1) server.
//
// Public surface only: Boost.Beast/Asio stay inside src/server.cpp, so
// including this header is cheap. See connect-protocol.md for the rules
// implemented here (routing, 405/415, timeouts, compression, GET, errors).

#include <connectrpc/cors.hpp>
#include <connectrpc/status.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace google::protobuf {
class Message;
class MessageFactory;
class ServiceDescriptor;
} // namespace google::protobuf

namespace connectrpc {

/// Per-call information handed to a handler.
struct call_context {
  std::string procedure; ///< "/pkg.Svc/Method"
  std::optional<std::chrono::steady_clock::time_point>
    deadline; ///< from Connect-Timeout-Ms (clamped by max_timeout)
  std::vector<std::pair<std::string, std::string>>
    headers;        ///< request headers, lower-case names, repeats kept
  std::string peer; ///< "127.0.0.1:5555"

  /// First value of header `lower_name`, or nullptr.
  const std::string* header(std::string_view lower_name) const noexcept;
};

namespace detail {
struct responder_token;
struct responder_access;
} // namespace detail

/// Completes one call. Thread-safe: may be used from any thread (the answer
/// is serialized on the calling thread and posted to the connection's strand;
/// with one I/O thread, the answers settled meanwhile go in one handler).
///
/// Copies share the same call. The call must be completed exactly once
/// (a second ok()/fail() is a bug and asserts). If the server already
/// answered (deadline_exceeded, shutdown), completing is a silent no-op.
/// If the last copy is destroyed without completing, the client gets
/// `internal` ("handler dropped the responder"), so a lost responder never
/// leaks the connection.
class responder {
public:
  /// Answers with `response`, which must be of the procedure's response type
  /// (otherwise the client gets `internal`).
  void ok(const google::protobuf::Message& response) const;
  /// Answers with an error; an ok status is turned into `unknown`.
  void fail(status s) const;
  void fail(code c, std::string message) const { fail(status{c, std::move(message)}); }
  /// Adds a header to the answer, whichever it turns out to be (ok, an
  /// error, the deadline); call it before ok()/fail(). E.g. `traceparent`.
  void add_header(std::string name, std::string value) const;

  /// True until the call has been completed by this responder (any copy).
  bool pending() const noexcept;

private:
  friend struct detail::responder_access;
  explicit responder(std::shared_ptr<detail::responder_token> token) noexcept
    : token_(std::move(token)) {}
  std::shared_ptr<detail::responder_token> token_;
};

/// Handler for one procedure. Called on an I/O thread: it must not block;
/// hand the work off (e.g. to an actor) and complete `done` later. May be
/// invoked concurrently for different calls. `request` is an instance of the
/// procedure's request type. Exceptions become `internal`.
using handler = std::function<void(std::unique_ptr<google::protobuf::Message> request,
                                   call_context ctx, responder done)>;

/// Adapts a handler taking the concrete request type.
template <class Request, class F>
handler typed_handler(F fn) {
  return [fn = std::move(fn)](std::unique_ptr<google::protobuf::Message> request, call_context ctx,
                              responder done) {
    std::unique_ptr<Request> typed(static_cast<Request*>(request.release()));
    fn(std::move(typed), std::move(ctx), std::move(done));
  };
}

/// One routable unary procedure.
struct procedure {
  std::string path; ///< "/pkg.Svc/Method", exact match
  const google::protobuf::Message* request_prototype
    = nullptr; ///< not owned; must outlive the server
  const google::protobuf::Message* response_prototype
    = nullptr;                  ///< not owned; must outlive the server
  bool no_side_effects = false; ///< GET allowed (idempotency_level = NO_SIDE_EFFECTS)
  handler fn;
};

/// Builds procedures for every unary method of `service`; prototypes come from
/// `factory` (default: generated messages), `no_side_effects` from the
/// method's idempotency_level. Methods without a handler answer
/// `unimplemented`. Throws std::invalid_argument for a handler name that is
/// not a unary method of the service.
std::vector<procedure> procedures_for(const google::protobuf::ServiceDescriptor& service,
                                      std::map<std::string, handler> handlers,
                                      google::protobuf::MessageFactory* factory = nullptr);

/// The answer of a dynamic GET route.
struct http_answer {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

/// A GET route: served verbatim (e.g. "/" -> index.html), or rendered per
/// request by `render` (e.g. "/metrics"). `render` runs on an I/O thread: it
/// must be quick and must not block.
struct static_file {
  std::string path;
  std::string content_type;
  std::string body;
  std::function<http_answer(const call_context&)> render = {};
  /// Served without `server_options::authorize` (health probes).
  bool open = false;
};

/// Server configuration; every bound is named here.
struct server_options {
  std::string address = "127.0.0.1";
  std::uint16_t port = 8080; ///< 0 = ephemeral (see server::port())
  unsigned threads = 1;      ///< I/O threads
  /// The I/O threads' name (ps, top, perf; at most 15 characters); empty:
  /// the name of the thread that calls start().
  std::string thread_name;

  /// Request body limit, applied to the encoded body (Content-Length checked
  /// before reading; chunked bodies stop at the limit) and to the decoded
  /// message (gzip bomb guard). Exceeded -> resource_exhausted (429).
  std::size_t max_body_bytes = 4 << 20;
  std::size_t max_header_bytes = 16 << 10; ///< exceeded -> 431, connection closed

  std::chrono::milliseconds header_timeout{
    10000}; ///< whole request head; slow clients are disconnected
  std::chrono::milliseconds body_timeout{30000}; ///< whole request body
  /// Longest silence while a body arrives (nginx's client_body_timeout):
  /// the wait for each read of the body, not for the whole body.
  std::chrono::milliseconds body_read_timeout{5000};
  /// Least body rate, in bytes per second, once a body has taken longer than
  /// body_read_timeout; slower bodies are cut (a trickle that never stays
  /// silent long enough for body_read_timeout). 0 = no minimum.
  std::size_t min_body_rate = 1024;
  std::chrono::milliseconds write_timeout{30000}; ///< whole response
  std::chrono::milliseconds idle_timeout{60000};  ///< keep-alive wait for the next request
  /// stop(): how long a connection waiting for its next request stays open,
  /// so that a request already on its way is answered, not cut (0: closed
  /// at once).
  std::chrono::milliseconds drain_idle_grace{1000};
  /// 0 = none. Otherwise: upper bound for Connect-Timeout-Ms, and the
  /// deadline applied to calls that carry no timeout.
  std::chrono::milliseconds max_timeout{0};

  /// Beyond: the connection that has waited longest for its client (idle
  /// keep-alive, a head still incomplete, or a body still arriving) is
  /// closed to make room; only when every connection is busy with a call
  /// (its request read, its answer pending or being written) is the
  /// newcomer answered 503 and closed at once. So neither idle clients nor
  /// trickling bodies holding every slot can lock out a health probe or a
  /// normal call.
  std::size_t max_connections = 1024;
  bool require_protocol_version = false; ///< require Connect-Protocol-Version: 1 / connect=v1

  /// When set, the headers a handler's call_context carries (and
  /// `authorize` sees): these names (lower case), not every header of the
  /// request. Each header copied costs the I/O thread allocations per call.
  std::optional<std::vector<std::string>> context_headers;

  /// When set, every call and every route not marked `open` must pass it;
  /// otherwise the client gets 401 `unauthenticated`. Runs on an I/O thread.
  std::function<bool(const call_context&)> authorize;

  /// Responses at least this large are gzip-compressed when the client accepts gzip.
  std::size_t compress_min_bytes = 1024;

  /// CORS for browsers on other origins (off when no origin is listed).
  cors_options cors;

  /// When set, called once per Connect answer (every code, ok included) with
  /// the request path ("" when the head was never complete), the code and the
  /// time since the request was complete. Runs on an I/O thread: must not block.
  std::function<void(std::string_view path, code c, std::chrono::steady_clock::duration took)>
    on_response;
};

/// Counters, updated atomically; readable from any thread at any time.
struct server_stats {
  std::atomic<std::uint64_t> connections_open{0};
  std::atomic<std::uint64_t> connections_total{0};    ///< accepted (not counting rejected)
  std::atomic<std::uint64_t> connections_rejected{0}; ///< over max_connections, none idle to close
  std::atomic<std::uint64_t> connections_evicted{0};  ///< idle ones closed to make room
  std::atomic<std::uint64_t> requests_total{0};       ///< complete request heads received
  std::atomic<std::uint64_t> timeouts{0}; ///< connections closed for a header/body timeout
  std::atomic<std::uint64_t> http_errors{
    0}; ///< answers without a Connect code (405, 415, 431, 400)
  std::array<std::atomic<std::uint64_t>, code_count>
    responses_by_code{}; ///< Connect answers (ok included)

  std::uint64_t responses(code c) const noexcept {
    return responses_by_code[static_cast<std::size_t>(c)].load(std::memory_order_relaxed);
  }
};

/// HTTP/1.1 Connect server.
///
/// Owns an io_context, the acceptor and `threads` I/O threads; each
/// connection runs on its own strand, fully asynchronous (no thread ever
/// blocks on a client). Bounds: connections (max_connections), header and
/// body sizes, header/body/write/idle timeouts. Lifecycle: construct ->
/// start() -> stop() (or the destructor, which stops with no drain).
/// stop() and the destructor must not be called from a handler/I/O thread.
class server {
public:
  server(server_options options, std::vector<procedure> procedures,
         std::vector<static_file> files = {});
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds, listens and spawns the I/O threads. Throws std::system_error on
  /// bind/listen failure, std::logic_error if called twice.
  void start();

  /// Actual bound port (valid after start()).
  std::uint16_t port() const noexcept;

  /// Stops accepting, closes idle keep-alive connections (after
  /// drain_idle_grace, answering a request that arrives meanwhile), lets
  /// in-flight calls finish for up to `drain`, then closes everything and
  /// joins the threads. Calls still pending after `drain` are abandoned (their
  /// responders become no-ops). Idempotent.
  void stop(std::chrono::milliseconds drain = std::chrono::milliseconds{0});

  const server_stats& stats() const noexcept;

  /// Runs `fn` on an I/O thread after the handlers that are ready now (the
  /// rest of this turn of the event loop): a handler that collects its
  /// calls posts one `fn` per turn to hand them on together. Thread-safe;
  /// valid after start(); `fn` never runs once stop() has joined the
  /// threads. `fn` must not block.
  void post(std::function<void()> fn);

  /// Runs `fn` on an I/O thread once the steady clock has reached `at` (a
  /// timer of the event loop: a busy loop finds it due on its next turn,
  /// no other thread wakes up for it). Thread-safe; valid after start();
  /// `fn` never runs once stop() has joined the threads. `fn` must not
  /// block.
  void post_at(std::chrono::steady_clock::time_point at, std::function<void()> fn);

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

} // namespace connectrpc
