# SPDX-License-Identifier: MIT
# Tests of http/: the body decoders alone and the evhttp frontend in-process
# (label unit), and the decoders' fuzz target (label fuzz).

foreach(t test_body test_http)
    add_executable(${t} ${CMAKE_CURRENT_SOURCE_DIR}/unit/${t}.c)
    target_link_libraries(${t} PRIVATE xmta_http xmta_conf xmta_xml
                          PkgConfig::EVENT PkgConfig::JANSSON
                          PkgConfig::CMOCKA)
    add_test(NAME ${t} COMMAND ${t})
    set_tests_properties(${t} PROPERTIES LABELS unit TIMEOUT 60)
endforeach()

xmta_fuzz_target(body ${CMAKE_SOURCE_DIR}/test/fuzz/fuzz_body.c xmta_http)
