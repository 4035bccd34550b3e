# DWARF line tables (src/symbols/dwarf_line.c), checked against addr2line
# on the test's own binary (gcc 12 writes DWARF 5) and on copies of it
# built with -gdwarf-4, with -gdwarf-2 (the assembler still writes a
# version 3 line table; the test's hand-made image has version 2) and
# with zlib-compressed debug sections.
pyroscope_test(test_dwarf)
target_compile_options(test_dwarf PRIVATE -g)
add_test(NAME dwarf COMMAND test_dwarf)

function(pyroscope_dwarf_variant name)
  add_executable(${name} test_dwarf.c)
  target_link_libraries(${name} PRIVATE pyroscope_static)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(${name} PRIVATE ${ARGN})
endfunction()
pyroscope_dwarf_variant(test_dwarf_v4 -gdwarf-4)
pyroscope_dwarf_variant(test_dwarf_v2 -gdwarf-2 -gstrict-dwarf)
pyroscope_dwarf_variant(test_dwarf_gz -g)
target_link_options(test_dwarf_gz PRIVATE -Wl,--compress-debug-sections=zlib)
add_dependencies(test_dwarf test_dwarf_v4 test_dwarf_v2 test_dwarf_gz)

add_test(NAME dwarf_variants COMMAND test_dwarf
         $<TARGET_FILE:test_dwarf_v4> $<TARGET_FILE:test_dwarf_v2>
         $<TARGET_FILE:test_dwarf_gz>)
set_tests_properties(dwarf dwarf_variants PROPERTIES TIMEOUT 120)
