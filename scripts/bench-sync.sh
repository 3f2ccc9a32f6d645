#!/usr/bin/env bash
# Sync benchmark: Switchboard against mbsync (isync) on the same private Dovecot over IMAPS.
#
#   scripts/bench-sync.sh ./target/release/switchboard          (what `make bench` runs)
#   BENCH_SIZES="1000 10000" scripts/bench-sync.sh ./target/release/switchboard
#
# For each mailbox size N (default "10000 100000"): generate N messages into a fresh user's
# Maildir on a private Dovecot (127.0.0.1, free ports, temp dir, stopped at exit), let Dovecot
# index them, then time with GNU time: mbsync first sync + no-change re-sync, Switchboard first
# sync + no-change re-sync. Each first sync is checked (message count = N) and the run fails
# loudly when one is short. Prints a Markdown table and rewrites the results section of
# docs/BENCHMARKS.md (BENCH_DOCS=path to write elsewhere, BENCH_DOCS= to skip).
#
# Each first sync runs BENCH_RUNS times (default 3) and each re-sync BENCH_RESYNC_RUNS times
# (default 5), the clients taking turns; the table shows median wall and CPU, and the largest
# peak RSS of any run.
# Other knobs:
# BENCH_MBSYNC_NOFSYNC=0 (skip the extra, informational mbsync first sync with FSync no),
# BENCH_PROFILE=1 (after the timed runs, profile one more Switchboard first sync and 10
# re-syncs with perf and print where the CPU goes; needs perf), BENCH_REV (label: what the
# binary was built from, when it is not this checkout's target/),
# BENCH_KEEP=1 (keep the temp dir for inspection), BENCH_TMP (parent of the temp dir).
# Needs: dovecot, doveadm, mbsync, openssl, keyctl, GNU time, python3 (scripts/install-deps.sh bench).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

