#!/usr/bin/env bash
# Installs the headless browser the dashboard tests drive (tests/dashboard_browser.rs):
# Debian's chromium and chromium-driver. Does nothing when both are present; installs
# with apt-get only when running as root on a Debian-like machine (CI), otherwise says
# what to install. Idempotent. Selenium itself comes from requirements.txt
# (install-tools.sh).
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends chromium chromium-driver >/dev/null ||
    { apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null &&
      apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends chromium chromium-driver >/dev/null; }
  echo "install-browser: chromium and chromium-driver installed"
else
  echo "install-browser: install chromium and chromium-driver (Debian packages)" >&2
  exit 1
fi
