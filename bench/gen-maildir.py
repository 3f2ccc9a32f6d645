#!/usr/bin/env python3
"""Writes N realistic, distinct messages straight into a Maildir's cur/ (benchmark input).

Sizes: ~93% plain/alternative text of 2-8 KB, ~5% longer threads of 8-40 KB, ~2% with a
base64 attachment making the message 50-200 KB. Every message has its own Message-ID, a date
spread over two years (also set as the file mtime, which Dovecot uses as INTERNALDATE), some
replies with In-Reply-To/References, some RFC 2047 subjects, some quoted-printable bodies, and
Maildir flags (~70% seen, ~3% flagged, ~5% answered). Deterministic for a given seed.

Usage: gen-maildir.py N MAILDIR [--seed S]    (MAILDIR gets cur/ new/ tmp/)
Prints "<count> <total bytes>" on stdout.
"""
import argparse
import base64
import os
import random
import time

WORDS = (
    "the of and to in is that for it as with was on be by this are at from or have an they "
    "which one you had not but what all were when we there can been has more if will would "
    "about so their out up into do time some could them other than then now only its also "
    "after first two how our over new most me through back much before must right where "
    "meeting project report budget review quarter schedule deadline release build server "
    "invoice customer contract proposal draft update agenda minutes summary feedback design "
    "deploy migration database backup network storage latency throughput incident ticket "
    "question answer thanks regards please attached following discussed agreed pending "
    "tomorrow yesterday monday tuesday wednesday thursday friday weekend morning afternoon "
    "team office travel flight hotel conference slides presentation document spreadsheet "
    "numbers estimate forecast revenue cost hiring interview candidate offer onboarding "
    "support escalation priority issue bug fix patch test coverage benchmark performance "
    "security audit compliance policy access password account login certificate renewal "
    "kitchen garden holiday dinner birthday family photos weather coffee lunch train"
).split()

FIRST = ("Alice Bob Carol Dave Erin Frank Grace Heidi Ivan Judy Mallory Niaj Olivia Peggy "
         "Rupert Sybil Trent Victor Walter Zoë José Ærin Łukasz Søren Amélie").split()
LAST = ("Smith Jones Brown Taylor Wilson Davies Evans Thomas Johnson Roberts Walker Wright "
        "Müller Dubois García Rossi Nowak Novák Kowalski Andersson").split()
DOMAINS = ["example.com", "example.org", "example.net", "corp.example", "mail.example.co.uk",
           "lists.example.org", "shop.example", "bank.example"]
TOPICS = ["Quarterly report", "Meeting notes", "Invoice", "Build failed", "Release plan",
          "Your order has shipped", "Weekly digest", "Re: budget", "Travel itinerary",
          "Password reset", "Team lunch", "Incident review", "Contract draft", "Photos",
          "Newsletter", "Schedule change", "Welcome aboard", "Security advisory"]
UTF8_TOPICS = ["Résumé für Müller", "Grüße aus Köln", "Café crème — réunion", "Zoë's øl",
               "Привет из Москвы", "日本語の件名", "Ελληνικά θέματα"]
MAILERS = ["Mozilla Thunderbird 115.6", "Apple Mail (2.3731)", "Microsoft Outlook 16.0",
           "Roundcube Webmail/1.6.5", "mutt/2.2.12", None, None]


