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
