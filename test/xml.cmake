# SPDX-License-Identifier: MIT
# Tests of xml/ (label unit) and the fuzz helper every area uses.

# xmta_fuzz_target(NAME SOURCE LIBS...)
#   SOURCE defines LLVMFuzzerTestOneInput; give it as an absolute path,
#   e.g. ${CMAKE_SOURCE_DIR}/test/fuzz/fuzz_NAME.c. Always builds
#   replay_NAME (test/fuzz/replay.c + SOURCE, linked with LIBS) and adds the
#   ctest fuzz_replay_NAME (label fuzz) running it over the seed corpus
#   test/fuzz/corpus/NAME/. With XMTA_FUZZ=ON (clang only) it also builds
#   the libFuzzer binary fuzz_NAME, run for a bounded time by
#   test/fuzz/run.sh (test/run's fuzz step; add NAME to its list), or by
#   hand, e.g.
#     ./fuzz_NAME -max_total_time=60 /tmp/scratch ../test/fuzz/corpus/NAME
set(XMTA_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR}/fuzz)
function(xmta_fuzz_target NAME SOURCE)
    set(libs ${ARGN})
    add_executable(replay_${NAME} ${XMTA_FUZZ_DIR}/replay.c ${SOURCE})
    target_link_libraries(replay_${NAME} PRIVATE ${libs})
    add_test(NAME fuzz_replay_${NAME}
             COMMAND replay_${NAME} ${XMTA_FUZZ_DIR}/corpus/${NAME})
    set_tests_properties(fuzz_replay_${NAME} PROPERTIES LABELS fuzz
                         TIMEOUT 120)
    if(XMTA_FUZZ)
        add_executable(fuzz_${NAME} ${SOURCE})
        target_compile_options(fuzz_${NAME} PRIVATE -fsanitize=fuzzer)
        target_link_options(fuzz_${NAME} PRIVATE -fsanitize=fuzzer)
        target_link_libraries(fuzz_${NAME} PRIVATE ${libs})
    endif()
endfunction()

# With XMTA_FUZZ the project's own libraries get coverage instrumentation,
# or libFuzzer would only see the target file. The runtime hooks come with
# -fsanitize=fuzzer-no-link at link time of every executable using them.
if(XMTA_FUZZ)
    if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
        message(FATAL_ERROR "XMTA_FUZZ needs clang (-DCMAKE_C_COMPILER=clang)")
    endif()
    foreach(lib xmta_xml xmta_conf xmta_component xmta_http)
        if(TARGET ${lib})
            target_compile_options(${lib} PRIVATE -fsanitize=fuzzer-no-link)
            target_link_options(${lib} INTERFACE -fsanitize=fuzzer-no-link)
        endif()
    endforeach()
endif()

# xmta_xml_unit_test(NAME SOURCE LIBS...): a cmocka test labelled unit.
function(xmta_xml_unit_test NAME SOURCE)
    add_executable(${NAME} ${SOURCE})
    target_link_libraries(${NAME} PRIVATE ${ARGN} PkgConfig::CMOCKA)
    add_test(NAME ${NAME} COMMAND ${NAME})
    set_tests_properties(${NAME} PROPERTIES LABELS unit TIMEOUT 60)
endfunction()

foreach(t test_xml test_stream test_msg)
    xmta_xml_unit_test(${t} ${CMAKE_CURRENT_LIST_DIR}/unit/${t}.c xmta_xml)
endforeach()

xmta_fuzz_target(stream ${CMAKE_CURRENT_LIST_DIR}/fuzz/fuzz_stream.c xmta_xml)
