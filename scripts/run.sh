#!/usr/bin/env bash
# Starts the headless app: keeps every account in sync (IDLE on IMAP, polling POP3).
# Until the desktop window exists this is what `make run` starts.
set -euo pipefail
bin="$1"
if [ -z "$("$bin" account list --json | tr -d '[:space:]' | sed 's/^\[\]$//')" ]; then
  cat <<'TXT'
Switchboard is built. No accounts yet; add one, then run `make run` again:

  printf '%s' 'your-password' | ./target/release/switchboard account add imap work \
      --host imap.example.org --user me@example.org --password-stdin
  ./target/release/switchboard sync
  ./target/release/switchboard inbox

Passwords go to the OS keyring (Secret Service). On a headless machine without one, set
SWITCHBOARD_KEYRING=kernel.
TXT
  exit 0
fi
echo "Syncing all accounts; Ctrl-C stops." >&2
exec "$bin" sync --watch
