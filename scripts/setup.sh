#!/usr/bin/env bash
# Set up the project on a fresh Debian machine (or refresh an existing one quickly).
#   scripts/setup.sh         runtime: system packages + .venv with requirements.txt
#   scripts/setup.sh --dev   the same plus test tools (requirements-dev.txt)
# Safe to run again: packages already present and an up-to-date .venv are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

requirements=requirements.txt
[ "${1:-}" = "--dev" ] && requirements=requirements-dev.txt

missing=()
while read -r pkg; do
  [ -z "$pkg" ] || [ "${pkg:0:1}" = "#" ] && continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done < scripts/system-packages.txt
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "Installing Debian packages: ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
stamp=".venv/.installed-$(cat requirements.txt "$requirements" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r "$requirements"
  touch "$stamp"
fi
echo "Set-up complete (.venv ready, $requirements)."
