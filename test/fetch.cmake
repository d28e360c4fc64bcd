# SPDX-License-Identifier: MIT
# Outgoing HTTP (issue 7): libcurl multi on the libevent loop against an
# in-process evhttp server (fake), and reply webhooks end to end.
add_executable(test_fetch fake/test_fetch.c)
target_link_libraries(test_fetch PRIVATE xmta_component xmta_conf xmta_xml
                      PkgConfig::CMOCKA PkgConfig::EVENT PkgConfig::CURL)
add_test(NAME fetch COMMAND test_fetch)
set_tests_properties(fetch PROPERTIES LABELS fake TIMEOUT 60)
