# Sourced by the tier-4 mapping-kernel suites (famfs-kernel.test.ts, iomap-kernel.test.ts) in
# the guest, after scripts/vm-guest-lib.sh. One workload for every kernel, so the suites can
# compare which path the bytes took (the server's per-opcode request counts, BPF run counts):
#   mapping_workload DEV MNT [MOUNT OPTIONS...]
# Writes to $VM_OUT: server-1.log / server-2.log (the mount's log of each mount), counts-1 /
# counts-2 (its "requests on the main thread" line), trace-1 / trace-2 (the kernel's
# tracepoints, when it has them), steps (one line per step that passed).
# Every guest command is bounded (vm_bounded): the fuse-iomap kernel has no POSIX timers.

# step NAME: record a passed step, but only while the mount is still there (a server that
# died leaves a plain directory behind, where every step would pass).
step() {
  grep -q " $MNT fuse" /proc/mounts || { echo "step $*: $MNT is no longer mounted"; return 1; }
  echo "$*" >> "$VM_OUT/steps"
}

# mount_bg N DEV MNT OPTS...: serve in the background, log to server-N.log, wait until live.
mount_bg() {
  local n=$1 dev=$2 mnt=$3; shift 3
  vm_serve "$VM_OUT/server-$n.log" 60 "$dev" "$mnt" --readers 0 --system-uuid /tmp/uuid "$@"
}

# umount_wait N MNT: unmount and wait for the server to log its counts and exit.
umount_wait() {
  local n=$1 mnt=$2
  # A famfs-mode server maps .meta, so umount says busy: SIGTERM makes it unmap and unmount.
  vm_bounded 60 famfs_ts umount "$mnt" 2>/dev/null || kill -TERM "$SERVER"
  local i=0
  while kill -0 "$SERVER" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 600 ] && { kill -KILL "$SERVER"; break; }
    sleep 0.1
  done
  grep 'requests on the main thread' "$VM_OUT/server-$n.log" > "$VM_OUT/counts-$n" || true
}

# The kernel's own view, where it has the tracepoints: fuse:fuse_request_send (every request
# the kernel sends, with its opcode) and, on the fuse-iomap kernel, fuse:fuse_iomap_begin_bpf
# (a mapping the BPF resolver answered). Enabled once, before any FUSE traffic (stock-7.3
# once oopsed when trace events were switched off under traffic, ../shared/kernels/README.md).
T=/sys/kernel/tracing
trace_on() {
  [ -d $T/events/fuse ] || return 0
  echo 16384 > $T/buffer_size_kb
  for e in fuse_request_send fuse_iomap_begin_bpf; do
    [ -e $T/events/fuse/$e/enable ] && echo 1 > $T/events/fuse/$e/enable
  done
  echo 1 > $T/tracing_on
}
# trace_dump N: the trace so far to $VM_OUT/trace-N, then cleared.
trace_dump() {
  [ -d $T/events/fuse ] || return 0
  cat $T/trace > "$VM_OUT/trace-$1" 2>/dev/null
  echo > $T/trace
}

mapping_workload() {
  local dev=$1 mnt=$2; shift 2
  MNT=$mnt
  set -e
  trace_on
  mkdir -p "$mnt"
  mount_bg 1 "$dev" "$mnt" "$@"
  step mounted

  # cp in, cmp out: 3 MiB + 1 byte (a partial last block), through famfs-ts cp (sizes first).
  head -c 3145729 /dev/urandom > /tmp/src1
  vm_bounded 120 famfs_ts cp /tmp/src1 "$mnt/f1"
  vm_bounded 60 cmp /tmp/src1 "$mnt/f1"
  step cp-cmp

  # FIEMAP must end (a one-block hole past EOF made filefrag walk to s_maxbytes).
  vm_bounded 60 filefrag -v "$mnt/f1" > "$VM_OUT/filefrag" 2>&1 || echo "filefrag status $?" >> "$VM_OUT/filefrag"
  step fiemap

  # O_DIRECT read.
  vm_bounded 60 dd if="$mnt/f1" of=/tmp/direct bs=1M iflag=direct status=none
  vm_bounded 30 cmp -n 3145728 /tmp/src1 /tmp/direct
  step odirect

  # mmap read and write: a sized file, written through a shared mapping, read back by read(2).
  vm_bounded 60 famfs_ts creat -s 4M "$mnt/m1"
  vm_bounded 120 node "$VM_REPO/test/vm/mmap-rw.mjs" "$mnt/m1" > "$VM_OUT/mmap" 2>&1
  step mmap

  # fio --verify (buffered and O_DIRECT) on sized files.
  vm_bounded 60 famfs_ts creat -s 8M "$mnt/fio1"
  vm_bounded 300 fio --name=v --filename="$mnt/fio1" --size=8M --bs=4k --rw=randwrite --verify=crc32c \
    --fallocate=none --file_append=0 --ioengine=psync --direct=1 --output="$VM_OUT/fio-direct" > /dev/null
  vm_bounded 300 fio --name=b --filename="$mnt/fio1" --size=8M --bs=64k --rw=write --verify=crc32c \
    --fallocate=none --file_append=0 --ioengine=psync --output="$VM_OUT/fio-buffered" > /dev/null
  step fio
  trace_dump 1

  # Remount: the bytes come back from the device.
  umount_wait 1 "$mnt"
  echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  mount_bg 2 "$dev" "$mnt" "$@"
  vm_bounded 60 cmp /tmp/src1 "$mnt/f1"
  vm_bounded 60 node "$VM_REPO/test/vm/mmap-rw.mjs" --check "$mnt/m1" >> "$VM_OUT/mmap" 2>&1
  step remount-cmp
  trace_dump 2
  umount_wait 2 "$mnt"
  echo done >> "$VM_OUT/steps"   # unmounted on purpose: not a step() that wants the mount
  set +e
}
