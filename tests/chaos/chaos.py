#!/usr/bin/env python3
"""Chaos test of issue 9, "Counts that are never wrong": seeded load, faults
and checks against an already running set of Ping services.

Drives Ping (Connect JSON over HTTP/1.1, 127.0.0.1 only) through two or more
gateways, every ping with a timestamp_ms of its own, and meanwhile:

* checks every PingCount it issues: read-your-writes (the answer is at least
  the pings acknowledged in that range before the call was sent) and no
  over-count (the answer is at most the rows of the same range that a
  gateway accepted before the answer arrived: `received_at` before it);
  and every error answer has a retryable code (no `internal`, `unknown`
  or `data_loss`, issue 19 item 10);
* sends a few pings per second near the cache's edges (EdgeLoad): in a
  minute the retention floor crosses during the run, just above the floor,
  just below the future ceiling and beyond it, and checks their ranges too;
* injects faults, chosen and timed from the seed: SIGKILL and SIGTERM of each
  gateway and processor (then a restart), broker down/up and injected broker
  errors (control socket), PostgreSQL immediate restart, redis FLUSHALL,
  redis restarted empty, redis restarted from an older snapshot, redis frozen
  (SIGSTOP) longer than every cache timeout, a rebalance during a recount
  (FLUSHALL, then a processor stops or starts at once) and a reset of one
  partition's stored offset (with every processor stopped, so that the
  reset value is what they load when they start again).

After the load it waits (bounded, --settle-timeout) for quiescence: outbox
relayed, no processor lag, every partition's offset stored, the cache
unchanged for a few seconds and agreeing with PostgreSQL. Then it checks:
cache `total` == count(*); every retained minute bucket == its SQL count;
PingCount == SQL for every range tried, through every gateway; no
acknowledged ping missing (matched by its unique timestamp); no duplicate
row; relay_seq gapless per partition. It prints the fault log, the first
violations and a figures block (name=value; the issue's figures first).

Exit 0 only when every violation and mismatch figure is 0 and every fault
(and the restart it needs) worked; 1 otherwise; 2 when the harness itself
cannot run or is interrupted. --sabotage is the harness's self-test: it
breaks rows and cache after quiescence, and the final checks must catch it.

Python 3 standard library only; `psql` and `redis-cli` as subprocesses. The
services are described on the command line; restarts go through --helper
(tests/chaos/services.sh RUN), called as `HELPER start NAME [RDB]`,
`HELPER stop NAME` and `HELPER restart-pg`. See tests/chaos/run.sh.
"""

import argparse
import collections
import http.client
import json
import math
import os
import random
import select
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time

PING_PATH = "/ping.v1.PingService/Ping"
COUNT_PATH = "/ping.v1.PingService/PingCount"
LAG_PATH = "/ping.admin.v1.AdminService/GetLag"
JSON_HEADERS = {"Content-Type": "application/json"}
MINUTE_MS = 60_000
DEFAULT_RETENTION_MS = 7 * 24 * 3600 * 1000
DEFAULT_FUTURE_MS = 7 * 24 * 3600 * 1000  # the processor's --cache.future

# Fault kinds (--faults). kill/term take a target: kill = all four binaries,
# kill:processor = both processors, kill:gateway1 = that one.
FAULT_KINDS = [
    "kill", "term", "broker-down", "broker-errors", "pg-restart", "flushall",
    "redis-restart", "redis-old-snapshot", "redis-freeze", "rebalance-recount",
    "offsets-reset",
]
# Scheduled first in each run, so that a short run has them even when not
# everything fits.
IMPORTANT = ["redis-freeze", "flushall", "redis-old-snapshot", "kill:processor", "broker-down"]
# Broker errors worth injecting: retriable for producer and consumer alike.
BROKER_ERRORS = [5, 6, 7, 19]  # LEADER_NOT_AVAILABLE, NOT_LEADER_FOR_PARTITION,
                               # REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS
BROKER_ERROR_APIS = ["produce", "fetch"]

T0 = time.monotonic()


def elapsed():
    return time.monotonic() - T0


def log(msg):
    sys.stderr.write("[chaos +%6.1fs] %s\n" % (elapsed(), msg))
    sys.stderr.flush()


def proc_alive(pid):
    """True when pid runs and is not a zombie (PID 1 reaps orphans late)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    state = stat[stat.rfind(")") + 2:].split(" ", 1)[0]
    return state not in ("Z", "X")


def read_pid(pidfile):
    try:
        with open(pidfile) as f:
            text = f.read().strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None


def wait_until(pred, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def ts_sql(ms):
    """Epoch milliseconds as an exact timestamptz expression."""
    return "(to_timestamp(%d) + interval '%d milliseconds')" % (ms // 1000, ms % 1000)


def range_sql(r):
    if r is None:
        return "SELECT count(*) FROM pings"
    return "SELECT count(*) FROM pings WHERE pinged_at >= %s AND pinged_at < %s" % (
        ts_sql(r[0]), ts_sql(r[1]))


def accepted_before_sql(r, ms):
    """Rows in range r that a gateway accepted before epoch ms `ms`: every
    row committed by then was accepted by then (received_at is set at
    accept, on this machine's clock), and none accepted later is counted."""
    cond = "received_at < %s" % ts_sql(ms)
    if r is None:
        return "SELECT count(*) FROM pings WHERE " + cond
    return range_sql(r) + " AND " + cond


def range_name(r):
    if r is None:
        return "total"
    kind = "aligned" if r[0] % MINUTE_MS == 0 and r[1] % MINUTE_MS == 0 else "unaligned"
    return "%s[%d,%d)" % (kind, r[0], r[1])


# --------------------------------------------------------------------------
# Clients: psql session, redis-cli, broker control socket, Connect calls.

class Psql:
    """One long-lived psql process (one connection), respawned after a loss.

    query() returns the rows (lists of strings) or None on any failure.
    """

    def __init__(self, port, user, db):
        self.argv = ["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=0",
                     "-h", "127.0.0.1", "-p", str(port), "-U", user, "-d", db]
        self.env = dict(os.environ, PGCONNECT_TIMEOUT="3", PGAPPNAME="ping-chaos",
                        PGOPTIONS="-c statement_timeout=15000")
        self.proc = None
        self.buf = b""
        self.n = 0

    def close(self):
        if self.proc is not None:
            try:
                self.proc.kill()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            for f in (self.proc.stdin, self.proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass
        self.proc = None
        self.buf = b""

    def query(self, sql, timeout=20.0):
        if self.proc is None or self.proc.poll() is not None:
            self.close()
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         env=self.env)
        self.n += 1
        marker = b"__chaos_end_%d__" % self.n
        try:
            self.proc.stdin.write(sql.rstrip().rstrip(";").encode() + b";\n\\echo "
                                  + marker + b"\n")
            self.proc.stdin.flush()
        except (OSError, ValueError):
            self.close()
            return None
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            lines = self.buf.split(b"\n")
            if marker in lines:
                i = lines.index(marker)
                out, self.buf = lines[:i], b"\n".join(lines[i + 1:])
                break
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                return None
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:  # psql exited (connection lost or refused)
                self.close()
                return None
            self.buf += chunk
        text = [l.decode(errors="replace") for l in out if l]
        for l in text:
            if (l.startswith(("ERROR:", "FATAL:", "psql:", "server closed", "connection to",
                              "The connection", "no connection"))
                    or "terminating connection" in l):
                return None
        return [l.split("\t") for l in text]

    def scalar(self, sql, timeout=20.0):
        rows = self.query(sql, timeout)
        if not rows or not rows[0] or not rows[0][0].lstrip("-").isdigit():
            return None
        return int(rows[0][0])


class Redis:
    def __init__(self, port):
        self.port = port

    def cmd(self, *args, timeout=5.0):
        """Runs one command; returns its output lines, or None on failure."""
        try:
            p = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port)]
                               + [str(a) for a in args],
                               capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        out = p.stdout.strip("\n")
        if p.returncode != 0 or out.startswith(("ERR", "WRONGTYPE", "Could not connect",
                                                "LOADING", "NOSCRIPT", "BUSY")):
            return None
        return out.split("\n") if out else []

    def hgetall(self, key, timeout=5.0):
        lines = self.cmd("HGETALL", key, timeout=timeout)
        if lines is None:
            return None
        return dict(zip(lines[0::2], lines[1::2]))


