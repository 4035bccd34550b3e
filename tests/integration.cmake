# Programs for the integration suite against a real Pyroscope server
# (tests/integration/run.sh runs it; see tests/integration/README.md).
add_executable(it_plain integration/it_plain.c)
target_link_libraries(it_plain PRIVATE Threads::Threads)
target_compile_options(it_plain PRIVATE -O1 -fno-omit-frame-pointer)

add_executable(it_app integration/it_app.c)
target_link_libraries(it_app PRIVATE pyroscope Threads::Threads)
target_compile_options(it_app PRIVATE -O1 -fno-omit-frame-pointer)

# Registered so ctest runs it when a server is named: with
# PYROSCOPE_TEST_SERVER unset it skips (77) instead of starting a 140 MB
# server inside every scripts/test.sh; run.sh starts one and runs it.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_FOUND AND PYROSCOPE_BUILD_EXAMPLES AND
   NOT (PYROSCOPE_ASAN OR PYROSCOPE_UBSAN OR PYROSCOPE_TSAN))
  add_test(NAME integration_c
           COMMAND ${Python3_EXECUTABLE}
                   ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_c.py
                   --build ${PROJECT_BINARY_DIR} --reuse-only)
  set_tests_properties(integration_c PROPERTIES SKIP_RETURN_CODE 77
                       TIMEOUT 600)
endif()
