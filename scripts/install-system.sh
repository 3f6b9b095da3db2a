#!/usr/bin/env bash
# Installs the Debian packages Kepu Cloud needs, only those that are missing.
#   scripts/install-system.sh run   -> what the service needs (ffmpeg, a CJK font, python venv)
#   scripts/install-system.sh test  -> also Chromium, PostgreSQL and Redis for the test suite
# Works as root or through sudo; does nothing when everything is present.
set -euo pipefail

mode="${1:-run}"
want=()

have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

python3 -m venv --help >/dev/null 2>&1 && python3 -c "import ensurepip" 2>/dev/null || want+=(python3-venv)
have_cmd ffmpeg && have_cmd ffprobe || want+=(ffmpeg)
have_pkg fonts-wqy-microhei || want+=(fonts-wqy-microhei)

if [ "$mode" = "test" ]; then
  [ -x /usr/bin/chromium ] || want+=(chromium)
  have_cmd redis-server || want+=(redis-server)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || want+=(postgresql)
fi

if [ ${#want[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif have_cmd sudo; then
  sudo=(sudo)
else
  echo "Missing system packages: ${want[*]} (run as root or install sudo)" >&2
  exit 1
fi

echo "Installing system packages: ${want[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