def broker_control(sock_path, command, timeout=5.0):
    """One line to ping-devbroker's control socket; returns the answer."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock_path)
        s.sendall(command.encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        data = b""
        while b"\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.split(b"\n", 1)[0].decode(errors="replace")
    except OSError as e:
        return "error %s" % e
    finally:
        s.close()


class Connect:
    """A keep-alive HTTP/1.1 connection to one Connect endpoint."""

    def __init__(self, port, timeout):
        self.port, self.timeout, self.conn = port, timeout, None

    def call(self, path, body):
        """Returns (status, body bytes) or (None, reason) on a transport error."""
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=self.timeout)
            self.conn.request("POST", path, body=body, headers=JSON_HEADERS)
            resp = self.conn.getresponse()
            data = resp.read()
            if resp.will_close:
                self.close()
            return resp.status, data
        except socket.timeout:
            self.close()
            return None, "timeout"
        except ConnectionRefusedError:
            self.close()
            return None, "refused"
        except (OSError, http.client.HTTPException) as e:
            self.close()
            return None, type(e).__name__

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
            self.conn = None


def connect_code(status, data):
    """The Connect code of an answer: "ok", the error's "code" (JSON body),
    else one derived from the HTTP status (connect-protocol.md), or None for
    no answer (a transport error)."""
    if status is None:
        return None
    if status == 200:
        return "ok"
    try:
        code = json.loads(data).get("code")
        if isinstance(code, str) and code:
            return code
    except (ValueError, AttributeError, TypeError):
        pass
    return {400: "internal", 401: "unauthenticated", 403: "permission_denied",
            404: "unimplemented", 429: "unavailable", 502: "unavailable",
            503: "unavailable", 504: "unavailable"}.get(status, "unknown")


def error_message(data):
    try:
        return str(json.loads(data).get("message", ""))[:120]
    except (ValueError, AttributeError, TypeError):
        return repr(bytes(data)[:120])


# Codes a client must not retry (a bug, not a fault): infrastructure faults
# surface as unavailable, deadline_exceeded or resource_exhausted instead.
NON_RETRYABLE = ("internal", "unknown", "data_loss")


def count_body(r):
    if r is None:
        return b"{}"
    return json.dumps({"time_range": {"start": r[0], "end": r[1]}}).encode()


def parse_count(data):
    try:
        return int(json.loads(data).get("pingCount", "0"))
    except (ValueError, AttributeError, TypeError):
        return None


# --------------------------------------------------------------------------
# Bookkeeping.

class Fenwick:
    def __init__(self, n):
        self.n, self.t = n, [0] * (n + 1)

    def add(self, i):
        i += 1
        while i <= self.n:
            self.t[i] += 1
            i += i & -i

    def prefix(self, i):  # count of positions < i
        i = max(0, min(i, self.n))
        s = 0
        while i > 0:
            s += self.t[i]
            i -= i & -i
        return s


class Record:
    """Every ping sent, acknowledged or failed; counts acked per range."""

    def __init__(self, span_start, span_ms):
        self.lock = threading.Lock()
        self.span_start, self.span_ms = span_start, span_ms
        self.fen = Fenwick(span_ms)
        self.acked = []
        self.failed = []
        self.failed_reasons = collections.Counter()
        self.before = collections.Counter()  # rows already in the span at the start
        self.edge_acked = []   # pings near the cache's edges (EdgeLoad), outside the span
        self.edge_failed = []

    def ack(self, ts):
        with self.lock:
            self.acked.append(ts)
            self.fen.add(ts - self.span_start)

    def fail(self, ts, reason):
        with self.lock:
            self.failed.append(ts)
            self.failed_reasons[reason] += 1

    def edge(self, ts, ok):
        with self.lock:
            (self.edge_acked if ok else self.edge_failed).append(ts)

    def acked_in(self, r):
        """Pings acknowledged so far in range r (None: all of this run's)."""
        with self.lock:
            if r is None:
                return len(self.acked) + len(self.edge_acked)
            a, b = r[0] - self.span_start, r[1] - self.span_start
            return (self.fen.prefix(b) - self.fen.prefix(a)
                    + sum(1 for ts in self.edge_acked if r[0] <= ts < r[1]))


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = collections.Counter()
        self.samples = collections.defaultdict(list)

    def inc(self, name, n=1):
        with self.lock:
            self.c[name] += n

    def sample(self, name, text, keep=5):
        with self.lock:
            if len(self.samples[name]) < keep:
                self.samples[name].append(text)


# --------------------------------------------------------------------------
# Load and PingCount checking.

class Load:
    def __init__(self, args, gateways, record, stats, stop):
        self.args, self.gateways, self.record, self.stats, self.stop = (
            args, gateways, record, stats, stop)
        self.rate = args.rate
        self.max_pings = int(args.rate * args.duration)
        self.lock = threading.Lock()
        self.next_index = 0
        self.t_start = None
        self.t_end = None
        rng = random.Random(args.seed * 7919 + 1)
        self.phase = rng.randrange(record.span_ms)
        # A step coprime to the span walks every millisecond of it once: unique
        # timestamps spread over all the span's minutes from the first ping on.
        step = 1_000_003
        while math.gcd(step, record.span_ms) != 1:
            step += 2
        self.step = step

    def ts_of(self, i):
        return self.record.span_start + (self.phase + i * self.step) % self.record.span_ms

    def worker(self):
        conns = {name: Connect(port, self.args.ping_timeout) for name, port in self.gateways}
        names = [name for name, _ in self.gateways]
        while not self.stop.is_set():
            with self.lock:
                i = self.next_index
                self.next_index += 1
            if i >= self.max_pings:
                break
            due = self.t_start + i / self.rate
            now = time.monotonic()
            if now >= self.t_end:
                break
            if due > now:
                if self.stop.wait(due - now):
                    break
            ts = self.ts_of(i)
            name = names[i % len(names)]
            status, data = conns[name].call(PING_PATH, b'{"timestamp_ms": %d}' % ts)
            if status == 200:
                self.record.ack(ts)
            else:
                code = connect_code(status, data)
                self.record.fail(ts, "http %d %s" % (status, code) if status else data)
                if code in NON_RETRYABLE:
                    self.stats.inc("non_retryable_answers")
                    self.stats.sample("non_retryable", "t=%.1fs %s Ping http %d %s: %s" % (
                        elapsed(), name, status, code, error_message(data)), keep=20)
        for c in conns.values():
            c.close()

    def start(self):
        self.t_start = time.monotonic()
        self.t_end = self.t_start + self.args.duration
        self.threads = [threading.Thread(target=self.worker, name="ping-%d" % k, daemon=True)
                        for k in range(self.args.threads)]
        for t in self.threads:
            t.start()

    def join(self, timeout):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self.threads)


