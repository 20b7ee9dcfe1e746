#!/bin/sh
# Resolutions per second, JS (resolve, resolveInto, CompiledFileMap) next to C (gcc -O2).
# Usage: bench/resolve/run.sh [--quick]
set -e
cd "$(dirname "$0")/../.."
npx tsc -p . >/dev/null || true   # other modules' type errors must not stop the bench
exec node dist/bench/resolve/run.js "$@"
