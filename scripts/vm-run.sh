#!/usr/bin/env bash
# Boot one tier-4 guest (a kernel from ../shared/kernels in qemu/TCG) and run a script in it:
#   scripts/vm-run.sh --kernel stock-7.3 --nvdimm 8G -c 'vm_namespace 0 devdax; famfs_ts mkfs /dev/dax0.0'
# Options and the guest's environment: test/support/vm-cli.ts, README "VM tier (tier 4)".
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/test/support/vm-cli.js ] && [ dist/test/support/vm-cli.js -nt test/support/vm.ts ] || npx tsc -p .
exec node dist/test/support/vm-cli.js "$@"