if [ $# -lt 1 ]; then
  echo "usage: $0 path/to/switchboard" >&2
  exit 64
fi

# Switchboard keeps passwords in the kernel keyring here: run everything in one fresh session
# keyring, so the secret lives (and dies) with this run.
if [ -z "${BENCH_IN_KEYRING_SESSION:-}" ]; then
  command -v keyctl >/dev/null || { echo "bench: keyctl is missing (package keyutils; scripts/install-deps.sh bench)" >&2; exit 69; }
  export BENCH_IN_KEYRING_SESSION=1
  exec keyctl session - bash "$0" "$@"
fi

bin="$(realpath "$1")"
sizes="${BENCH_SIZES:-10000 100000}"
runs="${BENCH_RUNS:-3}"
resync_runs="${BENCH_RESYNC_RUNS:-5}"
mbsync_nofsync="${BENCH_MBSYNC_NOFSYNC:-1}"
profile="${BENCH_PROFILE:-0}"
[ "$mbsync_nofsync" = 0 ] || mbsync_nofsync=1
docs="${BENCH_DOCS-$repo/docs/BENCHMARKS.md}"
gnutime=/usr/bin/time

missing=()
for t in dovecot doveadm mbsync openssl python3 sha256sum; do
  command -v "$t" >/dev/null || missing+=("$t")
done
if [ "$profile" = 1 ]; then command -v perf >/dev/null || missing+=("perf (for BENCH_PROFILE=1)"); fi
if ! { [ -x "$gnutime" ] && "$gnutime" --version 2>&1 | grep -q GNU; }; then
  missing+=("GNU time ($gnutime)")
fi
[ -x "$bin" ] || missing+=("$bin (build it: cargo build --release -p switchboard-cli)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: missing: ${missing[*]}; run scripts/install-deps.sh bench" >&2
  exit 69
fi
for n in $sizes "$runs" "$resync_runs"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "bench: BENCH_SIZES, BENCH_RUNS and BENCH_RESYNC_RUNS take positive integers, got '$n'" >&2; exit 64; }
done

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

root="$(mktemp -d "${BENCH_TMP:-/tmp}/sbbench.XXXXXX")"
chmod 755 "$root"
conf="$root/dovecot.conf"

# Disk: every Maildir stays until exit (see trash below), ~9.6 KB per message each: the
# generated one, mbsync's per run (twice with the FSync-no runs), plus one Switchboard store
# (~17 KB per message).
need_kb=0
for n in $sizes; do
  need_kb=$((need_kb + n * 10 * (1 + runs * (1 + mbsync_nofsync)) + n * 17))
done
avail_kb="$(df -Pk "$root" | awk 'NR==2 {print $4}')"
if [ "$avail_kb" -lt $((need_kb + need_kb / 5)) ]; then
  rmdir "$root"
  echo "bench: needs about $((need_kb / 1000000 + 1)) GB free in ${BENCH_TMP:-/tmp}, has $((avail_kb / 1000000)) GB; set BENCH_TMP or fewer BENCH_SIZES/BENCH_RUNS" >&2
  exit 73
fi
dovecot_pid=""

cleanup() {
  local rc=$?
  # A run that stopped half-way: the account's password still sits in the kernel keyring.
  local d
  for d in "$root"/switchboard-*; do
    [ -f "$d/switchboard.sqlite3" ] || continue
    SWITCHBOARD_KEYRING=kernel SWITCHBOARD_DATA_DIR="$d" "$bin" account remove bench >/dev/null 2>&1 || true
  done
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
    log "removing $root"
    rm -rf "$root"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# --- TLS: a self-signed certificate (both clients are told to trust exactly this one) --------
mkdir -p "$root/tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$root/tls/server.key" -out "$root/tls/server.pem" 2>/dev/null
chmod 600 "$root/tls/server.key"
fingerprint="$(openssl x509 -in "$root/tls/server.pem" -outform DER | sha256sum | cut -d' ' -f1)"

# --- users: one per mailbox size, mail owned by nobody (Dovecot refuses root for mail) -------
mkdir -p "$root/home" "$root/run" "$root/state"
: >"$root/users"
for n in $sizes; do
  echo "alice$n:{PLAIN}alice-pass::::$root/home/alice$n::" >>"$root/users"
  mkdir -p "$root/home/alice$n"
done
chmod 644 "$root/users"
chown -R nobody:nogroup "$root/home"

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
auth_failure_delay = 0
mail_location = maildir:~/Maildir
mail_fsync = never
ssl = required
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
protocol imap {
  mail_max_userip_connections = 100
}
EOF

log "starting Dovecot on 127.0.0.1:$imaps_port (IMAPS) in $root"
dovecot -c "$conf" || die "dovecot did not start; see $root/dovecot.log"
for _ in $(seq 100); do
  [ -f "$root/run/master.pid" ] && (exec 3<>"/dev/tcp/127.0.0.1/$imaps_port") 2>/dev/null && break
  sleep 0.1
done
dovecot_pid="$(cat "$root/run/master.pid" 2>/dev/null || true)"
[ -n "$dovecot_pid" ] || die "dovecot did not start; see $root/dovecot.log"

# --- machine facts --------------------------------------------------------------------------
cpus="$(nproc)"
ram="$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
kernel="$(uname -r)"
cpu_model="$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
started="$(date -u '+%Y-%m-%d %H:%M UTC')"
sb_version="$("$bin" --version 2>/dev/null || echo switchboard)"
mb_version="$(mbsync --version 2>/dev/null | head -1)"
dv_version="dovecot $(dovecot --version | cut -d' ' -f1)"
built="$(date -u -r "$bin" '+%Y-%m-%d %H:%M UTC')"
# What the binary was built from: BENCH_REV when given, else this checkout when the binary is
# inside it.
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

# isync renamed SSLType to TLSType in 1.5.
case "$mb_version" in
  "isync 1."[0-4].*) tls_keyword=SSLType ;;
  *) tls_keyword=TLSType ;;
esac

results="$root/results.tsv"
: >"$results"

# measure N TOOL PHASE RUN CMD...: one GNU-time row "N tool phase run wall user sys maxrss_kib"
measure() {
  local n=$1 tool=$2 phase=$3 run=$4
  shift 4
  local out="$root/time.$tool.$phase.$n.$run"
  if ! "$gnutime" -f '%e %U %S %M' -o "$out" "$@" >>"$root/$tool.$n.log" 2>&1; then
    tail -20 "$root/$tool.$n.log" >&2
    die "$tool $phase (N=$n, run $run) exited non-zero; log above"
  fi
  echo "$n $tool $phase $run $(tail -1 "$out")" >>"$results"
  log "  $tool $phase #$run: wall/user/sys/maxrss = $(tail -1 "$out")"
}

# Maildirs of earlier runs are moved aside and deleted only at exit: right after tens of
# thousands of files are deleted, ext4 skips their inodes when allocating new ones
# (recently_deleted), which made creating files in the next run several times slower.
trash() {
  if [ -e "$1" ]; then
    mkdir -p "$root/trash"
    mv "$1" "$(mktemp -u "$root/trash/XXXXXXXX")"
  fi
}

