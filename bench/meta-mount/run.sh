#!/usr/bin/env bash
# Metadata through a mount: N files of 4 KiB are created (open O_CREAT|O_EXCL, write 4 KiB,
# close), stat'ed, listed (readdir), then the kernel's dentries and inodes are dropped
# (echo 2 > /proc/sys/vm/drop_caches: FORGETs reach the servers), stat'ed again (cold) and
# read back (bytes checked). Same C client (workload.c) against every server, back to back
# in each round: famfs-ts (serving threads, the default), famfs-ts --readers 0, libfuse's
# memfs_ll and passthrough_hp (../shared/bench-peers), and tmpfs without FUSE as the limit.
# Then the famfs-ts server's own memory (RssAnon: its heap, not the device pages it maps)
# while the largest N is created, stat'ed and forgotten, against a fresh mount of the same
# image that stats and forgets them (bench/meta-mount/README.md).
#   usage: bench/meta-mount/run.sh [ROUNDS=3] [N...=2000 20000]
set -euo pipefail
ROUNDS=${1:-3}; shift || true
WARM=${META_WARM:-2000}
SIZES=("$@"); [ ${#SIZES[@]} -gt 0 ] || SIZES=(2000 20000)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/bench/lib/peers.sh"
CLI=(node "$ROOT/dist/src/cli/main.js")

[ "$(id -u)" = 0 ] || { echo "meta-mount bench: needs root (FUSE mounts, drop_caches)" >&2; exit 1; }
[ -f "$ROOT/dist/src/cli/main.js" ] || (cd "$ROOT" && npx tsc -p .)

bench_workdir meta
BIN=${BENCH_PEER_BIN:-$W/bin}

gcc -O2 -o "$W/workload" "$ROOT/bench/meta-mount/workload.c"
# Every phase has a time limit: a peer's bug must not hold the bench forever (memfs_ll frees
# an inode at its last FORGET and may then answer a stale one, once with a FIFO's mode:
# the read phase's open(2) waited for a writer until killed). A phase over it fails, and
# fails as any other: its round or its column is left out with one line.
PHASE_LIMIT=${META_PHASE_LIMIT:-300}
wl() { timeout "$PHASE_LIMIT" "$W/workload" "$@"; }
build_peers "$BIN" memfs php
RESULTS=$W/results
echo "meta-mount bench: N = ${SIZES[*]}, $ROUNDS rounds, warm-up $WARM files, $(nproc) CPUs, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"

# META_WARM: files each server creates, stats, lists and reads before it is measured (default 2000; 0: none).
# META_PHASE_LIMIT: seconds a phase may take before it counts as failed (default 300).
# META_SERVERS: which servers to run (default all), e.g. "famfs-ts memfs_ll"; META_MEMORY=0 skips the memory part.
SERVERS=" ${META_SERVERS:-famfs-ts famfs-ts-r0 memfs_ll passthrough_hp tmpfs} "
want() { [[ $SERVERS == *" $1 "* ]]; }
mounted() { grep -q " $1 " /proc/mounts; }
wait_mounted() { for _ in $(seq 1 200); do mounted "$1" && return 0; sleep 0.05; done; echo "not mounted: $1" >&2; return 1; }
wait_gone() { for _ in $(seq 1 200); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done; }
drop() { sync; echo 2 > /proc/sys/vm/drop_caches; }
anon_kb() { awk '/^RssAnon:/ {print $2}' "/proc/$1/status"; }

famfs_mkfs() { # N -> $W/famfs.dev with a log and a device sized for N files (one 2 MiB unit each)
  local n=$(( $1 + WARM )) log=8M
  [ "$n" -gt 14000 ] && log=16M
  [ "$n" -gt 29000 ] && log=32M
  [ "$n" -gt 59000 ] && log=64M
  rm -f "$W/famfs.dev"
  truncate -s "$(( (n * 2 + 256) << 20 ))" "$W/famfs.dev"
  cat /proc/sys/kernel/random/uuid > "$W/uuid"
  "${CLI[@]}" mkfs --small -f -l "$log" --system-uuid "$W/uuid" "$W/famfs.dev" > /dev/null
}
FAMFS_PID=
famfs_mount() { # MNT READERS [CLI...]
  local out m=$1 r=$2; shift 2
  local cli=("${CLI[@]}"); [ $# -gt 0 ] && cli=("$@")
  out=$("${cli[@]}" mount "$W/famfs.dev" "$m" --system-uuid "$W/uuid" ${r:+--readers $r} --log "$W/famfs.log")
  FAMFS_PID=$(sed -n 's/.*server pid \([0-9]*\).*/\1/p' <<< "$out")
  PIDS+=("$FAMFS_PID")
}
famfs_umount() { "${CLI[@]}" umount "$1"; wait_gone "$FAMFS_PID"; }

phases() { # ROUND N LABEL DIR: create, stat, list, forget, cold stat, read
  local r=$1 n=$2 label=$3 d=$4 c s l sc rd
  # Warm-up, the same for every server: WARM files created, stat'ed, listed and read in a
  # directory of their own first, so a server that was just started is measured as a running
  # one (famfs-ts runs in V8: its first ~10,000 requests run before the JIT compiled the path;
  # a C server has nothing to warm).
  if [ "$WARM" -gt 0 ]; then
    mkdir "$d/warm" && wl "$d/warm" "$WARM" create > /dev/null && wl "$d/warm" "$WARM" stat > /dev/null &&
      wl "$d/warm" "$WARM" list > /dev/null && wl "$d/warm" "$WARM" read > /dev/null ||
      { echo "  $label N=$n: round $r left out (the warm-up failed)"; return 0; }
    d=$d/files; mkdir "$d"
  fi
  # A failed phase (a peer's bug, a full device) drops this server's round with one line.
  c=$(wl "$d" "$n" create | cut -d' ' -f4) &&
  s=$(wl "$d" "$n" stat | cut -d' ' -f4) &&
  l=$(wl "$d" "$n" list | cut -d' ' -f3) &&
  drop || { echo "  $label N=$n: round $r left out (the workload failed)"; return 0; }
  # memfs_ll frees an inode at its last FORGET though its name stays listed: stat after
  # drop_caches fails there (ENOENT); such a phase is shown as "-".
  sc=$(wl "$d" "$n" stat | cut -d' ' -f4) || sc=-
  rd=$(wl "$d" "$n" read | cut -d' ' -f4) || rd=-
  [ -n "$sc" ] || sc=-; [ -n "$rd" ] || rd=-
  echo "$r $n $label $c $s $l $sc $rd" >> "$RESULTS"
  printf '  %-16s N=%-6s create %8.0f/s  stat %9.0f/s  list %8.2f ms  cold stat %8.0f/s  read %8.0f/s\n' \
    "$label" "$n" "$c" "$s" "$(awk "BEGIN{print $l*1000}")" "${sc/-/nan}" "${rd/-/nan}"
}

run_famfs() { # ROUND N READERS LABEL [CLI...]
  local r=$1 n=$2 readers=$3 label=$4; shift 4
  famfs_mkfs "$n"
  local m=$W/mnt-famfs; mkdir -p "$m"
  famfs_mount "$m" "$readers" "$@"
  phases "$r" "$n" "$label" "$m"
  famfs_umount "$m"
}
run_memfs() {
  local m=$W/mnt-memfs; mkdir -p "$m"
  "$PEER_MEMFS" -f "$m" > "$W/memfs.log" 2>&1 & local pid=$!; PIDS+=("$pid")
  wait_mounted "$m"
  phases "$1" "$2" memfs_ll "$m"
  umount "$m"; wait_gone "$pid"
}
run_php() {
  local m=$W/mnt-php src=$W/php-src; mkdir -p "$m"; rm -rf "$src"; mkdir -p "$src"
  # It keeps a descriptor open per inode the kernel knows: room for N files and more.
  (ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$PEER_PHP" --foreground "$src" "$m") > "$W/php.log" 2>&1 & local pid=$!; PIDS+=("$pid")
  wait_mounted "$m"
  phases "$1" "$2" passthrough_hp "$m"
  umount "$m"; wait_gone "$pid"; rm -rf "$src"
}
run_tmpfs() {
  local d=$W/tmpfs; rm -rf "$d"; mkdir -p "$d"
  phases "$1" "$2" tmpfs "$d"
  rm -rf "$d"
}

for n in "${SIZES[@]}"; do
  for r in $(seq 1 "$ROUNDS"); do
    echo "N=$n round $r of $ROUNDS"
    # The two famfs-ts runs swap places every round, so neither is always the one that follows
    # the last round's peers and their cleanup.
    if (( r % 2 )); then
      want famfs-ts && run_famfs "$r" "$n" "" famfs-ts
      want famfs-ts-r0 && run_famfs "$r" "$n" 0 famfs-ts-r0
    else
      want famfs-ts-r0 && run_famfs "$r" "$n" 0 famfs-ts-r0
      want famfs-ts && run_famfs "$r" "$n" "" famfs-ts
    fi
    # META_BASELINE=DIR: another famfs-ts checkout (built), e.g. the commit before a change.
    [ -n "${META_BASELINE:-}" ] && run_famfs "$r" "$n" "" famfs-ts-base node "$META_BASELINE/dist/src/cli/main.js"
    want memfs_ll && [ -n "$PEER_MEMFS" ] && run_memfs "$r" "$n"
    want passthrough_hp && [ -n "$PEER_PHP" ] && run_php "$r" "$n"
    want tmpfs && run_tmpfs "$r" "$n"
  done
done

# --- the server's memory while the largest N is created, stat'ed and forgotten ------------
N=${SIZES[-1]}
if [ "${META_MEMORY:-1}" = 1 ]; then
echo "memory: famfs-ts server RssAnon while $N files are created, stat'ed, forgotten"
# Sampled QUIET s after each drop_caches: the server collects and trims 1 s after the last
# FORGET, and gives V8's young generation back 6 s after that if nothing came meanwhile
# (serve.ts trimSoon, shrinkYoungSoon).
QUIET=${META_QUIET:-8}
famfs_mkfs "$N"
M=$W/mnt-famfs; mkdir -p "$M"
famfs_mount "$M" ""
sleep 1; echo "mem mounted $(anon_kb "$FAMFS_PID")" >> "$RESULTS"
wl "$M" "$N" create > /dev/null; echo "mem created $(anon_kb "$FAMFS_PID")" >> "$RESULTS"
wl "$M" "$N" stat > /dev/null; echo "mem stated $(anon_kb "$FAMFS_PID")" >> "$RESULTS"
for i in 1 2 3; do
  drop; sleep "$QUIET"; echo "mem forgotten-$i $(anon_kb "$FAMFS_PID")" >> "$RESULTS"
  wl "$M" "$N" stat > /dev/null
done
drop; sleep "$QUIET"; echo "mem forgotten-4 $(anon_kb "$FAMFS_PID")" >> "$RESULTS"
famfs_umount "$M"
# The same image mounted afresh (its namespace replayed from the log), stat'ed and forgotten:
# what the files themselves cost a server that never created them.
famfs_mount "$M" ""
wl "$M" "$N" stat > /dev/null
drop; sleep "$QUIET"; echo "mem fresh-mount $(anon_kb "$FAMFS_PID")" >> "$RESULTS"
famfs_umount "$M"
fi

echo
node "$ROOT/dist/bench/meta-mount/summary.js" "$RESULTS"
