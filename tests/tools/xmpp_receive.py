#!/usr/bin/env python3
"""The yardstick receiver for the IM benchmark: logs in, sends presence, and counts incoming
chat messages whose body starts with PREFIX until COUNT have arrived.

    xmpp_receive.py --mode raw|slixmpp --jid carol@localhost --password carol-pass \
                    --port 5222 --ca ca.pem --count 10000 --prefix ys0 [--timeout 600]

Modes:
  raw      the standard library only (the login of xmpp_flood.py): reads the TLS stream and
           counts "<body>PREFIX " in the bytes, parsing nothing. What it measures is the
           server's own delivery rate to one connection: the ceiling for any client.
  slixmpp  a plain slixmpp client (the usual Python XMPP library): every stanza parsed into
           objects and handed to a message handler.

Prints {"event": "ready"} once it is online, then {"count": N, "first": T1, "last": T2} when
the last one arrived (T = wall clock, time.time()), and exits. Exits non-zero with a message
on stderr when the count is not reached within the timeout.
"""

import argparse
import json
import os
import sys
import time

from xmpp_flood import login


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def run_raw(a):
    s, _domain = login(a.host, a.port, a.ca, a.jid, a.password)
    # Presence makes this resource available: chat messages to the bare JID come here.
    s.sendall(b"<presence/>")
    emit({"event": "ready"})
    marker = f"<body>{a.prefix} ".encode()
    keep = len(marker) - 1
    seen = 0
    first = None
    tail = b""
    s.settimeout(a.timeout)
    while seen < a.count:
        try:
            chunk = s.recv(1 << 20)
        except TimeoutError:
            sys.exit(f"xmpp_receive: {seen} of {a.count} messages within {a.timeout} s")
        if not chunk:
            sys.exit(f"xmpp_receive: the server closed the stream after {seen} of {a.count}")
        data = tail + chunk
        n = data.count(marker)
        if n and first is None:
            first = time.time()
        seen += n
        # A marker split across two reads is counted once: keep fewer bytes than a marker.
        tail = data[-keep:] if keep else b""
    last = time.time()
    emit({"count": seen, "first": first, "last": last})
    s.close()


def run_slixmpp(a):
    import asyncio
    import ssl

    import slixmpp

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    done = asyncio.Event()
    state = {"seen": 0, "first": None}
    prefix = a.prefix + " "

    class Receiver(slixmpp.ClientXMPP):
        def __init__(self):
            super().__init__(a.jid, a.password)
            self.add_event_handler("session_start", self.on_start)
            self.add_event_handler("message", self.on_message)

        async def on_start(self, _event):
            self.send_presence()
            emit({"event": "ready"})

        def on_message(self, msg):
            if msg["type"] in ("chat", "normal") and msg["body"].startswith(prefix):
                if state["first"] is None:
                    state["first"] = time.time()
                state["seen"] += 1
                if state["seen"] >= a.count:
                    state["last"] = time.time()
                    done.set()

    client = Receiver()
    client.ssl_context = ssl.create_default_context(cafile=a.ca)
    client.enable_direct_tls = False
    client.enable_starttls = True
    client.enable_plaintext = False
    client.connect(host=a.host, port=a.port)
    try:
        loop.run_until_complete(asyncio.wait_for(done.wait(), a.timeout))
    except asyncio.TimeoutError:
        sys.exit(f"xmpp_receive: {state['seen']} of {a.count} messages within {a.timeout} s")
    emit({"count": state["seen"], "first": state["first"], "last": state["last"]})
    sys.stdout.flush()
    # slixmpp leaves background tasks behind; nothing is left to say.
    os._exit(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["raw", "slixmpp"], default="raw")
    ap.add_argument("--jid", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--timeout", type=float, default=600)
    a = ap.parse_args()
    if a.mode == "raw":
        run_raw(a)
    else:
        run_slixmpp(a)


if __name__ == "__main__":
    main()
