#!/usr/bin/env python3
"""A minimal XMPP sender for benchmarks: logs in (STARTTLS, SASL PLAIN, resource binding) with
nothing but the standard library, writes COUNT chat messages to TO as fast as the socket takes
them, then waits for the answer to a ping (the server has handled everything before it).

    xmpp_flood.py --jid bob@localhost --password bob-pass --port 5222 --ca ca.pem \
                  --to alice@localhost --count 20000 [--prefix load]

Prints {"count": N, "seconds": S, "started_at": T} on stdout: S from the first message written
to the ping's answer, T the wall clock (time.time()) at the first message. A general client library costs milliseconds per
message here; this one costs microseconds, so the measurement is of the receiving side.
"""

import argparse
import base64
import json
import socket
import ssl
import sys
import time
from xml.sax.saxutils import escape, quoteattr


def read_until(sock, marker, buf=b""):
    while marker not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            sys.exit(f"the server closed the connection while waiting for {marker!r}: {buf[-300:]!r}")
        buf += chunk
    return buf


def header(domain):
    return (
        f"<?xml version='1.0'?><stream:stream to='{domain}' version='1.0' "
        "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
    ).encode()


def login(host, port, ca, jid, password):
    """STARTTLS, SASL PLAIN and resource binding; returns (TLS socket, domain)."""
    user, domain = jid.split("@", 1)
    raw = socket.create_connection((host, port))
    raw.sendall(header(domain))
    read_until(raw, b"</stream:features>")
    raw.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    read_until(raw, b"<proceed")
    ctx = ssl.create_default_context(cafile=ca)
    s = ctx.wrap_socket(raw, server_hostname=domain)
    s.sendall(header(domain))
    read_until(s, b"</stream:features>")
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    s.sendall(
        f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>".encode()
    )
    read_until(s, b"success")
    s.sendall(header(domain))
    read_until(s, b"</stream:features>")
    s.sendall(
        b"<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"
    )
    read_until(s, b"</iq>")
    return s, domain


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jid", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--to", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--prefix", default="load")
    a = ap.parse_args()
    s, domain = login(a.host, a.port, a.ca, a.jid, a.password)

    to = quoteattr(a.to)
    prefix = escape(a.prefix)
    started_at = time.time()
    started = time.monotonic()
    batch = []
    for i in range(a.count):
        batch.append(
            f"<message to={to} type='chat' id='f{i}'><body>{prefix} {i}</body></message>"
        )
        if len(batch) == 500:
            s.sendall("".join(batch).encode())
            batch = []
    if batch:
        s.sendall("".join(batch).encode())
    s.sendall(
        f"<iq type='get' id='flood-done' to='{domain}'><ping xmlns='urn:xmpp:ping'/></iq>".encode()
    )
    buf = b""
    while b"flood-done" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("the server closed the connection before answering the ping")
        buf = buf[-64:] + chunk
    seconds = time.monotonic() - started
    s.sendall(b"</stream:stream>")
    s.close()
    print(json.dumps({"count": a.count, "seconds": seconds, "started_at": started_at}))


if __name__ == "__main__":
    main()
