#!/usr/bin/env bash
# The whole test suite, from a fresh clone on a fresh Debian machine:
# installs what is missing, builds with -Werror, runs every test, then builds
# again with AddressSanitizer + UndefinedBehaviorSanitizer and runs the suite
# there too, then once more with ThreadSanitizer, then builds the libFuzzer
# targets with clang and runs each for a bounded time over its checked-in
# corpus (docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh

jobs=$(nproc)

echo "== build (release, -Werror) =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLEDGER_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
echo "== tests =="
(cd build && ctest --output-on-failure -j"$jobs")

echo "== build (ASan + UBSan) =="
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLEDGER_WERROR=ON -DLEDGER_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
echo "== tests under sanitizers =="
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j"$jobs")

echo "== build (ThreadSanitizer) =="
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DLEDGER_WERROR=ON -DLEDGER_TSAN=ON >/dev/null
cmake --build build-tsan -j"$jobs"
echo "== tests under ThreadSanitizer =="
# Every process the tests start (ledgerd, ledgerctl, the tools) writes its
# reports under build-tsan/tsan/; a report fails the run even when the test
# that started the process does not look at how it exited.
rm -rf build-tsan/tsan && mkdir -p build-tsan/tsan
tsan_status=0
(cd build-tsan && TSAN_OPTIONS="log_path=$PWD/tsan/report second_deadlock_stack=1" \
  ctest --output-on-failure -j"$jobs") || tsan_status=$?
if compgen -G "build-tsan/tsan/report*" >/dev/null; then
  echo "ThreadSanitizer reports:"
  cat build-tsan/tsan/report*
  tsan_status=1
fi
if [ "$tsan_status" -ne 0 ]; then
  exit "$tsan_status"
fi

echo "== fuzz targets (clang, libFuzzer + ASan + UBSan, short mode) =="
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DLEDGER_FUZZ=ON \
  -DLEDGER_FUZZ_SECONDS="${LEDGER_FUZZ_SECONDS:-15}" >/dev/null
fuzz_targets=$(sed -n 's/^ledger_fuzz(\([a-z_]*\).*/fuzz_\1/p' tests/fuzz/CMakeLists.txt)
# shellcheck disable=SC2086
cmake --build build-fuzz -j"$jobs" --target $fuzz_targets
(cd build-fuzz && ctest --output-on-failure -L fuzz -j"$jobs")
