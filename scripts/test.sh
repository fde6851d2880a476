#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, makes the busybox rootfs, runs every test.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/scripts/setup.sh"
bash "$top/scripts/build.sh"
bash "$top/scripts/make-rootfs.sh"
cd "$top/build"
ctest --output-on-failure --timeout 600 "$@"
