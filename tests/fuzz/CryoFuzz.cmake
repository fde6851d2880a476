# cryo_fuzz_target(NAME SOURCES src... LIBS lib...): one fuzz target. Its seed corpus is
# <dir>/corpus/<NAME>/, crash regressions <dir>/regressions/<NAME>/ (both in the repository).
#  - CRYO_FUZZ=ON (clang): a libFuzzer binary; test fuzz.NAME fuzzes for CRYO_FUZZ_SECONDS seconds,
#    starting from the seeds, the regressions and what earlier runs found (kept in the build dir).
#  - otherwise: the same code with a plain main; test fuzz.NAME.replay runs every seed and
#    regression once, so that each crash ever found stays a regression test in the normal build.
set(CRYO_FUZZ_SECONDS 20 CACHE STRING "seconds each fuzz.* test fuzzes")

function(cryo_fuzz_target name)
  cmake_parse_arguments(F "" "" "SOURCES;LIBS" ${ARGN})
  set(seeds ${CMAKE_CURRENT_SOURCE_DIR}/corpus/${name})
  set(regressions ${CMAKE_CURRENT_SOURCE_DIR}/regressions/${name})
  if(CRYO_FUZZ)
    add_executable(fuzz_${name} ${F_SOURCES})
    target_link_libraries(fuzz_${name} PRIVATE ${F_LIBS})
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    set(work ${CMAKE_BINARY_DIR}/fuzz-work/${name})
    file(MAKE_DIRECTORY ${work}/corpus ${regressions})
    add_test(NAME fuzz.${name}
      COMMAND fuzz_${name} -max_total_time=${CRYO_FUZZ_SECONDS} -timeout=10 -rss_limit_mb=2048
              -print_final_stats=1 -artifact_prefix=${work}/ ${work}/corpus ${seeds} ${regressions})
    set_tests_properties(fuzz.${name} PROPERTIES LABELS fuzz TIMEOUT 600
      ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
  else()
    add_executable(fuzz_${name}_replay ${F_SOURCES} ${CMAKE_SOURCE_DIR}/tests/fuzz/standalone_main.cc)
    target_link_libraries(fuzz_${name}_replay PRIVATE ${F_LIBS})
    add_test(NAME fuzz.${name}.replay COMMAND fuzz_${name}_replay ${seeds} ${regressions})
    set_tests_properties(fuzz.${name}.replay PROPERTIES LABELS "fuzz;unit" TIMEOUT 120)
  endif()
endfunction()
