# The test fuzz_corpus_reproduced (tests/CMakeLists.txt, docs/fuzzing.md):
# runs the seed generator MAKE_CORPUS into WORK_DIR and checks that it writes
# every seed of the checked-in corpus CORPUS, byte for byte. A seed it no
# longer writes (a command of the fixture that a changed rule now refuses) or
# writes differently means the corpus is stale: fix make_corpus.c so that it
# writes the seed again, or regenerate the corpus and check it in.
file(REMOVE_RECURSE "${WORK_DIR}")
execute_process(COMMAND "${MAKE_CORPUS}" "${WORK_DIR}"
  RESULT_VARIABLE status OUTPUT_QUIET ERROR_VARIABLE refusals)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "make_corpus failed (${status}):\n${refusals}")
endif()
file(GLOB_RECURSE seeds RELATIVE "${CORPUS}" "${CORPUS}/*")
set(missing "")
set(changed "")
foreach(seed IN LISTS seeds)
  if(NOT EXISTS "${WORK_DIR}/${seed}")
    string(APPEND missing "  ${seed}\n")
  else()
    file(SHA256 "${CORPUS}/${seed}" checked_in)
    file(SHA256 "${WORK_DIR}/${seed}" written)
    if(NOT checked_in STREQUAL written)
      string(APPEND changed "  ${seed}\n")
    endif()
  endif()
endforeach()
if(missing OR changed)
  message(FATAL_ERROR
    "make_corpus no longer reproduces the checked-in seed corpus tests/fuzz/corpus/.\n"
    "Seeds it no longer writes:\n${missing}"
    "Seeds it writes differently:\n${changed}"
    "Its refusals of the fixture's commands (a seed it no longer writes is most often "
    "one of these, refused by a changed rule):\n${refusals}"
    "Fix tests/fuzz/make_corpus.c so that it writes every seed again, then regenerate the "
    "corpus (make_corpus DIR, copy DIR/* to tests/fuzz/corpus/) and check it in.")
endif()
list(LENGTH seeds count)
message(STATUS "make_corpus reproduces all ${count} checked-in seeds")
