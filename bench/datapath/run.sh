#!/usr/bin/env bash
# Data-path benchmark: one file of SIZE MiB (default 1024) copied from /dev/shm into
# famfs-ts and served by it, then the same bytes served by the two peers in
# ../shared/bench-peers (a libfuse3 low-level C server and a fuse-native server),
# mounted one after another in this run. Each is warmed (one pass over the file, so page
# faults of the fresh /dev/shm mapping are not measured), then measured with fio:
#   1 MiB O_DIRECT sequential read and write (1 job), 4 KiB O_DIRECT random read (4 jobs).
# Prints a table and the ratios famfs-ts / peer. Needs root and fio; the peers are built by
# bench/lib/peers.sh (gcc + libfuse3-dev; fuse-native from npm + libfuse2), each skipped with
# one line when it cannot be.
# The three are measured in ROUNDS rounds (each round mounts them one after another). Two
# summaries: each server's best round, and the median over rounds of the ratio within a round
# (the three ran back to back, under the same load): the best-of ratio rewards whichever
# server had the luckiest round, the paired median does not.
#   usage: bench/datapath/run.sh [SIZE_MIB] [SECONDS_PER_JOB] [ROUNDS]
set -euo pipefail
SIZE_MIB=${1:-1024}
RUNTIME=${2:-5}
ROUNDS=${3:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/bench/lib/peers.sh"
CLI=(node "$ROOT/dist/src/cli/main.js")
READERS=${FAMFS_TS_READERS:+--readers $FAMFS_TS_READERS}
SPIN=${FAMFS_TS_SPIN_US:+--spin-us $FAMFS_TS_SPIN_US}
MAXW=${FAMFS_TS_MAX_WRITE:+--max-write $FAMFS_TS_MAX_WRITE}

[ "$(id -u)" = 0 ] || { echo "datapath bench: needs root (FUSE mounts)" >&2; exit 1; }
command -v fio >/dev/null || { echo "datapath bench: needs fio" >&2; exit 1; }
[ -f "$ROOT/dist/src/cli/main.js" ] || (cd "$ROOT" && npx tsc -p .)

bench_workdir bench
# FUSE over io_uring (docs/reference/fuse-io-uring.md): measured as the row famfs-uring when
# the kernel has the switch; it is turned on only around that row and always put back.
bench_keep_uring_switch

wait_for() { # file pattern seconds
  for _ in $(seq 1 $(( $3 * 10 ))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for '$2' in $1:" >&2; cat "$1" >&2; return 1
}

fio_json() { # mnt name extra-args...
  local mnt=$1 name=$2; shift 2
  fio --name="$name" --filename="$mnt/data" --size="${SIZE_MIB}M" --direct=1 --ioengine=psync \
      --time_based --runtime="$RUNTIME" --group_reporting --output-format=json "$@" 2>/dev/null
}
# fio JSON -> "MB/s IOPS" of the read or write side
fio_pick() {
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s.slice(s.indexOf("{")));const x=j.jobs[0][process.argv[1]];if(j.jobs[0].error)throw new Error("fio error "+j.jobs[0].error);console.log((x.bw_bytes/1e6).toFixed(0)+" "+x.iops.toFixed(0))})' "$1"
}

ROUND=0
RESULTS=$W/results # one line per server per round: round label read-MB/s write-MB/s iops
measure() { # label mnt
  local label=$1 mnt=$2
  # Warm: fault every page of the mapping in (first touch of /dev/shm pages is what this
  # VM is slowest at, for every server alike), then measure.
  dd if="$mnt/data" of=/dev/null bs=1M iflag=direct status=none
  dd if="$mnt/data" of="$mnt/data" bs=1M iflag=direct oflag=direct conv=notrunc status=none
  local r w q
  r=$(fio_json "$mnt" seqread --rw=read --bs=1M --numjobs=1 | fio_pick read)
  w=$(fio_json "$mnt" seqwrite --rw=write --bs=1M --numjobs=1 | fio_pick write)
  q=$(fio_json "$mnt" randread --rw=randread --bs=4k --numjobs=4 | fio_pick read)
  echo "$ROUND $label ${r%% *} ${w%% *} ${q##* }" >> "$RESULTS"
  printf '  %-12s read %6s MB/s  write %6s MB/s  4k randread %8s IOPS\n' "$label" "${r%% *}" "${w%% *}" "${q##* }"
}

