#!/usr/bin/env bash
# Installs what famfs-ts needs on a fresh Debian machine, and nothing when it is already there:
# Debian packages for the tier-2 tests and benchmarks (as root), then npm ci when
# package-lock.json changed since the last install. `npm test` and `npm run demo` call it;
# `--bench` adds what the benchmarks and their peer servers need (clang for the BPF bench; gcc, g++,
# pkg-config and libfuse3-dev to build the libfuse3 peers; libfuse2 for fuse-native; fio).
set -euo pipefail
cd "$(dirname "$0")/.."
# vim, perl, attr, rsync, tar: the programs test/mount/everyday-tools.test.ts drives through a mount;
# git, zip, unzip: test/mount/everyday-rewrites.test.ts.
# qemu-system-x86, ndctl, busybox-static: the VM tier (tier 4, test/support/vm.ts).
pkgs=(fuse3 fio bpftool rsync vim perl attr tar git zip unzip qemu-system-x86 ndctl busybox-static)
[ "${1:-}" = --bench ] && pkgs+=(clang llvm gcc g++ pkg-config libfuse3-dev libfuse2)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}" >&2
    # Another apt run (unattended upgrades, a second checkout) may hold the lock: wait for it.
    if ! { apt-get -o DPkg::Lock::Timeout=300 update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${missing[@]}" >/dev/null; }; then
      # The benchmarks then skip, one line each, the peers these would have built.
      [ "${1:-}" = --bench ] || exit 1
      echo "setup: could not install ${missing[*]}; the benchmarks skip what needs them" >&2
    fi
  else
    echo "setup: missing Debian packages ${missing[*]} (root-only tests need them): apt-get install -y ${missing[*]}" >&2
  fi
fi
stamp=node_modules/.famfs-ts-lock
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
