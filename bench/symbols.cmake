# Our ELF/DWARF readers against elfutils' libdwfl (docs/internals/symbols.md).
# Built only where libdw is installed (Debian: libdw-dev); not run by ctest.
pkg_check_modules(LIBDW IMPORTED_TARGET libdw)
if(LIBDW_FOUND)
  function(pyroscope_symbolize_variant name)
    add_executable(${name} symbolize_compare.c)
    target_link_libraries(${name} PRIVATE pyroscope_static PkgConfig::LIBDW
                          ${CMAKE_DL_LIBS})
    target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src)
    target_compile_definitions(${name} PRIVATE _GNU_SOURCE)
    target_compile_options(${name} PRIVATE -O2 ${ARGN})
  endfunction()
  pyroscope_symbolize_variant(symbolize_compare -g)
  pyroscope_symbolize_variant(symbolize_compare_v4 -gdwarf-4)
  pyroscope_symbolize_variant(symbolize_compare_gz -g)
  target_link_options(symbolize_compare_gz PRIVATE
                      -Wl,--compress-debug-sections=zlib)
endif()
