#!/usr/bin/env bash
# Instant-messaging benchmark, through the real `switchboard serve`:
#  1. incoming IMs stored per second over one XMPP connection (a flood of
#     BENCH_IM_MESSAGES chat messages, default 10000), with the same flood received in the same
#     run by two yardsticks: a standard-library client that parses nothing (Prosody's own
#     delivery rate to one connection) and a plain slixmpp client; BENCH_IM_RUNS (default 3)
#     turns each, interleaved; then once the same number as an offline backlog.
#  2. the mail → IM forward → IM reply → mail round trip, BENCH_IM_ROUND_TRIPS (default 30)
#     times: a mail saved into Dovecot is forwarded as an IM (a rule), a second XMPP client
#     answers in the forward's thread, and the mail reply reaches the SMTP sink; median, p95
#     and where the time goes.
#
#   scripts/bench-im.sh ./target/release/switchboard          (what `make bench` runs)
#
# Everything on 127.0.0.1, started and stopped by tests/examples/bench_im.rs with the test
# harness: a private Prosody, Dovecot, the aiosmtpd sink, a private D-Bus + gnome-keyring.
# Targets: >= 1,000 incoming IMs stored per second; median round trip < 1 s.
# Prints the figures and rewrites the generated part of the "## Instant messaging" section of
# docs/BENCHMARKS.md (appended when missing; BENCH_DOCS=path to write elsewhere, BENCH_DOCS=
# to skip). Needs: prosody, dovecot, gnome-keyring, dbus, openssl (scripts/install-deps.sh
# bench) and the Python venv with slixmpp and aiosmtpd (scripts/install-python-tools.sh).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
if [ $# -lt 1 ]; then
  echo "usage: $0 path/to/switchboard" >&2
  exit 64
fi
bin="$(realpath "$1")"
[ -x "$bin" ] || { echo "bench-im: $bin is missing (cargo build --release -p switchboard-cli)" >&2; exit 69; }
messages="${BENCH_IM_MESSAGES:-10000}"
runs="${BENCH_IM_RUNS:-3}"
rounds="${BENCH_IM_ROUND_TRIPS:-30}"
for v in messages runs; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "bench-im: BENCH_IM_${v^^} takes a positive integer, got '${!v}'" >&2; exit 64; }
done
[[ "$rounds" =~ ^[0-9]+$ ]] || { echo "bench-im: BENCH_IM_ROUND_TRIPS takes a number, got '$rounds'" >&2; exit 64; }
docs="${BENCH_DOCS-$repo/docs/BENCHMARKS.md}"

"$repo/scripts/install-python-tools.sh" >/dev/null
echo "[bench-im] building the harness example" >&2
cargo build --quiet --release -p switchboard-tests --example bench_im --manifest-path "$repo/Cargo.toml"
target="${CARGO_TARGET_DIR:-$repo/target}"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
result="$(SWITCHBOARD_BIN="$bin" "$target/release/examples/bench_im" \
  --messages "$messages" --runs "$runs" --round-trips "$rounds")"

version="$("$bin" --version 2>/dev/null || echo switchboard)"
commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git -C "$repo" status --porcelain -- crates 2>/dev/null | head -1)" ]; then commit="$commit + local changes"; fi
machine="$(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, Linux $(uname -r)"
knobs=""
for v in BENCH_IM_MESSAGES BENCH_IM_RUNS BENCH_IM_ROUND_TRIPS; do
  if [ -n "${!v:-}" ]; then knobs="$knobs$v=${!v} "; fi
done

RESULT="$result" DOCS="$docs" MACHINE="$machine" VERSION="$version ($commit)" \
DATE="$(date -u '+%Y-%m-%d %H:%M UTC')" COMMAND="${knobs}scripts/bench-im.sh $1" \
PROSODY="$(dpkg-query -W -f='${Version}' prosody 2>/dev/null || true)" \
DOVECOT="$(dovecot --version | cut -d' ' -f1)" \
LOAD="$load_before → $(cut -d' ' -f1-3 /proc/loadavg)" python3 - <<'EOF'
import json, os, re
r = json.loads(os.environ["RESULT"])
rx = r["receive"]
rt = r["round_trip"]

def yes(ok):
    return "yes" if ok else "**no**"

def rates(v):
    return ", ".join(f"{x:,.0f}" for x in v)

