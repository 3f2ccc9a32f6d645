#!/usr/bin/env bash
# Starts the headless app: `switchboard serve` keeps every account in sync (IDLE on IMAP,
# polling POP3) and serves the inbox UI on loopback; it prints a one-time sign-in link to open
# in a browser. Accounts are added there (Settings → Accounts) or with `switchboard account add`.
set -euo pipefail
bin="$1"
listen="${SWITCHBOARD_LISTEN:-127.0.0.1:7878}"
if [ -z "$("$bin" account list --json | tr -d '[:space:]' | sed 's/^\[\]$//')" ]; then
  cat <<'TXT'
Switchboard is built. No accounts yet: open the sign-in link below and add one under
Settings → Accounts (or: printf '%s' 'your-password' | ./target/release/switchboard account add
imap work --host imap.example.org --user me@example.org --password-stdin).

Passwords go to the OS keyring (Secret Service). On a headless machine without one, set
SWITCHBOARD_KEYRING=kernel.
TXT
fi
echo "Serving the inbox on http://$listen and syncing all accounts; Ctrl-C stops." >&2
exec "$bin" serve --listen "$listen"
