#!/usr/bin/env bash
# Renders the app's icon set from the one source image, icons/switchboard.svg:
#   OUT/<N>x<N>.png for N in 16 24 32 48 64 128 256 512 (the hicolor sizes desktops look up),
#   OUT/icon.png (512) and OUT/switchboard.svg (the scalable one).
#
#   scripts/gen-icons.sh [OUT]        # OUT defaults to src-tauri/icons (not tracked by git)
#
# Needs rsvg-convert (Debian: librsvg2-bin, in scripts/install-deps.sh). Quick no-op when every
# output is newer than the source and this script. The desktop app's build.rs calls it, so a
# plain `cargo build` in src-tauri works too.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/icons/switchboard.svg"
out="${1:-$root/src-tauri/icons}"
sizes=(16 24 32 48 64 128 256 512)

if ! command -v rsvg-convert >/dev/null 2>&1; then
    echo "gen-icons: rsvg-convert is missing; install it with scripts/install-deps.sh (librsvg2-bin)" >&2
    exit 1
fi
[ -f "$src" ] || { echo "gen-icons: no source image at $src" >&2; exit 1; }
mkdir -p "$out"

fresh=1
for f in "${sizes[@]/%/.png}" icon.png switchboard.svg; do
    case "$f" in [0-9]*) f="${f%.png}x${f}" ;; esac
    t="$out/$f"
    if [ ! -f "$t" ] || [ "$t" -ot "$src" ] || [ "$t" -ot "$0" ]; then fresh=0; break; fi
done
[ "$fresh" = 1 ] && exit 0

for n in "${sizes[@]}"; do
    rsvg-convert --width "$n" --height "$n" --keep-aspect-ratio "$src" -o "$out/.${n}.png.tmp"
    mv -f "$out/.${n}.png.tmp" "$out/${n}x${n}.png"
done
cp -f "$out/512x512.png" "$out/icon.png"
cp -f "$src" "$out/switchboard.svg"
echo "gen-icons: rendered ${sizes[*]} px from icons/switchboard.svg into $out"
