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

# The request-path router (/health, /metrics, /hook/TOKEN[/FORMAT]).
add_executable(test_route ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_route.c)
target_link_libraries(test_route PRIVATE xmta_http PkgConfig::CMOCKA)
add_test(NAME test_route COMMAND test_route)
set_tests_properties(test_route PROPERTIES LABELS unit TIMEOUT 30)
xmta_fuzz_target(route ${CMAKE_SOURCE_DIR}/test/fuzz/fuzz_route.c xmta_http)

# Webhook formats (issue 5): the fixtures rendered exactly, templates and
# signatures; fuzz targets over the fixtures (corpus/fmt and corpus/tmpl
# are links to test/fixtures and test/fixtures/templates).
foreach(t test_fmt_decode test_fmt_template)
    add_executable(${t} ${CMAKE_CURRENT_SOURCE_DIR}/unit/${t}.c)
    target_compile_definitions(${t} PRIVATE
        XMTA_FIXTURES_DIR="${CMAKE_CURRENT_SOURCE_DIR}/fixtures")
    target_link_libraries(${t} PRIVATE xmta_http xmta_conf xmta_xml
                          PkgConfig::EVENT PkgConfig::JANSSON
                          PkgConfig::CMOCKA)
    add_test(NAME ${t} COMMAND ${t})
    set_tests_properties(${t} PROPERTIES LABELS unit TIMEOUT 60)
endforeach()

xmta_fuzz_target(fmt ${CMAKE_SOURCE_DIR}/test/fuzz/fuzz_fmt.c xmta_http)
xmta_fuzz_target(fmt_tmpl ${CMAKE_SOURCE_DIR}/test/fuzz/fuzz_fmt_tmpl.c
                 xmta_http)

# Production side (issue 6): rate limits, status_allow, token_sha256,
# /metrics parsed exactly, slow clients and max_connections (label unit;
# binds 127.0.0.1 port 0 only).
add_executable(test_http_prod ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_http_prod.c)
target_link_libraries(test_http_prod PRIVATE xmta_http xmta_conf xmta_xml
                      PkgConfig::EVENT PkgConfig::JANSSON PkgConfig::CMOCKA m)
add_test(NAME test_http_prod COMMAND test_http_prod)
set_tests_properties(test_http_prod PROPERTIES LABELS unit TIMEOUT 60)

# The daemon's HTTPS side with curl and a certificate made by openssl, no
# XMPP server (issue 6): ports 15420-15422, a lock of its own.
add_test(NAME http_https
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/https.sh
                 --xmta $<TARGET_FILE:xmta>)
set_tests_properties(http_https PROPERTIES LABELS integration TIMEOUT 120
                     SKIP_RETURN_CODE 77)

# The alert lifecycle's view of a payload (issue 5): groupKey, status and
# firing count from the Alertmanager and Grafana fixtures.
add_executable(test_alert_group ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_alert_group.c)
target_compile_definitions(test_alert_group PRIVATE
    XMTA_FIXTURES_DIR="${CMAKE_CURRENT_SOURCE_DIR}/fixtures")
target_link_libraries(test_alert_group PRIVATE xmta_http xmta_conf xmta_xml
                      PkgConfig::EVENT PkgConfig::JANSSON PkgConfig::CMOCKA)
add_test(NAME test_alert_group COMMAND test_alert_group)
set_tests_properties(test_alert_group PROPERTIES LABELS unit TIMEOUT 60)
