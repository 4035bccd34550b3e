# System libraries, found through pkg-config (Debian packages).
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(UNWIND REQUIRED IMPORTED_TARGET libunwind)
pkg_check_modules(PROTOBUFC REQUIRED IMPORTED_TARGET libprotobuf-c)
pkg_check_modules(ZLIB REQUIRED IMPORTED_TARGET zlib)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
set(PYROSCOPE_DEPS PkgConfig::UNWIND PkgConfig::PROTOBUFC
    PkgConfig::ZLIB PkgConfig::ZSTD ${CMAKE_DL_LIBS})
set(PYROSCOPE_PC_REQUIRES "libunwind libprotobuf-c zlib libzstd")
