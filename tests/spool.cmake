# Spool and upload security (issue 12).
pyroscope_test(test_spool)
add_test(NAME spool COMMAND test_spool)
set_tests_properties(spool PROPERTIES TIMEOUT 120)

pyroscope_test(test_spool_kill)
# The preloaded `timeout` case needs the plain shared library.
if(NOT (PYROSCOPE_ASAN OR PYROSCOPE_UBSAN OR PYROSCOPE_TSAN))
  add_test(NAME spool_kill COMMAND test_spool_kill $<TARGET_FILE:pyroscope>)
else()
  add_test(NAME spool_kill COMMAND test_spool_kill)
endif()
set_tests_properties(spool_kill PROPERTIES TIMEOUT 300)

pyroscope_test(test_wire)
add_test(NAME wire COMMAND test_wire)
set_tests_properties(wire PROPERTIES TIMEOUT 180)

pyroscope_test(test_tls)
add_test(NAME tls COMMAND test_tls ${CMAKE_CURRENT_SOURCE_DIR}/support/tls_server.py
         ${CMAKE_CURRENT_SOURCE_DIR}/support/connect_proxy.py)
set_tests_properties(tls PROPERTIES TIMEOUT 180 SKIP_RETURN_CODE 77)
