# TCPTRAIL_STATIC: one fully static tcptrail executable that can be copied to
# any x86-64 host (glibc, libbpf, libelf and zlib linked in from Debian's .a
# files; fmt in header-only mode, since Debian ships no libfmt.a).
#
# Included from the top-level CMakeLists.txt after the targets are defined; it
# only rewires how they link. Use a separate build directory:
#   cmake -S . -B build-static -DTCPTRAIL_STATIC=ON -DCMAKE_BUILD_TYPE=Release
#   cmake --build build-static --target tcptrail
include_guard(GLOBAL)

# libbpf and the private dependencies its pkg-config file names (libelf, zlib),
# as archives. LIBBPF_STATIC_LIBRARIES comes from pkg_check_modules(LIBBPF ...).
set(_tt_static_archives)
set(_tt_static_names ${LIBBPF_STATIC_LIBRARIES})
if(NOT _tt_static_names)
  set(_tt_static_names bpf elf z)
endif()
foreach(_name IN LISTS _tt_static_names)
  find_library(TCPTRAIL_STATIC_LIB_${_name} NAMES lib${_name}.a
               HINTS ${LIBBPF_STATIC_LIBRARY_DIRS} ${LIBBPF_LIBRARY_DIRS})
  if(NOT TCPTRAIL_STATIC_LIB_${_name})
    message(FATAL_ERROR "TCPTRAIL_STATIC: lib${_name}.a not found (Debian: libbpf-dev, libelf-dev, zlib1g-dev)")
  endif()
  list(APPEND _tt_static_archives ${TCPTRAIL_STATIC_LIB_${_name}})
endforeach()
set_property(TARGET PkgConfig::LIBBPF PROPERTY INTERFACE_LINK_LIBRARIES ${_tt_static_archives})
message(STATUS "TCPTRAIL_STATIC: libbpf from ${_tt_static_archives}")

# fmt: a static archive if the installed package has one, else header-only.
get_target_property(_tt_fmt_type fmt::fmt TYPE)
if(NOT _tt_fmt_type STREQUAL "STATIC_LIBRARY")
  if(NOT TARGET fmt::fmt-header-only)
    message(FATAL_ERROR "TCPTRAIL_STATIC: fmt is a shared library and fmt::fmt-header-only is missing")
  endif()
  foreach(_prop LINK_LIBRARIES INTERFACE_LINK_LIBRARIES)
    get_target_property(_libs tcptrail_core ${_prop})
    list(TRANSFORM _libs REPLACE "^fmt::fmt$" "fmt::fmt-header-only")
    set_property(TARGET tcptrail_core PROPERTY ${_prop} ${_libs})
  endforeach()
  message(STATUS "TCPTRAIL_STATIC: fmt is only shared here; using it header-only")
endif()

target_link_options(tcptrail PRIVATE -static)
