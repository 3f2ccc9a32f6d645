#!/usr/bin/env bash
# Builds Switchboard's Debian package with Tauri's bundler:
#   target/package/switchboard_<version>_<arch>.deb
#
#   scripts/package.sh            # make package
#
# Reuses the release builds when they are fresh: the CLI (target/release/switchboard) and the
# desktop app (target/desktop/release/switchboard-desktop, which the desktop smoke test runs
# too). The bundler is the npm package @tauri-apps/cli (a prebuilt binary, packaging/
# package-lock.json); `tauri bundle` only packs what cargo built. The version is the
# workspace's ([workspace.package] in Cargo.toml); the desktop crate and the changelog must
# carry the same one, or this stops and says which does not.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
CARGO=${CARGO:-cargo}

version=$(awk '/^\[workspace.package\]/ {s=1; next} /^\[/ {s=0} s && /^version *=/ {gsub(/[" ]/, "", $3); print $3; exit}' Cargo.toml)
[ -n "$version" ] || { echo "package: no version in [workspace.package] of Cargo.toml" >&2; exit 1; }
desktop_version=$(awk '/^\[package\]/ {s=1; next} /^\[/ {s=0} s && /^version *=/ {gsub(/[" ]/, "", $3); print $3; exit}' src-tauri/Cargo.toml)
if [ "$desktop_version" != "$version" ]; then
    echo "package: src-tauri/Cargo.toml has version $desktop_version, the workspace $version; make them equal" >&2
    exit 1
fi
changelog_version=$(sed -n '1s/^switchboard (\([^)]*\)).*/\1/p' packaging/changelog)
if [ "$changelog_version" != "$version" ]; then
    echo "package: packaging/changelog's newest entry is $changelog_version, the workspace is at $version; add an entry" >&2
    exit 1
fi

if [ -f ui/package.json ] && [ -x scripts/build-ui.sh ]; then
    scripts/build-ui.sh
fi
scripts/gen-icons.sh
echo "package: building the release binaries (no-op when fresh)" >&2
"$CARGO" build --release -p switchboard-cli --bin switchboard
(cd src-tauri && "$CARGO" build --release)

if [ ! -x packaging/node_modules/.bin/tauri ] || [ packaging/package-lock.json -nt packaging/node_modules/.package-lock.json ]; then
    (cd packaging && npm ci --no-audit --no-fund --loglevel=error)
fi

out="$root/target/package"
mkdir -p "$out"
gzip -9 -n < packaging/changelog > "$out/changelog.gz"
(cd src-tauri && ../packaging/node_modules/.bin/tauri bundle --bundles deb --config ../packaging/tauri.deb.json)

arch=$(dpkg --print-architecture)
built="$root/target/desktop/release/bundle/deb/Switchboard_${version}_${arch}.deb"
[ -f "$built" ] || { echo "package: the bundler did not produce $built" >&2; exit 1; }
deb="$out/switchboard_${version}_${arch}.deb"
rm -f "$out"/switchboard_*.deb
cp -f "$built" "$deb"
echo "package: $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb --field "$deb" Package Version Architecture Maintainer Depends Recommends Section
