#!/usr/bin/env bash
# Creates (once) a virtualenv with the `ansible` package and the modules'
# dependencies, and unpacks Cisco's cisco.aci integration targets from the
# `ansible` source distribution on PyPI (the wheel leaves tests/ out, the
# sdist keeps them). Both live outside the repository, under
# ~/.cache/aci-containers. Prints one JSON line: the venv's bin directory and
# the targets directory. Needs python3 with venv and access to PyPI.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${ACI_CACHE_DIR:-$HOME/.cache/aci-containers}"
venv="${APIC_ANSIBLE_VENV:-$cache/venv-ansible}"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
# One builder at a time: the two Ansible test files start together, and two `venv` + `pip install`
# (or two unpacks of the targets) into one place on a fresh machine can leave it half made.
mkdir -p "$cache"
exec 9>"$cache/ansible-setup.lock"
flock 9
if [[ ! -x "$venv/bin/ansible-playbook" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --disable-pip-version-check -q -r "$here/requirements.txt" >&2
  echo "$want" > "$stamp"
fi
version="$(sed -n 's/^ansible==//p' "$here/requirements.txt")"
targets="$cache/cisco-aci-integration/ansible-$version/targets"
if [[ ! -d "$targets" ]]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  "$venv/bin/pip" download --disable-pip-version-check -q --no-deps --no-binary :all: \
    "ansible==$version" -d "$tmp" >&2
  tar -xzf "$tmp/ansible-$version.tar.gz" -C "$tmp" \
    "ansible-$version/ansible_collections/cisco/aci/tests/integration/targets"
  mkdir -p "$(dirname "$targets")"
  mv "$tmp/ansible-$version/ansible_collections/cisco/aci/tests/integration/targets" "$targets.partial"
  mv "$targets.partial" "$targets"
fi
printf '{"bin":"%s","targets":"%s"}\n' "$venv/bin" "$targets"
