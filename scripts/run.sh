#!/usr/bin/env bash
# Starts Switchboard for `make run`:
#
#   scripts/run.sh --desktop path/to/switchboard-desktop   a display is there: the desktop app
#   scripts/run.sh --serve path/to/switchboard             no display: the embedded server with
#                                                          sync, for a browser
#
# The Makefile picks one by $DISPLAY / $WAYLAND_DISPLAY. Accounts are added in the UI (Settings →
# Accounts) or with `switchboard account add`; the data dir is $SWITCHBOARD_DATA_DIR or
# ~/.local/share/switchboard either way.
set -euo pipefail
mode="${1:-}"
bin="${2:-}"
[ -x "$bin" ] || { echo "run: usage: $0 --desktop|--serve BINARY (got '$bin')" >&2; exit 64; }

case "$mode" in
  --desktop)
    echo "Starting the desktop app; closing its window keeps it in the tray (quit from there)." >&2
    exec "$bin"
    ;;
  --serve)
    cat >&2 <<'TXT'
No display here ($DISPLAY and $WAYLAND_DISPLAY are empty), so no window: starting the embedded
server with sync instead. Open the "sign in this browser once" URL it prints below in a browser
on this machine (from another machine: ssh -L PORT:127.0.0.1:PORT this-host, then the same
URL). Passwords go to the OS keyring (Secret Service); on a machine without one, set
SWITCHBOARD_KEYRING=kernel. Ctrl-C stops.
TXT
    exec "$bin" serve
    ;;
  *)
    echo "run: usage: $0 --desktop|--serve BINARY" >&2
    exit 64
    ;;
esac
