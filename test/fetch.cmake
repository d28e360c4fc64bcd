# SPDX-License-Identifier: MIT
# Outgoing HTTP (issue 7): libcurl multi on the libevent loop against an
# in-process evhttp server (fake), and reply webhooks end to end.
add_executable(test_fetch fake/test_fetch.c)
target_link_libraries(test_fetch PRIVATE xmta_component xmta_conf xmta_xml
                      PkgConfig::CMOCKA PkgConfig::EVENT PkgConfig::CURL
                      PkgConfig::OPENSSL)
add_test(NAME fetch COMMAND test_fetch)
set_tests_properties(fetch PROPERTIES LABELS fake TIMEOUT 60)

# Reply webhooks and Alertmanager commands against the fake XMPP server and
# an in-process receiver / fake Alertmanager (signed JSON, answers,
# failures, room mentions, commanders).
add_executable(test_replies fake/test_replies.c fake/fake_server.c
               fake/fake_env.c)
target_link_libraries(test_replies PRIVATE xmta_component xmta_conf xmta_xml
                      PkgConfig::CMOCKA PkgConfig::EVENT PkgConfig::OPENSSL
                      PkgConfig::JANSSON PkgConfig::CURL)
add_test(NAME replies COMMAND test_replies)
set_tests_properties(replies PROPERTIES LABELS fake TIMEOUT 120)

# End to end on a private Prosody: a real client talks to the bots, a local
# receiver (reply webhook + fake Alertmanager) checks the signatures and
# answers; failures (500, slow, down), a room mention, ack and alerts.
add_executable(xmta_reply_receiver integration/reply_receiver.c)
target_link_libraries(xmta_reply_receiver PRIVATE PkgConfig::EVENT
                      PkgConfig::JANSSON PkgConfig::OPENSSL)
add_test(NAME integration_replies
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/run_replies.sh
                 --xmta $<TARGET_FILE:xmta>
                 --client $<TARGET_FILE:xmta_test_client>
                 --receiver $<TARGET_FILE:xmta_reply_receiver>)
set_tests_properties(integration_replies PROPERTIES
                     LABELS integration TIMEOUT 300 RUN_SERIAL TRUE
                     SKIP_RETURN_CODE 77)
