# SPDX-License-Identifier: MIT
# Issue 4, a good XMPP citizen: `xmta setup` and the citizen config keys
# (unit), bots and rooms against the fake server -- disco, vCard,
# subscriptions, help replies and every MUC error condition (fake). The
# integration cases run inside run_server.sh (test/integration.cmake).
add_executable(test_setup unit/test_setup.c)
target_link_libraries(test_setup PRIVATE xmta_conf xmta_xml PkgConfig::CMOCKA)
add_test(NAME setup COMMAND test_setup)
set_tests_properties(setup PROPERTIES LABELS unit TIMEOUT 60)

add_executable(test_citizen fake/test_citizen.c fake/fake_server.c
               fake/fake_env.c)
target_link_libraries(test_citizen PRIVATE xmta_component xmta_conf
                      xmta_xml PkgConfig::CMOCKA PkgConfig::EVENT
                      PkgConfig::OPENSSL)
add_test(NAME citizen COMMAND test_citizen)
set_tests_properties(citizen PROPERTIES LABELS fake TIMEOUT 120)
