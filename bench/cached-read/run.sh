#!/usr/bin/env bash
# Buffered (page-cache) reads of one committed file: each server gets a fresh open for every
# pass, as separate programs reading a file do. Pass 1 reads 1 MiB sequentially (filling the
# cache, or not); pass 2 does it again and a 4 KiB random-read pass follows. famfs-ts answers
# OPEN of a committed file on the master with FOPEN_KEEP_CACHE, so its second pass comes from
# the page cache (fio runs with --invalidate=0: by default it drops a file's cache before each job); the libfuse3 C peer and memfs_ll keep libfuse's default (the cache is dropped
# at each open); tmpfs (no FUSE) is the limit.
#   usage: bench/cached-read/run.sh [SIZE_MIB=256] [SECONDS=3] [ROUNDS=3]
set -euo pipefail
SIZE_MIB=${1:-256}; RUNTIME=${2:-3}; ROUNDS=${3:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/bench/lib/peers.sh"
CLI=(node "$ROOT/dist/src/cli/main.js")
[ "$(id -u)" = 0 ] || { echo "cached-read bench: needs root" >&2; exit 1; }
command -v fio >/dev/null || { echo "cached-read bench: needs fio" >&2; exit 1; }
bench_workdir cached
build_peers "${BENCH_PEER_BIN:-$W/bin}" c memfs
RESULTS=$W/results
echo "cached-read bench: ${SIZE_MIB} MiB file, ${RUNTIME} s per pass, $ROUNDS rounds, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
head -c "$((SIZE_MIB << 20))" /dev/urandom > "$W/data"

pass() { # file rw bs -> MB/s or IOPS
  fio --name=p --filename="$1" --size="${SIZE_MIB}M" --rw="$2" --bs="$3" --ioengine=psync --invalidate=0 --time_based --runtime="$RUNTIME" \
      --output-format=json 2>/dev/null |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s.slice(s.indexOf("{")));const r=j.jobs[0].read;console.log(process.argv[1]==="4k"?r.iops.toFixed(0):(r.bw_bytes/1e6).toFixed(0))})' "$3"
}
measure() { # round label file
  local a b c
  a=$(pass "$3" read 1M); b=$(pass "$3" read 1M); c=$(pass "$3" randread 4k)
  echo "$1 $2 $a $b $c" >> "$RESULTS"
  printf '  %-12s 1 MiB pass 1 %6s MB/s  pass 2 %6s MB/s  4 KiB random %8s IOPS\n' "$2" "$a" "$b" "$c"
}
wait_mounted() { for _ in $(seq 1 200); do grep -q " $1 " /proc/mounts && return 0; sleep 0.05; done; return 1; }

cat /proc/sys/kernel/random/uuid > "$W/uuid"
truncate -s "$(( (SIZE_MIB + 64) << 20 ))" "$W/famfs.dev"
"${CLI[@]}" mkfs --small -f --system-uuid "$W/uuid" "$W/famfs.dev" > /dev/null
FM=$W/mnt-famfs; mkdir -p "$FM"
"${CLI[@]}" mount "$W/famfs.dev" "$FM" --system-uuid "$W/uuid" --log "$W/famfs.log" > /dev/null
"${CLI[@]}" cp "$W/data" "$FM/data"
"${CLI[@]}" umount "$FM"; sleep 1
[ -n "$PEER_C" ] && cp "$W/data" "$W/peer.img"

for r in $(seq 1 "$ROUNDS"); do
  echo "round $r of $ROUNDS"
  sync; echo 1 > /proc/sys/vm/drop_caches
  "${CLI[@]}" mount "$W/famfs.dev" "$FM" --system-uuid "$W/uuid" --log "$W/famfs.log" > /dev/null
  measure "$r" famfs-ts "$FM/data"
  "${CLI[@]}" umount "$FM"; sleep 0.5
  if [ -n "$PEER_C" ]; then
    M=$W/mnt-c; mkdir -p "$M"
    "$PEER_C" "$W/peer.img" "$M" > "$W/c.log" 2>&1 & pid=$!; PIDS+=("$pid")
    for _ in $(seq 1 200); do grep -q ready "$W/c.log" && break; sleep 0.05; done
    measure "$r" c-libfuse3 "$M/data"
    umount "$M"; wait "$pid" 2>/dev/null || true
  fi
  if [ -n "$PEER_MEMFS" ]; then
    M=$W/mnt-memfs; mkdir -p "$M"
    "$PEER_MEMFS" -f "$M" > "$W/memfs.log" 2>&1 & pid=$!; PIDS+=("$pid")
    wait_mounted "$M"; cp "$W/data" "$M/data"
    measure "$r" memfs_ll "$M/data"
    umount "$M"; wait "$pid" 2>/dev/null || true
  fi
  measure "$r" tmpfs "$W/data"
done

node -e '
const fs = require("fs");
const rows = fs.readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => l.split(" "));
const by = new Map();
for (const [r, label, a, b, c] of rows) { if (!by.has(label)) by.set(label, new Map()); by.get(label).set(r, [a, b, c].map(Number)); }
const med = (xs) => { const s = [...xs].sort((p, q) => p - q); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const heads = ["1M pass 1 MB/s", "1M pass 2 MB/s", "4k random IOPS"];
console.log("\n" + "server".padEnd(14) + heads.map((h) => h.padStart(16)).join("") + "   (median of rounds)");
for (const [label, rs] of by) console.log(label.padEnd(14) + [0, 1, 2].map((i) => String(med([...rs.values()].map((v) => v[i]))).padStart(16)).join(""));
const ours = by.get("famfs-ts");
const out = process.env.BENCH_RATIOS;
console.log("famfs-ts / peer, median of per-round ratios:");
for (const [label, rs] of by) {
  if (label === "famfs-ts") continue;
  const cells = [0, 1, 2].map((i) => med([...rs].filter(([r]) => ours.has(r)).map(([r, v]) => ours.get(r)[i] / v[i])));
  console.log("  vs " + label.padEnd(12) + cells.map((c) => (c.toFixed(2) + "x").padStart(16)).join(""));
  if (out) [1, 2].forEach((i) => fs.appendFileSync(out, `cached-read\t${heads[i]} (second open)\t${label}\t${cells[i].toFixed(3)}\t0\n`));
}' "$RESULTS"
