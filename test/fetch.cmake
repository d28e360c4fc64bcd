# SPDX-License-Identifier: MIT
# Outgoing HTTP (issue 7): libcurl multi on the libevent loop against an
# in-process evhttp server (fake), and reply webhooks end to end.
add_executable(test_fetch fake/test_fetch.c)
target_link_libraries(test_fetch PRIVATE xmta_component xmta_conf xmta_xml
                      PkgConfig::CMOCKA PkgConfig::EVENT PkgConfig::CURL)
add_test(NAME fetch COMMAND test_fetch)
set_tests_properties(fetch PROPERTIES LABELS fake TIMEOUT 60)

# Reply webhooks and Alertmanager commands against the fake XMPP server and
# an in-process receiver / fake Alertmanager (signed JSON, answers,
# failures, room mentions, commanders).
add_executable(test_replies fake/test_replies.c fake/fake_server.c)
target_link_libraries(test_replies PRIVATE xmta_component xmta_conf xmta_xml
                      PkgConfig::CMOCKA PkgConfig::EVENT PkgConfig::OPENSSL
                      PkgConfig::JANSSON PkgConfig::CURL)
add_test(NAME replies COMMAND test_replies)
set_tests_properties(replies PROPERTIES LABELS fake TIMEOUT 120)
