# Malloc hook overhead.  Linked against the shared library: the hooks then
# interpose the way they do for applications (ahead of libc).
add_executable(bench_malloc bench_malloc.c)
target_link_libraries(bench_malloc PRIVATE pyroscope)

# Paired ratios against plain glibc, LD_PRELOAD and linked: bench_heap runs
# bench_heap_work (plain, or with libpyroscope.so preloaded) and
# bench_heap_linked as child processes.
add_executable(bench_heap_work bench_heap_work.c)
target_compile_options(bench_heap_work PRIVATE -O2)
add_executable(bench_heap_linked bench_heap_work.c)
target_compile_definitions(bench_heap_linked PRIVATE BENCH_LINKED)
target_compile_options(bench_heap_linked PRIVATE -O2)
target_link_libraries(bench_heap_linked PRIVATE pyroscope)
add_executable(bench_heap bench_heap.c)
target_compile_definitions(bench_heap PRIVATE
  BENCH_LIB="$<TARGET_FILE:pyroscope>")
add_dependencies(bench_heap bench_heap_work bench_heap_linked pyroscope)
