# SPDX-License-Identifier: MIT
# XMTA_VALGRIND=ON (a build without sanitizers, test/run's valgrind step):
# every test runs under valgrind memcheck (test/valgrind/wrap.sh) and
# fails on any error or leak.
#  - tests whose command is a test binary run it under the wrapper
#    (CROSSCOMPILING_EMULATOR); xmta started by such a binary is followed;
#  - the scripts get XMTA_VALGRIND=1 and start xmta under the wrapper
#    (it_xmta, test/integration/lib.sh), one log per process in
#    valgrind/TEST/; the test valgrind_logs, run after all of them
#    (fixture cleanup), fails on any error or leak in those logs;
#  - timeouts are XMTA_VALGRIND_TIMEOUT_SCALE (4) times longer.
# Included last, after every test is defined.
if(NOT XMTA_VALGRIND)
    return()
endif()
if(XMTA_SANITIZE)
    message(FATAL_ERROR "XMTA_VALGRIND needs a build without XMTA_SANITIZE")
endif()
find_program(XMTA_VALGRIND_BIN valgrind REQUIRED)
set(XMTA_VALGRIND_TIMEOUT_SCALE 4 CACHE STRING
    "Factor of the test timeouts under valgrind")
set(XMTA_VALGRIND_LOGS ${CMAKE_BINARY_DIR}/valgrind)
set(wrap ${CMAKE_CURRENT_LIST_DIR}/valgrind/wrap.sh)

get_property(targets DIRECTORY PROPERTY BUILDSYSTEM_TARGETS)
foreach(t ${targets})
    get_target_property(type ${t} TYPE)
    if(type STREQUAL "EXECUTABLE")
        set_property(TARGET ${t} PROPERTY CROSSCOMPILING_EMULATOR ${wrap})
    endif()
endforeach()

get_property(tests DIRECTORY PROPERTY TESTS)
foreach(t ${tests})
    get_test_property(${t} TIMEOUT timeout)
    if(NOT timeout)
        set(timeout 1500) # ctest's default
    endif()
    math(EXPR timeout "${timeout} * ${XMTA_VALGRIND_TIMEOUT_SCALE}")
    set_property(TEST ${t} PROPERTY TIMEOUT ${timeout})
    set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT
                 XMTA_VALGRIND=1
                 XMTA_VALGRIND_LOGS=${XMTA_VALGRIND_LOGS}/${t})
    set_property(TEST ${t} APPEND PROPERTY FIXTURES_REQUIRED valgrind)
endforeach()

add_test(NAME valgrind_logs_clear
         COMMAND ${CMAKE_COMMAND} -E rm -rf ${XMTA_VALGRIND_LOGS})
add_test(NAME valgrind_logs
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/valgrind/check.sh
                 ${XMTA_VALGRIND_LOGS})
set_tests_properties(valgrind_logs_clear PROPERTIES FIXTURES_SETUP valgrind
                     LABELS "unit;fake;integration;fuzz")
set_tests_properties(valgrind_logs PROPERTIES FIXTURES_CLEANUP valgrind
                     LABELS "unit;fake;integration;fuzz" TIMEOUT 60)
