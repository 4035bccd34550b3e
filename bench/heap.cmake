# Malloc hook overhead.  Linked against the shared library: the hooks then
# interpose the way they do for applications (ahead of libc).
add_executable(bench_malloc bench_malloc.c)
target_link_libraries(bench_malloc PRIVATE pyroscope)
