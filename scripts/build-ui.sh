#!/usr/bin/env bash
# Builds the web UI (ui/ → ui/dist/), which the server embeds into the switchboard binary.
#
#   scripts/build-ui.sh          # npm ci when the lock file changed, then vite build
#   scripts/build-ui.sh --test   # also the unit tests (vitest) and the type check (svelte-check)
#
# Needs Node.js 20.19 or newer with npm (Vite 8). Dependencies come from ui/package-lock.json only.
set -euo pipefail
cd "$(dirname "$0")/../ui"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "build-ui: node and npm are needed (Node.js 20.19+); install them, e.g. from your distribution or nodejs.org" >&2
    exit 1
fi
version=$(node -p 'process.versions.node')
IFS=. read -r major minor _ <<<"$version"
if [ "$major" -lt 20 ] || { [ "$major" -eq 20 ] && [ "$minor" -lt 19 ]; }; then
    echo "build-ui: Node.js $version is too old; Vite 8 needs 20.19 or newer" >&2
    exit 1
fi

# npm ci only when node_modules is missing or older than the lock file: it wipes and reinstalls.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build

if [ "${1:-}" = "--test" ]; then
    npm run --silent check
    npm test
fi
