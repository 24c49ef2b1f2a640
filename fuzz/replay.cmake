# SPDX-License-Identifier: Apache-2.0
#
# Every fuzz corpus, the regress-* inputs included, replayed by plain ctest
# with any compiler (SQLite's fuzzcheck): each target's LLVMFuzzerTestOneInput
# is linked with replay_main.c into fuzz_replay_<name>, and the test
# fuzz_replay_<name> feeds it fuzz/corpus/<name>/. In the AsanUbsan build
# these run under the sanitizers too. Included from tests/CMakeLists.txt
# (FSEC_TESTS); the libFuzzer build is fuzz/CMakeLists.txt (FSEC_FUZZ).
include(${CMAKE_CURRENT_LIST_DIR}/targets.cmake)
set(FSEC_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})

# A corpus with no target would never be replayed: refuse to configure.
file(GLOB fsec_corpora LIST_DIRECTORIES true RELATIVE ${FSEC_FUZZ_DIR}/corpus
  ${FSEC_FUZZ_DIR}/corpus/*)
foreach(c ${fsec_corpora})
  if(IS_DIRECTORY ${FSEC_FUZZ_DIR}/corpus/${c} AND NOT c IN_LIST FSEC_FUZZ_TARGETS)
    message(FATAL_ERROR "fuzz/corpus/${c}/ has no fuzz target in fuzz/targets.cmake")
  endif()
endforeach()

add_library(fsec_fuzz_replay_main OBJECT ${FSEC_FUZZ_DIR}/replay_main.c)
target_compile_options(fsec_fuzz_replay_main PRIVATE ${FSEC_WARN})
target_compile_definitions(fsec_fuzz_replay_main PRIVATE _GNU_SOURCE)

foreach(name ${FSEC_FUZZ_TARGETS})
  add_executable(fuzz_replay_${name} ${FSEC_FUZZ_DIR}/fuzz_${name}.c
    $<TARGET_OBJECTS:fsec_fuzz_replay_main>)
  target_compile_options(fuzz_replay_${name} PRIVATE ${FSEC_WARN})
  target_compile_definitions(fuzz_replay_${name} PRIVATE _GNU_SOURCE)
  target_include_directories(fuzz_replay_${name} PRIVATE ${FSEC_FUZZ_INCLUDES})
  target_link_libraries(fuzz_replay_${name} PRIVATE fleetsec_static)
  # The directory, not a file list, so that a new regress-* file is replayed
  # without reconfiguring; a target without a corpus fails (no inputs).
  add_test(NAME fuzz_replay_${name}
    COMMAND fuzz_replay_${name} ${FSEC_FUZZ_DIR}/corpus/${name})
  set_tests_properties(fuzz_replay_${name} PROPERTIES TIMEOUT 300)
endforeach()
