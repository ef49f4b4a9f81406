#pragma once

#include <string>

#include <caf/timespan.hpp>

namespace ping {

/// The libpq connection string with deadlines on every wait added, so no
/// database call waits without one. Works for key=value strings and
/// postgresql:// URIs; keys the caller's string already sets are kept.
///
///  * `connect_timeout`: one connection attempt.
///  * `options=-c statement_timeout=...`: the server cancels a statement
///    (SQLSTATE 57014).
///  * `options=-c plan_cache_mode=force_generic_plan`: every prepared
///    statement is planned once per session. Its generic plan is the one
///    tests prove (the EXPLAIN test: an index range per partition, no scan
///    of history), so no plan switch can change it. Left to `auto`,
///    PostgreSQL planned the count reader's shared read afresh on every
///    execution (a custom plan each time, 1.2 ms of planning for a
///    statement that runs in 0.16-0.26 ms): 5,100 ranges/s instead of
///    18,400 on a 3 M-ping database (docs/counts.md, "Plans made once").
///  * `options=-c jit=off`: no JIT compilation. Our statements are short
///    index ranges whose generic plans are costed for the whole table,
///    above `jit_above_cost`, so PostgreSQL compiled them with LLVM on
///    every execution: the relay's read took 1-5 s of a core per pass at
///    20 M stored pings, to return a few rows, and a count compiled ~40
///    functions for 60-300 ms on an unanalyzed table.
///  * `keepalives*` and `tcp_user_timeout`: a server that vanishes without
///    a reset (power loss, partition) is noticed in seconds, not after the
///    kernel's ~15 minutes of retransmissions or 2 h of idle keepalives:
///    unacknowledged data or unanswered keepalive probes end the connection
///    after `connect_timeout + statement_timeout`.
///  * `target_session_attrs=read-write` (when `read_write`): a connection
///    that lands on a read-only server (a standby, a demoted primary after a
///    switchover, `default_transaction_read_only=on`) is refused, so the
///    caller reconnects until it reaches the primary.
std::string with_timeouts(const std::string& dsn, caf::timespan connect_timeout,
                          caf::timespan statement_timeout, bool read_write = true);

} // namespace ping
