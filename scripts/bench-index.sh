#!/usr/bin/env bash
# Index polling benchmark: how cheap is Switchboard's "anything new?" answer (seed 000)?
#
#   scripts/bench-index.sh ./target/release/switchboard          (what `make bench` runs)
#
# One run, everything on 127.0.0.1, everything started is stopped at exit:
#  1. A private Dovecot (temp dir, free ports) gets BENCH_INDEX_MESSAGES (default 10,000)
#     generated messages (bench/gen-maildir.py); `switchboard sync` pulls them into a fresh
#     store over IMAPS, and `switchboard serve --no-sync` serves that store.
#  2. No-change polls per second, every answer checked:
#     - bench/index/poll.py, one connection, strictly sequential, against both the index
#       (GET /api/index, If-None-Match → 304) and Dovecot (STATUS INBOX (MESSAGES UIDNEXT
#       HIGHESTMODSEQ) on a logged-in plain-IMAP connection): same client, same loop, so the
#       ratio is fair. It also counts the exact bytes of one exchange each way. And the same
#       client against bench/index/null304.py, which answers a fixed 304 doing nothing else:
#       the floor of this loop (client + loopback TCP), i.e. the best any server could do.
#       These run with client and server together on CPU 0 (see the note at the runs); the index
#       and Dovecot are then run once more unpinned, for context.
#     - wrk (bench/index/wrk-index.lua), keep-alive, 1 connection / 1 thread (wrk and server on
#       CPU 0), then 64 connections / 2 threads unpinned, BENCH_WRK_SECONDS (default 10) each;
#       then the 64-connection run again with the server pinned to CPU 0 and wrk to the other
#       CPUs (context: the server's capacity when it does not share its core with wrk).
#  3. Server CPU per poll: utime+stime of the serve process (/proc/PID/stat) before and after
#     each run, divided by the polls; Dovecot's the same (its whole process tree).
# Prints a Markdown table and rewrites the generated part of the "## Index polling" section of
# docs/BENCHMARKS.md (appended when missing; BENCH_DOCS=path to write elsewhere, BENCH_DOCS= to
# skip).
#
# Knobs: BENCH_INDEX_MESSAGES (10000), BENCH_WRK_SECONDS (10), BENCH_POLL_SECONDS (10, the
# longest a poll.py run lasts; it also stops after 1,000,000 polls), BENCH_PINNED=0 (skip the
# pinned run), BENCH_PROFILE=1 (afterwards, `perf record` the server under 64-connection wrk
# load for 5 s and print where its CPU goes, then count its system calls with strace for 2 s
# of the same load; needs perf, and strace for the second part), BENCH_REV (label for a binary not
# built in this checkout), BENCH_KEEP=1 (keep the temp dir), BENCH_TMP (parent of the temp dir).
# Needs: dovecot, doveadm, openssl, keyctl, wrk, curl, GNU time, python3
# (scripts/install-deps.sh bench).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

