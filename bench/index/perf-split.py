#!/usr/bin/env python3
"""Splits a `perf record -g` profile of `switchboard serve` answering index polls into what
the server's CPU goes to, from `perf script -F ip,sym,dso` output.

Usage: perf-split.py PERF_SCRIPT_OUTPUT [US_PER_POLL]
With US_PER_POLL (the server's CPU per poll measured without perf), each share is also shown
in µs per poll.

Kernel frames unwind well, so kernel time is split by the system call it was spent in (the
whole stack is searched); user space is split by the sampled function alone (the release
binary has no frame pointers, so its stacks stop early). First matching rule wins.
"""
import collections
import re
import sys

KERNEL_RULES = [
    ("kernel: send (writev): TCP/IP out, loopback delivery into the client's socket, waking "
     "the client (and being preempted by it)",
     r"do_writev|__x64_sys_writev|tcp_sendmsg"),
    ("kernel: receive (recvfrom)", r"__x64_sys_recvfrom|tcp_recvmsg"),
    ("kernel: epoll, futex, scheduling (idle and wake-ups)",
     r"epoll|futex|schedule|finish_task_switch|nanosleep"),
    ("kernel: accept, close, other", r"."),
]
USER_RULES = [
    ("malloc, free, memcpy", r"malloc|_int_free|cfree|memmove|memcpy|memset|realloc|"
                             r"unlink_chunk|sysmalloc|memcmp|tcache"),
    ("Switchboard's own code: Host check, token SHA-256 + hex, token lookup, ETag, format!",
     r"switchboard_server|sha2::|hex::|alloc::fmt|core::fmt|FromIterator<char>|"
     r"eq_ignore_ascii_case|RwLock|hash_one|hashbrown"),
    ("HTTP/1 parsing and encoding (hyper, httparse, http)", r"hyper::|httparse|http::"),
    ("routing and middleware (axum, tower)", r"axum|tower"),
    ("async runtime (tokio)", r"tokio::|mio::"),
    ("other user space (libc syscall wrappers, unresolved)", r"."),
]


def main():
    path = sys.argv[1]
    us_per_poll = float(sys.argv[2]) if len(sys.argv) > 2 else None
    counts = collections.Counter()
    total = 0
    with open(path, errors="replace") as f:
        frames = []
        for line in f.read().split("\n") + [""]:
            if line.strip():
                if line.startswith((" ", "\t")):
                    frames.append(line.strip())
                continue
            if not frames:
                continue
            total += 1
            leaf = frames[0]
            if "kernel.kallsyms" in leaf or "[unknown]" in leaf and "kallsyms" in " ".join(frames[:2]):
                stack = " ".join(frames)
                rules = KERNEL_RULES
            else:
                stack = leaf
                rules = USER_RULES
            for name, pat in rules:
                if re.search(pat, stack):
                    counts[name] += 1
                    break
            frames = []
    if not total:
        print("no samples")
        return
    order = [n for n, _ in KERNEL_RULES + USER_RULES]
    print(f"{total} samples")
    for name in order:
        share = counts[name] / total
        extra = f"  ≈{share * us_per_poll:5.2f} µs/poll" if us_per_poll else ""
        print(f"{share * 100:5.1f}%{extra}  {name}")


if __name__ == "__main__":
    main()
