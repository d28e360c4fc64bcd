# SPDX-License-Identifier: MIT
# component/: the handshake digest (unit) and the XEP-0114 link against a
# scripted in-process fake XMPP server (fake).
add_executable(test_handshake unit/test_handshake.c)
target_link_libraries(test_handshake PRIVATE xmta_component
                      PkgConfig::CMOCKA)
add_test(NAME handshake COMMAND test_handshake)
set_tests_properties(handshake PROPERTIES LABELS unit TIMEOUT 30)

add_executable(test_component fake/test_component.c fake/fake_server.c
               fake/fake_env.c)
target_link_libraries(test_component PRIVATE xmta_component xmta_conf
                      xmta_xml PkgConfig::CMOCKA PkgConfig::EVENT
                      PkgConfig::OPENSSL PkgConfig::SQLITE3)
add_test(NAME component COMMAND test_component)
set_tests_properties(component PROPERTIES LABELS fake TIMEOUT 120)

# The durable spool and the outbox on it (unit: no network).
# --wrap: the syncer's fdatasync() goes through the test, which can hold
# it or make it fail (SQLite's own calls are not wrapped).
add_executable(test_spool unit/test_spool.c)
target_link_libraries(test_spool PRIVATE xmta_component xmta_conf xmta_xml
                      PkgConfig::CMOCKA PkgConfig::EVENT PkgConfig::SQLITE3)
target_link_options(test_spool PRIVATE -Wl,--wrap=fdatasync)
add_test(NAME spool COMMAND test_spool)
set_tests_properties(spool PROPERTIES LABELS unit TIMEOUT 120)

# The spool's heartbeat table (lifecycle.c): an older spool gets it, rows
# replaced, deleted and read back after a reopen.
add_executable(test_spool_beat unit/test_spool_beat.c)
target_link_libraries(test_spool_beat PRIVATE xmta_component xmta_conf xmta_xml
                      PkgConfig::CMOCKA PkgConfig::SQLITE3)
add_test(NAME spool_beat COMMAND test_spool_beat)
set_tests_properties(spool_beat PROPERTIES LABELS unit TIMEOUT 60)

# Benchmark helpers (test/bench/bench_ingest.sh; not a pass/fail test
# except its smoke run): a sink server and a webhook load generator.
add_executable(bench_sink bench/bench_sink.c)
target_link_libraries(bench_sink PRIVATE PkgConfig::EVENT PkgConfig::OPENSSL)
add_executable(bench_ingest bench/bench_ingest.c)
target_link_libraries(bench_ingest PRIVATE PkgConfig::EVENT)
add_test(NAME bench_smoke
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/bench/bench_ingest.sh
                 --build ${CMAKE_BINARY_DIR} --smoke)
set_tests_properties(bench_smoke PROPERTIES LABELS fake TIMEOUT 120)

# Storm control: folding counted exactly, durability (issue 6).
add_executable(test_storm fake/test_storm.c fake/fake_server.c
               fake/fake_env.c)
target_link_libraries(test_storm PRIVATE xmta_component xmta_conf xmta_xml
                      PkgConfig::CMOCKA PkgConfig::EVENT PkgConfig::OPENSSL
                      PkgConfig::SQLITE3)
add_test(NAME storm COMMAND test_storm)
set_tests_properties(storm PROPERTIES LABELS fake TIMEOUT 60)

# Alert lifecycle: corrections, heartbeat, status board presence (issue 5).
add_executable(test_lifecycle fake/test_lifecycle.c fake/fake_server.c
               fake/fake_env.c)
target_link_libraries(test_lifecycle PRIVATE xmta_component xmta_conf xmta_xml
                      PkgConfig::CMOCKA PkgConfig::EVENT PkgConfig::OPENSSL
                      PkgConfig::SQLITE3)
add_test(NAME lifecycle COMMAND test_lifecycle)
set_tests_properties(lifecycle PROPERTIES LABELS fake TIMEOUT 60)
