#!/usr/bin/env bash
# Installs the system tools the signature-verification tests sign commits with: gpg
# (gnupg) and ssh-keygen (openssh-client). Does nothing when both are present; installs
# with apt-get only when running as root on a Debian-like machine (CI), otherwise says
# what to install. Idempotent.
set -euo pipefail
if command -v gpg >/dev/null && command -v gpgconf >/dev/null && command -v ssh-keygen >/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 install -y -q gnupg openssh-client >/dev/null ||
    { apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null && apt-get -o DPkg::Lock::Timeout=600 install -y -q gnupg openssh-client >/dev/null; }
  echo "install-system-tools: gnupg and openssh-client installed"
else
  echo "install-system-tools: install gnupg and openssh-client (gpg, ssh-keygen)" >&2
  exit 1
fi
