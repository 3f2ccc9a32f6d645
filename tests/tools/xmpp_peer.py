#!/usr/bin/env python3
"""A scripted XMPP client for the end-to-end tests (slixmpp, an implementation independent of
Switchboard's).

It logs in, then reads one JSON command per line on stdin and writes one JSON event per line on
stdout. Nothing is printed that is not an event; diagnostics go to stderr.

    xmpp_peer.py --jid bob@localhost --password bob-pass --host 127.0.0.1 --port 5222 \
                 --ca /path/ca.pem [--direct-tls] [--resource phone] [--no-presence]

Commands (stdin):
    {"cmd": "send", "to": J, "body": B, "id": opt, "type": "chat", "thread": opt,
     "receipt": bool, "reply_id": opt, "reply_to": opt}
    {"cmd": "presence", "show": opt ("away", "dnd", "xa", "chat"), "status": opt,
     "type": opt ("unavailable")}
    {"cmd": "raw", "xml": "<message .../>"}            sent as it is, malformed or not
    {"cmd": "enable_carbons"}
    {"cmd": "ping", "token": T}                           answered with {"event": "pong"}
    {"cmd": "burst", "to": J, "count": N, "prefix": P}    N messages "P 0".."P N-1", then
                                                          {"event": "burst_sent", "seconds": S}
    {"cmd": "quit"}

Events (stdout):
    {"event": "ready", "jid": FULL}
    {"event": "message", "from", "to", "id", "type", "body", "thread", "receipt_request",
     "origin_id", "stanza_id", "carbon": null|"sent"|"received", "delay": bool,
     "reply_id": opt}
    {"event": "receipt", "from", "id"}
    {"event": "chatstate", "from", "state", "body": bool, "no_store": bool}   (XEP-0085)
    {"event": "error", "from", "id", "condition"}       a message bounced with an error
    {"event": "presence", "from", "type", "show", "status"}
    {"event": "pong", "token": T}
    {"event": "disconnected"}
    {"event": "auth_failed"}                              then the process exits

Every event also carries "at": the wall clock (time.time()) when it was emitted.
"""

import argparse
import asyncio
import json
import logging
import os
import ssl
import sys
import time

import slixmpp
from slixmpp.xmlstream import ET

RECEIPTS = "urn:xmpp:receipts"
CHATSTATES = "http://jabber.org/protocol/chatstates"
SID = "urn:xmpp:sid:0"
REPLY = "urn:xmpp:reply:0"
CARBONS = "urn:xmpp:carbons:2"
FORWARD = "urn:xmpp:forward:0"
DELAY = "urn:xmpp:delay"


def emit(obj):
    # The wall clock when the event happened, for benchmarks that time a path through
    # several processes (the same clock as theirs).
    obj.setdefault("at", time.time())
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def text_of(el, tag):
    child = el.find(tag)
    return child.text if child is not None else None


def describe_message(xml, carbon=None):
    """The fields tests look at, read from the raw XML element."""
    sid = xml.find("{%s}stanza-id" % SID)
    origin = xml.find("{%s}origin-id" % SID)
    reply = xml.find("{%s}reply" % REPLY)
    ns = "jabber:client"
    return {
        "event": "message",
        "from": xml.get("from"),
        "to": xml.get("to"),
        "id": xml.get("id"),
        "type": xml.get("type", "normal"),
        "body": text_of(xml, "{%s}body" % ns),
        "thread": text_of(xml, "{%s}thread" % ns),
        "receipt_request": xml.find("{%s}request" % RECEIPTS) is not None,
        "origin_id": origin.get("id") if origin is not None else None,
        "stanza_id": sid.get("id") if sid is not None else None,
        "reply_id": reply.get("id") if reply is not None else None,
        "delay": xml.find("{%s}delay" % DELAY) is not None,
        "carbon": carbon,
    }


