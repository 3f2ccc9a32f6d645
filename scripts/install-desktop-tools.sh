#!/usr/bin/env bash
# Installs what the desktop app's tests drive it with, next to the build, not on the system:
#   target/tools/tauri-driver/bin/tauri-driver   (WebDriver front for Tauri apps, crates.io)
# Debian's WebKitWebDriver (package webkit2gtk-driver) and Xvfb come from
# scripts/install-deps.sh test. Quick no-op when the right version is there.
#
#   scripts/install-desktop-tools.sh          # prints the tauri-driver path
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/target/tools/tauri-driver"
bin="$dest/bin/tauri-driver"
want='^2'

if [ -x "$bin" ] && "$bin" --help >/dev/null 2>&1 \
   && grep -q '"tauri-driver 2\.' "$dest/.crates.toml" 2>/dev/null; then
    echo "$bin"
    exit 0
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "install-desktop-tools: cargo is needed to install tauri-driver" >&2
    exit 1
fi
echo "install-desktop-tools: installing tauri-driver $want into $dest" >&2
cargo install tauri-driver --version "$want" --locked --root "$dest" --quiet >&2
echo "$bin"
