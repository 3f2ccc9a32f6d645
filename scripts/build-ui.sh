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
# Rebuilt only when a source is newer than the last build: the server embeds ui/dist and its
# build script watches those files, so a needless rebuild recompiles the server, the CLI and the
# desktop app.
changed=yes
if [ -f dist/index.html ]; then
    changed=$(find . \( -path ./node_modules -o -path ./dist -o -path ./test -o -path ./e2e \) -prune \
        -o -type f -newer dist/index.html -print -quit)
fi
if [ -n "$changed" ]; then
    npm run --silent build
else
    echo "build-ui: ui/dist is up to date" >&2
fi

if [ "${1:-}" = "--test" ]; then
    npm run --silent check
    npm test
fi
