#!/usr/bin/env python3
"""One no-change poll loop, two targets: the same client asks "anything new?" over one
persistent connection, either Switchboard's index or an IMAP server's STATUS.

  poll.py http HOST:PORT --token TOKEN [--etag '"N"']
      GET /api/index with Authorization and If-None-Match; every answer must be a 304 with
      the same ETag (without --etag, one untimed GET learns it).
  poll.py imap HOST:PORT --user USER --password-env VAR
      LOGIN once, then "<tag> STATUS INBOX (MESSAGES UIDNEXT HIGHESTMODSEQ)"; every answer
      must be the same STATUS line and a tagged OK.

Common options: --count N (timed polls, default 1000000), --seconds S (stop earlier after S
seconds, default 10), --warmup N (untimed polls first, default 500), --cpu-pid PID (server CPU
of PID and its descendants, utime+stime from /proc, read after the warm-up and after the last
timed poll while the connection is still open). The client's own CPU per poll is reported too.

Strictly sequential: one request, read the whole answer, next request (no pipelining). Bytes
are counted exactly as this client wrote them to and read them from the socket (application
bytes: plain TCP on loopback, no TLS). Prints one JSON object on stdout.
"""
import argparse
import json
import os
import resource
import socket
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_ticks_tree(pid):
    """utime+stime (clock ticks) of pid and all its live descendants."""
    stats = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: split after the last ')'.
        rest = raw[raw.rindex(b")") + 2:].split()
        stats[int(entry)] = (int(rest[1]), int(rest[11]) + int(rest[12]))  # ppid, utime+stime
    wanted, total, frontier = {pid}, 0, [pid]
    while frontier:
        p = frontier.pop()
        total += stats.get(p, (0, 0))[1]
        for child, (ppid, _) in stats.items():
            if ppid == p and child not in wanted:
                wanted.add(child)
                frontier.append(child)
    return total


