#!/usr/bin/env bash
# Creates (once) the venv with the light Python peers that interop tests use to check our files live,
# and exports MODELKIT_PYTHON for the tests. Versions are pinned in Tests/interop-requirements.txt.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-interop"
requirements="$root/Tests/interop-requirements.txt"
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "python-env: creating $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
  echo "$wanted" > "$stamp"
fi
export MODELKIT_PYTHON="$venv/bin/python"
