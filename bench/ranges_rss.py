#!/usr/bin/env python3
"""Issue 17, item 6: many concurrent long ranges keep the gateway small.

    ranges_rss.py CONNECT_PORT GATEWAY_PID PSQL_DSN [--requests N] [--limit-mib M]

Seeds pings over the last 14 days (Connect Ping with timestamps), waits until
the gateway counts them all, then opens N connections (1,000) and sends one
PingCount each, all at once, every one with a different 7-day range inside
the cache's window (half minute-aligned, half not). Prints the gateway's peak RSS (VmHWM) before and
after, the answers' status codes and latencies, and checks a sample of
answers against PostgreSQL. Exits 1 when a request failed, an answer was
wrong, or the peak exceeded the limit (128 MiB).
"""
import argparse
import asyncio
import json
import random
import subprocess
import sys
import time

MINUTE = 60_000
DAY = 1440 * MINUTE


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


async def post(port, path, body, timeout=30):
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    data = json.dumps(body).encode()
    writer.write(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                 % (path.encode(), len(data), data))
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), timeout)
    writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    return status, payload


async def latencies(port, now, calls=40):
    """p50/p99/max of single PingCounts per kind of range, one keep-alive
    connection, one call at a time."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    aligned = now // MINUTE * MINUTE
    kinds = [
        ("1 minute, aligned", aligned - 5 * MINUTE, aligned - 4 * MINUTE),
        ("1 hour, unaligned", now - 3_600_000 - 1234, now - 17),
        ("7 days, aligned", aligned - 7 * DAY + MINUTE, aligned + MINUTE),
        ("7 days, unaligned", now - 7 * DAY + 4321, now - 17),
        ("30 days, unaligned", now - 30 * DAY + 999, now - 17),
        ("400 days, unaligned", now - 400 * DAY + 999, now - 17),
    ]
    out = []
    for name, a, b in kinds:
        took = []
        for _ in range(calls):
            data = json.dumps({"timeRange": {"start": a, "end": b}}).encode()
            t = time.monotonic()
            writer.write(b"POST /ping.v1.PingService/PingCount HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(data), data))
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            took.append((time.monotonic() - t) * 1000)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError("%s: %s" % (name, head.split(b"\r\n")[0]))
        took.sort()
        out.append("  %-20s p50 %6.2f ms  p99 %6.2f ms  max %6.2f ms"
                   % (name, took[len(took) // 2], took[int(len(took) * 0.99) - 1], took[-1]))
    writer.close()
    return out


def sql(dsn, query):
    out = subprocess.run(["psql", dsn, "-Atc", query], capture_output=True, text=True, check=True)
    return out.stdout.strip()


async def seed(port, now, pings):
    rng = random.Random(17)
    sem = asyncio.Semaphore(32)

    async def one(ts):
        async with sem:
            status, _ = await post(port, "/ping.v1.PingService/Ping", {"timestampMs": ts})
            if status != 200:
                raise RuntimeError("Ping answered %d" % status)

    await asyncio.gather(*(one(now - rng.randrange(14 * DAY)) for _ in range(pings)))


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("pid", type=int)
    ap.add_argument("dsn")
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--pings", type=int, default=3000)
    ap.add_argument("--limit-mib", type=float, default=128)
    ap.add_argument("--aligned", action="store_true", help="minute-aligned ranges only")
    args = ap.parse_args()
    now = int(time.time() * 1000)

    await seed(args.port, now, args.pings)
    deadline = time.monotonic() + 60
    while True:
        status, payload = await post(args.port, "/ping.v1.PingService/PingCount", {})
        if status == 200 and int(json.loads(payload).get("pingCount", 0)) >= args.pings:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the pings were not counted within 60 s")
        await asyncio.sleep(0.2)

    before_hwm = status_kib(args.pid, "VmHWM")
    before_rss = status_kib(args.pid, "VmRSS")
    rng = random.Random(6)
    ranges = []
    for i in range(args.requests):
        # all different, inside the cache's window (7 days back, 7 ahead)
        start = now - 7 * DAY + 60 * MINUTE + i * 10 * MINUTE
        if i % 2 and not args.aligned:
            start += rng.randrange(1, MINUTE)  # unaligned
        end = start + 7 * DAY + (rng.randrange(1, MINUTE) if i % 4 == 1 and not args.aligned else 0)
        ranges.append((start, end))

    async def count(r):
        t = time.monotonic()
        try:
            status, payload = await post(args.port, "/ping.v1.PingService/PingCount",
                                         {"timeRange": {"start": r[0], "end": r[1]}})
        except Exception as e:  # noqa: BLE001 - a failed request is a figure
            return r, None, str(e), time.monotonic() - t
        return r, status, payload, time.monotonic() - t

    t0 = time.monotonic()
    results = await asyncio.gather(*(count(r) for r in ranges))
    took = time.monotonic() - t0
    peak = status_kib(args.pid, "VmHWM")
    codes = {}
    for _, status, _, _ in results:
        codes[status] = codes.get(status, 0) + 1
    lat = sorted(x[3] for x in results)
    print("gateway RSS before %.1f MiB (peak so far %.1f MiB), peak after %.1f MiB"
          % (before_rss / 1024, before_hwm / 1024, peak / 1024))
    print("%d concurrent PingCounts with different 7-day ranges in %.2f s: status %s; "
          "latency p50 %.0f ms, p99 %.0f ms, max %.0f ms"
          % (len(results), took, dict(sorted(codes.items(), key=lambda kv: str(kv[0]))),
             lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99) - 1] * 1000, lat[-1] * 1000))
    for r, status, payload, _ in results:
        if status != 200:
            print("first failure: range %s: %s %s" % (r, status, payload[:300]))
            break
    wrong = 0
    sample = [x for x in results if x[1] == 200][:: max(1, len(results) // 25)]
    for r, _, payload, _ in sample:
        got = int(json.loads(payload).get("pingCount", 0))
        want = int(sql(args.dsn, "SELECT count(*) FROM pings WHERE pinged_at >= "
                                  "ms_to_timestamptz(%d) AND pinged_at < ms_to_timestamptz(%d)"
                                  % r))
        if got != want:
            wrong += 1
            print("wrong: range %s answered %d, PostgreSQL %d" % (r, got, want))
    print("%d answers checked against PostgreSQL, %d wrong" % (len(sample), wrong))
    print("single PingCounts, one at a time (%d pings stored):" % args.pings)
    for line in await latencies(args.port, int(time.time() * 1000)):
        print(line)
    failed = codes.get(200, 0) != len(results)
    if failed or wrong or peak / 1024 > args.limit_mib:
        print("FAIL: %s" % ", ".join(
            x for x in ["requests failed" if failed else "", "wrong answers" if wrong else "",
                        "peak RSS %.1f MiB > %.0f MiB" % (peak / 1024, args.limit_mib)
                        if peak / 1024 > args.limit_mib else ""] if x))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
