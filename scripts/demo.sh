#!/usr/bin/env bash
# famfs-ts demo (npm run demo): emulated memory devices in a temp dir, a layout with a 4-way
# hardware-interleaved region and a plain device, mkfs, mount through famfs-ts's own FUSE
# server, copy files in and out, show where a file's chunks landed, unmount. Everything it
# made is removed at the end, even when a step fails.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FAMFS=(node "$ROOT/dist/src/cli/main.js")
[ "$(id -u)" = 0 ] || { echo "demo: mounting needs root" >&2; exit 1; }
[ -e /dev/fuse ] || { echo "demo: no /dev/fuse" >&2; exit 1; }

W=$(mktemp -d /dev/shm/famfs-ts-demo-XXXXXX)
MNT=$W/mnt
cleanup() {
  if grep -q " $MNT " /proc/mounts 2>/dev/null; then
    "${FAMFS[@]}" umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
  fi
  rm -rf "$W"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
famfs() { printf '$ famfs-ts %s\n' "$*"; "${FAMFS[@]}" "$@"; }

step "1. Emulated memory: four 256 MiB devices behind one 4-way region (4 KiB granules) + one 512 MiB device"
cat > "$W/layout.yaml" <<EOF
devices:
  - {name: cxl0, path: $W/cxl0, size: 256MiB}
  - {name: cxl1, path: $W/cxl1, size: 256MiB}
  - {name: cxl2, path: $W/cxl2, size: 256MiB}
  - {name: cxl3, path: $W/cxl3, size: 256MiB}
  - {name: pmem0, path: $W/pmem0, size: 512MiB}
regions:
  - {name: region0, ways: 4, granularity: 4KiB, devices: [cxl0, cxl1, cxl2, cxl3]}
daxdevs: [region0, pmem0]
policy: {chunk: 2MiB, strips: 4, daxdevs: [0, 1]}
EOF
for d in cxl0 cxl1 cxl2 cxl3; do truncate -s 256M "$W/$d"; done
truncate -s 512M "$W/pmem0"
cat /proc/sys/kernel/random/uuid > "$W/host.uuid"
famfs layout show "$W/layout.yaml"

step "2. mkfs (the superblock and log go on daxdev 0, the region)"
famfs mkfs --small --system-uuid "$W/host.uuid" "$W/layout.yaml" | sed -n '1,4p;/Famfs log/,$p'

step "3. Mount through famfs-ts's FUSE server (daemonized; the command returns once the mount is live)"
mkdir -p "$MNT"
famfs mount "$W/layout.yaml" "$MNT" --system-uuid "$W/host.uuid" --log "$W/server.log"
run df -h "$MNT"

step "4. Copy files in with ordinary tools"
head -c 20000000 /dev/urandom > "$W/photo.raw"
printf 'famfs-ts: files in shared memory, placed by arithmetic\n' > "$W/readme.txt"
run mkdir -p "$MNT/pictures/2026"
run cp "$W/photo.raw" "$MNT/pictures/2026/"
run cp "$W/readme.txt" "$MNT/"
run ls -lR "$MNT"
run ls -la "$MNT/.meta"

step "5. Copy out and compare"
run cp "$MNT/pictures/2026/photo.raw" "$W/photo.back"
run cmp "$W/photo.raw" "$W/photo.back" && echo "identical"
run cat "$MNT/readme.txt"

step "6. Where did photo.raw's chunks land? (its FileMap from the log, through the layout)"
famfs getmap "$W/layout.yaml:/pictures/2026/photo.raw" --system-uuid "$W/host.uuid"
famfs layout map "$W/layout.yaml:/pictures/2026/photo.raw" --layout "$W/layout.yaml" \
  --offset 0 --offset 2MiB --offset 4MiB --offset 6MiB --offset 8MiB --offset 4KiB

step "7. famfs has no delete or rename: the mount says so"
rm "$MNT/readme.txt" 2>&1 | sed 's/^/  /' || true

step "8. Unmount; the log keeps everything (offline view of the image)"
famfs umount "$MNT"
sleep 0.5
famfs ls -l "$W/layout.yaml:/" --system-uuid "$W/host.uuid" || true
famfs fsck "$W/layout.yaml" --system-uuid "$W/host.uuid" | sed -n '/Log stats/,/allocation/p'
echo
echo "demo done; removing $W"
