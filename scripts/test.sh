#!/usr/bin/env bash
# The whole test suite, from a fresh clone on a fresh Debian machine:
# installs what is missing, builds with -Werror, runs every test, then builds
# again with AddressSanitizer + UndefinedBehaviorSanitizer and runs the suite
# there too.
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
