#!/usr/bin/env bash
# bench/vm: famfs-ts's data paths inside a guest of one of ../shared/kernels: the kernel's own
# path (famfs DAX on famfs-v10-7.3, with the daxdev in famfs mode; iomap on fuse-iomap-7.3),
# the FUSE READ/WRITE path (--abi mainline) and tmpfs, in the same guest: 1 MiB and 4 KiB
# O_DIRECT reads and writes, and a file's first open (with GET_FMAP / IOMAP_BEGIN).
#   bench/vm/run.sh [KERNEL]          e.g. bench/vm/run.sh famfs-v10-7.3
# KERNEL defaults to stock-7.3 (FUSE path and tmpfs only); the guest gets a 6 GiB NVDIMM
# (devdax) where the kernel has NVDIMM support, else /dev/ram0 (fuse-iomap-7.3). Prints the
# ratios and which path each mount's bytes took (counted by the kernel, not assumed).
set -euo pipefail
cd "$(dirname "$0")/../.."
kernel=${1:-stock-7.3}; shift || true
npx tsc -p .
case $kernel in famfs*) kpath=famfs ;; *iomap*) kpath=iomap ;; *) kpath=none ;; esac
dev=(--nvdimm 6G)
grep -q '^CONFIG_ACPI_NFIT=y' "../shared/kernels/$kernel/config" 2>/dev/null || dev=(--ramdisk 4G)
exec node dist/test/support/vm-cli.js --kernel "$kernel" "${dev[@]}" --timeout 1800 \
  --env "KERNEL_PATH=$kpath" --env "SECONDS_PER_JOB=${SECONDS_PER_JOB:-4}" --env "FILE_MIB=${FILE_MIB:-64}" bench/vm/guest.sh
