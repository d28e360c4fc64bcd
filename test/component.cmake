# SPDX-License-Identifier: MIT
# component/: the handshake digest (unit) and the XEP-0114 link against a
# scripted in-process fake XMPP server (fake).
add_executable(test_handshake unit/test_handshake.c)
target_link_libraries(test_handshake PRIVATE xmta_component
                      PkgConfig::CMOCKA)
add_test(NAME handshake COMMAND test_handshake)
set_tests_properties(handshake PROPERTIES LABELS unit TIMEOUT 30)

add_executable(test_component fake/test_component.c fake/fake_server.c)
target_link_libraries(test_component PRIVATE xmta_component xmta_conf
                      xmta_xml PkgConfig::CMOCKA PkgConfig::EVENT
                      PkgConfig::OPENSSL)
add_test(NAME component COMMAND test_component)
set_tests_properties(component PROPERTIES LABELS fake TIMEOUT 120)