echo "datapath bench: ${SIZE_MIB} MiB file, ${RUNTIME} s per fio job, $(nproc) CPUs, $(uname -r)"
head -c "$((SIZE_MIB << 20))" /dev/urandom > "$W/data"

# --- famfs-ts: image made once, mounted each round ---------------------------------------
echo "famfs-ts: mkfs, mount, cp the file in"
uuidgen 2>/dev/null > "$W/uuid" || cat /proc/sys/kernel/random/uuid > "$W/uuid"
DEV=$W/famfs.dev
truncate -s "$(( (SIZE_MIB + 64) << 20 ))" "$DEV"
"${CLI[@]}" mkfs --small -f --system-uuid "$W/uuid" "$DEV" > /dev/null 2>&1
FM=$W/mnt-famfs; mkdir -p "$FM"
"${CLI[@]}" mount "$DEV" "$FM" --system-uuid "$W/uuid" $READERS $SPIN $MAXW --log "$W/famfs.log" > /dev/null
"${CLI[@]}" cp "$W/data" "$FM/"
cmp "$W/data" "$FM/data"
"${CLI[@]}" umount "$FM"
run_famfs() {
  "${CLI[@]}" mount "$DEV" "$FM" --system-uuid "$W/uuid" --transport dev $READERS $SPIN $MAXW --log "$W/famfs.log" > /dev/null
  measure famfs-ts "$FM"
  "${CLI[@]}" umount "$FM"
}
HAVE_URING=0
if [ -n "$URING_PREV" ] && [ "${FAMFS_TS_URING:-1}" != 0 ]; then HAVE_URING=1
else echo "  famfs-uring: skipped (no $URING_SWITCH: kernel without CONFIG_FUSE_IO_URING, or FAMFS_TS_URING=0)"; fi
run_famfs_uring() {
  echo Y > "$URING_SWITCH"
  "${CLI[@]}" mount "$DEV" "$FM" --system-uuid "$W/uuid" --transport uring $READERS $MAXW --log "$W/famfs-uring.log" > /dev/null
  measure famfs-uring "$FM"
  "${CLI[@]}" umount "$FM"
  sleep 0.5
  echo "$URING_PREV" > "$URING_SWITCH"
}

# --- peers (bench/lib/peers.sh builds them once per npm run bench, or here) -------------
build_peers "${BENCH_PEER_BIN:-$W/bin}" c fn
HAVE_C=0; [ -n "$PEER_C" ] && { HAVE_C=1; cp "$W/data" "$W/peer.img"; }
HAVE_FN=0; [ -n "$PEER_FN_PATH" ] && { HAVE_FN=1; [ -f "$W/peer.img" ] || cp "$W/data" "$W/peer.img"; }

# --- C libfuse3 low-level peer ----------------------------------------------------------
run_c() {
  local M=$W/mnt-c; mkdir -p "$M"
  "$PEER_C" "$W/peer.img" "$M" > "$W/c.log" 2>&1 & local pid=$!; PIDS+=($pid)
  wait_for "$W/c.log" ready 20
  measure c-libfuse3 "$M"
  umount "$M"; kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; : > "$W/c.log"
}

# --- fuse-native peer -------------------------------------------------------------------
run_fn() {
  local M=$W/mnt-fn; mkdir -p "$M"
  NODE_PATH="$PEER_FN_PATH" node "$PEERS/fuse-native-peer.js" "$W/peer.img" "$M" > "$W/fn.log" 2>&1 & local pid=$!; PIDS+=($pid)
  wait_for "$W/fn.log" ready 30
  measure fuse-native "$M"
  umount "$M"; kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; : > "$W/fn.log"
}

for round in $(seq 1 "$ROUNDS"); do
  echo "round $round of $ROUNDS"; ROUND=$round
  run_famfs
  [ "$HAVE_URING" = 1 ] && run_famfs_uring
  [ "$HAVE_C" = 1 ] && run_c
  [ "$HAVE_FN" = 1 ] && run_fn
done
echo
node "$ROOT/dist/bench/datapath/summary.js" "$RESULTS"
