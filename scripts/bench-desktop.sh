#!/usr/bin/env bash
# Desktop app benchmark: switchboard-desktop on a store of BENCH_DESKTOP_MESSAGES (100,000),
# against an empty Tauri window built the same way.
#
#   scripts/bench-desktop.sh CLI APP BASELINE       (what `make bench` runs:
#       ./target/release/switchboard ./target/desktop/release/switchboard-desktop
#       ./target/desktop/release/examples/empty_window)
#
#  1. A private Dovecot (temp dir, free port, IMAPS, self-signed certificate) gets the messages
#     from bench/gen-maildir.py; `switchboard sync` pulls them into a fresh store (untimed).
#  2. bench/desktop-bench.py, on a private Xvfb display inside dbus-run-session, starts each
#     binary BENCH_DESKTOP_RUNS times (3) through tauri-driver and WebKitWebDriver: launch →
#     first inbox rows painted; RSS and PSS of all processes (the app, WebKitWebProcess,
#     WebKitNetworkProcess) after opening BENCH_DESKTOP_OPEN (50) messages; the same for the
#     empty window, and the difference.
#  3. Prints the JSON and rewrites the "## Desktop app" section of docs/BENCHMARKS.md
#     (BENCH_DOCS=path to write elsewhere, BENCH_DOCS= to skip).
#
# Knobs: BENCH_DESKTOP_MESSAGES, BENCH_DESKTOP_RUNS, BENCH_DESKTOP_OPEN, BENCH_KEEP=1 (keep the
# temp dir), BENCH_TMP (its parent), BENCH_REV (label for binaries not built in this checkout).
# Needs: dovecot, doveadm, openssl, keyctl, python3, Xvfb, dbus-run-session, WebKitWebDriver
# (scripts/install-deps.sh bench) and tauri-driver (scripts/install-desktop-tools.sh).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

if [ $# -lt 3 ]; then
  echo "usage: $0 path/to/switchboard path/to/switchboard-desktop path/to/empty_window" >&2
  exit 64
fi

# The IMAP password goes to the kernel keyring: one fresh session keyring for the whole run.
if [ -z "${BENCH_IN_KEYRING_SESSION:-}" ]; then
  command -v keyctl >/dev/null || { echo "bench-desktop: keyctl is missing (package keyutils; scripts/install-deps.sh bench)" >&2; exit 69; }
  export BENCH_IN_KEYRING_SESSION=1
  exec keyctl session - bash "$0" "$@"
fi

bin="$(realpath "$1")"
app="$(realpath "$2")"
baseline="$(realpath "$3")"
n="${BENCH_DESKTOP_MESSAGES:-100000}"
docs="${BENCH_DOCS-$repo/docs/BENCHMARKS.md}"
driver="$repo/target/tools/tauri-driver/bin/tauri-driver"

missing=()
for t in dovecot doveadm openssl python3 sha256sum Xvfb dbus-run-session WebKitWebDriver; do
  command -v "$t" >/dev/null || missing+=("$t")
done
[ -x "$driver" ] || missing+=("tauri-driver (scripts/install-desktop-tools.sh)")
for b in "$bin" "$app" "$baseline"; do
  [ -x "$b" ] || missing+=("$b (make bench builds it)")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench-desktop: missing: ${missing[*]}; run scripts/install-deps.sh bench" >&2
  exit 69
fi
[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "bench-desktop: BENCH_DESKTOP_MESSAGES takes a positive integer, got '$n'" >&2; exit 64; }

log() { printf '[bench-desktop %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

root="$(mktemp -d "${BENCH_TMP:-/tmp}/sbdesk.XXXXXX")"
chmod 755 "$root"
conf="$root/dovecot.conf"
data="$root/switchboard"
xvfb_pid=""

need_kb=$((n * 27 + 50000))
avail_kb="$(df -Pk "$root" | awk 'NR==2 {print $4}')"
if [ "$avail_kb" -lt "$need_kb" ]; then
  rmdir "$root"
  echo "bench-desktop: needs about $((need_kb / 1000)) MB free in ${BENCH_TMP:-/tmp}" >&2
  exit 73
fi

cleanup() {
  local rc=$? dovecot_pid=""
  [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null || true
  if [ -f "$data/switchboard.sqlite3" ]; then
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

# --- the desktop, on a private display and session bus, with its own home --------------------
export HOME="$root/desktop-home"
export XDG_CONFIG_HOME="$HOME/.config" XDG_DATA_HOME="$HOME/.local/share" XDG_CACHE_HOME="$HOME/.cache"
export XDG_RUNTIME_DIR="$root/runtime"
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
display=""
for d in $(seq 120 199); do
  [ -e "/tmp/.X$d-lock" ] || [ -e "/tmp/.X11-unix/X$d" ] && continue
  Xvfb ":$d" -screen 0 1280x800x24 -nolisten tcp -noreset >"$root/xvfb.log" 2>&1 &
  xvfb_pid=$!
  for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X$d" ] && break; sleep 0.05; done
  if [ -e "/tmp/.X11-unix/X$d" ]; then display=":$d"; break; fi
  kill "$xvfb_pid" 2>/dev/null || true
  xvfb_pid=""
done
[ -n "$display" ] || die "no free X display for Xvfb"
export DISPLAY="$display"
unset WAYLAND_DISPLAY

log "measuring $(basename "$app") and the empty window on $DISPLAY"
BENCH_APP="$app" BENCH_BASELINE="$baseline" BENCH_DRIVER="$driver" \
  BENCH_NATIVE_DRIVER="$(command -v WebKitWebDriver)" BENCH_DRIVER_LOG="$root/driver.log" \
  dbus-run-session -- python3 "$repo/bench/desktop-bench.py" >"$root/result.json" 2>"$root/bench.err" ||
  { tail -n 30 "$root/bench.err" "$root/driver.log" >&2; die "the desktop run failed"; }
cat "$root/result.json"

if [ -n "$docs" ]; then
  rev="${BENCH_REV:-$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)}"
  python3 "$repo/bench/desktop-report.py" "$root/result.json" "$docs" "$rev" "$n"
  log "updated $docs"
fi
