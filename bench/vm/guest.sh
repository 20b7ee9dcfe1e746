# Guest side of bench/vm/run.sh: the same fio jobs on famfs-ts through the kernel's own path
# (famfs DAX on famfs-v10-7.3, iomap on fuse-iomap-7.3), through the FUSE READ/WRITE path
# (`--abi mainline`, the server copies every byte) and on tmpfs, in one guest; and the time of
# a file's first open (LOOKUP + OPEN, plus GET_FMAP or IOMAP_BEGIN on the kernel path). Which
# path famfs-ts's bytes took is not assumed: the kernel's fuse_request_send counts during the
# read job say it (READ upcalls: the FUSE path; none: the kernel mapped the file itself).
# Environment: KERNEL_PATH (famfs | iomap | none), SECONDS_PER_JOB (default 4), FILE_MIB (64).
set -u
U=/tmp/system-uuid M=/tmp/m T=/tmp/tb
secs=${SECONDS_PER_JOB:-4} mib=${FILE_MIB:-64} kpath=${KERNEL_PATH:-none}
fail() { echo "FAIL $*"; [ -f /tmp/mount.log ] && tail -20 /tmp/mount.log; exit 1; }
vm_fuse_trace_on || fail trace
vm_cli_server || fail "cli server"
if [ -e /sys/bus/nd/devices/region0 ]; then dev=$(vm_namespace 0 devdax) || fail namespace; else dev=/dev/ram0; fi
mkdir -p $M $T
NFILES=20

# fio_job DIR RW BS: MiB/s and IOPS of one job.
fio_job() {
  fio --name=b --filename=$1/f --size=${mib}M --rw=$2 --bs=$3 --direct=1 --ioengine=psync \
      --time_based --runtime=$secs --output-format=json 2>/dev/null |
    python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]; d=j["read"] if j["read"]["io_bytes"] else j["write"]; print("%.1f %.0f" % (d["bw_bytes"]/1048576, d["iops"]))'
}

# open_us DIR: median microseconds of a first open + 16-byte read of o1..oN (caches dropped).
open_us() {
  sync; echo 3 > /proc/sys/vm/drop_caches
  python3 - "$1" $NFILES <<'PY'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
t = []
for i in range(1, n + 1):
    s = time.perf_counter(); fd = os.open(f'{d}/o{i}', os.O_RDONLY); os.read(fd, 16); os.close(fd); t.append(time.perf_counter() - s)
t.sort(); print('%.0f' % (t[len(t) // 2] * 1e6))
PY
}

JOBS="read:1M write:1M randread:4k randwrite:4k"
# run_all LABEL DIR: every job and the open time into /tmp/res-LABEL ("job value"), and the
# kernel's upcall counts during the jobs to stderr.
run_all() {
  local label=$1 dir=$2 j a c
  : > /tmp/res-$label
  vm_fuse_counts "before-$label" > /dev/null
  for j in $JOBS; do
    a=$(fio_job $dir ${j%%:*} ${j#*:}) || fail "fio $j on $label"
    c=$(vm_fuse_counts "$label-$j")
    echo "$c" >&2
    set -- $a
    case $j in *4k) echo "$j $2" ;; *) echo "$j $1" ;; esac >> /tmp/res-$label
    case $j in read:*) case $c in *" 15="*) echo "$label READ-upcalls" >> /tmp/paths ;; *) echo "$label no-READ-upcall" >> /tmp/paths ;; esac ;; esac
  done
  echo "open $(open_us $dir)" >> /tmp/res-$label
  vm_fuse_counts "$label-open" >&2
}

