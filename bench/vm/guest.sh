# Guest side of bench/vm/run.sh: the same fio jobs on a famfs-ts mount and on tmpfs, and the
# time of a file's first open; ratios famfs-ts / tmpfs. Which path famfs-ts's bytes took is
# not assumed: the kernel's fuse_request_send counts during the read job say it (READ upcalls:
# the FUSE READ/WRITE path; none: the kernel mapped the file itself, famfs DAX or iomap).
# Environment: MOUNT_OPTS (e.g. "--abi auto"), SECONDS_PER_JOB (default 4), FILE_MIB (default 64).
set -u
U=/tmp/system-uuid M=/tmp/m T=/tmp/tb
secs=${SECONDS_PER_JOB:-4} mib=${FILE_MIB:-64}
fail() { echo "FAIL $*"; [ -f /tmp/mount.log ] && tail -20 /tmp/mount.log; exit 1; }
vm_fuse_trace_on || fail trace
vm_cli_server || fail "cli server"
if [ -e /sys/bus/nd/devices/region0 ]; then dev=$(vm_namespace 0 devdax) || fail namespace; else dev=/dev/ram0; fi
famfs_ts mkfs --system-uuid $U "$dev" > /dev/null || fail mkfs
mkdir -p $M $T
famfs_ts mount --system-uuid $U --log /tmp/mount.log ${MOUNT_OPTS:-} "$dev" $M > /dev/null || fail mount
profile=$(sed -n 's/.*INIT: .*profile \([^,]*\),.*/\1/p' /tmp/mount.log | head -1)
# Size the famfs file first (kernel-mapped profiles need it) and fill it; the same on tmpfs.
for d in $M $T; do
  truncate -s ${mib}M $d/f 2>/dev/null
  dd if=/dev/zero of=$d/f bs=1M count=$mib conv=notrunc status=none || fail "fill $d/f"
done
vm_fuse_counts fill > /dev/null

# fio_job DIR RW BS: MiB/s and IOPS of one job.
fio_job() {
  fio --name=b --filename=$1/f --size=${mib}M --rw=$2 --bs=$3 --direct=1 --ioengine=psync \
      --time_based --runtime=$secs --output-format=json 2>/dev/null |
    python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]; d=j["read"] if j["read"]["io_bytes"] else j["write"]; print("%.1f %.0f" % (d["bw_bytes"]/1048576, d["iops"]))'
}
path=
printf '%-12s %10s %10s %-6s %7s\n' job famfs-ts tmpfs unit ratio
for job in "read 1M" "write 1M" "randread 4k" "randwrite 4k"; do
  set -- $job
  a=$(fio_job $M $1 $2) || fail "fio $job on famfs-ts"
  c=$(vm_fuse_counts "$1-$2")
  b=$(fio_job $T $1 $2) || fail "fio $job on tmpfs"
  case $1 in *read) [ -z "$path" ] && { case $c in *" 15="*) path="FUSE READ/WRITE upcalls";; *) path="kernel-mapped (no READ upcall)";; esac; } ;; esac
  echo "$c" >&2
  set -- $a $b
  case $job in *4k) unit=IOPS; fa=$2; fb=$4 ;; *) unit=MiB/s; fa=$1; fb=$3 ;; esac
  printf '%-12s %10s %10s %-6s %7s\n' "$job" "$fa" "$fb" "$unit" "$(python3 -c "print('%.2fx' % ($fa / $fb if $fb else 0))")"
done

# First open of a file (dentry and inode dropped): LOOKUP + OPEN upcalls on FUSE, plus the map
# (GET_FMAP / IOMAP_BEGIN) where the kernel maps files itself.
for i in $(seq 20); do echo $i > $M/o$i; echo $i > $T/o$i; done
sync; echo 3 > /proc/sys/vm/drop_caches
vm_fuse_counts open-setup > /dev/null
python3 - $M $T <<'PY'
import os, sys, time
res = []
for d in sys.argv[1:]:
    t = []
    for i in range(1, 21):
        s = time.perf_counter(); fd = os.open(f'{d}/o{i}', os.O_RDONLY); os.read(fd, 16); os.close(fd); t.append(time.perf_counter() - s)
    t.sort(); res.append(t[len(t) // 2] * 1e6)
print('%-12s %10.0f %10.0f %-6s %6.2fx' % ('first open', res[0], res[1], 'us', res[0] / res[1]))
PY
vm_fuse_counts open >&2
famfs_ts umount $M > /dev/null
echo "kernel $VM_KERNEL ($(uname -r)), device $dev, mount profile ${profile:-?} ${MOUNT_OPTS:-}, famfs-ts data path: $path"
echo "TCG guest: absolute numbers mean nothing; ratios compare paths in the same guest, same run"
