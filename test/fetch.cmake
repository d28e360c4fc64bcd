# SPDX-License-Identifier: MIT
# Outgoing HTTP (issue 7): libcurl multi on the libevent loop against an
# in-process evhttp server (fake), and reply webhooks end to end.
add_executable(test_fetch fake/test_fetch.c)
target_link_libraries(test_fetch PRIVATE xmta_component xmta_conf xmta_xml
                      PkgConfig::CMOCKA PkgConfig::EVENT PkgConfig::OPENSSL)
add_test(NAME fetch COMMAND test_fetch)
set_tests_properties(fetch PROPERTIES LABELS fake TIMEOUT 60)

# Reply webhooks and Alertmanager commands against the fake XMPP server and
# an in-process receiver / fake Alertmanager (signed JSON, answers,
# failures, room mentions, commanders).
add_executable(test_replies fake/test_replies.c fake/fake_server.c
               fake/fake_env.c)
target_link_libraries(test_replies PRIVATE xmta_component xmta_conf xmta_xml
                      PkgConfig::CMOCKA PkgConfig::EVENT PkgConfig::OPENSSL
                      PkgConfig::JANSSON)
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

# libcurl is loaded (dlopen) only when the configuration needs outgoing
# HTTP: a plain config does not map it (/proc/PID/maps), one that needs it
# does; with a stub of its SONAME that lacks curl's functions (or a file
# that is no library) first on LD_LIBRARY_PATH, such a config fails `xmta
# check`, start-up and SIGHUP with FILE:LINE, the library and dlerror().
add_library(xmta_stub_libcurl SHARED unit/stub_libcurl.c)
set_target_properties(xmta_stub_libcurl PROPERTIES
                      PREFIX "" SUFFIX "" OUTPUT_NAME ${xmta_curl_soname}
                      LIBRARY_OUTPUT_DIRECTORY
                      ${CMAKE_CURRENT_BINARY_DIR}/stub-libcurl)
add_test(NAME fetch_dlopen
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/unit/fetch_dlopen.sh
                 $<TARGET_FILE:xmta> $<TARGET_FILE_DIR:xmta_stub_libcurl>
                 ${xmta_curl_soname})
set_tests_properties(fetch_dlopen PROPERTIES LABELS fake TIMEOUT 120)
