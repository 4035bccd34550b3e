# Heap (malloc) and lock-contention profiling.  The hooks interpose when
# the library is linked statically into the test (pyroscope_static) and
# when it is a shared library ahead of libc: test both.
pyroscope_test(test_heap)
pyroscope_test(test_lock)

# The shared library hides the protobuf-c tables the decoder needs; they
# are generated in the top directory (GENERATED is per directory < 3.20).
set_source_files_properties(${PYROSCOPE_PROTO_SOURCES} PROPERTIES
  GENERATED TRUE)
add_executable(test_heap_shared test_heap.c ${PYROSCOPE_PROTO_SOURCES})
target_link_libraries(test_heap_shared PRIVATE pyroscope
                      pyroscope_testsupport)

add_test(NAME heap_split COMMAND test_heap split)
add_test(NAME heap_inuse COMMAND test_heap inuse)
add_test(NAME heap_total COMMAND test_heap total)
add_test(NAME heap_burst COMMAND test_heap burst)
add_test(NAME heap_off COMMAND test_heap off)
add_test(NAME heap_fork COMMAND test_heap fork)
add_test(NAME heap_split_shared COMMAND test_heap_shared split)
add_test(NAME lock_split COMMAND test_lock split)
add_test(NAME lock_holder COMMAND test_lock holder)
add_test(NAME lock_cond COMMAND test_lock cond)
add_test(NAME lock_off COMMAND test_lock off)

set_tests_properties(heap_split heap_inuse heap_total heap_burst heap_off heap_fork
  heap_split_shared lock_split lock_holder lock_cond lock_off PROPERTIES TIMEOUT 120
  SKIP_RETURN_CODE 77)

# A binding's view: the shared library dlopen'ed, allocations reported
# through pyroscope_heap_alloc/free (the malloc hooks are not interposed).
add_executable(test_heap_dlopen test_heap_dlopen.c)
target_include_directories(test_heap_dlopen PRIVATE ${PROJECT_SOURCE_DIR}/include)
target_link_libraries(test_heap_dlopen PRIVATE ${CMAKE_DL_LIBS} m)
add_dependencies(test_heap_dlopen pyroscope)
add_test(NAME heap_dlopen COMMAND test_heap_dlopen $<TARGET_FILE:pyroscope>)
set_tests_properties(heap_dlopen PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77)