class EdgeLoad:
    """Pings near the cache's edges, beside the main load (issue 19): a
    group whose minute crosses the retention floor during the run, one a
    few minutes above the floor, one just below the future ceiling (still
    bucketed) and one beyond it (counted in the total only). Each group's
    pings are 13 ms apart from a minute's start (unique timestamps, one
    minute per group). Their ranges join the ones checked."""

    STEP_MS = 13

    def __init__(self, args, gateways, record, stats, stop):
        self.args, self.gateways, self.record, self.stats, self.stop = (
            args, gateways, record, stats, stop)
        now = int(time.time() * 1000)
        floor_min = (now - args.retention_ms) // MINUTE_MS
        ceiling_min = (now + args.future_ms) // MINUTE_MS
        self.groups = [("floor-crossing", (floor_min + 1) * MINUTE_MS),
                       ("above-floor", (floor_min + 7) * MINUTE_MS),
                       ("below-ceiling", (ceiling_min - 6) * MINUTE_MS),
                       ("beyond-ceiling", (ceiling_min + 5) * MINUTE_MS)]
        self.sent = [0] * len(self.groups)
        self.thread = threading.Thread(target=self.run, name="edge", daemon=True)

    def ranges(self):
        out = []
        for _, start in self.groups:
            out.append((start, start + MINUTE_MS))                   # its minute, aligned
            out.append((start + 1, start + 40 * self.STEP_MS + 5))   # part of it, unaligned
        return out

    def run(self):
        conns = {name: Connect(port, self.args.ping_timeout) for name, port in self.gateways}
        names = [name for name, _ in self.gateways]
        period = 1.0 / self.args.edge_rate if self.args.edge_rate > 0 else None
        k = 0
        try:
            while period and not self.stop.is_set() and k < 4 * 4000:
                g = k % len(self.groups)
                ts = self.groups[g][1] + self.sent[g] * self.STEP_MS
                self.sent[g] += 1
                name = names[k % len(names)]
                k += 1
                status, data = conns[name].call(PING_PATH, b'{"timestamp_ms": %d}' % ts)
                self.record.edge(ts, status == 200)
                if status != 200:
                    code = connect_code(status, data)
                    if code in NON_RETRYABLE:
                        self.stats.inc("non_retryable_answers")
                        self.stats.sample("non_retryable", "t=%.1fs %s edge Ping http %d %s: %s" % (
                            elapsed(), name, status, code, error_message(data)))
                if self.stop.wait(period):
                    break
        finally:
            for c in conns.values():
                c.close()

    def rows(self, psql):
        """Rows per timestamp in each group's stretch (a Counter), or None."""
        out = collections.Counter()
        for g, (_, start) in enumerate(self.groups):
            end = start + max(1, self.sent[g]) * self.STEP_MS
            rows = psql.query("SELECT (extract(epoch FROM pinged_at) * 1000)::bigint FROM pings "
                              "WHERE pinged_at >= %s AND pinged_at < %s" % (
                                  ts_sql(start), ts_sql(end)))
            if rows is None:
                return None
            out.update(int(r[0]) for r in rows)
        return out


class Checker:
    """PingCount calls with read-your-writes and no-over-count checks."""

    def __init__(self, k, args, gateways, ranges, record, stats, stop):
        self.args, self.gateways, self.ranges = args, gateways, ranges
        self.record, self.stats, self.stop = record, stats, stop
        self.rng = random.Random(args.seed * 104729 + 17 + k)
        self.psql = Psql(args.pg_port, args.pg_user, args.pg_db)
        self.thread = threading.Thread(target=self.run, name="count-%d" % k, daemon=True)

    def run(self):
        conns = {name: Connect(port, self.args.count_timeout) for name, port in self.gateways}
        try:
            while not self.stop.is_set():
                self.check_one(conns)
                if self.stop.wait(self.rng.uniform(0.02, 0.15)):
                    break
        finally:
            for c in conns.values():
                c.close()
            self.psql.close()

    def check_one(self, conns):
        name, _ = self.rng.choice(self.gateways)
        r = self.rng.choice(self.ranges)
        lower = self.record.acked_in(r)  # acknowledged before the call is sent
        status, data = conns[name].call(COUNT_PATH, count_body(r))
        answered_ms = int(time.time() * 1000) + 1  # the answer is in
        answer = parse_count(data) if status == 200 else None
        if answer is None:
            self.stats.inc("count_errors")
            code = connect_code(status, data)
            if code in NON_RETRYABLE:
                self.stats.inc("non_retryable_answers")
                self.stats.sample("non_retryable", "t=%.1fs %s PingCount http %s %s: %s" % (
                    elapsed(), name, status, code, error_message(data)))
            return
        # The over-count bound: rows accepted before the answer arrived (not
        # rows stored by the time the query runs, which would hide an answer
        # that counted pings committed after it).
        stored = self.psql.scalar(accepted_before_sql(r, answered_ms))
        self.stats.inc("counts_checked")
        where = "t=%.1fs %s %s" % (elapsed(), name, range_name(r))
        if answer < lower:
            self.stats.inc("ryw_violations")
            self.stats.sample("ryw", "%s answer=%d acked_before=%d (short by %d)" % (
                where, answer, lower, lower - answer))
        if stored is None:
            self.stats.inc("over_count_unchecked")
        elif answer > stored:
            self.stats.inc("over_count_violations")
            self.stats.sample("over", "%s answer=%d accepted_before=%d (over by %d)" % (
                where, answer, stored, answer - stored))


# --------------------------------------------------------------------------
# Faults.

class Services:
    def __init__(self, args):
        self.args = args
        self.helper = shlex.split(args.helper)
        self.gateways = []    # (name, port, pidfile)
        for spec in args.gateway:
            d, port = spec.rsplit("=", 1)
            self.gateways.append((os.path.basename(d.rstrip("/")), int(port),
                                  os.path.join(d, "gateway.pid")))
        self.processors = []  # (name, dir, pidfile)
        for d in args.processor:
            self.processors.append((os.path.basename(d.rstrip("/")), d,
                                    os.path.join(d, "processor.pid")))
        self.redis_pidfile = os.path.join(args.redis_dir, "redis.pid")

    def pidfile(self, name):
        for n, _, pf in self.gateways + self.processors:
            if n == name:
                return pf
        if name == "redis":
            return self.redis_pidfile
        raise KeyError(name)

    def binaries(self):
        return [g[0] for g in self.gateways] + [p[0] for p in self.processors]

    def alive(self, name):
        pid = read_pid(self.pidfile(name))
        return pid is not None and proc_alive(pid)

    def run_helper(self, *argv, timeout=200):
        cmd = self.helper + list(argv)
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return False, "helper %s timed out" % " ".join(argv)
        lines = (p.stdout + p.stderr).strip().splitlines()
        return p.returncode == 0, " | ".join(lines[-2:])

    def log_tail(self, name, n=2):
        """The last lines of a binary's log (next to its pid file)."""
        try:
            pf = self.pidfile(name)
        except KeyError:
            return ""
        path = os.path.join(os.path.dirname(pf), name.rstrip("0123456789") + ".log")
        try:
            with open(path, errors="replace") as f:
                return " | ".join(l.strip() for l in f.readlines()[-n:])
        except OSError:
            return ""

    def start(self, name, *extra, attempts=3):
        """Starts NAME through the helper, retrying (bounded) like a supervisor
        would: a start can fail for reasons outside the test, e.g. the binary
        being relinked by a build at that moment. Every failed attempt is
        reported in the detail."""
        notes = []
        for k in range(attempts):
            ok, tail = self.run_helper("start", name, *extra)
            if ok:
                return True, "; ".join(notes + (["started at attempt %d" % (k + 1)]
                                                if notes else []))
            notes.append("attempt %d failed: %s [log: %s]" % (k + 1, tail, self.log_tail(name)))
            time.sleep(1.0)
        return False, "; ".join(notes)

    def processor_admin(self, d):
        try:
            with open(os.path.join(d, "processor.ports")) as f:
                for line in f:
                    if line.startswith("admin="):
                        return int(line.split("=", 1)[1])
        except (OSError, ValueError):
            pass
        return None


