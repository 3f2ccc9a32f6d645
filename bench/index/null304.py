#!/usr/bin/env python3
"""The floor of the sequential poll loop: an HTTP server that does nothing but answer every
request on a connection with a fixed 304 of the same size as Switchboard's (status line, ETag,
Date). poll.py against it measures what the client, the kernel's loopback TCP and two wake-ups
cost per poll, before any server work: no target can be faster than this with that client.

  null304.py PORT ETAG [--seconds S]     (prints "ready" once listening; serves one
                                          connection at a time and exits after S seconds,
                                          default 120)
"""
import argparse
import email.utils
import signal
import socket
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("etag")
    ap.add_argument("--seconds", type=int, default=120)
    a = ap.parse_args()
    signal.alarm(a.seconds)  # bounded: never outlives the benchmark

    date = email.utils.formatdate(usegmt=True)
    answer = (f"HTTP/1.1 304 Not Modified\r\netag: {a.etag}\r\ndate: {date}\r\n\r\n").encode()
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", a.port))
    srv.listen(8)
    print("ready", flush=True)
    while True:
        conn, _ = srv.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            buf += chunk
            while True:
                i = buf.find(b"\r\n\r\n")
                if i < 0:
                    break
                buf = buf[i + 4:]
                conn.sendall(answer)
        conn.close()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