# An empty Maildir INBOX whose timestamps are old: mbsync sleeps 1 s whenever it scans a
# Maildir modified within the current second (its guard against lost updates), which would
# otherwise land in the first sync. Together with the pause before each re-sync, the mbsync
# numbers are its best case.
fresh_maildir() {
  trash "$1"
  mkdir -p "$1/INBOX/cur" "$1/INBOX/new" "$1/INBOX/tmp"
  touch -d '-1 hour' "$1/INBOX/cur" "$1/INBOX/new" "$1/INBOX/tmp" "$1/INBOX" "$1"
}

# mbsync_rc FILE DIR USER [nofsync]
mbsync_rc() {
  {
    if [ "${4:-}" = nofsync ]; then printf 'FSync no\n\n'; fi
    cat <<EOF
IMAPAccount bench
Host 127.0.0.1
Port $imaps_port
User $3
Pass alice-pass
$tls_keyword IMAPS
CertificateFile $root/tls/server.pem

IMAPStore bench-far
Account bench

MaildirStore bench-near
Path $2/
Inbox $2/INBOX

Channel bench
Far :bench-far:
Near :bench-near:
Patterns INBOX
Create Near
Sync Pull
SyncState *
EOF
  } >"$1"
  chmod 600 "$1"
}

count_maildir() { find "$1/INBOX/cur" "$1/INBOX/new" -type f | wc -l; }

# sb_fresh DATA USER: a new Switchboard store with the one IMAP account "bench"
sb_fresh() {
  rm -rf "$1"
  mkdir -p "$1"
  printf '%s' alice-pass | SWITCHBOARD_DATA_DIR="$1" "$bin" account add imap bench \
    --host 127.0.0.1 --port "$imaps_port" --user "$2" --password-stdin \
    --trust-cert "$fingerprint" >>"$root/switchboard.add.log" 2>&1 ||
    { tail -5 "$root/switchboard.add.log" >&2; die "switchboard account add failed"; }
}

# The password goes with the account (the kernel keyring links it beyond this session).
sb_remove() {
  SWITCHBOARD_DATA_DIR="$1" "$bin" account remove bench >>"$root/switchboard.add.log" 2>&1 || true
}