def why(*tails):
    parts = [t for t in tails if t]
    return (" (%s)" % "; ".join(parts)) if parts else ""


def expand_faults(spec, services):
    """--faults text -> list of (kind, target) in a stable order."""
    names = services.binaries()
    out = []
    items = [s.strip() for s in spec.split(",") if s.strip()]
    if items == ["all"]:
        items = list(FAULT_KINDS)
    if items == ["none"]:
        return []
    for item in items:
        kind, _, target = item.partition(":")
        if kind not in FAULT_KINDS:
            raise SystemExit("unknown fault kind %r (kinds: %s)" % (kind, ", ".join(FAULT_KINDS)))
        if kind in ("kill", "term"):
            matched = [n for n in names if n.startswith(target)]
            if not matched:
                raise SystemExit("fault %r matches no service of %s" % (item, names))
            out += [(kind, n) for n in matched]
        else:
            out.append((kind, None))
    seen, uniq = set(), []
    for f in out:
        if f not in seen:
            seen.add(f)
            uniq.append(f)
    return uniq


def schedule(faults, args, rng):
    """One round: the important faults first (in seeded order), then the rest;
    more rounds (each freshly shuffled) while they fit the fault window."""
    def is_important(f):
        for imp in IMPORTANT:
            kind, _, target = imp.partition(":")
            if f[0] == kind and (f[1] or "").startswith(target):
                return True
        return False

    important = [f for f in faults if is_important(f)]
    # Of a targeted important kind (kill:processor), one target goes first.
    first, seen_kinds = [], set()
    for f in rng.sample(important, len(important)):
        if f[0] in ("kill", "term") and f[0] in seen_kinds:
            continue
        seen_kinds.add(f[0])
        first.append(f)
    rest = [f for f in faults if f not in first]
    events = first + rng.sample(rest, len(rest))
    window = max(1.0, args.duration * (1 - args.fault_tail) - args.fault_head)
    total = len(events)
    if faults:
        rounds = max(1, int(window / args.fault_gap) // max(1, len(faults)))
        for _ in range(rounds - 1):
            events += rng.sample(faults, len(faults))
        total = len(events)
    gap = window / max(1, total)
    times = [args.fault_head + k * gap + rng.uniform(0, gap * 0.5) for k in range(total)]
    return list(zip(times, events))


class Faults:
    def __init__(self, args, services, redis, stats, stop, rng):
        self.args, self.svc, self.redis, self.stats, self.stop, self.rng = (
            args, services, redis, stats, stop, rng)
        self.log = []             # (t, kind, target, ok, detail)
        self.snapshot = None      # path of the older RDB
        self.snapshot_n = 0
        self.frozen_pid = None
        self.errors_apis = set()
        self.unexpected_exits = 0

    def note(self, t, kind, target, ok, detail):
        self.log.append((t, kind, target, ok, detail))
        log("fault %-18s %-11s %s%s" % (kind, target or "", "ok" if ok else "FAILED",
                                        (": " + detail) if detail else ""))

    def take_snapshot(self):
        """SAVE, then keep the RDB aside as the older snapshot."""
        t = elapsed()
        d = self.args.redis_dir
        dump = os.path.join(d, "dump.rdb")
        out = self.redis.cmd("SAVE", timeout=10)
        ok = out is not None and os.path.exists(dump)
        detail = ""
        if ok:
            self.snapshot_n += 1
            path = os.path.join(d, "chaos-snapshot-%d.rdb" % self.snapshot_n)
            os.replace(dump, path)
            self.snapshot = path
            h = self.redis.hgetall("ping:counters") or {}
            detail = "%s (total=%s)" % (os.path.basename(path), h.get("total", "-"))
        log("snapshot %s%s" % ("ok" if ok else "FAILED", (": " + detail) if detail else ""))
        return ok

    def signal_restart(self, name, sig):
        pidfile = self.svc.pidfile(name)
        pid = read_pid(pidfile)
        if pid is None or not proc_alive(pid):
            ok, tail = self.svc.start(name)
            return ok, "was not running; started" + ((": " + tail) if tail else "")
        os.kill(pid, sig)
        detail = ""
        limit = 5.0 if sig == signal.SIGKILL else self.args.term_timeout
        t_sig = time.monotonic()
        exited = wait_until(lambda: not proc_alive(pid), limit)
        if not exited:
            # A shutdown that hangs is a failure of its own (README: SIGTERM
            # drains and exits within --drain-timeout).
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not proc_alive(pid), 5.0)
            detail = "did not exit within %.0fs of %s; SIGKILLed; " % (limit, sig.name)
        else:
            detail += "exited after %.1fs; " % (time.monotonic() - t_sig)
        self.stop.wait(self.rng.uniform(0.0, 1.0))  # downtime
        ok, tail = self.svc.start(name)
        return ok and exited, detail + ("restarted" + (" (%s)" % tail if tail else "") if ok
                                        else "restart failed: " + tail)

    def check_alive(self):
        """Binaries that exited on their own (not killed by us) are noted as
        `exited` events and started again, as a supervisor would."""
        for name in self.svc.binaries():
            if not self.svc.alive(name):
                self.unexpected_exits += 1
                ok, tail = self.svc.start(name)
                self.note(elapsed(), "exited", name, ok,
                          "found not running (log: %s); %s" % (
                              self.svc.log_tail(name, 1),
                              "started" if ok else "start FAILED: " + tail))

    def broker(self, command):
        answer = broker_control(self.args.broker_socket, command)
        return answer.startswith("ok"), "%s -> %s" % (command, answer)

    def run(self, kind, target):
        self.check_alive()
        t = elapsed()
        try:
            ok, detail = self.inject(kind, target)
        except Exception as e:  # a broken fault must not stop the run
            ok, detail = False, "%s: %s" % (type(e).__name__, e)
        self.note(t, kind, target, ok, detail)
        return ok

    def inject(self, kind, target):
        rng = self.rng
        if kind == "kill":
            return self.signal_restart(target, signal.SIGKILL)
        if kind == "term":
            return self.signal_restart(target, signal.SIGTERM)
        if kind == "broker-down":
            ok, d1 = self.broker("down all")
            try:
                self.stop.wait(rng.uniform(1.5, 3.5))
            finally:
                ok2, d2 = self.broker("up all")
            return ok and ok2, d1 + "; " + d2
        if kind == "broker-errors":
            api = rng.choice(BROKER_ERROR_APIS)
            self.errors_apis.add(api)
            return self.broker("errors %s %d %d" % (api, rng.choice(BROKER_ERRORS),
                                                   rng.randint(3, 8)))
        if kind == "pg-restart":
            ok, tail = self.svc.run_helper("restart-pg")
            return ok, "pg_ctl restart -m immediate" + ("" if ok else ": " + tail)
        if kind == "flushall":
            return self.redis.cmd("FLUSHALL") is not None, ""
        if kind == "redis-restart":
            ok1, t1 = self.svc.run_helper("stop", "redis")
            self.stop.wait(rng.uniform(0.0, 1.0))
            ok2, t2 = self.svc.start("redis")
            return ok1 and ok2, "restart empty %s" % ("ok" if ok1 and ok2 else "FAILED") + why(
                t1, t2)
        if kind == "redis-old-snapshot":
            if self.snapshot is None and not self.take_snapshot():
                return False, "no snapshot"
            snap = self.snapshot
            ok1, t1 = self.svc.run_helper("stop", "redis")
            ok2, t2 = self.svc.start("redis", snap)
            h = self.redis.hgetall("ping:counters") or {}
            ok = ok1 and ok2
            detail = "restarted from %s (total=%s)" % (os.path.basename(snap), h.get("total", "-"))
            # The next restore uses a snapshot taken after this one.
            self.snapshot = None
            return ok, detail + why(t1, t2)
        if kind == "redis-freeze":
            pid = read_pid(self.svc.redis_pidfile)
            if pid is None or not proc_alive(pid):
                return False, "redis not running"
            secs = self.args.freeze_seconds + rng.uniform(0.0, 0.5)
            os.kill(pid, signal.SIGSTOP)
            self.frozen_pid = pid
            try:
                self.stop.wait(secs)
            finally:
                os.kill(pid, signal.SIGCONT)
                self.frozen_pid = None
            return True, "SIGSTOP for %.1fs, SIGCONT" % secs
        if kind == "rebalance-recount":
            name = rng.choice([p[0] for p in self.svc.processors])
            if rng.random() < 0.5 and self.svc.alive(name):
                # FLUSHALL, then at once one processor leaves the group.
                pid = read_pid(self.svc.pidfile(name))
                ok = self.redis.cmd("FLUSHALL") is not None
                os.kill(pid, signal.SIGTERM)
                wait_until(lambda: not proc_alive(pid), self.args.term_timeout)
                self.stop.wait(rng.uniform(0.5, 1.5))
                ok2, tail = self.svc.start(name)
                return ok and ok2, "FLUSHALL; SIGTERM %s; restart %s" % (
                    name, "ok" if ok2 else "FAILED") + why(tail)
            # Stop one, FLUSHALL, then at once it joins again.
            ok1, t1 = self.svc.run_helper("stop", name)
            ok = self.redis.cmd("FLUSHALL") is not None
            ok2, t2 = self.svc.start(name)
            return ok and ok1 and ok2, "%s stopped; FLUSHALL; %s start %s" % (
                name, name, "ok" if ok2 else "FAILED") + why(t1, t2)
        if kind == "offsets-reset":
            # A window overwrites its partition's offset after every flush
            # (about a second) and reads it only when it is assigned the
            # partition: the reset must happen while no processor runs, and
            # be what they load when they start again.
            p = rng.randrange(self.args.partitions)
            value = rng.choice([0, 10 ** 12])
            names = [p[0] for p in self.svc.processors]
            stops = [self.svc.run_helper("stop", n) for n in names]
            ok = self.redis.cmd("HSET", "ping:offsets", "offset:%d" % p, value) is not None
            got = self.redis.cmd("HGET", "ping:offsets", "offset:%d" % p)
            held = got == [str(value)]
            starts = [self.svc.start(n) for n in names]
            ok = ok and held and all(o for o, _ in stops) and all(o for o, _ in starts)
            return ok, "processors stopped; HSET ping:offsets offset:%d %d (%s); started %s" % (
                p, value, "held" if held else "NOT held: %r" % (got,),
                "ok" if all(o for o, _ in starts) else "FAILED") + why(
                    *[t for _, t in stops + starts])
        raise ValueError(kind)

    def restore(self, start=True):
        """Everything up again: redis running, broker up, no injected errors,
        every binary running (unless not start: when interrupted). Returns
        the problems left."""
        problems = []
        if self.frozen_pid is not None:
            try:
                os.kill(self.frozen_pid, signal.SIGCONT)
            except OSError:
                pass
            self.frozen_pid = None
        ok, d = self.broker("up all")
        if not ok:
            problems.append(d)
        for api in sorted(self.errors_apis):
            ok, d = self.broker("clear-errors %s" % api)
            if not ok:
                problems.append(d)
        if not start:
            return problems
        if not self.svc.alive("redis"):
            ok, tail = self.svc.start("redis")
            if not ok:
                problems.append("redis: " + tail)
        for name in self.svc.binaries():
            if not self.svc.alive(name):
                self.unexpected_exits += 1
                ok, tail = self.svc.start(name)
                self.note(elapsed(), "exited", name, ok,
                          "found not running at the end of the faults (log: %s); %s" % (
                              self.svc.log_tail(name, 1),
                              "started" if ok else "start FAILED: " + tail))
                if not ok:
                    problems.append(name + ": " + tail)
        return problems


