#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Switchboard needs. Idempotent; quick when all is installed.
#
#   scripts/install-deps.sh            # same as "run": build dependencies only (the CLI and the
#                                      #   desktop app: WebKitGTK 4.1, appindicator, librsvg...)
#   scripts/install-deps.sh test       # + Dovecot, Prosody, gnome-keyring, D-Bus, secret-tool, openssl, keyutils, Chromium,
#                                      #   Xvfb, dunst, WebKitWebDriver (the desktop app's tests)
#   scripts/install-deps.sh bench      # + everything of "test", isync (mbsync) and GNU time
#
# Several sets may be given (e.g. "test bench"). Uses apt-get, through sudo when not root.
# `apt-get update` runs at most once, and only when a package is missing. While installing, a
# policy-rc.d that exits 101 is put in place so that no system daemon (dovecot, dbus...) is
# started by the packages; any previous policy-rc.d is restored afterwards. The test harness
# starts its own private Dovecot and keyring; it never needs the system services.
# The Rust toolchain itself comes from rustup (see rust-version in Cargo.toml), not from here.
set -euo pipefail

# tzdata: the IANA time zones profile schedules are computed in (read at run time by jiff).
COMMON=(build-essential pkg-config libdbus-1-dev tzdata)
# xvfb + dunst: a real notification daemon for the delivery tests (desktop notifications).
TEST=(dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd gnome-keyring dbus dbus-x11
      libsecret-tools openssl keyutils prosody chromium xvfb dunst)
# The desktop app (src-tauri): Tauri 2 on WebKitGTK 4.1, the tray (appindicator), icons rendered
# from icons/switchboard.svg by rsvg-convert. Every set builds the app, so every set gets these.
DESKTOP=(libwebkit2gtk-4.1-dev libgtk-3-dev libxdo-dev libssl-dev libayatana-appindicator3-dev
         librsvg2-dev librsvg2-bin file)
# The desktop smoke and package tests (Xvfb and dunst come with TEST): WebKitWebDriver, and
# desktop-file-validate for the packaged desktop entry.
DESKTOP_TEST=(webkit2gtk-driver desktop-file-utils)
BENCH=(isync time wrk curl)

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

sets=("$@")
[ ${#sets[@]} -eq 0 ] && sets=(run)
wanted=("${COMMON[@]}" "${DESKTOP[@]}")
for s in "${sets[@]}"; do
    case "$s" in
        run) ;;
        test) wanted+=("${TEST[@]}" "${DESKTOP_TEST[@]}") ;;
        bench) wanted+=("${TEST[@]}" "${DESKTOP_TEST[@]}" "${BENCH[@]}") ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install-deps: unknown set '$s' (expected run, test or bench)" >&2; usage >&2; exit 2 ;;
    esac
done
# De-duplicate, keeping order.
declare -A seen=()
pkgs=()
for p in "${wanted[@]}"; do
    if [ -z "${seen[$p]:-}" ]; then seen[$p]=1; pkgs+=("$p"); fi
done

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: this script needs a Debian/Ubuntu system (dpkg-query and apt-get)" >&2
    exit 1
fi

missing=()
for p in "${pkgs[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then missing+=("$p"); fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#pkgs[@]} packages for '${sets[*]}' are already installed"
else
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=()
    elif command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "install-deps: not root and sudo is not available; install as root: ${missing[*]}" >&2
        exit 1
    fi
    echo "install-deps: installing ${missing[*]}"

    POLICY=/usr/sbin/policy-rc.d
    backup=""
    restore_policy() {
        if [ -n "$backup" ]; then
            "${SUDO[@]}" mv -f "$backup" "$POLICY"
        else
            "${SUDO[@]}" rm -f "$POLICY"
        fi
    }
    if "${SUDO[@]}" test -e "$POLICY"; then
        backup=$("${SUDO[@]}" mktemp /usr/sbin/.policy-rc.d.install-deps.XXXXXX)
        "${SUDO[@]}" cp -p "$POLICY" "$backup"
    fi
    trap restore_policy EXIT
    printf '#!/bin/sh\n# Written by switchboard scripts/install-deps.sh: start no daemons.\nexit 101\n' |
        "${SUDO[@]}" tee "$POLICY" >/dev/null
    "${SUDO[@]}" chmod 755 "$POLICY"

    export DEBIAN_FRONTEND=noninteractive
    apt_opts=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    # Refresh the package lists once, and only because something is missing.
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install "${apt_opts[@]}" --no-install-recommends "${missing[@]}"
    restore_policy
    trap - EXIT

    still=()
    for p in "${missing[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        [ "$status" = "install ok installed" ] || still+=("$p")
    done
    if [ ${#still[@]} -ne 0 ]; then
        echo "install-deps: still not installed: ${still[*]}" >&2
        exit 1
    fi
    echo "install-deps: installed ${missing[*]}"
    if printf '%s\n' "${missing[@]}" | grep -q '^dovecot-core$' && [ -d /run/systemd/system ]; then
        echo "install-deps: note: the packaged dovecot.service was not started, but systemd may"
        echo "  start it at the next boot; the tests never need it. To keep it off:"
        echo "  sudo systemctl disable --now dovecot.service"
    fi
    if printf '%s\n' "${missing[@]}" | grep -q '^prosody$' && [ -d /run/systemd/system ]; then
        echo "install-deps: note: the packaged prosody.service was not started, but systemd may"
        echo "  start it at the next boot; the tests never need it. To keep it off:"
        echo "  sudo systemctl disable --now prosody.service"
    fi
fi

if ! command -v cargo >/dev/null 2>&1 && [ ! -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
    echo "install-deps: note: no Rust toolchain found; install it with rustup (https://rustup.rs)" >&2
fi
