#!/usr/bin/env bash
# Installs Debian's `age` package (age and age-keygen, the reference implementation) for
# the interoperability tests in tests/secrets.rs: as root directly, otherwise through
# passwordless sudo. Idempotent: does nothing when both tools are on PATH.
set -euo pipefail
if command -v age >/dev/null 2>&1 && command -v age-keygen >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  run=()
elif sudo -n true 2>/dev/null; then
  run=(sudo -n)
else
  echo "install-age: age is not installed and apt-get needs root (apt-get install age)" >&2
  exit 1
fi
# Tests run in parallel and may install at once: wait for the other apt-get, not fail.
export DEBIAN_FRONTEND=noninteractive
"${run[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q age >/dev/null 2>&1 || {
  "${run[@]}" apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
  "${run[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q age >/dev/null
}
echo "install-age: installed $(age --version)"