if [ $# -lt 1 ]; then
  echo "usage: $0 path/to/switchboard" >&2
  exit 64
fi

# `switchboard account add` keeps the IMAP password in the kernel keyring here: one fresh
# session keyring for the whole run (as in bench-sync.sh).
if [ -z "${BENCH_IN_KEYRING_SESSION:-}" ]; then
  command -v keyctl >/dev/null || { echo "bench-index: keyctl is missing (package keyutils; scripts/install-deps.sh bench)" >&2; exit 69; }
  export BENCH_IN_KEYRING_SESSION=1
  exec keyctl session - bash "$0" "$@"
fi

bin="$(realpath "$1")"
n="${BENCH_INDEX_MESSAGES:-10000}"
wrk_seconds="${BENCH_WRK_SECONDS:-10}"
poll_seconds="${BENCH_POLL_SECONDS:-10}"
pinned="${BENCH_PINNED:-1}"
profile="${BENCH_PROFILE:-0}"
docs="${BENCH_DOCS-$repo/docs/BENCHMARKS.md}"
gnutime=/usr/bin/time

missing=()
for t in dovecot doveadm openssl python3 wrk curl sha256sum taskset; do
  command -v "$t" >/dev/null || missing+=("$t")
done
if [ "$profile" = 1 ]; then command -v perf >/dev/null || missing+=("perf (for BENCH_PROFILE=1)"); fi
{ [ -x "$gnutime" ] && "$gnutime" --version 2>&1 | grep -q GNU; } || missing+=("GNU time ($gnutime)")
[ -x "$bin" ] || missing+=("$bin (build it: cargo build --release -p switchboard-cli)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench-index: missing: ${missing[*]}; run scripts/install-deps.sh bench" >&2
  exit 69
fi
for v in "$n" "$wrk_seconds" "$poll_seconds"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "bench-index: BENCH_INDEX_MESSAGES, BENCH_WRK_SECONDS and BENCH_POLL_SECONDS take positive integers, got '$v'" >&2; exit 64; }
done

log() { printf '[bench-index %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

root="$(mktemp -d "${BENCH_TMP:-/tmp}/sbindex.XXXXXX")"
chmod 755 "$root"
conf="$root/dovecot.conf"
data="$root/switchboard"
results="$root/results.jsonl"
: >"$results"

# ~9.6 KB of Maildir and ~17 KB of store per message, plus a margin.
need_kb=$((n * 27 + 50000))
avail_kb="$(df -Pk "$root" | awk 'NR==2 {print $4}')"
if [ "$avail_kb" -lt "$need_kb" ]; then
  rmdir "$root"
  echo "bench-index: needs about $((need_kb / 1000)) MB free in ${BENCH_TMP:-/tmp}" >&2
  exit 73
fi

serve_pid=""
null_pid=""
dovecot_pid=""
cleanup() {
  local rc=$?
  if [ -n "$null_pid" ] && kill -0 "$null_pid" 2>/dev/null; then
    kill "$null_pid" 2>/dev/null || true
    wait "$null_pid" 2>/dev/null || true
  fi
  if [ -n "$serve_pid" ] && kill -0 "$serve_pid" 2>/dev/null; then
    kill "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
  fi
  # The account's password leaves the kernel keyring with the account.
  if [ -f "$data/switchboard.sqlite3" ]; then
    SWITCHBOARD_KEYRING=kernel SWITCHBOARD_DATA_DIR="$data" "$bin" account remove bench >/dev/null 2>&1 || true
  fi
  if [ -f "$root/run/master.pid" ]; then
    dovecot_pid="$(cat "$root/run/master.pid" 2>/dev/null || true)"
  fi
  if [ -n "$dovecot_pid" ] && kill -0 "$dovecot_pid" 2>/dev/null; then
    kill "$dovecot_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$dovecot_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    log "kept $root"
  else
    rm -rf "$root"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# --- a private Dovecot: IMAPS for `switchboard sync`, plain IMAP for the poll client --------
# (the same setup as bench-sync.sh, plus the plain listener: the index is served as plain HTTP
# on loopback, so both poll targets are compared without TLS.)
mkdir -p "$root/tls" "$root/home/alice" "$root/run" "$root/state"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$root/tls/server.key" -out "$root/tls/server.pem" 2>/dev/null
chmod 600 "$root/tls/server.key"
fingerprint="$(openssl x509 -in "$root/tls/server.pem" -outform DER | sha256sum | cut -d' ' -f1)"
echo "alice:{PLAIN}alice-pass::::$root/home/alice::" >"$root/users"
chmod 644 "$root/users"
chown -R nobody:nogroup "$root/home"

imaps_port="$(free_port)"
imap_port="$(free_port)"
cat >"$conf" <<EOF
base_dir = $root/run
state_dir = $root/state
log_path = $root/dovecot.log
protocols = imap
listen = 127.0.0.1
default_internal_user = root
default_internal_group = root
default_login_user = dovenull
first_valid_uid = 0
first_valid_gid = 0
mail_uid = nobody
mail_gid = nogroup
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:~/Maildir
mail_fsync = never
ssl = yes
ssl_cert = <$root/tls/server.pem
ssl_key = <$root/tls/server.key
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n $root/users
}
userdb {
  driver = passwd-file
  args = username_format=%n $root/users
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = $imap_port
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $imaps_port
    ssl = yes
  }
}
EOF

log "starting Dovecot on 127.0.0.1:$imaps_port (IMAPS) and :$imap_port (IMAP) in $root"
dovecot -c "$conf" || die "dovecot did not start; see $root/dovecot.log"
for _ in $(seq 100); do
  [ -f "$root/run/master.pid" ] && (exec 3<>"/dev/tcp/127.0.0.1/$imap_port") 2>/dev/null && break
  sleep 0.1
done
dovecot_pid="$(cat "$root/run/master.pid" 2>/dev/null || true)"
[ -n "$dovecot_pid" ] || die "dovecot did not start; see $root/dovecot.log"

# --- 1. fill: N messages into Dovecot, then into a Switchboard store ------------------------
maildir="$root/home/alice/Maildir"
log "generating $n messages into $maildir"
python3 "$repo/bench/gen-maildir.py" "$n" "$maildir" >/dev/null
chown -R nobody:nogroup "$root/home/alice"
# Dovecot treats a Maildir directory that changed in the same second as its last scan as
# possibly dirty and rescans it. Indexed right after being written, every STATUS of a 3 s run
# cost ~2.6 ms of Dovecot CPU at 10,000 messages (350 polls/s) instead of ~50 µs. Backdate the
# directories so that Dovecot is measured in its steady state, as on a real server.
touch -d '-1 hour' "$maildir"/cur "$maildir"/new "$maildir"/tmp "$maildir"
doveadm -c "$conf" force-resync -u alice INBOX
indexed="$(doveadm -c "$conf" -f flow mailbox status -u alice messages INBOX | sed 's/.*messages=//')"
[ "$indexed" = "$n" ] || die "Dovecot indexed $indexed messages, expected $n"

export SWITCHBOARD_KEYRING=kernel SWITCHBOARD_DATA_DIR="$data"
mkdir -p "$data"
printf '%s' alice-pass | "$bin" account add imap bench --host 127.0.0.1 --port "$imaps_port" \
  --user alice --password-stdin --trust-cert "$fingerprint" >"$root/switchboard.log" 2>&1 ||
  { tail -5 "$root/switchboard.log" >&2; die "switchboard account add failed"; }
log "switchboard sync of $n messages (untimed)"
"$bin" sync >>"$root/switchboard.log" 2>&1 || { tail -20 "$root/switchboard.log" >&2; die "switchboard sync failed"; }
stored="$("$bin" inbox --limit 1000000 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
[ "$stored" = "$n" ] || die "switchboard stored $stored messages, expected $n"
token="$("$bin" token create bench | tail -1 | awk '{print $NF}')"
[[ "$token" =~ ^sb_ ]] || die "could not create a token (got '$token')"

# --- the server --------------------------------------------------------------------------------
port="$(free_port)"
url="http://127.0.0.1:$port/api/index"
"$bin" serve --listen "127.0.0.1:$port" --no-sync >"$root/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null && break
  kill -0 "$serve_pid" 2>/dev/null || { cat "$root/serve.log" >&2; die "switchboard serve exited"; }
  sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$port/health" || die "switchboard serve does not answer; see $root/serve.log"
unset SWITCHBOARD_DATA_DIR
log "switchboard serve (pid $serve_pid) on 127.0.0.1:$port"

auth=(-H "Authorization: Bearer $token")
# The full answer once (untimed): the ETag to poll with, and the 200's size for context.
curl -fsS -D "$root/index.headers" -o "$root/index.json" "${auth[@]}" "$url" || die "GET /api/index failed"
etag="$(tr -d '\r' <"$root/index.headers" | awk 'tolower($1) == "etag:" {print $2}')"
[[ "$etag" =~ ^\"[0-9]+\"$ ]] || die "no ETag in the answer: $(cat "$root/index.headers")"
log "index: ETag $etag, body $(cat "$root/index.json")"

# check_304: a short curl poll must be a 304 with no body (before and after every load run).
check_304() {
  local got
  got="$(curl -sS -o /dev/null -w '%{http_code} %{size_download}' "${auth[@]}" -H "If-None-Match: $etag" "$url")"
  [ "$got" = "304 0" ] || die "a no-change poll answered '$got' (status, body bytes), expected '304 0'"
}
check_304

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime of the whole process
clk_tck="$(getconf CLK_TCK)"

# --- 2, 3. the same sequential client against each target: polls/s, bytes, CPU per poll ---
# Where the two ends of a strictly sequential loop run matters a lot on this VM: with client
# and server on different vCPUs and the machine otherwise idle, every poll wakes a halted vCPU
# and both sides' CPU per poll roughly triples (erratically: it depends on what else runs).
# So the headline runs put client and server on CPU 0 together (no cross-CPU wake-ups: the
# work itself), and the index and Dovecot are run again unpinned for context.
cpus="$(nproc)"
all_cpus="0-$((cpus - 1))"
# pin_tree CPUS PID: PID, its threads and its descendants (Dovecot forks per connection; a
# child forked later inherits the master's affinity).
pin_tree() {
  local c
  taskset -a -p -c "$1" "$2" >/dev/null 2>&1 || true
  for c in $(pgrep -P "$2" || true); do pin_tree "$1" "$c"; done
}
null_port="$(free_port)"
# poll_run NAME PLACEMENT(cpu0|any) SERVER_PID poll.py ARGS...: one poll.py run into the results
poll_run() {
  local name=$1 placement=$2 pid=$3 prefix=()
  shift 3
  if [ "$placement" = cpu0 ]; then
    pin_tree 0 "$pid"
    prefix=(taskset -c 0)
  fi
  log "poll.py → $name ($placement), one connection, sequential (up to ${poll_seconds} s)"
  BENCH_IMAP_PASSWORD=alice-pass "${prefix[@]}" python3 "$repo/bench/index/poll.py" "$@" \
    --seconds "$poll_seconds" --cpu-pid "$pid" >"$root/poll.json" || die "poll.py → $name failed"
  pin_tree "$all_cpus" "$pid"
  log "  $(cat "$root/poll.json")"
  printf '{"kind":"poll","target":"%s","placement":"%s","result":%s}\n' "$name" "$placement" \
    "$(cat "$root/poll.json")" >>"$results"
}
http_args=(http "127.0.0.1:$port" --token "$token" --etag "$etag")
imap_args=(imap "127.0.0.1:$imap_port" --user alice --password-env BENCH_IMAP_PASSWORD)

poll_run index cpu0 "$serve_pid" "${http_args[@]}"
# The floor of this loop: the same client against a server that does nothing else.
python3 "$repo/bench/index/null304.py" "$null_port" "$etag" --seconds $((poll_seconds + 60)) >"$root/null304.out" 2>&1 &
null_pid=$!
for _ in $(seq 50); do grep -q ready "$root/null304.out" && break; sleep 0.1; done
grep -q ready "$root/null304.out" || die "null304.py did not start: $(cat "$root/null304.out")"
poll_run null cpu0 "$null_pid" http "127.0.0.1:$null_port" --token "$token" --etag "$etag"
kill "$null_pid" 2>/dev/null || true
wait "$null_pid" 2>/dev/null || true
null_pid=""
poll_run imap cpu0 "$dovecot_pid" "${imap_args[@]}"
grep -q "MESSAGES $n " "$root/poll.json" || die "Dovecot's STATUS does not report $n messages"
if [ "$cpus" -ge 2 ]; then
  poll_run index any "$serve_pid" "${http_args[@]}"
  poll_run imap any "$dovecot_pid" "${imap_args[@]}"
fi

# --- 2, 4. wrk: polls/s and server CPU per poll under load ------------------------------
export BENCH_TOKEN="$token" BENCH_ETAG="$etag"
# run_wrk LABEL THREADS CONNECTIONS [SERVER_CPUS WRK_CPUS]
run_wrk() {
  local label=$1 threads=$2 conns=$3 server_cpus=${4:-} wrk_cpus=${5:-} out="$root/wrk.$1" before after
  local cmd=(wrk -t"$threads" -c"$conns" -d"${wrk_seconds}s" --latency -s "$repo/bench/index/wrk-index.lua" "$url")
  if [ -n "$server_cpus" ]; then
    pin_tree "$server_cpus" "$serve_pid"
    cmd=(taskset -c "$wrk_cpus" "${cmd[@]}")
  fi
  log "wrk $label: ${threads} thread(s), ${conns} connection(s), ${wrk_seconds} s"
  before="$(cpu_ticks "$serve_pid")"
  "$gnutime" -f '%U %S' -o "$out.time" "${cmd[@]}" >"$out.txt" 2>&1 || { cat "$out.txt" >&2; die "wrk failed"; }
  after="$(cpu_ticks "$serve_pid")"
  pin_tree "$all_cpus" "$serve_pid"
  check_304
  grep -q '^WRK_JSON ' "$out.txt" || { cat "$out.txt" >&2; die "wrk printed no summary"; }
  printf '{"kind":"wrk","label":"%s","threads":%d,"connections":%d,"server_cpus":"%s","wrk_cpus":"%s","server_cpu_ticks":%d,"clk_tck":%d,"wrk_cpu_s":%s,"result":%s}\n' \
    "$label" "$threads" "$conns" "${server_cpus:-any}" "${wrk_cpus:-any}" "$((after - before))" "$clk_tck" \
    "$(awk '{print $1 + $2}' "$out.time")" "$(sed -n 's/^WRK_JSON //p' "$out.txt")" >>"$results"
  log "  $(grep -E 'Requests/sec|Non-2xx|Socket errors' "$out.txt" | tr -s ' ' | paste -sd';' -)"
}
run_wrk c1 1 1 0 0
run_wrk c64 2 64
if [ "$pinned" = 1 ] && [ "$cpus" -ge 2 ]; then
  run_wrk c64-pinned 2 64 0 "1-$((cpus - 1))"
fi

if [ "$profile" = 1 ]; then
  log "profiling the server under 64-connection wrk load for 5 s (perf, untimed)"
  wrk -t2 -c64 -d6s -s "$repo/bench/index/wrk-index.lua" "$url" >/dev/null 2>&1 &
  load_pid=$!
  sleep 0.5
  perf record -q -g -F 999 -p "$serve_pid" -o "$root/perf.data" -- sleep 5 2>/dev/null || true
  wait "$load_pid" || true
  # Shares of the server's CPU, also in µs per poll using the 64-connection run's CPU per poll.
  us_per_poll="$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("label") == "c64":
        print(round(r["server_cpu_ticks"] / r["clk_tck"] / r["result"]["requests"] * 1e6, 2))' "$results")"
  {
    echo "### Where the server's CPU goes under 64-connection wrk load (perf, bench/index/perf-split.py)"
    echo '```'
    perf script -i "$root/perf.data" -F ip,sym,dso 2>/dev/null >"$root/perf.txt" || true
    python3 "$repo/bench/index/perf-split.py" "$root/perf.txt" ${us_per_poll:+"$us_per_poll"}
    echo
    echo "Top functions by self time:"
    perf report -i "$root/perf.data" --no-children --sort dso,sym -g none --stdio 2>/dev/null |
      grep '%' | grep -v '^#' | head -25
    echo '```'
  } >"$root/profile.txt" || true
  if command -v strace >/dev/null; then
    log "counting the server's system calls under 2 s of 64-connection wrk load (strace, untimed)"
    timeout -s INT 4 strace -c -f -p "$serve_pid" -o "$root/strace.txt" 2>/dev/null &
    strace_pid=$!
    sleep 0.7
    wrk -t2 -c64 -d2s -s "$repo/bench/index/wrk-index.lua" "$url" >"$root/wrk.strace.txt" 2>&1 || true
    wait "$strace_pid" || true
    polls="$(sed -n 's/^WRK_JSON {"requests":\([0-9]*\).*/\1/p' "$root/wrk.strace.txt")"
    {
      echo
      echo "### Server system calls during ${polls:-?} polls (strace -c -f; the 50 ms sleeps are the index watcher)"
      echo '```'
      cat "$root/strace.txt"
      echo '```'
    } >>"$root/profile.txt"
  fi
fi

# --- 5. report ---------------------------------------------------------------------------------
built="$(date -u -r "$bin" '+%Y-%m-%d %H:%M UTC')"
case "$bin" in
  "$repo"/*)
    commit="repo at $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    if [ -n "$(git -C "$repo" status --porcelain -- crates 2>/dev/null || true)" ]; then
      commit="$commit + uncommitted changes in crates/"
    fi
    ;;
  *) commit="source unknown: not built in this checkout" ;;
esac
if [ -n "${BENCH_REV:-}" ]; then commit="built from $BENCH_REV"; fi
knobs=""
for v in BENCH_INDEX_MESSAGES BENCH_WRK_SECONDS BENCH_POLL_SECONDS BENCH_PINNED; do
  if [ -n "${!v:-}" ]; then knobs="$knobs$v=${!v} "; fi
done
python3 "$repo/bench/index/report.py" "$results" "$docs" \
  --machine "$cpus CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, Linux $(uname -r)" \
  --date "$(date -u '+%Y-%m-%d %H:%M UTC')" \
  --command "${knobs}scripts/bench-index.sh $1" \
  --versions "$("$bin" --version 2>/dev/null || echo switchboard) (binary of $built, $commit); dovecot $(dovecot --version | cut -d' ' -f1); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2); Python $(python3 -c 'import platform; print(platform.python_version())')" \
  --load "$(cut -d' ' -f1-3 /proc/loadavg)" \
  --messages "$n" --index-body "$(cat "$root/index.json")"
if [ -f "$root/profile.txt" ]; then
  echo
  cat "$root/profile.txt"
fi
