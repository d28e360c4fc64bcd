# SPDX-License-Identifier: MIT
# Production hardening (issue 6): log format and syslog (unit), the
# binary under a fake systemd notify socket (fake), the systemd unit
# (unit, skipped only without systemd-analyze), Direct TLS to a private
# ejabberd (integration).
add_executable(test_log unit/test_log.c)
target_link_libraries(test_log PRIVATE xmta_xml PkgConfig::CMOCKA)
add_test(NAME log COMMAND test_log)
set_tests_properties(log PROPERTIES LABELS unit TIMEOUT 30)

add_executable(test_daemon unit/test_daemon.c)
add_test(NAME daemon_notify COMMAND test_daemon $<TARGET_FILE:xmta>)
set_tests_properties(daemon_notify PROPERTIES LABELS fake TIMEOUT 90)

add_test(NAME systemd_unit
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/unit/systemd_verify.sh
                 ${CMAKE_SOURCE_DIR}/conf/xmta.service $<TARGET_FILE:xmta>)
set_tests_properties(systemd_unit PROPERTIES LABELS unit TIMEOUT 60
                     SKIP_RETURN_CODE 77)

# Direct TLS to a private ejabberd (tls: true listener, openssl test CA):
# good CA -> delivered; wrong CA / wrong name -> refused, logged; no secret
# in the logs. Takes the integration lock; HTTP on 15432.
add_test(NAME integration_tls_ejabberd
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/tls_ejabberd.sh
                 --xmta $<TARGET_FILE:xmta>
                 --client $<TARGET_FILE:xmta_test_client>)
set_tests_properties(integration_tls_ejabberd PROPERTIES
                     LABELS integration TIMEOUT 300 RUN_SERIAL TRUE)
