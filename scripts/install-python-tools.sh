#!/usr/bin/env bash
# Python tools the tests use, in a venv inside target/ (never the system's site-packages):
# schemathesis, which fuzzes the embedded server against its own OpenAPI description, and
# aiosmtpd, the SMTP server behind the tests' scripted mail sink (tests/tools/smtp_sink.py), and
# slixmpp, the second XMPP client of the instant-messaging tests (tests/tools/xmpp_peer.py).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/tools/venv
want=('schemathesis>=4.32,<5' 'aiosmtpd>=1.4.6,<2' 'slixmpp>=1.10,<2')
if [ -x "$venv/bin/schemathesis" ] && "$venv/bin/python" -c 'import schemathesis, aiosmtpd, slixmpp' 2>/dev/null; then
  exit 0
fi
command -v python3 >/dev/null || { echo "python3 is required for the API fuzz test" >&2; exit 1; }
if ! python3 -m venv "$venv" 2>/dev/null; then
  # Debian's python3 lacks venv until python3-venv is installed.
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv
  python3 -m venv "$venv"
fi
echo "installing ${want[*]} into $venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "${want[@]}"
