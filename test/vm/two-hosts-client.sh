# Tier-4 guest script, the client of test/vm/two-hosts.test.ts (see two-hosts-master.sh).
# Prints "OK client STEP" per step; the first failure prints "FAIL" and exits 1.
# FAMFS_MODE=1 (the famfs V10 kernel): the client's dax0.0 is bound to fsdev_dax and its mount
# takes the famfs ABI (--abi auto): the kernel maps the files' bytes itself from GET_FMAP, the
# server reaches superblock and log only through .meta, and the offline verbs cannot map the
# device (they are refused with the mode named). The master stays in devdax mode.
set -u
FAMFS_MODE=${FAMFS_MODE:-0}
fail() { echo "FAIL client: $*"; exit 1; }
ok() { echo "OK client $*"; }
entry_bytes() { local k; for ((k = 0; k < 48; k++)); do printf 'entry %04d line %02d\n' "$1" "$k"; done; }
pair_dev || fail "no devdax"
vm_cli_server || fail "cli server"
pair_wait mkfs 900 || fail "the master's mkfs"
# Periodic replay off: every replay here is an explicit logplay, so the test says when.
if [ "$FAMFS_MODE" = 1 ]; then
  vm_fuse_trace_on || fail "tracing"
  vm_dax_driver dax0.0 fsdev_dax || fail "rebind to fsdev_dax"
  pair_mount /tmp/c --client --refresh 0 --abi auto || fail "mount --client --abi auto"
else
  pair_mount /tmp/c --client --refresh 0 || fail "mount --client"
fi
ok mounted
pair_signal client-mounted
pair_wait files 900 || fail "the master's files"

# replay: the mount's logplay. famfs-ts logplay on a mount point also reopens the device to
# list the namespace, which famfs mode does not allow: there, the mount's own attribute.
replay() {
  if [ "$FAMFS_MODE" = 1 ]; then (cd /tmp/c && getfattr --only-values -n user.famfs.logplay . && echo); else famfs_ts logplay /tmp/c; fi
}
vm_bounded 120 replay > /tmp/lp.out 2>&1 || { cat /tmp/lp.out; fail "logplay"; }
check_files() {
  cmp /tmp/c/d/cp1 $PAIR/src-cp || fail "$1: d/cp1 (offline cp) differs"
  cmp /tmp/c/d/via-mount $PAIR/src-mount || fail "$1: d/via-mount (cp through the master's mount) differs"
  cmp /tmp/c/f-creat $PAIR/f-creat.ref || fail "$1: f-creat differs from the master's offline cat"
  if [ "$FAMFS_MODE" != 1 ]; then
    vm_bounded 120 famfs_ts cat --system-uuid $U $DEV:/f-creat | cmp - /tmp/c/f-creat || fail "$1: offline cat on the client"
    vm_bounded 120 famfs_ts verify -S 7 -f $DEV:/f-creat --system-uuid $U || fail "$1: f-creat's pattern (creat -r -S 7)"
  fi
  [ -d /tmp/c/md ] && [ -d /tmp/c/s ] || fail "$1: directories made through the master's mount"
}
check_files replay
ok replay

# Writes are refused, each at once with a clear errno, and change nothing.
refused() { # NAME CMD...: CMD must fail; its message is kept
  if "$@" > /tmp/w.out 2>&1; then fail "write allowed: $1"; fi
  echo "refused $*: $(head -c 300 /tmp/w.out | tr '\n' ' ')" >> "$VM_OUT/refusals"
}
refused sh -c 'echo x > /tmp/c/client-new'
refused sh -c 'echo x >> /tmp/c/d/cp1'
refused dd if=/dev/zero of=/tmp/c/d/cp1 bs=1 count=1 conv=notrunc status=none
refused mkdir /tmp/c/client-dir
refused rm /tmp/c/d/cp1
refused vm_bounded 120 famfs_ts creat -s 1M --system-uuid $U $DEV:/client-offline
refused vm_bounded 120 famfs_ts cp --system-uuid $U $PAIR/src-cp $DEV:/client-cp
check_files after-refusals
ok refused
pair_signal client-checked

