#!/usr/bin/env bash
# Every benchmark, one after another (npm run bench). Each prints its own table and ratios
# against the peers it measures in the same run; none is a test.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== resolve: JS vs C";              bash bench/resolve/run.sh
echo "== meta: mkfs, creat, logplay, fsck"; node dist/bench/meta/run.js
echo "== bpf: instructions vs a clang-built C resolver"; node dist/bench/bpf/run.js
echo "== iomap: mapping protocol round trips";  node dist/bench/iomap/run.js
echo "== datapath: famfs-ts vs libfuse3 C and fuse-native"; bash bench/datapath/run.sh
