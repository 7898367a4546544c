# Runs one libFuzzer target the way the fuzz_<name> ctest tests do
# (docs/fuzzing.md), as a script: cmake -DFUZZER=... -P run_fuzz.cmake
#
#   FUZZER       the target executable
#   CORPUS_SRC   the checked-in seed corpus (tests/fuzz/corpus/<name>); never written
#   REGRESSIONS  the checked-in crash inputs (tests/fuzz/regressions/<name>); may be absent
#   WORK_DIR     where the corpus copy, artifacts and the run's log go (build tree)
#   SECONDS      -max_total_time of the fuzzing run
#
# First every regression input is replayed once (a regression that crashes
# again fails the test at once), then the target fuzzes a copy of the seed
# corpus for SECONDS seconds; inputs it finds are added to the copy only.
cmake_minimum_required(VERSION 3.18)

foreach(var FUZZER CORPUS_SRC WORK_DIR SECONDS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzz.cmake: ${var} is not set")
  endif()
endforeach()

file(MAKE_DIRECTORY ${WORK_DIR}/corpus ${WORK_DIR}/artifacts)

# 1. Regressions: libFuzzer runs each file given as an argument once.
if(DEFINED REGRESSIONS AND IS_DIRECTORY ${REGRESSIONS})
  file(GLOB regression_files LIST_DIRECTORIES false ${REGRESSIONS}/*)
  list(FILTER regression_files EXCLUDE REGEX "/README[^/]*$")
  list(LENGTH regression_files regression_count)
  if(regression_count GREATER 0)
    message(STATUS "replaying ${regression_count} regression input(s) from ${REGRESSIONS}")
    execute_process(COMMAND ${FUZZER} -timeout=10 -rss_limit_mb=2048 ${regression_files}
                    RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "a regression input of ${REGRESSIONS} fails again (exit ${rc})")
    endif()
  endif()
endif()

# 2. The seed corpus, copied so that the checked-in one is never modified.
file(COPY ${CORPUS_SRC}/ DESTINATION ${WORK_DIR}/corpus)

# 3. Fuzz for a bounded time. libFuzzer exits non-zero on any crash, sanitizer
# report, leak, timeout or out-of-memory, and writes the input to artifacts/.
execute_process(
  COMMAND ${FUZZER} -max_total_time=${SECONDS} -timeout=10 -rss_limit_mb=2048
          -print_final_stats=1 -artifact_prefix=${WORK_DIR}/artifacts/ ${WORK_DIR}/corpus
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE output
  ERROR_VARIABLE output
  ECHO_OUTPUT_VARIABLE ECHO_ERROR_VARIABLE)
file(WRITE ${WORK_DIR}/last-run.log "${output}")
string(REGEX MATCH "stat::number_of_executed_units: *[0-9]+" executed "${output}")
if(executed)
  message(STATUS "${executed} (log: ${WORK_DIR}/last-run.log)")
endif()
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the fuzzer failed (exit ${rc}); the input is in ${WORK_DIR}/artifacts/")
endif()
