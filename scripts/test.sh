#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, makes the busybox rootfs, runs every test.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/scripts/setup.sh"
bash "$top/scripts/build.sh"
bash "$top/scripts/make-rootfs.sh"
cd "$top/build"
ctest --output-on-failure --timeout 600 "$@"
[ $# -eq 0 ] || exit 0  # a selection of tests: only those

# The unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan: only the
# unit test binaries are built). CRYO_SKIP_ASAN=1 leaves this out.
unit_targets=(base_tests oci_tests runtime_tests runtime_checkpoint_tests fsimage_tests checkpoint_tests tmpfs_tar_tests
              service_tests sentry_tests
              fuzz_spec_replay fuzz_import_layer_replay fuzz_json_codec_replay fuzz_checkpoint_meta_replay)
if [ "${CRYO_SKIP_ASAN:-0}" != 1 ]; then
  cmake -S "$top" -B "$top/build-asan" -DCMAKE_BUILD_TYPE=Debug -DCRYO_SANITIZE=ON >/dev/null
  cmake --build "$top/build-asan" -j"$(nproc)" --target "${unit_targets[@]}"
  (cd "$top/build-asan" &&
   ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
   ctest --output-on-failure --timeout 300 \
     -R '^(base|oci|runtime|fsimage|checkpoint|service|sentry\.(InRoot|NormalizePath|Protocol|SimpleCommand|ExecLikeSh))\.|^fuzz\..*\.replay$')
fi

# A short bounded fuzz of every libFuzzer target (clang, build-fuzz). CRYO_SKIP_FUZZ=1 leaves it out.
if [ "${CRYO_SKIP_FUZZ:-0}" != 1 ]; then
  bash "$top/scripts/fuzz.sh" --ci
fi
