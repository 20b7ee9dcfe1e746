#!/usr/bin/env bash
# One-time machine setup: Debian packages the tests and benchmarks use, then npm ci.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(fuse3 fio bpftool)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages ${missing[*]}; install them as root (apt-get install -y ${missing[*]})" >&2
  fi
fi
npm ci --no-audit --no-fund
