# Fork+exec cost under LD_PRELOAD (issue 11).
add_executable(bench_fork bench_fork.c)
target_compile_definitions(bench_fork PRIVATE
  PYROSCOPE_LIB="$<TARGET_FILE:pyroscope>")
add_dependencies(bench_fork pyroscope)
