#!/usr/bin/env bash
# Inbox UI benchmark: the web UI in Chromium against a store of BENCH_UI_MESSAGES (100,000).
#
#   scripts/bench-ui.sh ./target/release/switchboard          (what `make bench` runs)
#
#  1. A private Dovecot (temp dir, free port, IMAPS, self-signed certificate) gets the messages
#     from bench/gen-maildir.py; `switchboard sync` pulls them into a fresh store (untimed).
#  2. ui/e2e/bench.mjs (playwright-core with Debian's Chromium, headless, 1280×800) starts
#     `switchboard serve --no-sync` on that store and measures: launch → first inbox rows
#     painted (server spawn to rows on screen) and page reloads; scroll frame times (600 frames
#     of brisk scrolling, then dragging through every message while pages load); search as you
#     type (5 two-word queries typed at one key per 110 ms: keystroke → results painted).
#  3. Prints the JSON and rewrites the generated part of the "## Inbox UI" section of
#     docs/BENCHMARKS.md (BENCH_DOCS=path to write elsewhere, BENCH_DOCS= to skip).
#
# Knobs: BENCH_UI_MESSAGES (100000), BENCH_KEEP=1 (keep the temp dir), BENCH_TMP (its parent),
# BENCH_REV (label for a binary not built in this checkout).
# Needs: dovecot, doveadm, openssl, keyctl, python3, node + ui/node_modules (make ui), chromium
# (scripts/install-deps.sh bench).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

if [ $# -lt 1 ]; then
  echo "usage: $0 path/to/switchboard" >&2
  exit 64
fi

# The IMAP password goes to the kernel keyring: one fresh session keyring for the whole run.
if [ -z "${BENCH_IN_KEYRING_SESSION:-}" ]; then
  command -v keyctl >/dev/null || { echo "bench-ui: keyctl is missing (package keyutils; scripts/install-deps.sh bench)" >&2; exit 69; }
  export BENCH_IN_KEYRING_SESSION=1
  exec keyctl session - bash "$0" "$@"
fi

bin="$(realpath "$1")"
n="${BENCH_UI_MESSAGES:-100000}"
docs="${BENCH_DOCS-$repo/docs/BENCHMARKS.md}"

missing=()
for t in dovecot doveadm openssl python3 node sha256sum; do
  command -v "$t" >/dev/null || missing+=("$t")
done
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || missing+=("chromium")
[ -d "$repo/ui/node_modules/playwright-core" ] || missing+=("ui/node_modules (make ui)")
[ -x "$bin" ] || missing+=("$bin (build it: make ui && cargo build --release -p switchboard-cli)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench-ui: missing: ${missing[*]}; run scripts/install-deps.sh bench and make ui" >&2
  exit 69
fi
[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "bench-ui: BENCH_UI_MESSAGES takes a positive integer, got '$n'" >&2; exit 64; }

log() { printf '[bench-ui %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

root="$(mktemp -d "${BENCH_TMP:-/tmp}/sbui.XXXXXX")"
chmod 755 "$root"
conf="$root/dovecot.conf"
data="$root/switchboard"

need_kb=$((n * 27 + 50000))
avail_kb="$(df -Pk "$root" | awk 'NR==2 {print $4}')"
if [ "$avail_kb" -lt "$need_kb" ]; then
  rmdir "$root"
  echo "bench-ui: needs about $((need_kb / 1000)) MB free in ${BENCH_TMP:-/tmp}" >&2
  exit 73
fi

cleanup() {
  local rc=$? dovecot_pid=""
  # The password leaves the kernel keyring with the account (a kept store keeps its account).
  if [ -f "$data/switchboard.sqlite3" ] && [ "${BENCH_KEEP:-0}" != 1 ]; then
    SWITCHBOARD_KEYRING=kernel SWITCHBOARD_DATA_DIR="$data" "$bin" account remove bench >/dev/null 2>&1 || true
  fi
  [ -f "$root/run/master.pid" ] && dovecot_pid="$(cat "$root/run/master.pid" 2>/dev/null || true)"
  if [ -n "$dovecot_pid" ] && kill -0 "$dovecot_pid" 2>/dev/null; then
    kill "$dovecot_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$dovecot_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $root"; else rm -rf "$root"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# --- a private Dovecot with the generated mailbox (as in bench-sync.sh) ----------------------
mkdir -p "$root/tls" "$root/home/alice" "$root/run" "$root/state"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$root/tls/server.key" -out "$root/tls/server.pem" 2>/dev/null
chmod 600 "$root/tls/server.key"
fingerprint="$(openssl x509 -in "$root/tls/server.pem" -outform DER | sha256sum | cut -d' ' -f1)"
echo "alice:{PLAIN}alice-pass::::$root/home/alice::" >"$root/users"
chmod 644 "$root/users"
imaps_port="$(free_port)"
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
    port = 0
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $imaps_port
    ssl = yes
  }
}
EOF

maildir="$root/home/alice/Maildir"
log "generating $n messages into $maildir"
python3 "$repo/bench/gen-maildir.py" "$n" "$maildir" >/dev/null
chown -R nobody:nogroup "${root:?}/home"
dovecot -c "$conf" || die "dovecot did not start; see $root/dovecot.log"
for _ in $(seq 100); do
  [ -f "$root/run/master.pid" ] && (exec 3<>"/dev/tcp/127.0.0.1/$imaps_port") 2>/dev/null && break
  sleep 0.1
done
doveadm -c "$conf" force-resync -u alice INBOX

export SWITCHBOARD_KEYRING=kernel SWITCHBOARD_DATA_DIR="$data"
mkdir -p "$data"
printf '%s' alice-pass | "$bin" account add imap bench --host 127.0.0.1 --port "$imaps_port" \
  --user alice --password-stdin --trust-cert "$fingerprint" >"$root/switchboard.log" 2>&1 ||
  { tail -5 "$root/switchboard.log" >&2; die "switchboard account add failed"; }
log "switchboard sync of $n messages (untimed)"
"$bin" sync >>"$root/switchboard.log" 2>&1 || { tail -20 "$root/switchboard.log" >&2; die "switchboard sync failed"; }
stored="$("$bin" inbox --limit 1000000 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
[ "$stored" = "$n" ] || die "switchboard stored $stored messages, expected $n"

# --- the browser ------------------------------------------------------------------------------
log "measuring in Chromium ($("${CHROMIUM:-/usr/bin/chromium}" --version 2>/dev/null | head -1))"
(cd "$repo/ui" && SB_BIN="$bin" SB_DATA_DIR="$data" SB_MESSAGES="$n" node e2e/bench.mjs) >"$root/result.json" ||
  die "the browser run failed"
cat "$root/result.json"

if [ -n "$docs" ]; then
  rev="${BENCH_REV:-$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)}"
  python3 "$repo/bench/ui-report.py" "$root/result.json" "$docs" "$rev"
  log "updated $docs"
fi
