#!/usr/bin/env bash
# Line, function and branch coverage of the test suite: builds the project
# with gcov instrumentation (LEDGER_COVERAGE), runs every registered test
# (the daemons, ledgerctl and the tools the tests start write their counts
# too), and reports what the suite executed of the project's own code
# (daemon/, client/, tools/; not the generated protobuf code, not the tests).
#
#   scripts/coverage.sh [BUILD_DIR]     (default: build-coverage)
#
# Output: a table per file on stdout (the lines never executed listed by
# number), BUILD_DIR/coverage/summary.txt (the same), and an HTML report with
# every file's lines and branches in BUILD_DIR/coverage/index.html.
# Environment: COVERAGE_TESTS (a ctest -R regex to run only some; the counts
# of an earlier run are cleared first either way).
# Exit status: 0 when every test passed and the report was written, 1 when a
# test failed (the report is still written), 2 when the build or the report
# could not be made. No threshold is enforced: the figures are read, and the
# lines listed are the ones to look at (docs/reliability.md, "Coverage").
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-coverage}
filter=${COVERAGE_TESTS:-.}

command -v gcovr >/dev/null || { echo "gcovr is missing: run scripts/deps.sh" >&2; exit 2; }
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DLEDGER_WERROR=ON -DLEDGER_COVERAGE=ON >/dev/null ||
    { echo "configure failed" >&2; exit 2; }
fi
cmake --build "$build" -j"$(nproc)" >/dev/null || { echo "build failed" >&2; exit 2; }
find "$build" -name '*.gcda' -delete

status=0
(cd "$build" && ctest -j"$(nproc)" -R "$filter" --output-on-failure) || status=1

out="$build/coverage"
mkdir -p "$out"
sources=(--root . --filter 'daemon/' --filter 'client/' --filter 'tools/' --exclude '.*\.pb-c\.[ch]$')
gcovr "${sources[@]}" --txt "$out/summary.txt" --print-summary "$build" >"$out/totals.txt" ||
  { echo "gcovr failed" >&2; exit 2; }
cat "$out/totals.txt" >>"$out/summary.txt"
gcovr "${sources[@]}" --html-details "$out/index.html" "$build" >/dev/null ||
  { echo "gcovr failed" >&2; exit 2; }
cat "$out/summary.txt"
echo "HTML report: $out/index.html"
exit "$status"
