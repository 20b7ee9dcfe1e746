# Tier-4 guest script for test/vm/stock-paths.test.ts: one workload on a famfs-ts mount of a
# devdax (cp in, cmp out, mmap read and write, O_DIRECT, fio --verify, remount), with the FUSE
# upcalls each step caused, counted by the kernel's fuse_request_send tracepoint ("FUSE step
# op=count ..."; 15 READ, 16 WRITE). On a kernel without famfs or iomap every byte is a READ or
# WRITE upcall; the test asserts that. Takes the mount's extra options in $MOUNT_OPTS (--abi ...).
# By hand: scripts/vm-run.sh --kernel stock-7.3 --nvdimm 6G test/vm/stock-paths.sh
set -u
U=/tmp/system-uuid M=/tmp/m
fail() { echo "FAIL $*"; [ -f /tmp/mount.log ] && tail -20 /tmp/mount.log; exit 1; }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
vm_fuse_trace_on || fail "trace"
vm_cli_server || fail "cli server"
dax=$(vm_namespace 0 devdax) || fail "namespace"
famfs_ts mkfs --system-uuid $U "$dax" > /dev/null || fail mkfs
mkdir -p $M
famfs_ts mount --system-uuid $U --log /tmp/mount.log ${MOUNT_OPTS:-} "$dax" $M || fail mount
grep INIT /tmp/mount.log
head -c 8M /dev/urandom > /tmp/src8
vm_fuse_counts setup

cp /tmp/src8 $M/f8 || fail "cp in"
vm_fuse_counts cp-in
drop; cmp $M/f8 /tmp/src8 || fail "cmp out"
vm_fuse_counts cmp-out

# mmap: read the whole file through a shared mapping, write 64 KiB at 6 MiB, msync.
drop
python3 - "$M/f8" /tmp/src8 <<'PY' || fail "mmap"
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
m = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
with open(sys.argv[2], 'rb') as f: src = f.read()
assert m[:] == src, 'mmap read differs'
m[6 << 20:(6 << 20) + 65536] = bytes([0xa5]) * 65536
m.flush(); m.close(); os.close(fd)
PY
vm_fuse_counts mmap
cp /tmp/src8 /tmp/exp8
printf '\xa5%.0s' $(seq 65536) | dd of=/tmp/exp8 bs=64k seek=96 conv=notrunc status=none
drop; cmp $M/f8 /tmp/exp8 || fail "mmap write not in the file"
vm_fuse_counts mmap-check

# O_DIRECT: 4 MiB in 1 MiB requests, each split into max_write pieces.
dd if=/tmp/src8 of=$M/f8 bs=1M count=4 oflag=direct conv=notrunc status=none || fail "O_DIRECT write"
vm_fuse_counts odirect-write
dd if=$M/f8 of=/tmp/back4 bs=1M count=4 iflag=direct status=none || fail "O_DIRECT read"
head -c 4M /tmp/src8 | cmp - /tmp/back4 || fail "O_DIRECT read back"
vm_fuse_counts odirect-read

fio --name=v --filename=$M/fio --size=4M --bs=64k --rw=randwrite --direct=1 --ioengine=psync \
    --verify=crc32c --verify_fatal=1 --do_verify=1 --randrepeat=1 > /tmp/fio.out 2>&1 || { cat /tmp/fio.out; fail fio; }
grep -E 'err= *0' /tmp/fio.out | head -1
vm_fuse_counts fio

famfs_ts umount $M || fail umount
grep -E 'serving threads answered' /tmp/mount.log
famfs_ts mount --system-uuid $U --log /tmp/mount.log ${MOUNT_OPTS:-} "$dax" $M || fail remount
vm_fuse_counts remount
cmp $M/f8 /tmp/exp8 || fail "f8 after remount"
vm_fuse_counts remount-cmp
famfs_ts umount $M || fail "umount 2"
grep -E 'serving threads answered' /tmp/mount.log | tail -1
famfs_ts fsck --system-uuid $U "$dax" > /tmp/fsck.out || { cat /tmp/fsck.out; fail fsck; }
echo "ALL DONE"
