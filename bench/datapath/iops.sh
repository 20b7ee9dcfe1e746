#!/usr/bin/env bash
# 4 KiB random-read IOPS only (the row of run.sh that is furthest from its target), with the
# servers alternated in each round and the server's CPU time per IO from /proc/PID/stat:
# what a change to the per-request path buys, measured in minutes rather than run.sh's hour.
#   usage: bench/datapath/iops.sh [SIZE_MIB=256] [SECONDS=5] [ROUNDS=5]
# SERVERS (default "dev uring c") names the rows: c is the libfuse3 C peer; any other label is
# famfs-ts, mounted with --transport uring when the label starts with "uring", else dev, plus
# the words of $ARGS_<label> (e.g. SERVERS="dev uring u4" ARGS_u4="--transport uring --readers 4").
# A label starting with "base" runs the CLI at $FAMFS_TS_BASELINE (another build's
# dist/src/cli/main.js; "base" = dev, "baseuring" = uring): before/after in the same rounds.
# JOBS (default 4) fio jobs; BS (default 4k) and RW (default randread; read, write, ...) the
# fio workload, e.g. BS=1M RW=read JOBS=1 for run.sh's 1 MiB read row (IOPS x 1 MiB = MB/s). Prints IOPS and µs of server CPU per IO per row per round, then
# the median over rounds of each row's IOPS ratio to c within the round (paired).
set -euo pipefail
SIZE_MIB=${1:-256}
RUNTIME=${2:-5}
ROUNDS=${3:-5}
SERVERS=${SERVERS:-dev uring c}
JOBS=${JOBS:-4}
BS=${BS:-4k}
RW=${RW:-randread}
SIDE=read; [[ $RW == *write* ]] && SIDE=write
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/bench/lib/peers.sh"
CLI=(node "$ROOT/dist/src/cli/main.js")

[ "$(id -u)" = 0 ] || { echo "iops bench: needs root (FUSE mounts)" >&2; exit 1; }
command -v fio >/dev/null || { echo "iops bench: needs fio" >&2; exit 1; }
[ -f "$ROOT/dist/src/cli/main.js" ] || (cd "$ROOT" && npx tsc -p .)

bench_workdir iops
bench_keep_uring_switch

ticks() { # utime+stime of every thread of pid, in clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat"
}
HZ=$(getconf CLK_TCK)

echo "iops bench: ${SIZE_MIB} MiB, ${RUNTIME} s, ${RW} ${BS}, ${JOBS} jobs, $(nproc) CPUs, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
head -c "$((SIZE_MIB << 20))" /dev/urandom > "$W/data"
cat /proc/sys/kernel/random/uuid > "$W/uuid"
DEV=$W/famfs.dev
truncate -s "$(( (SIZE_MIB + 64) << 20 ))" "$DEV"
"${CLI[@]}" mkfs --small -f --system-uuid "$W/uuid" "$DEV" > /dev/null 2>&1
M=$W/mnt-x; mkdir -p "$M"
"${CLI[@]}" mount "$DEV" "$M" --system-uuid "$W/uuid" --transport dev --log "$W/setup.log" > /dev/null
"${CLI[@]}" cp "$W/data" "$M/"
"${CLI[@]}" umount "$M"
build_peers "${BENCH_PEER_BIN:-$W/bin}" c
cp "$W/data" "$W/peer.img"

wait_mounted() { # mnt pid
  for _ in $(seq 1 300); do grep -q " $1 " /proc/mounts && [ -e "$1/data" ] && return 0; kill -0 "$2" 2>/dev/null || return 1; sleep 0.1; done
  return 1
}

RESULTS=$W/results
one() { # label
  local label=$1 pid
  if [ "$label" = c ]; then
    [ -n "$PEER_C" ] || return 0
    "$PEER_C" "$W/peer.img" "$M" > "$W/c.log" 2>&1 & pid=$!
  else
    local transport=dev var="ARGS_$label" cli=("${CLI[@]}")
    [[ $label == uring* || $label == baseuring* ]] && { transport=uring; echo Y > "$URING_SWITCH"; }
    [[ $label == base* ]] && cli=(node "${FAMFS_TS_BASELINE:?set FAMFS_TS_BASELINE to the main.js of the baseline build}")
    # shellcheck disable=SC2086
    "${cli[@]}" mount "$DEV" "$M" --foreground --system-uuid "$W/uuid" --transport "$transport" ${!var:-} > "$W/$label.log" 2>&1 & pid=$!
  fi
  PIDS+=("$pid")
  wait_mounted "$M" "$pid" || { echo "  $label: did not mount"; cat "$W/$label.log" "$W/c.log" 2>/dev/null | tail -5; kill "$pid" 2>/dev/null; return 0; }
  dd if="$M/data" of=/dev/null bs=1M iflag=direct status=none
  local t0 t1 iops
  t0=$(ticks "$pid")
  iops=$(fio --name=randread --filename="$M/data" --size="${SIZE_MIB}M" --direct=1 --ioengine=psync \
      --time_based --runtime="$RUNTIME" --group_reporting --output-format=json --rw="$RW" --bs="$BS" \
      --numjobs="$JOBS" 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s.slice(s.indexOf("{")));console.log(j.jobs[0][process.argv[1]].iops.toFixed(0))})' "$SIDE")
  t1=$(ticks "$pid")
  umount "$M" 2>/dev/null || umount -l "$M"
  wait "$pid" 2>/dev/null || true
  echo "$URING_PREV" > "$URING_SWITCH" 2>/dev/null || true
  local us; us=$(node -e "console.log(((${t1}-${t0})/${HZ}*1e6/(${iops}*${RUNTIME})).toFixed(1))")
  echo "$ROUND $label $iops $us" >> "$RESULTS"
  printf '  %-10s %8s IOPS  %6s us CPU/IO  load %s\n' "$label" "$iops" "$us" "$(cut -d' ' -f1 /proc/loadavg)"
}

for ROUND in $(seq 1 "$ROUNDS"); do
  echo "round $ROUND of $ROUNDS"
  for s in $SERVERS; do one "$s"; done
done
node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => l.split(" "));
const by = new Map();
for (const [r, label, iops, us] of rows) { if (!by.has(r)) by.set(r, new Map()); by.get(r).set(label, [Number(iops), Number(us)]); }
const labels = [...new Set(rows.map((r) => r[1]))];
const med = (a) => { const s = [...a].sort((x, y) => x - y); const n = s.length; return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };
console.log("\nlabel        median IOPS  median us/IO  paired median vs c (range)");
for (const l of labels) {
  const iops = [], us = [], ratio = [];
  for (const m of by.values()) { const v = m.get(l); if (!v) continue; iops.push(v[0]); us.push(v[1]); const c = m.get("c"); if (c) ratio.push(v[0] / c[0]); }
  const rr = ratio.length ? `${med(ratio).toFixed(2)}x (${Math.min(...ratio).toFixed(2)}-${Math.max(...ratio).toFixed(2)})` : "-";
  console.log(`${l.padEnd(12)} ${med(iops).toFixed(0).padStart(11)}  ${med(us).toFixed(1).padStart(12)}  ${rr}`);
}' "$RESULTS"
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
