# The hostile-host suite: ordinary programs run with and without the
# profiler (see run.py).  Each host is built plain (for LD_PRELOAD) and
# linked against libpyroscope (started by PYROSCOPE_AUTOSTART=1).
set(HOSTILE_C mutex forker churn dlopen jit sigblock altstack sigprof execer
    closefds oom)
set(HOSTILE_CXX exceptions)

function(hostile_host name src)
  add_executable(hostile_${name} ${src})
  target_link_libraries(hostile_${name} PRIVATE Threads::Threads ${CMAKE_DL_LIBS})
  target_compile_options(hostile_${name} PRIVATE -O1 -fno-omit-frame-pointer)
  add_executable(hostile_${name}_linked ${src})
  target_compile_options(hostile_${name}_linked PRIVATE -O1
                         -fno-omit-frame-pointer)
  # The host references none of our symbols: keep the library anyway.
  target_link_libraries(hostile_${name}_linked PRIVATE -Wl,--no-as-needed
                        pyroscope -Wl,--as-needed Threads::Threads
                        ${CMAKE_DL_LIBS})
  set_target_properties(hostile_${name} hostile_${name}_linked PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY ${HOSTILE_BIN_DIR})
endfunction()

set(HOSTILE_BIN_DIR ${CMAKE_CURRENT_BINARY_DIR}/hostile)
foreach(h ${HOSTILE_C})
  hostile_host(${h} ${CMAKE_CURRENT_SOURCE_DIR}/hostile/${h}.c)
endforeach()
foreach(h ${HOSTILE_CXX})
  hostile_host(${h} ${CMAKE_CURRENT_SOURCE_DIR}/hostile/${h}.cc)
endforeach()

add_library(hostile_hot MODULE ${CMAKE_CURRENT_SOURCE_DIR}/hostile/hot.c)
target_compile_options(hostile_hot PRIVATE -O1 -fno-omit-frame-pointer)
set_target_properties(hostile_hot PROPERTIES
  LIBRARY_OUTPUT_DIRECTORY ${HOSTILE_BIN_DIR})
add_dependencies(hostile_dlopen hostile_hot)
add_dependencies(hostile_dlopen_linked hostile_hot)

if(PYROSCOPE_ASAN)
  set(HOSTILE_FLAVOUR asan)
elseif(PYROSCOPE_TSAN)
  set(HOSTILE_FLAVOUR tsan)
else()
  set(HOSTILE_FLAVOUR plain)
endif()
find_package(Python3 COMPONENTS Interpreter)
if(Python3_FOUND AND NOT PYROSCOPE_TSAN)
  add_test(NAME hostile
           COMMAND ${Python3_EXECUTABLE}
                   ${CMAKE_CURRENT_SOURCE_DIR}/hostile/run.py
                   --bin-dir ${HOSTILE_BIN_DIR}
                   --lib $<TARGET_FILE:pyroscope>
                   --flavour ${HOSTILE_FLAVOUR})
  set_tests_properties(hostile PROPERTIES LABELS hostile TIMEOUT 900
                       RUN_SERIAL TRUE)
endif()
