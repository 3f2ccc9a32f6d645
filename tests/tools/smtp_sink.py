"""A scripted SMTP sink for Switchboard's tests, on aiosmtpd (a real SMTP server).

    smtp_sink.py --dir DIR --starttls-port P --tls-port Q --cert PEM --key PEM
                 [--user U --password W]

Listens on 127.0.0.1 only: port P speaks SMTP with STARTTLS (required before AUTH and mail),
port Q implicit TLS. With --user, AUTH (PLAIN or LOGIN) is required and only those
credentials are accepted.

DIR/rules.json is read afresh for every RCPT and DATA, so a test can change the sink's mind
between attempts:

    {"rcpt": {"bob@example.org": ["451 4.3.0 Try again later", "550 5.1.1 No such user"]},
     "data": ["250 2.0.0 Queued"],
     "data_delay_ms": 0,
     "record_before_delay": true}

`rcpt` maps an address (lower case) to the answers its successive RCPTs get, counted over the
sink's life; the last one repeats. Addresses not listed are accepted. `data` does the same for
the answer after the final dot (default: accept). `data_delay_ms` holds that answer back (a
slow server, for kill -9 tests); `record_before_delay` says whether the message is recorded
before the pause (the server "has" it although the client never heard so) or after.

Every accepted message is written to DIR/received/NNNNNN.eml with NNNNNN.json beside it
(mail_from, rcpt_tos, auth_user, tls, port), each written to a temporary name and renamed.
Every RCPT/DATA answer is appended to DIR/events.jsonl. DIR/ready is created when both ports
listen.
"""

import argparse
import asyncio
import json
import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, directory):
        self.dir = directory
        self.received = os.path.join(directory, "received")
        os.makedirs(self.received, exist_ok=True)
        self.counts = {}
        self.seq = 0

    def rules(self):
        try:
            with open(os.path.join(self.dir, "rules.json")) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            print(f"smtp_sink: cannot read rules.json: {e}", file=sys.stderr, flush=True)
            return {}

    def answer(self, key, answers):
        n = self.counts.get(key, 0)
        self.counts[key] = n + 1
        if not answers:
            return None
        return answers[min(n, len(answers) - 1)]

    def log(self, **event):
        event["at"] = time.time()
        with open(os.path.join(self.dir, "events.jsonl"), "a") as f:
            f.write(json.dumps(event) + "\n")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        addr = address.lower()
        reply = self.answer("rcpt:" + addr, self.rules().get("rcpt", {}).get(addr))
        reply = reply or "250 2.1.5 OK"
        self.log(kind="rcpt", address=addr, reply=reply, port=server.sb_port)
        if reply.startswith("2"):
            envelope.rcpt_tos.append(address)
        return reply

    def record(self, server, session, envelope):
        self.seq += 1
        name = f"{self.seq:06d}"
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "auth_user": session.auth_data.login.decode() if session.auth_data else None,
            "tls": session.ssl is not None or server.sb_implicit,
            "port": server.sb_port,
        }
        for ext, data in ((".eml", envelope.original_content), (".json", json.dumps(meta).encode())):
            tmp = os.path.join(self.received, f".{name}{ext}.tmp")
            with open(tmp, "wb") as f:
                f.write(data)
            os.rename(tmp, os.path.join(self.received, name + ext))
        return name

    async def handle_DATA(self, server, session, envelope):
        rules = self.rules()
        reply = self.answer("data", rules.get("data")) or "250 2.0.0 Message accepted"
        delay = rules.get("data_delay_ms", 0) / 1000.0
        before = rules.get("record_before_delay", True)
        name = None
        if reply.startswith("2") and before:
            name = self.record(server, session, envelope)
        self.log(kind="data", reply=reply, recorded=name, delay=delay, port=server.sb_port)
        if delay:
            await asyncio.sleep(delay)
        if reply.startswith("2") and not before:
            name = self.record(server, session, envelope)
            self.log(kind="recorded_after_delay", recorded=name, port=server.sb_port)
        return reply


class Auth:
    def __init__(self, user, password):
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.user
            and auth_data.password == self.password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


class PortController(Controller):
    """A controller whose server knows its port (recorded with each message)."""

    def __init__(self, *args, sb_port, **kwargs):
        super().__init__(*args, port=sb_port, **kwargs)
        self.sb_port = sb_port
        self.sb_implicit = kwargs.get("ssl_context") is not None

    def factory(self):
        server = super().factory()
        server.sb_port = self.sb_port
        server.sb_implicit = self.sb_implicit
        return server


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--starttls-port", type=int, required=True)
    p.add_argument("--tls-port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--user")
    p.add_argument("--password")
    a = p.parse_args()

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(a.cert, a.key)
    sink = Sink(a.dir)
    auth = dict(authenticator=Auth(a.user, a.password or ""), auth_required=True) if a.user else {}

    starttls = PortController(
        sink,
        hostname="127.0.0.1",
        sb_port=a.starttls_port,
        tls_context=ctx,
        require_starttls=True,
        server_hostname="localhost",
        **auth,
    )
    # The whole implicit-TLS connection is encrypted; aiosmtpd only knows STARTTLS as TLS,
    # so its "AUTH needs TLS" check is turned off here (and only here).
    implicit = PortController(
        sink,
        hostname="127.0.0.1",
        sb_port=a.tls_port,
        ssl_context=ctx,
        server_hostname="localhost",
        auth_require_tls=False,
        **auth,
    )
    starttls.start()
    implicit.start()
    with open(os.path.join(a.dir, "ready"), "w") as f:
        f.write("ok\n")
    print("smtp_sink: listening", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        starttls.stop()
        implicit.stop()


if __name__ == "__main__":
    main()
