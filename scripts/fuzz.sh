#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) in build-fuzz and fuzzes each of them.
#   scripts/fuzz.sh                 every target for 30 s
#   scripts/fuzz.sh -t 300 spec     one target for 5 minutes
#   scripts/fuzz.sh --ci            every target for 20 s through ctest (what scripts/test.sh runs)
# Crashes land in build-fuzz/fuzz-work/<target>/crash-*; copy each into
# <dir>/fuzz/regressions/<target>/ once fixed, where the normal build's fuzz.*.replay tests run it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${CRYO_FUZZ_BUILD:-$top/build-fuzz}
seconds=30 ci=0 targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    -t|--time) seconds=$2; shift 2 ;;
    --ci) ci=1 seconds=${CRYO_FUZZ_SECONDS:-20}; shift ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
all=(spec import_layer json_codec checkpoint_meta)
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

CC=clang CXX=clang++ cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCRYO_FUZZ=ON \
  -DCRYO_FUZZ_SECONDS="$seconds" >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${targets[@]/#/fuzz_}"
cd "$build"
if [ "$ci" = 1 ]; then
  regex="^fuzz\\.($(IFS='|'; echo "${targets[*]}"))\$"
  exec ctest --output-on-failure -R "$regex"
fi
for t in "${targets[@]}"; do
  ctest --output-on-failure -R "^fuzz\\.$t\$" --timeout $((seconds + 120))
done
