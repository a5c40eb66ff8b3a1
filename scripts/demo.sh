#!/usr/bin/env bash
# `npm run demo`: installs the npm dependencies if they are missing, then runs e2e/demo.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/tsx ]; then
  echo "Installing npm dependencies (npm ci)..."
  npm ci --no-audit --no-fund
fi
exec node_modules/.bin/tsx e2e/demo.ts "$@"
