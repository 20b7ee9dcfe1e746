#!/bin/busybox sh
# PID 1 of a tier-4 guest (test/support/vm.ts). The guest's root is the host's root, shared
# read-only over 9p, so every host tool (bash, node, ndctl, fio) runs unchanged; busybox-static
# is the interpreter so that nothing here needs the dynamic loader before /proc and /dev exist.
# The host's job is /tmp/vm-out/job.sh on the writable share; its output and exit status go
# back there, then the guest resets (qemu runs with -no-reboot, so a reset ends qemu).
B=/bin/busybox
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp TERM=dumb LANG=C.UTF-8
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
# CONFIG_DEVTMPFS_MOUNT mounts /dev after the root; mount it here when it did not.
$B mountpoint -q /dev || $B mount -t devtmpfs devtmpfs /dev
$B mkdir -p /dev/pts /dev/shm
$B mount -t devpts devpts /dev/pts
$B mount -t tmpfs tmpfs /dev/shm
$B mount -t tmpfs -o mode=1777 tmpfs /tmp
$B mount -t tmpfs tmpfs /run
$B mount -t tmpfs -o mode=1777 tmpfs /var/tmp
$B mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
$B mount -t bpf bpf /sys/fs/bpf 2>/dev/null
$B ln -sf /proc/self/fd /dev/fd 2>/dev/null
$B mkdir -p /tmp/vm-out
if ! $B mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 vmout /tmp/vm-out; then
  echo "vm-init: cannot mount the result share (tag vmout)" > /dev/console
  $B reboot -f
fi
$B cat /proc/uptime > /tmp/vm-out/boot-uptime
# vm_echo=1 on the kernel command line (an environment variable of init) copies the job's
# output to the console as well, for a person watching.
if [ "${vm_echo:-0}" = 1 ]; then
  /bin/bash /tmp/vm-out/job.sh < /dev/null 2>&1 | $B tee /tmp/vm-out/output > /dev/console
  # tee's status is not the job's: job.sh records its own in job-status.
  st=$($B cat /tmp/vm-out/job-status 2>/dev/null || echo 255)
else
  /bin/bash /tmp/vm-out/job.sh < /dev/null > /tmp/vm-out/output 2>&1
  st=$?
fi
echo "$st" > /tmp/vm-out/status
$B cat /proc/uptime > /tmp/vm-out/end-uptime
$B sync
$B umount /tmp/vm-out 2>/dev/null
$B reboot -f