class Conn:
    """A socket that counts every byte written and read."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.sent = 0
        self.read = 0

    def send(self, data):
        self.sock.sendall(data)
        self.sent += len(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.read += len(chunk)
        self.buf += chunk

    def read_until(self, marker):
        while True:
            i = self.buf.find(marker)
            if i >= 0:
                out, self.buf = self.buf[: i + len(marker)], self.buf[i + len(marker):]
                return out
            self._fill()

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


class Http:
    def __init__(self, addr, token, etag):
        host, port = addr.rsplit(":", 1)
        self.conn = Conn(host, int(port))
        self.base = (f"GET /api/index HTTP/1.1\r\nHost: {addr}\r\n"
                     f"Authorization: Bearer {token}\r\n").encode()
        if etag is None:
            status, headers, body = self.exchange(self.base + b"\r\n")
            if status != 200 or "etag" not in headers:
                raise SystemExit(f"poll: GET /api/index answered {status} {body[:200]!r}")
            etag = headers["etag"]
        self.etag = etag
        self.request = self.base + f"If-None-Match: {etag}\r\n\r\n".encode()

    def exchange(self, request):
        self.conn.send(request)
        head = self.conn.read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if "chunked" in headers.get("transfer-encoding", ""):
            raise SystemExit("poll: chunked answers are not handled")
        body = self.conn.read_exact(int(headers.get("content-length", "0")))
        return status, headers, body

    def poll(self):
        status, headers, body = self.exchange(self.request)
        if status != 304 or headers.get("etag") != self.etag or body:
            raise SystemExit(f"poll: expected 304 with ETag {self.etag}, got {status} "
                             f"ETag {headers.get('etag')} body {body[:200]!r}")

    def close(self):
        self.conn.sock.close()


class Imap:
    ITEMS = b"STATUS INBOX (MESSAGES UIDNEXT HIGHESTMODSEQ)"

    def __init__(self, addr, user, password):
        host, port = addr.rsplit(":", 1)
        self.conn = Conn(host, int(port))
        self.n = 0
        greeting = self.conn.read_until(b"\r\n")
        if not greeting.startswith(b"* OK"):
            raise SystemExit(f"poll: IMAP greeting {greeting!r}")
        self.command(f"LOGIN {quote(user)} {quote(password)}".encode())
        self.expected = None

    def command(self, cmd):
        self.n += 1
        tag = b"a%d" % self.n
        self.conn.send(tag + b" " + cmd + b"\r\n")
        untagged = []
        while True:
            line = self.conn.read_until(b"\r\n")
            if line.startswith(tag + b" "):
                if not line[len(tag) + 1:].startswith(b"OK"):
                    raise SystemExit(f"poll: {cmd[:20]!r}… answered {line!r}")
                return untagged
            untagged.append(line)

    def poll(self):
        untagged = self.command(self.ITEMS)
        status = [l for l in untagged if l.startswith(b"* STATUS ")]
        if len(status) != 1:
            raise SystemExit(f"poll: no single STATUS line in {untagged!r}")
        if self.expected is None:
            self.expected = status[0]
        elif status[0] != self.expected:
            raise SystemExit(f"poll: the mailbox changed: {status[0]!r} after {self.expected!r}")

    def close(self):
        try:
            self.command(b"LOGOUT")
        except (SystemExit, ConnectionError, OSError):
            pass
        self.conn.sock.close()


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("target", choices=["http", "imap"])
    ap.add_argument("addr", help="HOST:PORT")
    ap.add_argument("--token")
    ap.add_argument("--etag")
    ap.add_argument("--user")
    ap.add_argument("--password-env", help="name of the environment variable holding it")
    ap.add_argument("--count", type=int, default=1000000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--cpu-pid", type=int)
    a = ap.parse_args()

    if a.target == "http":
        if not a.token:
            ap.error("http needs --token")
        client = Http(a.addr, a.token, a.etag)
    else:
        if not a.user or not a.password_env or a.password_env not in os.environ:
            ap.error("imap needs --user and --password-env naming a set variable")
        client = Imap(a.addr, a.user, os.environ[a.password_env])

    for _ in range(a.warmup):
        client.poll()

    # One exchange on its own: its exact bytes each way.
    conn = client.conn
    s0, r0 = conn.sent, conn.read
    client.poll()
    one_req, one_resp = conn.sent - s0, conn.read - r0

    cpu0 = cpu_ticks_tree(a.cpu_pid) if a.cpu_pid else None
    own0 = resource.getrusage(resource.RUSAGE_SELF)
    s0, r0 = conn.sent, conn.read
    polls = 0
    start = time.perf_counter()
    deadline = start + a.seconds
    while polls < a.count:
        client.poll()
        polls += 1
        if polls % 64 == 0 and time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - start
    own1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu1 = cpu_ticks_tree(a.cpu_pid) if a.cpu_pid else None
    sent, read = conn.sent - s0, conn.read - r0
    client.close()

    out = {
        "target": a.target,
        "polls": polls,
        "seconds": round(elapsed, 3),
        "polls_per_s": round(polls / elapsed, 1),
        "us_per_poll": round(elapsed / polls * 1e6, 1),
        "request_bytes": one_req,
        "response_bytes": one_resp,
        "mean_request_bytes": round(sent / polls, 1),
        "mean_response_bytes": round(read / polls, 1),
        "client_cpu_us_per_poll": round((own1.ru_utime + own1.ru_stime - own0.ru_utime
                                         - own0.ru_stime) / polls * 1e6, 1),
    }
    if a.target == "http":
        out["etag"] = client.etag
    else:
        out["status_line"] = client.expected.decode("latin-1").strip()
    if cpu0 is not None:
        out["server_cpu_s"] = round((cpu1 - cpu0) / CLK_TCK, 2)
        out["server_cpu_us_per_poll"] = round((cpu1 - cpu0) / CLK_TCK / polls * 1e6, 1)
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
