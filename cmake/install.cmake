# Headers, libraries, pkg-config file and CMake package config.
include(CMakePackageConfigHelpers)
install(FILES include/pyroscope.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS pyroscope pyroscope_static EXPORT pyroscopeTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT pyroscopeTargets NAMESPACE pyroscope::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/pyroscope)
configure_package_config_file(cmake/pyroscopeConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/pyroscopeConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/pyroscope)
write_basic_package_version_file(
  ${CMAKE_CURRENT_BINARY_DIR}/pyroscopeConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/pyroscopeConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/pyroscopeConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/pyroscope)
configure_file(cmake/pyroscope.pc.in ${CMAKE_CURRENT_BINARY_DIR}/pyroscope.pc
  @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/pyroscope.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
