# Sourced by the benchmarks: builds the peer servers of ../shared/bench-peers once per
# `npm run bench` (into $BENCH_PEER_BIN, made by run-all.sh, or a directory of the caller's),
# and says in ONE line why a peer is skipped when it cannot be built. After `build_peers DIR`:
#   PEER_C DIR/c-peer          libfuse3 low-level data-path peer (c-lowlevel-peer.c)
#   PEER_MEMFS DIR/memfs_ll    libfuse's in-memory example server (memfs_ll.cc)
#   PEER_PHP DIR/passthrough_hp libfuse's passthrough example (passthrough_hp.cc, needs cxxopts.hpp)
#   PEER_FN_PATH               NODE_PATH holding fuse-native and koffi for fuse-native-peer.js
# each empty when skipped. Building twice into the same DIR reuses what is there.
PEERS=${BENCH_PEERS:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/../shared/bench-peers}
PEER_C= PEER_MEMFS= PEER_PHP= PEER_FN_PATH=

peer_skip() { echo "  $1: skipped ($2)"; }

build_peers() { # DIR [c|memfs|php|fn ...] (default: all)
  local out=$1; shift
  local want=" ${*:-c memfs php fn} "
  mkdir -p "$out"
  if [ ! -d "$PEERS" ]; then peer_skip "every peer" "no $PEERS; set BENCH_PEERS"; return 0; fi
  local fuse3
  if ! fuse3=$(pkg-config --cflags --libs fuse3 2>/dev/null); then
    peer_skip "libfuse3 peers" "pkg-config finds no fuse3: apt-get install libfuse3-dev pkg-config (scripts/setup.sh --bench)"
  else
    if [[ $want == *" c "* ]]; then
      if [ -x "$out/c-peer" ] || gcc -O2 -o "$out/c-peer" "$PEERS/c-lowlevel-peer.c" $fuse3 2> "$out/c.err"; then PEER_C=$out/c-peer
      else peer_skip c-libfuse3 "gcc: $(grep -m1 error "$out/c.err" || head -1 "$out/c.err")"; fi
    fi
    if [[ $want == *" memfs "* ]]; then
      if [ -x "$out/memfs_ll" ] || g++ -O2 -std=c++17 -o "$out/memfs_ll" "$PEERS/memfs_ll.cc" $fuse3 -lpthread 2> "$out/memfs.err"; then PEER_MEMFS=$out/memfs_ll
      else peer_skip memfs_ll "g++: $(grep -m1 error "$out/memfs.err" || head -1 "$out/memfs.err")"; fi
    fi
    if [[ $want == *" php "* ]]; then
      if [ ! -f "$PEERS/cxxopts.hpp" ]; then peer_skip passthrough_hp "no cxxopts.hpp beside passthrough_hp.cc in $PEERS"
      elif [ -x "$out/passthrough_hp" ] || g++ -O2 -std=c++17 -I"$PEERS" -o "$out/passthrough_hp" "$PEERS/passthrough_hp.cc" $fuse3 -lpthread 2> "$out/php.err"; then PEER_PHP=$out/passthrough_hp
      else peer_skip passthrough_hp "g++: $(grep -m1 error "$out/php.err" || head -1 "$out/php.err")"; fi
    fi
  fi
  if [[ $want == *" fn "* ]]; then
    if [ -d "$out/npm/node_modules/fuse-native" ]; then PEER_FN_PATH=$out/npm/node_modules
    elif ! dpkg -s libfuse2 >/dev/null 2>&1 && ! ldconfig -p | grep -q 'libfuse\.so\.2'; then
      peer_skip fuse-native "no libfuse2: apt-get install libfuse2 (scripts/setup.sh --bench)"
    elif mkdir -p "$out/npm" && (cd "$out/npm" && npm install --no-audit --no-fund --silent --no-save fuse-native koffi > "$out/npm.log" 2>&1); then
      PEER_FN_PATH=$out/npm/node_modules
    else peer_skip fuse-native "npm install fuse-native: $(tail -1 "$out/npm.log")"; fi
  fi
  return 0
}

# One line per measured ratio for the report at the end of `npm run bench` (bench/report.ts):
#   ratio BENCH METRIC PEER RATIO TARGET   (TARGET 0: shown, not judged)
bench_ratio() {
  [ -n "${BENCH_RATIOS:-}" ] && printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >> "$BENCH_RATIOS"
  return 0
}

# bench_workdir TAG: a fresh work directory $W (/dev/shm/famfs-ts-TAG-XXXXXX) and the EXIT trap
# every benchmark needs: unmount each $W/mnt-* still mounted (lazily if busy), kill every pid
# the caller added to PIDS, remove $W. Call it at the top level (it sets W and PIDS there).
bench_workdir() {
  W=$(mktemp -d "/dev/shm/famfs-ts-$1-XXXXXX")
  PIDS=()
  trap bench_cleanup EXIT
}
# bench_keep_uring_switch: after bench_workdir, remember FUSE over io_uring's module switch
# (docs/reference/fuse-io-uring.md) in URING_SWITCH / URING_PREV and put it back at exit, as
# well as bench_cleanup's work: a bench turns it on only around its io_uring rows.
bench_keep_uring_switch() {
  URING_SWITCH=/sys/module/fuse/parameters/enable_uring
  URING_PREV=$(cat "$URING_SWITCH" 2>/dev/null || true)
  trap '{ [ -n "$URING_PREV" ] && echo "$URING_PREV" > "$URING_SWITCH" 2>/dev/null; } || true; bench_cleanup' EXIT
}
bench_cleanup() {
  local m p
  for m in "$W"/mnt-*; do
    [ -d "$m" ] || continue
    if grep -q " $m " /proc/mounts; then umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; fi
  done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$W"
}