# --------------------------------------------------------------------------
# Quiescence and the final checks.

def outbox_relayed(psql):
    rows = psql.query(
        "SELECT p.kafka_partition, p.mx, coalesce(c.acked_seq, 0) FROM "
        "(SELECT kafka_partition, max(relay_seq) AS mx FROM pings GROUP BY 1) p "
        "LEFT JOIN outbox_cursor c USING (kafka_partition)")
    if rows is None:
        return None
    return all(int(r[2]) >= int(r[1]) for r in rows if len(r) == 3)


def processors_lag(services):
    """Summed lag of the running processors (one that could not be restarted
    is reported as a failed fault; the group gives its partitions to the
    others). None when none runs or one does not answer."""
    total, running = 0, 0
    for name, d, _ in services.processors:
        if not services.alive(name):
            continue
        running += 1
        port = services.processor_admin(d)
        if port is None:
            return None
        status, data = Connect(port, 3.0).call(LAG_PATH, b"{}")
        if status != 200:
            return None
        try:
            total += int(json.loads(data).get("totalLag", "0"))
        except (ValueError, AttributeError):
            return None
    return total if running else None


def oldest_minute(offsets):
    """The oldest minute bucket surely inside the cache's retention (with a
    margin for pruning in progress)."""
    retention = int(offsets.get("retention_ms", DEFAULT_RETENTION_MS))
    return (int(time.time() * 1000) - retention) // MINUTE_MS + 2


def minute_counts(psql):
    rows = psql.query("SELECT div((extract(epoch FROM pinged_at) * 1000)::bigint, 60000), "
                      "count(*) FROM pings GROUP BY 1")
    if rows is None:
        return None
    return {int(m): int(c) for m, c in rows}


