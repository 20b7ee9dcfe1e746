# Tier-4 guest script, the master of test/vm/two-hosts.test.ts (test/support/vm-pair.ts boots
# it beside test/vm/two-hosts-client.sh, both over one shared NVDIMM; two-hosts-lib.sh is
# sourced first). Prints "OK master STEP" per step; the first failure prints "FAIL" and exits 1.
set -u
fail() { echo "FAIL master: $*"; exit 1; }
ok() { echo "OK master $*"; }
N=${STREAM:-30}
pair_dev || fail "no devdax"
vm_cli_server || fail "cli server"
vm_bounded 300 famfs_ts mkfs -f --system-uuid $U $DEV > /tmp/mkfs.out 2>&1 || { cat /tmp/mkfs.out; fail mkfs; }
ok mkfs
pair_signal mkfs
pair_wait client-mounted 900 || fail "the client's mount"

# Offline verbs (the master holds the device's lock while each runs), then through its mount.
head -c 1048577 /dev/urandom > $PAIR/src-cp || fail "source"
head -c 300001 /dev/urandom > $PAIR/src-mount || fail "source"
vm_bounded 300 famfs_ts creat -s 3M -r -S 7 --system-uuid $U $DEV:/f-creat || fail "offline creat"
vm_bounded 300 famfs_ts mkdir --system-uuid $U $DEV:/d || fail "offline mkdir"
vm_bounded 300 famfs_ts cp --system-uuid $U $PAIR/src-cp $DEV:/d/cp1 || fail "offline cp"
vm_bounded 300 famfs_ts cat --system-uuid $U $DEV:/f-creat > $PAIR/f-creat.ref || fail "offline cat"
ok offline
pair_mount /tmp/m || fail "mount"
vm_bounded 120 cp $PAIR/src-mount /tmp/m/d/via-mount || fail "cp through the mount"
mkdir /tmp/m/md /tmp/m/s || fail "mkdir through the mount"
cmp /tmp/m/d/via-mount $PAIR/src-mount && cmp /tmp/m/d/cp1 $PAIR/src-cp || fail "read back through the mount"
ok mount-files
pair_signal files
pair_wait client-checked 900 || fail "the client's checks"
# The client's attempts to write changed nothing here.
cmp /tmp/m/d/cp1 $PAIR/src-cp || fail "cp1 changed after the client's write attempts"
[ ! -e /tmp/m/client-new ] || fail "a file the client tried to create exists"
ok unchanged

# A stream of log appends while the client replays in a loop: each file whole or not at all.
entry_bytes() { local k; for ((k = 0; k < 48; k++)); do printf 'entry %04d line %02d\n' "$1" "$k"; done; }
pair_signal stream-start
for ((i = 1; i <= N; i++)); do
  entry_bytes $i > /tmp/e.tmp
  vm_bounded 60 cp /tmp/e.tmp /tmp/m/s/e$i || fail "append $i"
done
pair_signal stream-end "$N"
ok "stream $N"
pair_wait client-stream 900 || fail "the client's stream check"

# kill -9: the server dies with the mount up; what it committed is in the log already.
kill -KILL "$SERVER"; wait "$SERVER" 2>/dev/null
umount -l /tmp/m 2>/dev/null
vm_bounded 300 famfs_ts fsck --system-uuid $U $DEV > /tmp/fsck.out 2>&1 || { cat /tmp/fsck.out; fail "fsck after kill -9"; }
cat /tmp/fsck.out
ok killed
pair_signal master-killed
pair_wait client-after-kill 900 || fail "the client after the kill"

# An append caught half way, as famfs's C tools or a dying master may leave one for a moment:
# next_index bumped, half the entry stored; the client replays and must see it as not yet
# there (no file, no bad entry); then the rest is stored and the client sees it.
node "$VM_REPO/test/vm/slow-append.mjs" $DEV slow-dir $PAIR/inflight-half $PAIR/inflight-go || fail "slow append"
ok inflight
ok done