export SWITCHBOARD_KEYRING=kernel
for n in $sizes; do
  user="alice$n"
  maildir="$root/home/$user/Maildir"
  log "N=$n: generating messages into $maildir/cur"
  gen="$(python3 "$repo/bench/gen-maildir.py" "$n" "$maildir")"
  chown -R nobody:nogroup "$root/home/$user"
  log "N=$n: $gen bytes written; Dovecot indexes them (untimed)"
  doveadm -c "$conf" force-resync -u "$user" INBOX
  indexed="$(doveadm -c "$conf" -f flow mailbox status -u "$user" messages INBOX | sed 's/.*messages=//')"
  [ "$indexed" = "$n" ] || die "Dovecot indexed $indexed messages, expected $n"
  # The fields both clients ask for, so neither pays for populating Dovecot's cache.
  doveadm -c "$conf" fetch -u "$user" 'uid flags size.virtual date.received' mailbox INBOX ALL >/dev/null

  mb_dir="$root/mbsync-$n"
  nf_dir="$root/mbsync-nofsync-$n"
  data="$root/switchboard-$n"
  mbsync_rc "$root/mbsyncrc-$n" "$mb_dir" "$user"
  mbsync_rc "$root/mbsyncrc-nofsync-$n" "$nf_dir" "$user" nofsync

  # First syncs, the clients taking turns so that load from elsewhere hits each alike; the
  # last run of each is kept for the re-syncs. `sync` first: no run pays for another's writeback.
  for run in $(seq "$runs"); do
    fresh_maildir "$mb_dir"
    sync
    log "N=$n: mbsync first sync #$run"
    measure "$n" mbsync first "$run" mbsync -c "$root/mbsyncrc-$n" -a
    got="$(count_maildir "$mb_dir")"
    [ "$got" = "$n" ] || die "mbsync stored $got messages, expected $n"

    if [ "$mbsync_nofsync" = 1 ]; then
      # For context: mbsync's default (FSync yes) flushes every message to disk; Switchboard
      # commits batches in SQLite WAL mode with synchronous=NORMAL. The same without fsync:
      fresh_maildir "$nf_dir"
      sync
      log "N=$n: mbsync first sync with FSync no #$run (context)"
      measure "$n" mbsync-nofsync first "$run" mbsync -c "$root/mbsyncrc-nofsync-$n" -a
      got="$(count_maildir "$nf_dir")"
      [ "$got" = "$n" ] || die "mbsync (FSync no) stored $got messages, expected $n"
      trash "$nf_dir"
    fi

    if [ -d "$data" ]; then sb_remove "$data"; fi
    sb_fresh "$data" "$user"
    sync
    log "N=$n: Switchboard first sync #$run"
    export SWITCHBOARD_DATA_DIR="$data"
    measure "$n" switchboard first "$run" "$bin" sync
    got="$("$bin" inbox --limit 1000000 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
    unset SWITCHBOARD_DATA_DIR
    [ "$got" = "$n" ] || die "switchboard inbox lists $got messages, expected $n"
  done

  # No-change re-syncs, taking turns; the pause keeps mbsync's 1 s Maildir guard out.
  for run in $(seq "$resync_runs"); do
    sleep 1.5
    measure "$n" mbsync resync "$run" mbsync -c "$root/mbsyncrc-$n" -a
    sleep 1.5
    export SWITCHBOARD_DATA_DIR="$data"
    measure "$n" switchboard resync "$run" "$bin" sync
    unset SWITCHBOARD_DATA_DIR
  done
  [ "$(count_maildir "$mb_dir")" = "$n" ] || die "the mbsync re-syncs changed the message count"

  if [ "$profile" = 1 ]; then
    # Untimed: where Switchboard's CPU goes, from perf samples (perf slows the runs down).
    profile_out="$root/profile.txt"
    sb_fresh "$root/switchboard-profile" "$user"
    log "N=$n: profiling a Switchboard first sync under perf"
    SWITCHBOARD_DATA_DIR="$root/switchboard-profile" perf record -q -g -F 999 -o "$root/perf.first.$n" \
      "$bin" sync >>"$root/switchboard.$n.log" 2>&1 || die "profiled first sync failed"
    log "N=$n: profiling 10 Switchboard no-change re-syncs under perf"
    SWITCHBOARD_DATA_DIR="$root/switchboard-profile" perf record -q -g -F 4999 -o "$root/perf.resync.$n" \
      bash -c 'for i in 1 2 3 4 5 6 7 8 9 10; do "$0" sync || exit 1; done' "$bin" \
      >>"$root/switchboard.$n.log" 2>&1 || die "profiled re-syncs failed"
    {
      echo "### Switchboard first sync of $n messages: on-CPU time by thread and phase"
      echo '```'
      perf script -i "$root/perf.first.$n" -F comm,ip,sym 2>/dev/null |
        python3 "$repo/bench/perf-summary.py" /dev/stdin 999
      echo '```'
      echo "### Switchboard no-change re-sync of $n messages (per run, mean of 10)"
      echo '```'
      perf script -i "$root/perf.resync.$n" -F comm,ip,sym 2>/dev/null |
        python3 "$repo/bench/perf-summary.py" /dev/stdin 4999 10
      echo '```'
      echo
    } >>"$profile_out"
    sb_remove "$root/switchboard-profile"
    rm -rf "$root/switchboard-profile" "$root/perf.first.$n" "$root/perf.resync.$n"
  fi

  sb_remove "$data"
  # The Switchboard store is a few files: gone at once. The Maildirs wait for the exit.
  rm -rf "$data"
  trash "$mb_dir"
done
unset SWITCHBOARD_KEYRING

load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
knobs="BENCH_SIZES=\"$sizes\""
for v in BENCH_RUNS BENCH_RESYNC_RUNS BENCH_MBSYNC_NOFSYNC; do
  if [ -n "${!v:-}" ]; then knobs="$knobs $v=${!v}"; fi
done
command_line="$knobs scripts/bench-sync.sh ${1}"
python3 "$repo/bench/report.py" "$results" "$docs" \
  --machine "$cpus CPUs ($cpu_model), $ram RAM, Linux $kernel" \
  --date "$started" \
  --command "$command_line" \
  --versions "$sb_version (binary of $built, $commit); $mb_version; $dv_version" \
  --load "1/5/15-min load average $load_before before, $load_after after" \
  --runs "$runs" --resync-runs "$resync_runs"
if [ -f "$root/profile.txt" ]; then
  echo
  cat "$root/profile.txt"
fi
