#!/usr/bin/env python3
"""Summarises `perf script -F comm,ip,sym` output (recorded with -g) of a Switchboard sync:
on-CPU time per thread, split into the phases the sync code is made of.

Usage: perf-summary.py PERF_SCRIPT_OUTPUT SAMPLE_HZ [RUNS]
RUNS divides the times (several syncs recorded in one file). Buckets are matched against the
whole stack, first match wins, so the order of RULES matters.
"""
import collections
import re
import sys

RULES = [
    ("SQLite: pwrite (WAL and checkpoint writes)", r"__x64_sys_pwrite64|__libc_pwrite"),
    ("SQLite: pread (page reads, checkpoint reading the WAL)", r"__x64_sys_pread64|__libc_pread"),
    ("fsync", r"fsync|fdatasync"),
    ("lz4 compression of the raw message", r"lz4_flex"),
    ("FTS5 indexing", r"fts5|Fts5"),
    ("MIME parsing and decoding (mail-parser)", r"mail_parser"),
    ("message model (switchboard_model)", r"switchboard_model|Utf8Chunks|lossy"),
    ("SQLite: b-tree, VDBE, WAL bookkeeping",
     r"sqlite3|pcache|rusqlite|wal[A-Z]|balance|[bB]tree|moveTo|getCellInfo|insertCell|"
     r"allocateSpace|defragmentPage|fillInCell|readDbPage|[pP]ager"),
    ("root certificates (rustls-native-certs)", r"rustls_native_certs|rustls_pki_types|openat|statx"),
    ("TLS", r"ring_core|ring::|rustls"),
    ("IMAP response parsing (async-imap, imap-proto)", r"imap_proto|async_imap|nom::"),
    ("network receive (kernel)", r"recvfrom|tcp_|sock_"),
    ("process start and exit", r"execve|do_exit|_dl_|exit_mmap|load_elf"),
    ("malloc, free, memcpy, page faults",
     r"malloc|_int_free|cfree|memmove|memcpy|memset|realloc|unlink_chunk|sysmalloc|"
     r"malloc_consolidate|memcmp|page_fault|clear_page"),
    ("scheduler, futex, epoll", r"futex|epoll|schedule|finish_task_switch"),
]


def fmt_ms(ms):
    return f"{ms:8.1f} ms" if ms < 100 else f"{ms:8.0f} ms"


def thread_group(comm):
    if comm.startswith("store-writer"):
        return "store writer thread"
    if comm.startswith("tokio-rt"):
        return "async (network) threads"
    if comm == "switchboard":
        return "main thread"
    return None


def main():
    path, hz = sys.argv[1], float(sys.argv[2])
    runs = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
    text = open(path, errors="replace").read()
    per = collections.defaultdict(collections.Counter)
    total = collections.Counter()
    for sample in text.split("\n\n"):
        lines = sample.strip().split("\n")
        if not lines or not lines[0].strip():
            continue
        group = thread_group(lines[0].split()[0])
        if group is None:
            continue
        stack = " ".join(lines[1:])
        total[group] += 1
        for name, rx in RULES:
            if re.search(rx, stack):
                per[group][name] += 1
                break
        else:
            leaf = lines[1].split(None, 1)[1].strip()[:50] if len(lines) > 1 else "?"
            per[group]["other: " + leaf] += 1
    unit = "per run" if runs != 1 else ""
    for group, n in total.most_common():
        print(f"{group}: {n / hz / runs * 1000:.0f} ms CPU {unit}".rstrip())
        small = 0
        for name, v in per[group].most_common():
            if name.startswith("other") and v < n * 0.01:
                small += v
                continue
            print(f"  {100 * v / n:5.1f}%  {fmt_ms(v / hz / runs * 1000)}  {name}")
        if small:
            print(f"  {100 * small / n:5.1f}%  {fmt_ms(small / hz / runs * 1000)}  other (each < 1%)")


if __name__ == "__main__":
    main()
