# Generate C code for our .proto files with protoc-c at build time.
find_program(PROTOC_C protoc-c REQUIRED)
set(PYROSCOPE_PROTO_DIR ${CMAKE_CURRENT_BINARY_DIR}/proto)
file(MAKE_DIRECTORY ${PYROSCOPE_PROTO_DIR})
set(PYROSCOPE_PROTO_SOURCES "")
foreach(name profile push otlp)
  set(_out ${PYROSCOPE_PROTO_DIR}/${name}.pb-c.c)
  add_custom_command(
    OUTPUT ${_out} ${PYROSCOPE_PROTO_DIR}/${name}.pb-c.h
    COMMAND ${PROTOC_C} --c_out=${PYROSCOPE_PROTO_DIR}
            -I${PROJECT_SOURCE_DIR}/proto ${PROJECT_SOURCE_DIR}/proto/${name}.proto
    DEPENDS ${PROJECT_SOURCE_DIR}/proto/${name}.proto
    COMMENT "protoc-c ${name}.proto")
  list(APPEND PYROSCOPE_PROTO_SOURCES ${_out})
endforeach()