mount_it() { # mount_it LABEL OPTS...
  local label=$1 out; shift
  out=$(famfs_ts mount --system-uuid $U --log /tmp/mount-$label.log "$@" "$dev" $M) || { cat /tmp/mount-$label.log; fail "mount $label"; }
  SERVER=$(printf '%s\n' "$out" | sed -n 's/.*server pid \([0-9]*\).*/\1/p')
}
umount_it() {
  # A famfs-mode server maps .meta (umount says busy): SIGTERM makes it unmap and unmount.
  famfs_ts umount $M > /dev/null 2>&1 || kill -TERM "$SERVER"
  local i=0; while grep -q " $M fuse" /proc/mounts; do i=$((i + 1)); [ $i -gt 300 ] && fail "umount"; sleep 0.2; done
}

# The file system and its files: made once, used by both famfs-ts mounts.
for i in $(seq $NFILES); do echo $i > $T/o$i; done
dd if=/dev/zero of=$T/f bs=1M count=$mib status=none
case $kpath in
  famfs)
    # famfs mode, the way famfs runs on this kernel: mkfs and files through .meta (no mmap
    # of the device); data written by the kernel's DAX path.
    vm_dax_driver "${dev#/dev/}" fsdev_dax || fail "fsdev_dax"
    famfs_ts mkfs --system-uuid $U "$dev" > /dev/null || fail mkfs
    mount_it kernel --abi auto --readers 0
    famfs_ts creat --system-uuid $U -s ${mib}M $M/f || fail "creat f"
    for i in $(seq $NFILES); do famfs_ts creat --system-uuid $U -s 4096 $M/o$i || fail "creat o$i"; done
    dd if=/dev/zero of=$M/f bs=1M count=$mib conv=notrunc status=none || fail "fill f" ;;
  *)
    famfs_ts mkfs --system-uuid $U "$dev" > /dev/null || fail mkfs
    if [ "$kpath" = iomap ]; then mount_it kernel --abi auto; else mount_it fuse --abi mainline; fi
    truncate -s ${mib}M $M/f; dd if=/dev/zero of=$M/f bs=1M count=$mib conv=notrunc status=none || fail "fill f"
    for i in $(seq $NFILES); do echo $i > $M/o$i; done ;;
esac
: > /tmp/paths
if [ "$kpath" != none ]; then
  run_all kernel $M
  umount_it
  # The FUSE READ/WRITE path over the same image: a famfs-mode daxdev goes back to devdax
  # mode, where the server maps it itself.
  [ "$kpath" = famfs ] && { vm_dax_driver "${dev#/dev/}" device_dax || fail "device_dax"; }
  mount_it fuse --abi mainline
fi
run_all fuse $M
umount_it
run_all tmpfs $T

python3 - "$kpath" <<'PY'
import sys
kpath = sys.argv[1]
def load(label):
    try:
        return dict(l.split() for l in open(f'/tmp/res-{label}'))
    except FileNotFoundError:
        return {}
k, f, t = load('kernel'), load('fuse'), load('tmpfs')
name = {'famfs': 'famfs DAX', 'iomap': 'iomap'}.get(kpath, '-')
print('%-14s %11s %11s %11s %-6s %9s %9s %9s' % ('job', name, 'FUSE R/W', 'tmpfs', 'unit', 'kern/tmp', 'fuse/tmp', 'kern/fuse'))
def r(a, b):
    return '%.2fx' % (float(a) / float(b)) if a and b and float(b) else '-'
for job in ['read:1M', 'write:1M', 'randread:4k', 'randwrite:4k', 'open']:
    unit = 'us' if job == 'open' else ('IOPS' if job.endswith('4k') else 'MiB/s')
    a, b, c = k.get(job, ''), f.get(job, ''), t.get(job, '')
    print('%-14s %11s %11s %11s %-6s %9s %9s %9s' % (job.replace(':', ' '), a or '-', b or '-', c or '-', unit, r(a, c), r(b, c), r(a, b)))
PY
echo "paths (from the kernel's READ upcall count during the read job): $(tr '\n' ' ' < /tmp/paths)"
echo "kernel $VM_KERNEL ($(uname -r)), device $dev; open = median first open + 16-byte read of $NFILES files, caches dropped"
echo "TCG guest: absolute numbers mean nothing; ratios compare paths in the same guest, same run"