lines = [
    f"**Receive rate** ({rx['messages']:,} messages per flood, {rx['runs']} runs each, taking turns; IM/s from the first message sent to the last one stored or received):",
    "",
    "| receiver | IM/s (median) | runs | Switchboard ÷ it |",
    "|---|---:|---|---:|",
    f"| Switchboard (`serve`, stored in SQLite) | **{rx['stored_per_second_median']:,.0f}** | {rates(rx['stored_per_second'])} | |",
    f"| raw client, parses nothing (Prosody's delivery rate) | {rx['raw_per_second_median']:,.0f} | {rates(rx['raw_per_second'])} | {rx['ratio_to_raw']:.2f}× |",
    f"| slixmpp client | {rx['slixmpp_per_second_median']:,.0f} | {rates(rx['slixmpp_per_second'])} | {rx['ratio_to_slixmpp']:.2f}× |",
    "",
    f"Switchboard, median run: stored in {rx['seconds_median']:.2f} s while the sender's flood took {rx['sender_seconds_median']:.2f} s "
    f"(until Prosody answered a ping sent after the last message); serve used {rx['cpu_seconds_median']:.2f} s of CPU until the last was stored; "
    f"the router had decided on all of them {rx['routed_seconds_median']:.2f} s after the first was sent.",
]
b = rx.get("backlog")
if b:
    lines += ["", f"Backlog: {b['messages']:,} messages waiting in offline storage were stored in {b['seconds']:.2f} s from the first to the last "
              f"(**{b['per_second']:,.0f} IM/s**; the first {b['first_after_start_seconds']:.2f} s after serve started, connection included)."]
ok_rate = rx["stored_per_second_median"] >= 1000
table_rt = []
ok_rt = None
if rt:
    ok_rt = rt["median_ms"] < 1000
    table_rt = [
        "",
        f"**Round trip** mail → IM forward → IM reply → mail, {rt['rounds']} rounds one at a time: median **{rt['median_ms']:.0f} ms**, "
        f"p95 {rt['p95_ms']:.0f} ms (min {rt['min_ms']:.0f}, max {rt['max_ms']:.0f}); without the phone's own answering time, median {rt['without_phone_median_ms']:.0f} ms. "
        f"Dovecot's announcement heard by the bare IDLE session in {rt['idle_announcements_heard']} of {rt['rounds']} rounds.",
        "",
        "| stage | median | p95 |",
        "|---|---:|---:|",
    ] + [f"| {s['what']} | {s['median_ms']:.0f} ms | {s['p95_ms']:.0f} ms |" for s in rt["stages"]]
    if rt.get("client_to_client_median_ms") is not None:
        table_rt += ["", f"For comparison, one slixmpp client to another through the same Prosody (sent → received, {rt['rounds']} times): "
                     f"median {rt['client_to_client_median_ms']:.0f} ms, p95 {rt['client_to_client_p95_ms']:.0f} ms."]
verdicts = ["", "| target | measured | met |", "|---|---|:---:|",
            f"| ≥ 1,000 incoming IMs stored per second | {rx['stored_per_second_median']:,.0f} IM/s | {yes(ok_rate)} |"]
if rt:
    verdicts.append(f"| median mail → IM → mail round trip < 1 s | {rt['median_ms']:.0f} ms | {yes(ok_rt)} |")
table = "\n".join(lines + table_rt + verdicts)
print(table)
docs = os.environ["DOCS"]
if not docs:
    raise SystemExit(0)
body = f"""<!-- bench-im:begin (generated by scripts/bench-im.sh; edits here are replaced) -->
Measured {os.environ['DATE']} on {os.environ['MACHINE']}; load average before → after the run {os.environ['LOAD']}.
`{os.environ['COMMAND']}` with {os.environ['VERSION']}, Prosody {os.environ['PROSODY'] or '?'}, Dovecot {os.environ['DOVECOT']}.

{table}
<!-- bench-im:end -->"""
text = open(docs).read() if os.path.exists(docs) else "# Benchmarks\n"
pattern = re.compile(r"<!-- bench-im:begin.*?<!-- bench-im:end -->", re.S)
if pattern.search(text):
    text = pattern.sub(lambda _: body, text)
else:
    text = text.rstrip("\n") + f"""

## Instant messaging

Targets: ≥ 1,000 incoming IMs stored per second over one XMPP connection; median mail → IM
forward → IM reply → mail round trip < 1 s on loopback. `scripts/bench-im.sh
./target/release/switchboard` (part of `make bench`; knobs `BENCH_IM_MESSAGES`,
`BENCH_IM_RUNS`, `BENCH_IM_ROUND_TRIPS`, defaults 10000, 3, 30) runs
tests/examples/bench_im.rs against the given binary.

{body}
"""
open(docs, "w").write(text)
print(f"wrote {docs}")
EOF