def settle(args, services, redis, psql):
    """Waits until the outbox is relayed, no processor lags, every partition
    has a stored offset, the cache has not changed for --settle-stable
    seconds and agrees with PostgreSQL (total and minute buckets; or, with
    --settle-stuck S, has not changed for S seconds although it disagrees).
    Bounded by --settle-timeout. Returns (settled, seconds, last state)."""
    t = time.monotonic()
    deadline = t + args.settle_timeout
    last, since, state = None, None, ""
    while True:
        now = time.monotonic()
        relayed = outbox_relayed(psql)
        lag = processors_lag(services)
        counters = redis.hgetall("ping:counters", timeout=2)
        offsets = redis.hgetall("ping:offsets", timeout=2)
        sql_total = psql.scalar("SELECT count(*) FROM pings")
        sql_min = minute_counts(psql)
        snap = (tuple(sorted((counters or {}).items())), tuple(sorted((offsets or {}).items())))
        if snap != last or counters is None or offsets is None:
            last, since = snap, now
        stable = now - since
        have_offsets = offsets is not None and all(
            ("offset:%d" % p) in offsets for p in range(args.partitions))
        cache_total = (counters or {}).get("total")
        oldest = oldest_minute(offsets or {})
        ceiling = (int(time.time() * 1000) + args.future_ms) // MINUTE_MS - 2
        equal = (cache_total is not None and sql_total is not None
                 and int(cache_total) == sql_total and sql_min is not None
                 and all(int((counters or {}).get("minute:%d" % m, 0)) == c
                         for m, c in sql_min.items() if oldest <= m < ceiling))
        state = ("relayed=%s lag=%s offsets=%s cache_total=%s sql_total=%s minutes_equal=%s "
                 "stable=%.1fs" % (relayed, lag, have_offsets, cache_total, sql_total, equal,
                                   stable))
        if relayed and lag == 0 and have_offsets and stable >= args.settle_stable and (
                equal or (args.settle_stuck and stable >= args.settle_stuck)):
            return True, now - t, state
        if now >= deadline:
            return False, now - t, state
        time.sleep(0.5)


def sabotage(psql, redis, record, rng):
    """Harness self-test (--sabotage), after quiescence: breaks the state the
    final checks look at, so that each check must report it. Deletes two
    acknowledged rows of one partition (relay_seq 1 and 2: acked pings
    missing, a relay_seq gap, the cache one ping over PostgreSQL as a whole
    yet consistent in itself, so PingCount may still serve it), copies a row
    of another partition (a duplicate; relay_seq -1, so no relay sends it)
    and adds 2 to one minute bucket."""
    rows = psql.query(
        "SELECT (extract(epoch FROM pinged_at) * 1000)::bigint, kafka_partition, relay_seq "
        "FROM pings WHERE pinged_at >= %s AND pinged_at < %s AND relay_seq <= 2" % (
            ts_sql(record.span_start), ts_sql(record.span_start + record.span_ms)))
    acked = set(record.acked)
    rows = [(int(t), int(p), int(q)) for t, p, q in rows or [] if int(t) in acked]
    parts = collections.defaultdict(list)
    for r in rows:
        parts[r[1]].append(r)
    full = sorted(p for p, rs in parts.items() if len(rs) == 2)
    if not full or len(parts) < 2:
        raise RuntimeError("sabotage: too few acknowledged rows with relay_seq 1 and 2")
    victims = parts[full[0]]
    twin = next(r for r in rows if r[1] != full[0])
    for v in victims:
        psql.query("DELETE FROM pings WHERE pinged_at = %s" % ts_sql(v[0]))
    psql.query("INSERT INTO pings SELECT gen_random_uuid(), pinged_at, received_at, "
               "kafka_partition, -1 FROM pings WHERE pinged_at = %s" % ts_sql(twin[0]))
    minute = record.span_start // MINUTE_MS + rng.randrange(record.span_ms // MINUTE_MS)
    redis.cmd("HINCRBY", "ping:counters", "minute:%d" % minute, 2)
    log("sabotage: deleted ts=%s (partition %d, relay_seq 1 and 2), duplicated ts=%d "
        "(partition %d), minute:%d +2" % (
            ",".join(str(v[0]) for v in victims), full[0], twin[0], twin[1], minute))


def span_rows(psql, record):
    """Rows per timestamp inside the run's span (a Counter), or None."""
    rows = psql.query("SELECT (extract(epoch FROM pinged_at) * 1000)::bigint FROM pings "
                      "WHERE pinged_at >= %s AND pinged_at < %s" % (
                          ts_sql(record.span_start), ts_sql(record.span_start + record.span_ms)))
    if rows is None:
        return None
    return collections.Counter(int(r[0]) for r in rows)


