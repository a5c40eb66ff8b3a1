#!/usr/bin/env bash
# Creates (once) the virtualenv for the APIC interop check outside the repo
# and prints the path of its python. Needs python3 with the venv module and
# access to PyPI.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${APIC_INTEROP_VENV:-$HOME/.cache/aci-containers/venv-apic-interop}"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
# One builder at a time: the interop tests call this concurrently, and two `venv` + `pip install`
# into one directory on a fresh machine can leave it half made.
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --disable-pip-version-check -q -r "$here/requirements.txt" >&2
  echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
