#!/usr/bin/env bash
# bench/vm: famfs-ts's data path inside a guest of one of ../shared/kernels, against tmpfs in
# the same guest: 1 MiB and 4 KiB O_DIRECT reads and writes, and a file's first open.
#   bench/vm/run.sh [KERNEL] [MOUNT OPTIONS...]     e.g. bench/vm/run.sh famfs-v10-7.3 --abi auto
# KERNEL defaults to stock-7.3; the guest gets a 6 GiB NVDIMM (devdax) where the kernel has
# NVDIMM support, else /dev/ram0 (fuse-iomap-7.3). Prints ratios famfs-ts / tmpfs and which
# path famfs-ts's bytes took (counted by the kernel, not assumed).
set -euo pipefail
cd "$(dirname "$0")/../.."
kernel=${1:-stock-7.3}; shift || true
npx tsc -p .
dev=(--nvdimm 6G)
grep -q '^CONFIG_ACPI_NFIT=y' "../shared/kernels/$kernel/config" 2>/dev/null || dev=(--ramdisk 4G)
exec node dist/test/support/vm-cli.js --kernel "$kernel" "${dev[@]}" --timeout 1800 \
  --env "MOUNT_OPTS=$*" --env "SECONDS_PER_JOB=${SECONDS_PER_JOB:-4}" --env "FILE_MIB=${FILE_MIB:-64}" bench/vm/guest.sh
