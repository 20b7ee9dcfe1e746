# Sourced (bash) before every tier-4 guest script (test/support/vm.ts); cwd is the repository.
# Environment: VM_OUT (the writable share, read back by the host), VM_REPO, VM_KERNEL.

# famfs_ts ARGS: famfs-ts from the repository's build (the host built dist/ before booting).
# After vm_cli_server, the verbs run in one long-lived node process (test/support/cli-server.ts):
# under TCG a fresh node process costs 5-20 s of start-up per command.
_VM_CLI=/tmp/.famfs-ts-cli
famfs_ts() {
  if [ ! -p $_VM_CLI/req ]; then node "$VM_REPO/dist/src/cli/main.js" "$@"; return; fi
  (
    flock 9
    id=$BASHPID.$RANDOM
    mkfifo $_VM_CLI/$id.rc || exit 125
    printf '%s\0' "$id" "$PWD" "$@" > $_VM_CLI/req
    read -r rc < $_VM_CLI/$id.rc
    cat $_VM_CLI/$id.out; cat $_VM_CLI/$id.err >&2
    rm -f $_VM_CLI/$id.rc $_VM_CLI/$id.out $_VM_CLI/$id.err
    exit "${rc:-125}"
  ) 9> $_VM_CLI/lock
}

# vm_cli_server: start the famfs-ts verb server (see famfs_ts); it lives until the guest ends.
vm_cli_server() {
  mkdir -p $_VM_CLI
  node "$VM_REPO/dist/test/support/cli-server.js" $_VM_CLI > $_VM_CLI/server.log 2>&1 &
  vm_wait_path $_VM_CLI/ready 120 || { cat $_VM_CLI/server.log >&2; return 1; }
}

# vm_bounded SECONDS CMD...: CMD's status, or 124 after SECONDS (then CMD gets SIGKILL).
# Polls instead of using coreutils `timeout`: the fuse-iomap kernel has no POSIX timers, so
# `timeout` never fires there (../shared/kernels/README.md).
vm_bounded() {
  local secs=$1; shift
  "$@" &
  local pid=$! ticks=$((secs * 5))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$ticks" -le 0 ]; then
      echo "vm_bounded: '$*' still running after ${secs}s: killed" >&2
      kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
      return 124
    fi
    sleep 0.2; ticks=$((ticks - 1))
  done
  wait "$pid"
}

# vm_serve LOG SECONDS DEV MNT OPTS...: famfs-ts serves DEV on MNT in the background, its output
# in LOG; returns once the mount is in /proc/mounts and the server said it is live, 1 (with the
# log) when the server died or SECONDS passed. node itself is the background job, not the
# famfs_ts function's subshell, so SERVER is the server's pid and gets the signals sent to it.
vm_serve() {
  local log=$1 secs=$2 dev=$3 mnt=$4; shift 4
  node "$VM_REPO/dist/src/cli/main.js" mount "$dev" "$mnt" --foreground "$@" > "$log" 2>&1 &
  SERVER=$!
  local i=$((secs * 10))
  until grep -q " $mnt fuse" /proc/mounts && grep -q 'is live' "$log"; do
    i=$((i - 1))
    if [ $i -le 0 ] || ! kill -0 "$SERVER" 2>/dev/null; then echo "the mount of $dev on $mnt did not come up"; cat "$log"; return 1; fi
    sleep 0.1
  done
}

# vm_wait_path PATH [SECONDS]: wait until PATH exists (device probing can be asynchronous).
vm_wait_path() {
  local i=$(( ${2:-10} * 10 ))
  while [ ! -e "$1" ]; do
    [ "$i" -le 0 ] && { echo "vm_wait_path: $1 did not appear" >&2; return 1; }
    sleep 0.1; i=$((i - 1))
  done
}

# vm_namespace N MODE: label NVDIMM N (nmemN / regionN) and create one namespace over all of it
# in MODE (devdax or fsdax, 2 MiB aligned); prints the device path (/dev/daxN.0, /dev/pmemN).
# Before any label exists the NVDIMM shows as a raw /dev/pmemN already (no call needed).
vm_namespace() {
  local n=$1 mode=$2 json dev
  ndctl disable-region "region$n" >/dev/null || return 1
  ndctl init-labels -f "nmem$n" >/dev/null || return 1
  ndctl enable-region "region$n" >/dev/null || return 1
  json=$(ndctl create-namespace -r "region$n" --mode="$mode" --align=2M) || return 1
  case $mode in
    devdax) dev=/dev/$(printf '%s\n' "$json" | sed -n 's/.*"chardev":"\([^"]*\)".*/\1/p' | head -1) ;;
    *) dev=/dev/$(printf '%s\n' "$json" | sed -n 's/.*"blockdev":"\([^"]*\)".*/\1/p' | head -1) ;;
  esac
  [ "$dev" = /dev/ ] && { echo "vm_namespace: no device in: $json" >&2; return 1; }
  vm_wait_path "$dev" || return 1
  echo "$dev"
}

# vm_dax_driver DAXDEV DRIVER: rebind daxN.M to device_dax (devdax mode) or fsdev_dax (famfs
# mode) through sysfs (bookworm's daxctl has no famfs mode).
vm_dax_driver() {
  local d=$1 drv=$2 cur
  cur=$(basename "$(readlink "/sys/bus/dax/devices/$d/driver" 2>/dev/null)" 2>/dev/null)
  [ "$cur" = "$drv" ] && return 0
  [ -n "$cur" ] && { echo "$d" > "/sys/bus/dax/drivers/$cur/unbind" || return 1; }
  echo "$d" > "/sys/bus/dax/drivers/$drv/new_id" 2>/dev/null
  [ -e "/sys/bus/dax/devices/$d/driver" ] || echo "$d" > "/sys/bus/dax/drivers/$drv/bind"
}

# FUSE upcall counts from the kernel's own tracepoint (fuse:fuse_request_send), so a test can
# assert which path bytes took without trusting the server. Enable once per boot before any
# FUSE traffic (../shared/kernels/README.md: switching trace events off and on again panicked
# stock-7.3 under TCG once); vm_fuse_counts then clears the buffer, never the event.
vm_fuse_trace_on() {
  local t=/sys/kernel/tracing
  echo 16384 > $t/buffer_size_kb || return 1
  echo 1 > $t/events/fuse/fuse_request_send/enable || return 1
  echo 1 > $t/tracing_on
}

# vm_fuse_counts LABEL: one line "FUSE LABEL op=N..." (N requests of opcode op since the last
# call, by number: 15 READ, 16 WRITE, 54/55 GET_FMAP/GET_DAXDEV on famfs kernels...) plus
# "wbytes=B", the WRITE payload bytes (len minus the 80-byte header and write_in). Fails if the
# trace buffer overran (counts would be short).
vm_fuse_counts() {
  local t=/sys/kernel/tracing label=$1 over
  over=$(cat $t/per_cpu/cpu*/stats | awk '/^overrun:/ {s += $2} END {print s + 0}')
  [ "$over" = 0 ] || { echo "vm_fuse_counts: trace buffer overran ($over events lost)" >&2; return 1; }
  awk -v label="$label" '
    / fuse_request_send: / {
      for (i = 1; i <= NF; i++) { if ($i == "opcode") op = $(i + 1); if ($i == "len") len = $(i + 1) }
      n[op]++; if (op == 16) wb += len - 80
    }
    END { printf "FUSE %s", label; for (o in n) printf " %s=%d", o, n[o]; printf " wbytes=%d\n", wb }' $t/trace
  echo > $t/trace
}
