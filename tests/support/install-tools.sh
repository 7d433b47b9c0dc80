#!/usr/bin/env bash
# Installs the external checkers the test suite runs against rendered output into a
# project-local virtualenv (.tools/venv): ansible-core (ansible-playbook --syntax-check),
# cfn-lint (CloudFormation) and kubernetes-validate (offline Kubernetes schemas).
# Idempotent: a second run with everything present does nothing.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="$root/.tools/venv"
requirements="$root/tests/support/requirements.txt"
stamp="$venv/.installed-$(sha256sum "$requirements" | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
touch "$stamp"
echo "install-tools: checkers installed in $venv"
