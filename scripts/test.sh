#!/usr/bin/env bash
# `npm test`: installs the npm dependencies if they are missing, then runs
# e2e/run-tests.ts, which checks (and installs) the machine's prerequisites,
# starts a real control plane and runs every test file against it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/tsx ]; then
  echo "Installing npm dependencies (npm ci)..."
  npm ci --no-audit --no-fund
fi
exec node_modules/.bin/tsx e2e/run-tests.ts "$@"
