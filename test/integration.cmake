# SPDX-License-Identifier: MIT
# Integration layer: a private Prosody, the real daemon and a libstrophe
# client (xmta_test_client) that records what a user or room receives.
add_executable(xmta_test_client integration/xmpp_client.c)
target_link_libraries(xmta_test_client PRIVATE PkgConfig::STROPHE
                      PkgConfig::JANSSON)

# Prosody alone: two users exchange a message (checks the harness itself).
add_test(NAME integration_prosody_smoke
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/prosody_smoke.sh
                 --client $<TARGET_FILE:xmta_test_client>)
# The daemon end to end against Prosody and against ejabberd: the same
# cases (run_server.sh SERVER); a server that cannot start fails.
add_test(NAME integration_prosody
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/run_server.sh
                 prosody
                 --xmta $<TARGET_FILE:xmta>
                 --client $<TARGET_FILE:xmta_test_client>)
add_test(NAME integration_ejabberd
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/run_server.sh
                 ejabberd
                 --xmta $<TARGET_FILE:xmta>
                 --client $<TARGET_FILE:xmta_test_client>)
set_tests_properties(integration_prosody_smoke PROPERTIES
                     LABELS integration TIMEOUT 300 RUN_SERIAL TRUE
                     SKIP_RETURN_CODE 77)
set_tests_properties(integration_prosody PROPERTIES
                     LABELS integration TIMEOUT 600 RUN_SERIAL TRUE
                     SKIP_RETURN_CODE 77
                     DEPENDS integration_prosody_smoke)
set_tests_properties(integration_ejabberd PROPERTIES
                     LABELS integration TIMEOUT 600 RUN_SERIAL TRUE)

# Webhook formats end to end (issue 5): fixtures POSTed through the daemon,
# the received text checked exactly. The alert lifecycle end to end (issue
# 5): XEP-0308 correction from the group's resource, status board
# presence, heartbeat (2 s). Each against Prosody and against ejabberd
# (the same cases; a server that cannot start fails).
foreach(script formats lifecycle)
    foreach(server prosody ejabberd)
        add_test(NAME integration_${script}_${server}
                 COMMAND bash
                         ${CMAKE_CURRENT_SOURCE_DIR}/integration/run_${script}.sh
                         ${server}
                         --xmta $<TARGET_FILE:xmta>
                         --client $<TARGET_FILE:xmta_test_client>)
        set_tests_properties(integration_${script}_${server} PROPERTIES
                             LABELS integration TIMEOUT 300 RUN_SERIAL TRUE)
    endforeach()
endforeach()

# Durability faults (issue 3): Prosody down, SIGKILL with a spool and under
# load, a silent link through a loopback proxy, SIGTERM, a full disk.
add_executable(xmta_tcp_proxy integration/tcp_proxy.c)
target_link_libraries(xmta_tcp_proxy PRIVATE PkgConfig::EVENT)
add_test(NAME integration_faults
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/fault_prosody.sh
                 --xmta $<TARGET_FILE:xmta>
                 --client $<TARGET_FILE:xmta_test_client>
                 --proxy $<TARGET_FILE:xmta_tcp_proxy>)
set_tests_properties(integration_faults PROPERTIES
                     LABELS integration TIMEOUT 900 RUN_SERIAL TRUE
                     SKIP_RETURN_CODE 77)

# Two instances (issue 6, high availability): one Prosody with kick_new,
# a standby that answers 503 and takes over when the active one is
# killed under load; every 202 delivered.
add_test(NAME integration_ha
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/ha_prosody.sh
                 --xmta $<TARGET_FILE:xmta>
                 --client $<TARGET_FILE:xmta_test_client>)
set_tests_properties(integration_ha PROPERTIES
                     LABELS integration TIMEOUT 400 RUN_SERIAL TRUE
                     SKIP_RETURN_CODE 77)
# ejabberd load-balances duplicate component connections: both instances
# active, nothing lost, no reconnects (replies taken by the other ignored).
add_test(NAME integration_ha_ejabberd
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/ha_ejabberd.sh
                 --xmta $<TARGET_FILE:xmta>
                 --client $<TARGET_FILE:xmta_test_client>)
set_tests_properties(integration_ha_ejabberd PROPERTIES
                     LABELS integration TIMEOUT 400 RUN_SERIAL TRUE)