def corpus(rng, size):
    """A block of wrapped prose to slice message bodies from."""
    lines, line, n = [], [], 0
    words = rng.choices(WORDS, k=size // 5)
    for i, w in enumerate(words):
        if not line:
            w = w.capitalize()
        line.append(w)
        n += len(w) + 1
        if n > rng.randint(58, 74):
            end = "." if rng.random() < 0.3 else ""
            lines.append(" ".join(line) + end)
            line, n = [], 0
            if rng.random() < 0.12:
                lines.append("")
    return "\n".join(lines) + "\n"


def person(rng):
    f, l = rng.choice(FIRST), rng.choice(LAST)
    addr = f"{f.lower()}.{l.lower()}".encode("ascii", "ignore").decode() or "user"
    return f"{f} {l}", f"{addr}@{rng.choice(DOMAINS)}"


def encode_word(s):
    """RFC 2047 B-encoding for non-ASCII display names and subjects."""
    try:
        s.encode("ascii")
        return s
    except UnicodeEncodeError:
        return "=?UTF-8?B?" + base64.b64encode(s.encode()).decode() + "?="


def qp(text):
    out = []
    for line in text.split("\n"):
        enc = "".join(c if (32 <= ord(c) < 127 and c != "=") else
                      "".join(f"={b:02X}" for b in c.encode()) for c in line)
        if enc.endswith((" ", "\t")):
            enc = enc[:-1] + f"={ord(enc[-1]):02X}"
        while len(enc) > 76:
            cut = 75
            while enc[cut - 1] == "=" or enc[cut - 2] == "=":
                cut -= 1
            out.append(enc[:cut] + "=")
            enc = enc[cut:]
        out.append(enc)
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("count", type=int)
    ap.add_argument("maildir")
    ap.add_argument("--seed", type=int, default=4242)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(a.maildir, sub), exist_ok=True)
    cur = os.path.join(a.maildir, "cur")
    text = corpus(rng, 2 * 1024 * 1024)
    blob = base64.encodebytes(rng.randbytes(3 * 1024 * 1024)).decode()  # 76-char lines
    me_name, me_addr = "Alice Example", "alice@example.com"
    end = int(time.time()) - 3600
    span = 2 * 365 * 86400
    total = 0
    recent_ids = []
    for i in range(a.count):
        t = end - span + (span * i) // max(a.count, 1) + rng.randint(0, 600)
        date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))
        name, addr = person(rng)
        msgid = f"<{t:x}.{i}.{rng.getrandbits(48):012x}@{addr.split('@')[1]}>"
        r = rng.random()
        if r < 0.02:
            kind, size = "attach", rng.randint(50_000, 200_000)
        elif r < 0.07:
            kind, size = "long", rng.randint(8_000, 40_000)
        else:
            kind, size = "text", rng.randint(2_000, 8_000)
        subj = (rng.choice(UTF8_TOPICS) if rng.random() < 0.08 else rng.choice(TOPICS))
        subj = f"{subj} #{i % 997}"
        h = [
            f"Return-Path: <{addr}>",
            f"Received: from mx{rng.randint(1, 9)}.{addr.split('@')[1]} (mx [192.0.2.{rng.randint(1, 254)}])\n"
            f"\tby mail.example.com with ESMTPS id {rng.getrandbits(40):010x}\n\tfor <{me_addr}>; {date}",
            f"From: {encode_word(name)} <{addr}>",
            f"To: {me_name} <{me_addr}>",
        ]
        if rng.random() < 0.25:
            cn, ca = person(rng)
            h.append(f"Cc: {encode_word(cn)} <{ca}>")
        h.append(f"Subject: {encode_word(subj)}")
        h.append(f"Date: {date}")
        h.append(f"Message-ID: {msgid}")
        if recent_ids and rng.random() < 0.3:
            parent = rng.choice(recent_ids)
            h.append(f"In-Reply-To: {parent}")
            h.append(f"References: {parent}")
        mailer = rng.choice(MAILERS)
        if mailer:
            h.append(f"X-Mailer: {mailer}")
        h.append("MIME-Version: 1.0")
        recent_ids.append(msgid)
        if len(recent_ids) > 50:
            recent_ids.pop(0)

        body_len = max(400, (size if kind != "attach" else rng.randint(1_500, 6_000)) - 900)
        off = rng.randrange(0, len(text) - body_len - 1)
        off = text.find("\n", off) + 1
        body = text[off:off + body_len]
        body = body[: body.rfind("\n") + 1] or body + "\n"
        body += f"\n-- \n{name}\n"
        bnd = f"=_bench_{rng.getrandbits(64):016x}"
        if kind == "attach":
            alen = size - len(body) - 1200
            aoff = rng.randrange(0, len(blob) - alen - 1)
            aoff = blob.find("\n", aoff) + 1
            att = blob[aoff:aoff + alen]
            att = att[: att.rfind("\n") + 1]
            fname = rng.choice(["report.pdf", "photo.jpg", "slides.pptx", "data.xlsx",
                                "scan.png", "archive.zip"])
            h.append(f'Content-Type: multipart/mixed; boundary="{bnd}"')
            b = (f"This is a multi-part message in MIME format.\n\n--{bnd}\n"
                 "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
                 f"{body}\n--{bnd}\nContent-Type: application/octet-stream; name=\"{fname}\"\n"
                 f"Content-Disposition: attachment; filename=\"{fname}\"\n"
                 f"Content-Transfer-Encoding: base64\n\n{att}\n--{bnd}--\n")
        elif rng.random() < 0.25:
            html = "<html><body>" + "".join(
                f"<p>{p}</p>" for p in body.split("\n\n") if p) + "</body></html>\n"
            h.append(f'Content-Type: multipart/alternative; boundary="{bnd}"')
            b = (f"--{bnd}\nContent-Type: text/plain; charset=utf-8\n"
                 f"Content-Transfer-Encoding: quoted-printable\n\n{qp(body)}\n"
                 f"--{bnd}\nContent-Type: text/html; charset=utf-8\n"
                 f"Content-Transfer-Encoding: quoted-printable\n\n{qp(html)}\n--{bnd}--\n")
        else:
            h.append("Content-Type: text/plain; charset=utf-8; format=flowed")
            h.append("Content-Transfer-Encoding: 8bit")
            b = body
        data = ("\n".join(h) + "\n\n" + b).encode()
        flags = ""
        fr = rng.random()
        if fr < 0.05:
            flags += "R"
        if rng.random() < 0.70:
            flags += "S"
        if rng.random() < 0.03:
            flags = "F" + flags
        vsize = len(data) + data.count(b"\n")
        fn = f"{t}.M{i}P{os.getpid()}.bench,S={len(data)},W={vsize}:2,{flags}"
        path = os.path.join(cur, fn)
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, (t, t))
        total += len(data)
    print(a.count, total)


if __name__ == "__main__":
    main()
