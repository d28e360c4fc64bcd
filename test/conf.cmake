# SPDX-License-Identifier: MIT
# Tests of conf/ and xml/jid.c (label unit) and the config loader's fuzz
# target (label fuzz).

foreach(t test_conf test_jid)
    add_executable(${t} ${CMAKE_CURRENT_SOURCE_DIR}/unit/${t}.c)
    target_link_libraries(${t} PRIVATE xmta_conf xmta_xml PkgConfig::CMOCKA)
    target_compile_definitions(${t} PRIVATE
                               XMTA_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
    add_test(NAME ${t} COMMAND ${t})
    set_tests_properties(${t} PROPERTIES LABELS unit TIMEOUT 60)
endforeach()

xmta_fuzz_target(conf ${CMAKE_SOURCE_DIR}/test/fuzz/fuzz_conf.c xmta_http)