class Peer(slixmpp.ClientXMPP):
    def __init__(self, jid, password, send_presence):
        super().__init__(jid, password)
        self.send_presence_on_start = send_presence
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0199")
        self.register_plugin("xep_0280")
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("disconnected", self.on_disconnected)
        self.add_event_handler("failed_all_auth", self.on_auth_failed)
        self.add_event_handler("presence", self.on_presence)
        # Every <message/> is looked at raw: slixmpp's plugins would hide details tests need.
        self.register_handler(
            slixmpp.xmlstream.handler.Callback(
                "any message",
                slixmpp.xmlstream.matcher.MatchXPath("{jabber:client}message"),
                self.on_message,
            )
        )
        self.ready = asyncio.Event()

    async def on_start(self, _event):
        if self.send_presence_on_start:
            self.send_presence()
        try:
            await self.get_roster()
        except Exception as e:  # the roster is informative only
            print(f"roster: {e}", file=sys.stderr)
        emit({"event": "ready", "jid": str(self.boundjid)})
        self.ready.set()

    def on_auth_failed(self, _event):
        emit({"event": "auth_failed"})
        sys.stdout.flush()
        os._exit(3)

    def on_disconnected(self, _event):
        emit({"event": "disconnected"})

    def on_presence(self, pres):
        emit({
            "event": "presence",
            "from": str(pres["from"]),
            "type": pres["type"],
            "show": pres["show"] or None,
            "status": pres["status"] or None,
        })

    def on_message(self, msg):
        xml = msg.xml
        mtype = xml.get("type", "normal")
        if mtype == "error":
            err = xml.find("{jabber:client}error")
            cond = None
            if err is not None and len(err):
                cond = err[0].tag.split("}")[-1]
            emit({"event": "error", "from": xml.get("from"), "id": xml.get("id"), "condition": cond})
            return
        for kind in ("sent", "received"):
            wrapper = xml.find("{%s}%s" % (CARBONS, kind))
            if wrapper is not None:
                inner = wrapper.find("{%s}forwarded/{jabber:client}message" % FORWARD)
                if inner is not None:
                    emit(describe_message(inner, carbon=kind))
                return
        receipt = xml.find("{%s}received" % RECEIPTS)
        if receipt is not None:
            emit({"event": "receipt", "from": xml.get("from"), "id": receipt.get("id")})
        for child in xml:
            if child.tag.startswith("{%s}" % CHATSTATES):
                emit({
                    "event": "chatstate",
                    "from": xml.get("from"),
                    "state": child.tag.split("}")[-1],
                    "body": xml.find("{jabber:client}body") is not None,
                    "no_store": xml.find("{urn:xmpp:hints}no-store") is not None,
                })
                break
        if xml.find("{jabber:client}body") is None:
            return
        emit(describe_message(xml))
        # Answer receipt requests like an ordinary client does (XEP-0184).
        if xml.find("{%s}request" % RECEIPTS) is not None and xml.get("id"):
            ack = self.make_message(mto=xml.get("from"))
            ack["id"] = "rcpt-" + xml.get("id")
            ack.xml.append(ET.Element("{%s}received" % RECEIPTS, {"id": xml.get("id")}))
            ack.send()

    def do_send(self, cmd):
        msg = self.make_message(mto=cmd["to"], mbody=cmd.get("body"), mtype=cmd.get("type", "chat"))
        if cmd.get("id"):
            msg["id"] = cmd["id"]
        if cmd.get("thread"):
            msg["thread"] = cmd["thread"]
        if cmd.get("receipt"):
            msg.xml.append(ET.Element("{%s}request" % RECEIPTS))
        if cmd.get("reply_id"):
            attrs = {"id": cmd["reply_id"]}
            if cmd.get("reply_to"):
                attrs["to"] = cmd["reply_to"]
            msg.xml.append(ET.Element("{%s}reply" % REPLY, attrs))
        msg.send()
        emit({"event": "sent", "id": msg["id"]})


async def commands(peer):
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await peer.ready.wait()
    while True:
        line = await reader.readline()
        if not line:
            break
        try:
            cmd = json.loads(line)
        except ValueError as e:
            print(f"bad command: {e}", file=sys.stderr)
            continue
        what = cmd.get("cmd")
        if what == "send":
            peer.do_send(cmd)
        elif what == "presence":
            peer.send_presence(
                pshow=cmd.get("show"), pstatus=cmd.get("status"), ptype=cmd.get("type")
            )
            emit({"event": "presence_sent"})
        elif what == "raw":
            peer.send_raw(cmd["xml"])
            emit({"event": "raw_sent"})
        elif what == "enable_carbons":
            await peer.plugin["xep_0280"].enable()
            emit({"event": "carbons_enabled"})
        elif what == "ping":
            # A round trip through the server: everything sent before has been processed.
            await peer.plugin["xep_0199"].ping(jid=peer.boundjid.domain, timeout=30)
            emit({"event": "pong", "token": cmd.get("token")})
        elif what == "burst":
            # Many messages as fast as the stream takes them (benchmarks): raw XML, no events
            # per message; one event when all are handed to the socket.
            from xml.sax.saxutils import escape, quoteattr
            to = quoteattr(cmd["to"])
            prefix = escape(cmd.get("prefix", "burst"))
            started = time.monotonic()
            for i in range(int(cmd["count"])):
                peer.send_raw(
                    f"<message to={to} type='chat' id='b{i}'><body>{prefix} {i}</body></message>"
                )
                if i % 200 == 199:
                    await asyncio.sleep(0)
            await peer.plugin["xep_0199"].ping(jid=peer.boundjid.domain, timeout=120)
            emit({"event": "burst_sent", "count": int(cmd["count"]),
                  "seconds": time.monotonic() - started})
        elif what == "quit":
            break
        else:
            print(f"unknown command: {what}", file=sys.stderr)
    try:
        await asyncio.wait_for(peer.disconnect(), 5)
    except Exception as e:  # already gone
        print(f"disconnect: {e}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jid", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--direct-tls", action="store_true")
    ap.add_argument("--resource")
    ap.add_argument("--no-presence", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    jid = args.jid + ("/" + args.resource if args.resource else "")
    # slixmpp binds to the current event loop when the client is made.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    peer = Peer(jid, args.password, not args.no_presence)
    peer.ssl_context = ssl.create_default_context(cafile=args.ca)
    # Exactly one way in, so a test knows which port and mode it exercises.
    peer.enable_direct_tls = args.direct_tls
    peer.enable_starttls = not args.direct_tls
    peer.enable_plaintext = False
    peer.connect(host=args.host, port=args.port)
    loop.run_until_complete(commands(peer))
    sys.stdout.flush()
    # slixmpp leaves background tasks behind; they have nothing left to say.
    os._exit(0)


if __name__ == "__main__":
    main()
