# SPDX-License-Identifier: MIT
# test/bench (issue 8): the benchmark's tools. test/bench/run drives them
# (not part of ctest); bench_tools runs each briefly (label bench) so that
# they keep building and working.
add_executable(bench_ceiling bench/bench_ceiling.c)
target_link_libraries(bench_ceiling PRIVATE PkgConfig::EVENT)
add_executable(bench_post bench/bench_post.c)
target_link_libraries(bench_post PRIVATE PkgConfig::EVENT)
add_executable(bench_idle bench/bench_idle.c)
add_executable(bench_client bench/bench_client.c)
add_executable(bench_component bench/bench_component.c)
target_link_libraries(bench_component PRIVATE PkgConfig::OPENSSL)
add_executable(bench_path bench/bench_path.c)
target_link_libraries(bench_path PRIVATE xmta_http xmta_conf xmta_xml
                      PkgConfig::JANSSON)
add_test(NAME bench_tools
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/bench/run --smoke
                 --build ${CMAKE_BINARY_DIR})
set_tests_properties(bench_tools PROPERTIES LABELS bench TIMEOUT 120)