# Replay over and over while the master appends: every file seen is whole (size and bytes)
# and the files seen are always e1..eK (the log is appended in order).
pair_wait stream-start 900 || fail "stream start"
iters=0 seen="" final=0
while :; do
  [ -e $PAIR/stream-end ] && final=1
  vm_bounded 120 replay > /tmp/lp.out 2>&1 || { cat /tmp/lp.out; fail "logplay during the stream"; }
  k=0
  for f in /tmp/c/s/e*; do
    [ -e "$f" ] || continue
    i=${f##*/e}
    entry_bytes "$i" | cmp -s - "$f" || { ls -l "$f"; fail "iteration $iters: $f is not whole"; }
    k=$((k + 1))
  done
  for ((i = 1; i <= k; i++)); do [ -e /tmp/c/s/e$i ] || fail "iteration $iters: e$i missing while $k files are there"; done
  seen="$seen $k"; iters=$((iters + 1))
  [ $final = 1 ] && break
done
n=$(cat $PAIR/stream-end)
[ "$k" = "$n" ] || fail "after the stream: $k of $n files"
echo "iterations=$iters seen=$seen" > "$VM_OUT/stream"
ok "stream iterations=$iters seen:$seen"
pair_signal client-stream

pair_wait master-killed 900 || fail "the master's kill"
grep -q " /tmp/c fuse" /proc/mounts || fail "the client's mount is gone"
vm_bounded 120 replay > /tmp/lp.out 2>&1 || { cat /tmp/lp.out; fail "logplay after the master's kill -9"; }
check_files after-kill
for ((i = 1; i <= n; i++)); do entry_bytes $i | cmp -s - /tmp/c/s/e$i || fail "after kill: e$i"; done
grep -i 'bad entr' "$VM_OUT/server.log" && fail "the client's replay reported bad entries"
ok after-kill
pair_signal client-after-kill

pair_wait inflight-half 900 || fail "the half append"
vm_bounded 120 replay > /tmp/lp.out 2> /tmp/lp.err || { cat /tmp/lp.out /tmp/lp.err; fail "logplay with an entry in flight"; }
cat /tmp/lp.out /tmp/lp.err
[ -e /tmp/c/slow-dir ] && fail "an entry half written shows as a directory"
if [ "$FAMFS_MODE" != 1 ]; then
  grep -q "is still being appended" /tmp/lp.err || fail "logplay does not say the last entry is in flight"
  grep -q "skipped invalid" /tmp/lp.err && fail "logplay took the entry in flight for a bad one"
fi
ok inflight-absent
pair_signal inflight-go
vm_wait_path /tmp/pair/exit-master 300 || fail "the master's end"
vm_bounded 120 replay > /tmp/lp.out 2> /tmp/lp.err || { cat /tmp/lp.out /tmp/lp.err; fail "logplay after the append finished"; }
[ -d /tmp/c/slow-dir ] || { cat /tmp/lp.out /tmp/lp.err; fail "the finished entry is not there"; }
[ -s /tmp/lp.err ] && { cat /tmp/lp.err; fail "logplay complained"; }
grep -i 'bad entr' "$VM_OUT/server.log" && fail "the client's server reported bad entries"
ok inflight-whole
[ "$FAMFS_MODE" = 1 ] && { vm_fuse_counts client > "$VM_OUT/counts" || fail "upcall counts"; cat "$VM_OUT/counts"; }
pair_signal client-done
if [ "$FAMFS_MODE" = 1 ]; then
  # A famfs-mode server maps .meta through its own mount, so umount says busy: SIGTERM makes it
  # unmap and unmount (as test/vm/mapping-workload.sh does).
  kill -TERM "$SERVER"
  for ((i = 0; i < 300; i++)); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$SERVER" 2>/dev/null && fail "the server did not end on SIGTERM"
else
  vm_bounded 60 famfs_ts umount /tmp/c || fail umount
fi
ok done
