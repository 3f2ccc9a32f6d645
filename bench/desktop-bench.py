#!/usr/bin/env python3
"""Measures the desktop app (scripts/bench-desktop.sh prepares the store and runs this).

For the app and for an empty Tauri window (the `empty_window` example of src-tauri, the same
Tauri and WebKitGTK build with nothing in it), each started BENCH_DESKTOP_RUNS times through
tauri-driver + WebKitWebDriver on a private Xvfb display:

* launch → first inbox rows: from the WebDriver "new session" request (which starts the
  process) until the window's DOM holds an inbox row ([role=treeitem]), polled every 20 ms,
  plus two animation frames so the rows have been painted;
* resident memory of the app and every process it started (WebKitWebProcess,
  WebKitNetworkProcess...): RSS and PSS summed from /proc/PID/smaps_rollup, after opening
  BENCH_DESKTOP_OPEN messages one after the other (j, Enter; each waits for the message view),
  then 2 s of quiet; the empty window is measured 2 s after its page loaded.

Prints one JSON object on stdout. Environment: BENCH_APP, BENCH_BASELINE (binaries),
BENCH_DRIVER (tauri-driver), BENCH_NATIVE_DRIVER (WebKitWebDriver), BENCH_DISPLAY, and what the
app needs (SWITCHBOARD_DATA_DIR, SWITCHBOARD_KEYRING, HOME, XDG_*).
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

RUNS = int(os.environ.get("BENCH_DESKTOP_RUNS", "3"))
OPEN = int(os.environ.get("BENCH_DESKTOP_OPEN", "50"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Driver:
    def __init__(self, log):
        self.port, native = free_port(), free_port()
        self.proc = subprocess.Popen(
            [os.environ["BENCH_DRIVER"], "--port", str(self.port), "--native-port", str(native),
             "--native-driver", os.environ["BENCH_NATIVE_DRIVER"]],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                self.call("GET", "/status")
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("tauri-driver did not start")

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return json.load(r)["value"]
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"WebDriver {method} {path}: {e.code} {e.read()[:300]!r}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Session:
    def __init__(self, driver, app):
        self.d = driver
        caps = {"capabilities": {"alwaysMatch": {"browserName": "wry",
                                                 "tauri:options": {"application": app}}}}
        self.started = time.monotonic()
        self.id = driver.call("POST", "/session", caps)["sessionId"]
        self.created = time.monotonic()

    def js(self, script):
        return self.d.call("POST", f"/session/{self.id}/execute/sync", {"script": script, "args": []})

    def js_async(self, script):
        return self.d.call("POST", f"/session/{self.id}/execute/async", {"script": script, "args": []})

    def keys(self, *keys):
        actions = []
        for k in keys:
            actions += [{"type": "keyDown", "value": k}, {"type": "keyUp", "value": k}]
        self.d.call("POST", f"/session/{self.id}/actions",
                    {"actions": [{"type": "key", "id": "kbd", "actions": actions}]})

    def close(self):
        try:
            self.d.call("DELETE", f"/session/{self.id}")
        except Exception:
            pass


def wait(fn, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


def processes_of(exe):
    """The process running `exe` and all its descendants."""
    parents = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            parents[int(pid)] = ppid
        except (OSError, ValueError):
            continue
    target = os.path.realpath(exe)
    roots = [p for p in parents if exe_of(p) == target]
    found = set(roots)
    changed = True
    while changed:
        changed = False
        for p, pp in parents.items():
            if pp in found and p not in found:
                found.add(p)
                changed = True
    return sorted(found)


def exe_of(pid):
    """The program a process runs, or None for one we may not look at (init, other users)."""
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def memory(exe):
    rows = []
    for pid in processes_of(exe):
        try:
            with open(f"/proc/{pid}/comm") as f:
                name = f.read().strip()
            vals = {}
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    k, _, rest = line.partition(":")
                    if k in ("Rss", "Pss"):
                        vals[k] = int(rest.split()[0])
            rows.append({"pid": pid, "name": name, "rss_kb": vals.get("Rss", 0),
                         "pss_kb": vals.get("Pss", 0)})
        except OSError:
            continue
    return {"processes": rows, "rss_mb": round(sum(r["rss_kb"] for r in rows) / 1024, 1),
            "pss_mb": round(sum(r["pss_kb"] for r in rows) / 1024, 1)}


AFTER_PAINT = ("const done = arguments[arguments.length - 1];"
               "requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now())));")


def measure_app(driver, app):
    s = Session(driver, app)
    try:
        wait(lambda: s.js("return document.querySelector('[role=treeitem]') !== null"), 120,
             "the first inbox row")
        s.js_async(AFTER_PAINT)
        rows_at = time.monotonic()
        nav = s.js("return performance.timeOrigin") / 1000.0
        opened = set()
        s.js("document.querySelector('[role=tree]')?.focus()")
        for i in range(OPEN):
            s.keys("j", "\ue007")
            def shown():
                t = s.js("const v = document.querySelector('[data-testid=message-view]');"
                         "return v ? v.innerText.slice(0, 300) : null")
                return t if t and t not in opened else None
            try:
                opened.add(wait(shown, 10, f"message {i + 1}"))
            except SystemExit:
                break
        time.sleep(2)
        mem = memory(app)
        return {"launch_to_rows_ms": round((rows_at - s.started) * 1000),
                "session_ms": round((s.created - s.started) * 1000),
                "nav_start_wall": nav, "opened": len(opened), "memory": mem}
    finally:
        s.close()
        time.sleep(1)


def measure_baseline(driver, app):
    s = Session(driver, app)
    try:
        wait(lambda: s.js("return document.readyState === 'complete'"), 60, "the empty page")
        s.js_async(AFTER_PAINT)
        loaded = time.monotonic()
        time.sleep(2)
        return {"launch_to_page_ms": round((loaded - s.started) * 1000), "memory": memory(app)}
    finally:
        s.close()
        time.sleep(1)


def main():
    log = open(os.environ.get("BENCH_DRIVER_LOG", "/dev/null"), "ab")
    driver = Driver(log)
    try:
        baseline = [measure_baseline(driver, os.environ["BENCH_BASELINE"]) for _ in range(RUNS)]
        app = [measure_app(driver, os.environ["BENCH_APP"]) for _ in range(RUNS)]
    finally:
        driver.stop()
    med = lambda xs: statistics.median(xs)
    out = {
        "runs": RUNS,
        "opened": min(a["opened"] for a in app),
        "app": {
            "launch_to_rows_ms": med([a["launch_to_rows_ms"] for a in app]),
            "launch_to_rows_ms_all": [a["launch_to_rows_ms"] for a in app],
            "rss_mb": med([a["memory"]["rss_mb"] for a in app]),
            "pss_mb": med([a["memory"]["pss_mb"] for a in app]),
            "processes": app[-1]["memory"]["processes"],
        },
        "baseline": {
            "launch_to_page_ms": med([b["launch_to_page_ms"] for b in baseline]),
            "rss_mb": med([b["memory"]["rss_mb"] for b in baseline]),
            "pss_mb": med([b["memory"]["pss_mb"] for b in baseline]),
            "processes": baseline[-1]["memory"]["processes"],
        },
    }
    out["added_rss_mb"] = round(out["app"]["rss_mb"] - out["baseline"]["rss_mb"], 1)
    out["added_pss_mb"] = round(out["app"]["pss_mb"] - out["baseline"]["pss_mb"], 1)
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
