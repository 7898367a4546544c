#!/usr/bin/env bash
# Runs every registered test (ctest's list, none skipped) under valgrind
# memcheck, with the processes the tests start (ledgerd, ledgerctl,
# ledger-verify, ledger-policy, ledger-soak, ledger-bench) traced too
# (--trace-children=yes), so the daemon is checked in every integration test;
# the system's programs they start (sh, rm, gnuplot, python3) are not.
#
#   scripts/valgrind.sh [BUILD_DIR]     (default: build-valgrind, configured here)
#
# Environment: VALGRIND_TIMEOUT_S (per test, default 3600), VALGRIND_TESTS (a
# ctest -R regex to run only some), VALGRIND_LOGS (default BUILD_DIR/valgrind).
# A test fails when it fails, or when any of its processes reports an error:
# memory errors, or leaks of kind "definite" (--errors-for-leak-kinds=definite).
# Results: one line per test on stdout and in $VALGRIND_LOGS/summary.txt; the
# valgrind logs, one per process, beside it. Exit status 1 when a test failed.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-valgrind}
logs=${VALGRIND_LOGS:-$build/valgrind}
timeout_s=${VALGRIND_TIMEOUT_S:-3600}
filter=${VALGRIND_TESTS:-.}

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLEDGER_WERROR=ON >/dev/null
fi
cmake --build "$build" -j"$(nproc)" >/dev/null || { echo "build failed" >&2; exit 2; }
build=$(cd "$build" && pwd)
mkdir -p "$logs"
logs=$(cd "$logs" && pwd)
: >"$logs/summary.txt"

options=(--leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1
         --trace-children=yes --child-silent-after-fork=yes --num-callers=30
         --trace-children-skip='/usr/bin/*,/bin/*')

list=$(cd "$build" && ctest --show-only=json-v1 -R "$filter")
count=$(jq '.tests | length' <<<"$list")
failed=0
for ((i = 0; i < count; i++)); do
  name=$(jq -r ".tests[$i].name" <<<"$list")
  mapfile -t command < <(jq -r ".tests[$i].command[]" <<<"$list")
  mapfile -t environment < <(jq -r ".tests[$i].properties[]? | select(.name == \"ENVIRONMENT\") | .value[]" <<<"$list")
  directory=$(jq -r "(.tests[$i].properties[]? | select(.name == \"WORKING_DIRECTORY\") | .value) // empty" <<<"$list")
  [ -n "$directory" ] || directory=$(dirname "${command[0]}")
  rm -f "$logs/$name".*.log
  started=$(date +%s)
  # Under valgrind everything runs 20 to 50 times slower: tests that wait for
  # replies stretch their timeouts by this factor (tests/test_util.h).
  (cd "$directory" && env "${environment[@]}" LEDGER_TEST_TIMEOUT_SCALE=20 LEDGER_TEST_VALGRIND=1 timeout "$timeout_s" \
     valgrind "${options[@]}" --log-file="$logs/$name.%p.log" "${command[@]}") \
     >"$logs/$name.out" 2>&1
  status=$?
  seconds=$(( $(date +%s) - started ))
  processes=$(ls "$logs/$name".*.log 2>/dev/null | wc -l)
  errors=$(cat "$logs/$name".*.log 2>/dev/null | grep -c "ERROR SUMMARY: [1-9]")
  definite=$(cat "$logs/$name".*.log 2>/dev/null | grep -h "definitely lost:" | awk '{s += $4} END {print s + 0}')
  verdict=ok
  if [ "$status" -ne 0 ] || [ "$errors" -ne 0 ]; then
    verdict=FAILED
    failed=$((failed + 1))
  fi
  [ "$status" -eq 124 ] && verdict="FAILED (timeout ${timeout_s}s)"
  line=$(printf '%-24s %-8s exit=%-3s processes=%-4s processes_with_errors=%-3s definitely_lost_bytes=%-6s %ss' \
         "$name" "$verdict" "$status" "$processes" "$errors" "$definite" "$seconds")
  echo "$line" | tee -a "$logs/summary.txt"
done
echo "valgrind: $count tests, $failed failed; logs in $logs" | tee -a "$logs/summary.txt"
[ "$failed" -eq 0 ]
