#!/usr/bin/env bash
# Every benchmark, one after another (npm run bench: scripts/setup.sh --bench installs what the
# peers need first). The peer servers of ../shared/bench-peers are built once into a temp dir
# (bench/lib/peers.sh; a peer that cannot be built is skipped with one line). Each bench prints
# its own table; the ratios against peers measured in the same run are gathered and printed
# at the end as one table with the targets each meets or misses (bench/report.ts).
set -uo pipefail
cd "$(dirname "$0")/.."
export BENCH_RATIOS BENCH_PEER_BIN
BENCH_PEER_BIN=$(mktemp -d /tmp/famfs-ts-bench-peers-XXXXXX)
BENCH_RATIOS=$BENCH_PEER_BIN/ratios.tsv
trap 'rm -rf "$BENCH_PEER_BIN"' EXIT
failed=()
run() { # name command...
  local name=$1; shift
  echo "== $name"
  local rc=0
  "$@" || rc=$?
  [ $rc -eq 0 ] || { failed+=("$name"); echo "== $name: failed (exit $rc)"; }
}
run "resolve: JS vs C"                                bash bench/resolve/run.sh
run "meta: mkfs, creat, logplay, fsck"                node dist/bench/meta/run.js
run "bpf: instructions vs a clang-built C resolver"   node dist/bench/bpf/run.js
run "iomap: mapping protocol round trips"             node dist/bench/iomap/run.js
run "datapath: famfs-ts vs libfuse3 C and fuse-native" bash bench/datapath/run.sh "${DATAPATH_MIB:-1024}" "${DATAPATH_SECONDS:-4}" "${DATAPATH_ROUNDS:-5}"
run "meta-mount: files through the mount vs memfs_ll, passthrough_hp, tmpfs" bash bench/meta-mount/run.sh "${META_ROUNDS:-3}"
run "cached-read: buffered reads of a committed file, second open" bash bench/cached-read/run.sh
node dist/bench/report.js "$BENCH_RATIOS"
[ ${#failed[@]} -eq 0 ] || { echo "benchmarks that failed: ${failed[*]}"; exit 1; }
