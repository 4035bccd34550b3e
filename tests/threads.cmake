# Short-lived threads and many threads (issue 13): samples against the CPU
# the threads measured themselves.
pyroscope_test(test_threads)
add_test(NAME threads_1000x2ms COMMAND test_threads short 1000 2 8 100)
add_test(NAME threads_128x18ms COMMAND test_threads short 128 18 128 100)
add_test(NAME threads_churn_20000x1ms COMMAND test_threads short 20000 1 2 100)
add_test(NAME threads_idle10000_busy2 COMMAND test_threads idle 10000 3 100)
add_test(NAME threads_1000x2ms_1000hz COMMAND test_threads short 1000 2 8 1000)
add_test(NAME threads_pthread_exit COMMAND test_threads exit 1000 2 8 100)
# The fallback: POSIX CPU timers fire on the tick; [thread exit] keeps the
# totals.
add_test(NAME threads_1000x2ms_posix_timers
         COMMAND test_threads short 1000 2 8 100)
set_tests_properties(threads_1000x2ms_posix_timers PROPERTIES
                     ENVIRONMENT PYROSCOPE_CPU_SOURCE=timer)
set_tests_properties(threads_1000x2ms threads_128x18ms threads_churn_20000x1ms
                     threads_idle10000_busy2 threads_1000x2ms_1000hz
                     threads_pthread_exit threads_1000x2ms_posix_timers
                     PROPERTIES TIMEOUT 600)