def final_checks(args, services, redis, psql, record, ranges, fig, report, edge=None):
    # Cache total vs rows.
    sql_total = psql.scalar("SELECT count(*) FROM pings")
    counters = redis.hgetall("ping:counters")
    offsets = redis.hgetall("ping:offsets")
    if sql_total is None:
        raise RuntimeError("PostgreSQL does not answer after the run")
    if counters is None or offsets is None:
        raise RuntimeError("redis does not answer after the run")
    cache_total = int(counters.get("total", "0"))
    fig["sql_total"] = sql_total
    fig["cache_total"] = cache_total
    fig["cache_total_diff"] = cache_total - sql_total

    # Minute buckets vs per-minute rows, inside the retention.
    sql_min = minute_counts(psql)
    if sql_min is None:
        raise RuntimeError("per-minute query failed")
    cache_min = {int(k.split(":", 1)[1]): int(v) for k, v in counters.items()
                 if k.startswith("minute:")}
    oldest = oldest_minute(offsets)
    # No bucket at or beyond the future ceiling (the total counts those);
    # a margin for the ceiling moving meanwhile.
    ceiling = (int(time.time() * 1000) + args.future_ms) // MINUTE_MS - 2
    mism = 0
    for m in sorted(set(sql_min) | set(cache_min)):
        if m < oldest or m >= ceiling:
            continue
        if cache_min.get(m, 0) != sql_min.get(m, 0):
            mism += 1
            report.append("minute %d: cache=%s sql=%d" % (
                m, cache_min.get(m, "missing"), sql_min.get(m, 0)))
    fig["minute_bucket_mismatches"] = mism

    # Hour and day buckets (issue 17) vs the same rows: every hour and day
    # that starts inside the retention and ends before the cache's ceiling.
    ceiling = int(offsets.get("ceiling_minute", 0))
    mism = 0
    for name, size in (("hour", 60), ("day", 1440)):
        sql_coarse = collections.Counter()
        for m, c in sql_min.items():
            sql_coarse[m // size] += c
        cache_coarse = {int(k.split(":", 1)[1]): int(v) for k, v in counters.items()
                        if k.startswith(name + ":")}
        for b in sorted(set(sql_coarse) | set(cache_coarse)):
            if b * size < oldest or (b + 1) * size > ceiling + 1:
                continue
            if cache_coarse.get(b, 0) != sql_coarse.get(b, 0):
                mism += 1
                report.append("%s %d: cache=%s sql=%d" % (
                    name, b, cache_coarse.get(b, "missing"), sql_coarse.get(b, 0)))
    fig["coarse_bucket_mismatches"] = mism

    # PingCount vs SQL for every range tried, through every gateway.
    mism = 0
    for r in ranges:
        want = psql.scalar(range_sql(r))
        for name, port, _ in services.gateways:
            status, data = Connect(port, args.count_timeout).call(COUNT_PATH, count_body(r))
            got = parse_count(data) if status == 200 else None
            if got != want:
                mism += 1
                report.append("PingCount %s via %s: %s, SQL %s" % (
                    range_name(r), name, got if got is not None else "error %s" % (
                        status or data), want))
    fig["pingcount_mismatches"] = mism

    # Acknowledged pings missing, duplicates, rows nobody sent.
    now_stored = span_rows(psql, record)
    if now_stored is None:
        raise RuntimeError("row query failed")
    stored = now_stored - record.before  # rows of this run (a reused database is fine)
    acked = set(record.acked)
    failed = set(record.failed)
    missing = [ts for ts in record.acked if ts not in stored]
    fig["acked_missing"] = len(missing)
    if missing:
        report.append("acked but missing (first 5): %s" % sorted(missing)[:5])
    dups = {ts: c for ts, c in stored.items() if c > 1 and (ts in acked or ts in failed)}
    fig["duplicate_rows"] = sum(c - 1 for c in dups.values())
    if dups:
        report.append("duplicated timestamps (first 5): %s" % sorted(dups.items())[:5])
    fig["failed_stored"] = sum(1 for ts in failed if ts in stored)
    fig["unexpected_rows"] = sum(c for ts, c in stored.items()
                                 if ts not in acked and ts not in failed)

    # The edge pings (EdgeLoad): none acknowledged missing, none twice.
    if edge is not None:
        edge_rows = edge.rows(psql)
        if edge_rows is None:
            raise RuntimeError("edge row query failed")
        before = record.edge_before
        missing = [ts for ts in record.edge_acked if edge_rows[ts] - before[ts] < 1]
        dups = {ts: c - before[ts] for ts, c in edge_rows.items() if c - before[ts] > 1}
        fig["edge_pings_acked"] = len(record.edge_acked)
        fig["edge_acked_missing"] = len(missing)
        fig["edge_duplicate_rows"] = sum(c - 1 for c in dups.values())
        if missing:
            report.append("edge pings acked but missing (first 5): %s" % sorted(missing)[:5])
        if dups:
            report.append("edge timestamps duplicated (first 5): %s" % sorted(dups.items())[:5])

    # relay_seq gapless per partition: 1..max, max == count.
    rows = psql.query("SELECT kafka_partition, count(*), max(relay_seq), min(relay_seq) "
                      "FROM pings GROUP BY 1 ORDER BY 1")
    if rows is None:
        raise RuntimeError("relay_seq query failed")
    gaps = 0
    for p, n, mx, mn in rows:
        g = abs(int(mx) - int(n))
        if g or int(mn) != 1:
            report.append("partition %s: count=%s min(relay_seq)=%s max(relay_seq)=%s" % (
                p, n, mn, mx))
        gaps += g
    fig["relay_seq_gaps"] = gaps


# --------------------------------------------------------------------------

def make_ranges(span_start, span_minutes, rng, n_aligned, n_unaligned):
    span_end = span_start + span_minutes * MINUTE_MS
    ranges = [None, (span_start, span_end)]
    m = rng.randrange(span_minutes)
    ranges.append((span_start + m * MINUTE_MS, span_start + (m + 1) * MINUTE_MS))
    while len(ranges) < 1 + n_aligned:
        a, b = sorted(rng.sample(range(span_minutes + 1), 2))
        r = (span_start + a * MINUTE_MS, span_start + b * MINUTE_MS)
        if r not in ranges:
            ranges.append(r)
    while len(ranges) < 1 + n_aligned + n_unaligned:
        a = rng.randrange(span_start - 30_000, span_end)
        b = rng.randrange(a + 1, span_end + 30_000)
        if a % MINUTE_MS and b % MINUTE_MS:
            ranges.append((a, b))
    return ranges


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=None, help="random when absent (printed)")
    p.add_argument("--duration", type=float, default=60, help="seconds of load")
    p.add_argument("--rate", type=float, default=500, help="pings per second (all gateways)")
    p.add_argument("--threads", type=int, default=8, help="ping threads")
    p.add_argument("--count-threads", type=int, default=2, help="PingCount checking threads")
    p.add_argument("--ping-timeout", type=float, default=6.0)
    p.add_argument("--edge-rate", type=float, default=8.0,
                   help="pings per second near the retention floor and the future ceiling")
    p.add_argument("--retention-ms", type=int, default=DEFAULT_RETENTION_MS,
                   help="the processors' --cache.retention")
    p.add_argument("--future-ms", type=int, default=DEFAULT_FUTURE_MS,
                   help="the processors' --cache.future")
    p.add_argument("--count-timeout", type=float, default=5.0)
    p.add_argument("--faults", default="all",
                   help="comma list of %s; kill/term take :TARGET (prefix of a service "
                        "name); 'all' or 'none'" % ", ".join(FAULT_KINDS))
    p.add_argument("--fault-gap", type=float, default=3.0,
                   help="mean seconds between faults (long runs repeat the kinds)")
    p.add_argument("--fault-head", type=float, default=4.0,
                   help="seconds of load before the first fault")
    p.add_argument("--fault-tail", type=float, default=0.15,
                   help="share of the load duration kept free of faults at its end")
    p.add_argument("--freeze-seconds", type=float, default=3.0,
                   help="redis SIGSTOP time (> every cache timeout)")
    p.add_argument("--term-timeout", type=float, default=15.0,
                   help="SIGTERM to exit, then SIGKILL")
    p.add_argument("--settle-timeout", type=float, default=60.0)
    p.add_argument("--settle-stable", type=float, default=3.0,
                   help="seconds the cache must stay unchanged (flush delay + heartbeat < this)")
    p.add_argument("--settle-stuck", type=float, default=0.0,
                   help="unchanged this long: settled even when the cache disagrees with "
                        "PostgreSQL (0: wait for agreement until --settle-timeout)")
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument("--pg-port", type=int, required=True)
    p.add_argument("--pg-user", default="ping")
    p.add_argument("--pg-db", default="ping")
    p.add_argument("--redis-port", type=int, required=True)
    p.add_argument("--redis-dir", required=True, help="redis' --dir (redis.pid, snapshots)")
    p.add_argument("--broker-socket", required=True, help="ping-devbroker control socket")
    p.add_argument("--gateway", action="append", required=True, metavar="DIR=CONNECT_PORT",
                   help="a gateway's run dir (gateway.pid) and Connect port; give two")
    p.add_argument("--processor", action="append", required=True, metavar="DIR",
                   help="a processor's run dir (processor.pid, processor.ports); give two")
    p.add_argument("--helper", required=True,
                   help="command run as HELPER start NAME [RDB] | stop NAME | restart-pg")
    p.add_argument("--figures-file", help="also write the figures block here")
    p.add_argument("--sabotage", action="store_true",
                   help="harness self-test: after quiescence, delete two acked rows, "
                        "duplicate another and bump a minute bucket; the checks must fail")
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 2 ** 31)
    rng = random.Random(args.seed)
    log("seed=%d duration=%ss rate=%s/s faults=%s" % (args.seed, args.duration, args.rate,
                                                      args.faults))
    services = Services(args)
    redis = Redis(args.redis_port)
    psql = Psql(args.pg_port, args.pg_user, args.pg_db)
    faults_wanted = expand_faults(args.faults, services)

    # Everything must be there before we start (a PingCount may fail once
    # after a lost PostgreSQL session: retry, bounded).
    def not_ready():
        problems = []
        if psql.scalar("SELECT count(*) FROM pings") is None:
            problems.append("PostgreSQL (table pings) on port %d" % args.pg_port)
        if redis.cmd("PING") != ["PONG"]:
            problems.append("redis on port %d" % args.redis_port)
        if not broker_control(args.broker_socket, "ping").startswith("ok"):
            problems.append("devbroker control socket %s" % args.broker_socket)
        for name, port, _ in services.gateways:
            status, _ = Connect(port, 5).call(COUNT_PATH, b"{}")
            if status != 200:
                problems.append("%s PingCount on port %d" % (name, port))
        for name, _, _ in services.processors:
            if not services.alive(name):
                problems.append("%s not running" % name)
        return problems
    problems = not_ready()
    deadline = time.monotonic() + 15
    while problems and time.monotonic() < deadline:
        time.sleep(0.2)
        problems = not_ready()
    if problems:
        log("services not ready: " + "; ".join(problems))
        return 2

    max_pings = int(args.rate * args.duration)
    span_minutes = max(6, math.ceil(max_pings / 30_000))
    now_min = int(time.time() * 1000) // MINUTE_MS
    # Mostly past minutes, the current one and the next one.
    span_start = (now_min - (span_minutes - 2)) * MINUTE_MS
    record = Record(span_start, span_minutes * MINUTE_MS)
    before = span_rows(psql, record)
    if before is None:
        log("cannot read the span's rows")
        return 2
    record.before = before
    ranges = make_ranges(span_start, span_minutes, rng, 4, 4)
    stats = Stats()
    stop = threading.Event()
    gateways = [(n, p) for n, p, _ in services.gateways]
    load = Load(args, gateways, record, stats, stop)
    edge = EdgeLoad(args, gateways, record, stats, stop)
    ranges += edge.ranges()
    record.edge_before = edge.rows(psql)  # rows already there (a reused database)
    if record.edge_before is None:
        log("cannot read the edge rows")
        return 2
    checkers = [Checker(k, args, gateways, ranges, record, stats, stop)
                for k in range(args.count_threads)]
    faults = Faults(args, services, redis, stats, stop, rng)
    plan = schedule(faults_wanted, args, rng)
    log("span: %d minutes from minute %d; %d ranges; %d faults planned" % (
        span_minutes, span_start // MINUTE_MS, len(ranges), len(plan)))

    def on_signal(signum, _frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_signal)

    fig = collections.OrderedDict()
    report = []
    restore_problems = []
    skipped = 0
    interrupted = False
    load.start()
    edge.thread.start()
    for c in checkers:
        c.thread.start()
    try:
        if any(k == "redis-old-snapshot" for k, _ in faults_wanted):
            # The older snapshot: once the cache counts something, shortly
            # before the first fault.
            stop.wait(max(0.0, args.fault_head - 1.5))
            wait_until(lambda: (redis.hgetall("ping:counters", timeout=2) or {}).get("total"),
                       10.0, 0.2)
            faults.take_snapshot()
        for k, (at, (kind, target)) in enumerate(plan):
            wait = load.t_start + at - time.monotonic()
            if wait > 0 and stop.wait(wait):
                break
            # Nothing starts in the fault-free tail (or after the load).
            if time.monotonic() > load.t_end - args.duration * args.fault_tail + 1.0:
                skipped = len(plan) - k
                log("fault window over: %d faults skipped" % skipped)
                break
            faults.run(kind, target)
            if kind == "redis-old-snapshot" and "redis-old-snapshot" in [
                    e[1][0] for e in plan[k + 1:]]:
                faults.take_snapshot()
        restore_problems = faults.restore()
        last = 0.0
        while not load.join(0.5):
            if time.monotonic() - last >= 5:
                last = time.monotonic()
                log("load: %d acked, %d failed, %d counts checked" % (
                    len(record.acked), len(record.failed), stats.c["counts_checked"]))
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted")
    finally:
        stop.set()
        # What counts is that everything runs again at the end.
        restore_problems = faults.restore(start=not interrupted)
        load.join(args.ping_timeout + 5)
        edge.thread.join(args.ping_timeout + 5)
        load_seconds = time.monotonic() - load.t_start
        for c in checkers:
            c.thread.join(args.count_timeout + 25)
    log("load done: %d acked, %d failed (%s) in %.1fs" % (
        len(record.acked), len(record.failed),
        ", ".join("%s: %d" % kv for kv in record.failed_reasons.most_common()), load_seconds))
    if interrupted:
        return 2

    settled, settle_s, state = settle(args, services, redis, psql)
    log("%s after %.1fs: %s" % ("quiescent" if settled else "NOT quiescent (deadline)",
                                settle_s, state))
    if args.sabotage:
        try:
            sabotage(psql, redis, record, rng)
        except RuntimeError as e:
            log(str(e))
            return 2

    fig["seed"] = args.seed
    fig["duration_s"] = round(load_seconds, 1)
    fig["pings_acked"] = len(record.acked)
    fig["pings_failed"] = len(record.failed)
    fig["counts_checked"] = stats.c["counts_checked"]
    fig["ryw_violations"] = stats.c["ryw_violations"]
    fig["over_count_violations"] = stats.c["over_count_violations"]
    fig["faults_injected"] = sum(1 for e in faults.log if e[3] and e[1] != "exited")
    incomplete = None
    try:
        final_checks(args, services, redis, psql, record, ranges, fig, report, edge)
    except RuntimeError as e:
        incomplete = str(e)
        log("final checks incomplete: %s" % e)
    finally:
        psql.close()
    # More figures (not in the list, but they explain the others).
    fig["faults_failed"] = (sum(1 for e in faults.log if not e[3] and e[1] != "exited")
                            + len(restore_problems))
    fig["unexpected_exits"] = faults.unexpected_exits
    fig["faults_skipped"] = skipped
    fig["count_errors"] = stats.c["count_errors"]
    # Issue 19 item 10: clients must see retryable codes during faults.
    fig["non_retryable_answers"] = stats.c["non_retryable_answers"]
    fig["over_count_unchecked"] = stats.c["over_count_unchecked"]
    fig["preexisting_rows_in_span"] = sum(record.before.values())
    fig["settled"] = int(settled)
    fig["settle_s"] = round(settle_s, 1)

    out = sys.stdout
    out.write("\n== faults (seed %d)\n" % args.seed)
    for t, kind, target, ok, detail in faults.log:
        out.write("  t=%6.1fs %-18s %-11s %s %s\n" % (t, kind, target or "-",
                                                     "ok" if ok else "FAILED", detail))
    for p in restore_problems:
        out.write("  restore FAILED: %s\n" % p)
    for title, key in (("read-your-writes violations", "ryw"), ("over-counts", "over"),
                       ("non-retryable answers (internal, unknown, data_loss)",
                        "non_retryable")):
        if stats.samples[key]:
            out.write("== first %s\n" % title)
            for s in stats.samples[key]:
                out.write("  %s\n" % s)
    if report:
        out.write("== final mismatches\n")
        for line in report[:40]:
            out.write("  %s\n" % line)
        if len(report) > 40:
            out.write("  ... %d more\n" % (len(report) - 40))
    # The figures first, in its order; then the ones explaining them.
    main_figures = ["seed", "duration_s", "pings_acked", "pings_failed", "counts_checked",
                    "ryw_violations", "over_count_violations", "faults_injected",
                    "cache_total_diff", "minute_bucket_mismatches", "coarse_bucket_mismatches",
                    "pingcount_mismatches",
                    "acked_missing", "duplicate_rows", "relay_seq_gaps"]
    for k in main_figures:
        fig.setdefault(k, "n/a")
    order = main_figures + [k for k in fig if k not in main_figures]
    out.write("== figures\n")
    text = "".join("%s=%s\n" % (k, fig[k]) for k in order)
    out.write(text)
    out.flush()
    if args.figures_file:
        with open(args.figures_file, "w") as f:
            f.write(text)

    failing = ["ryw_violations", "over_count_violations", "cache_total_diff",
               "minute_bucket_mismatches", "coarse_bucket_mismatches", "pingcount_mismatches",
               "acked_missing", "duplicate_rows", "relay_seq_gaps", "faults_failed",
               "non_retryable_answers", "edge_acked_missing", "edge_duplicate_rows"]
    bad = [k for k in failing if fig[k] != 0]
    if incomplete:
        out.write("== verdict: ERROR (final checks incomplete: %s)\n" % incomplete)
        return 2
    out.write("== verdict: %s\n" % ("PASS" if not bad else "FAIL (%s)" % ", ".join(bad)))
    return 0 if not bad else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(2)
