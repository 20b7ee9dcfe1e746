# Tier-4 guest script for test/vm/devices.test.ts: famfs-ts on a guest's real memory devices
# (stock kernel): /dev/dax0.0 (devdax), /dev/pmem1 (fsdax), /dev/ram0 (brd), each at its real
# size; then a layout striping over the devdax and the pmem; then a daxdev in famfs mode.
# By hand: scripts/vm-run.sh --kernel stock-7.3 --nvdimm 6G --nvdimm 6G --ramdisk 4G test/vm/devices.sh
# Prints "OK <device> <step>" per step; the first failure prints "FAIL ..." with its output and exits 1.
set -u
U=/tmp/system-uuid
ok() { echo "OK $*"; }
fail() { echo "FAIL $*"; exit 1; }
# step NAME CMD...: CMD must exit 0.
step() { local name=$1; shift; if "$@" > /tmp/step.out 2>&1; then ok "$name"; else cat /tmp/step.out; fail "$name (exit $?)"; fi; }
size_of() { case $1 in /dev/dax*) cat "/sys/bus/dax/devices/${1#/dev/}/size" ;; *) blockdev --getsize64 "$1" ;; esac; }

vm_cli_server || fail "cli server"
dax=$(vm_namespace 0 devdax) || fail "namespace devdax"
pm=$(vm_namespace 1 fsdax) || fail "namespace fsdax"
echo "DEVICES $dax $pm /dev/ram0"
head -c 3M /dev/urandom > /tmp/rand3m
head -c 5000 /dev/urandom > /tmp/odd

