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
# The daemon end to end against Prosody.
add_test(NAME integration_prosody
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/run_prosody.sh
                 --xmta $<TARGET_FILE:xmta>
                 --client $<TARGET_FILE:xmta_test_client>)
set_tests_properties(integration_prosody_smoke PROPERTIES
                     LABELS integration TIMEOUT 300 RUN_SERIAL TRUE
                     SKIP_RETURN_CODE 77)
set_tests_properties(integration_prosody PROPERTIES
                     LABELS integration TIMEOUT 600 RUN_SERIAL TRUE
                     SKIP_RETURN_CODE 77
                     DEPENDS integration_prosody_smoke)
