add_executable(bench_threads ${CMAKE_CURRENT_LIST_DIR}/bench_threads.c)
target_link_libraries(bench_threads PRIVATE pyroscope Threads::Threads)
target_compile_options(bench_threads PRIVATE -O2 -fno-omit-frame-pointer)