for dev in "$dax" "$pm" /dev/ram0; do
  n=${dev#/dev/}
  sz=$(size_of "$dev")
  echo "DEVICE $n size=$sz align=$(cat "/sys/bus/dax/devices/$n/align" 2>/dev/null || echo -)"
  step "$n mkfs" famfs_ts mkfs -f --system-uuid $U "$dev"
  famfs_ts fsck --system-uuid $U "$dev" > /tmp/fsck.out 2>&1 || { cat /tmp/fsck.out; fail "$n fsck after mkfs"; }
  grep -Eq "primary: $dev +$sz\$" /tmp/fsck.out || { cat /tmp/fsck.out; fail "$n fsck does not name $dev at its size $sz"; }
  ok "$n size $sz"
  step "$n creat" famfs_ts creat -s 20M -r -S 7 --system-uuid $U "$dev:/f20m"
  step "$n verify" famfs_ts verify -S 7 -f "$dev:/f20m" --system-uuid $U
  step "$n mkdir" famfs_ts mkdir --system-uuid $U "$dev:/d"
  step "$n cp" famfs_ts cp --system-uuid $U /tmp/rand3m /tmp/odd "$dev:/d/"
  famfs_ts cat --system-uuid $U "$dev:/d/rand3m" | cmp - /tmp/rand3m || fail "$n cat rand3m"
  famfs_ts cat --system-uuid $U "$dev:/f20m" > /tmp/f20m.ref || fail "$n cat f20m"
  [ "$(stat -c %s /tmp/f20m.ref)" = 20971520 ] || fail "$n cat f20m size"
  ok "$n cat"
  famfs_ts ls -l --system-uuid $U "$dev:/d" > /tmp/ls.out 2>&1 || { cat /tmp/ls.out; fail "$n ls"; }
  grep -q 3145728 /tmp/ls.out && grep -q 5000 /tmp/ls.out || { cat /tmp/ls.out; fail "$n ls sizes"; }
  ok "$n ls"
  # Every extent on a 2 MiB boundary of the real device.
  famfs_ts getmap --system-uuid $U "$dev:/d/odd" > /tmp/map.out 2>&1 || { cat /tmp/map.out; fail "$n getmap"; }
  cat /tmp/map.out
  mkdir -p /tmp/m
  step "$n mount" famfs_ts mount --system-uuid $U --log /tmp/mount.log "$dev" /tmp/m
  cmp /tmp/m/d/rand3m /tmp/rand3m && cmp /tmp/m/d/odd /tmp/odd && cmp /tmp/m/f20m /tmp/f20m.ref || fail "$n read through the mount"
  cp /tmp/rand3m /tmp/m/new || fail "$n write through the mount"
  cmp /tmp/m/new /tmp/rand3m || fail "$n new file through the mount"
  step "$n umount" famfs_ts umount /tmp/m
  # A remount on the devdax only: every mount starts a node server (tens of seconds under TCG).
  if [ "$dev" = "$dax" ]; then
    step "$n remount" famfs_ts mount --system-uuid $U --log /tmp/mount.log "$dev" /tmp/m
    cmp /tmp/m/new /tmp/rand3m || fail "$n new file after remount"
    step "$n umount again" famfs_ts umount /tmp/m
  fi
  famfs_ts fsck --system-uuid $U "$dev" > /tmp/fsck.out 2>&1 || { cat /tmp/fsck.out; fail "$n fsck at the end"; }
  grep -Eq '^ +4 files' /tmp/fsck.out || { cat /tmp/fsck.out; fail "$n fsck file count"; }
  ok "$n fsck"
done

# A layout over two real devices: files striped across the devdax and the pmem.
cat > /tmp/two.yaml <<EOF
devices:
  - {name: dax, path: $dax, size: $(size_of "$dax")}
  - {name: pmem, path: $pm, size: $(size_of "$pm")}
daxdevs: [dax, pmem]
policy: {chunk: 2MiB, strips: 2, daxdevs: [0, 1]}
EOF
step "layout check" famfs_ts layout check /tmp/two.yaml
step "layout mkfs" famfs_ts mkfs -f --system-uuid $U /tmp/two.yaml
step "layout creat" famfs_ts creat -s 12M -r -S 9 -N 2 -B 2 --small --system-uuid $U /tmp/two.yaml:/striped
step "layout verify" famfs_ts verify -S 9 -f /tmp/two.yaml:/striped --system-uuid $U
famfs_ts layout map /tmp/two.yaml:/striped --offset 0 --offset 2MiB --json > /tmp/lmap.out 2>&1 || { cat /tmp/lmap.out; fail "layout map"; }
cat /tmp/lmap.out
grep -q '"device":"dax"' /tmp/lmap.out && grep -q '"device":"pmem"' /tmp/lmap.out || fail "layout map: the strips are not on both devices"
ok "layout map"
famfs_ts cat --system-uuid $U /tmp/two.yaml:/striped > /tmp/striped.ref || fail "layout cat"
step "layout mount" famfs_ts mount --system-uuid $U --log /tmp/mount.log /tmp/two.yaml /tmp/m
cmp /tmp/m/striped /tmp/striped.ref || fail "layout read through the mount"
cp /tmp/rand3m /tmp/m/copied && cmp /tmp/m/copied /tmp/rand3m || fail "layout cp through the mount"
step "layout umount" famfs_ts umount /tmp/m
step "layout fsck" famfs_ts fsck --system-uuid $U /tmp/two.yaml

# famfs mode (fsdev_dax has no mmap): a clear refusal naming the mode and the command, and the
# command named brings the device back.
vm_dax_driver "${dax#/dev/}" fsdev_dax || fail "rebind to fsdev_dax"
echo "DRIVER $(basename "$(readlink "/sys/bus/dax/devices/${dax#/dev/}/driver")")"
for verb in "mkfs -f" "ls"; do
  target=$dax; [ "$verb" = ls ] && target=$dax:/
  famfs_ts $verb --system-uuid $U $target > /tmp/mode.out 2>&1 && { cat /tmp/mode.out; fail "famfs mode: $verb succeeded"; }
  cat /tmp/mode.out
  grep -q 'famfs mode' /tmp/mode.out && grep -q 'device_dax/bind' /tmp/mode.out || fail "famfs mode: $verb message"
  grep -q '^ *at ' /tmp/mode.out && fail "famfs mode: $verb printed a stack trace"
  ok "famfs mode $verb refused"
done
cmd=$(sed -n 's/.*, or \(echo .*\)$/\1/p' /tmp/mode.out | head -1)
echo "RUN $cmd"
sh -c "$cmd" || fail "the command in the message"
step "devdax again" famfs_ts fsck --system-uuid $U /tmp/two.yaml
echo "ALL DONE"
