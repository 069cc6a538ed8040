# bpf_object(NAME SOURCE): compile a CO-RE BPF program with clang, generate its
# libbpf skeleton with bpftool, and expose target NAME_skel (an INTERFACE library
# whose include path holds NAME.skel.h). Pattern from libbpf-bootstrap.
find_program(BPF_CLANG clang REQUIRED)
find_program(BPFTOOL bpftool PATHS /usr/sbin /sbin REQUIRED)
set(TCPTRAIL_BTF_FILE /sys/kernel/btf/vmlinux CACHE FILEPATH "kernel BTF used to generate vmlinux.h")

set(_bpf_gen ${CMAKE_BINARY_DIR}/bpf-gen)
file(MAKE_DIRECTORY ${_bpf_gen})
add_custom_command(
  OUTPUT ${_bpf_gen}/vmlinux.h
  COMMAND ${BPFTOOL} btf dump file ${TCPTRAIL_BTF_FILE} format c > ${_bpf_gen}/vmlinux.h
  COMMENT "Generating vmlinux.h from ${TCPTRAIL_BTF_FILE}")

function(bpf_object name source)
  get_filename_component(_src ${source} ABSOLUTE)
  get_filename_component(_dir ${_src} DIRECTORY)
  set(_obj ${_bpf_gen}/${name}.bpf.o)
  set(_skel ${_bpf_gen}/${name}.skel.h)
  file(GLOB _bpf_headers ${_dir}/*.h ${PROJECT_SOURCE_DIR}/include/tcptrail/*.h)
  add_custom_command(
    OUTPUT ${_obj}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror
            -I${_bpf_gen} -I${_dir} -I${PROJECT_SOURCE_DIR}/include
            -c ${_src} -o ${_obj}
    DEPENDS ${_src} ${_bpf_headers} ${_bpf_gen}/vmlinux.h
    COMMENT "Compiling BPF object ${name}")
  add_custom_command(
    OUTPUT ${_skel}
    COMMAND ${BPFTOOL} gen skeleton ${_obj} name ${name}_bpf > ${_skel}
    DEPENDS ${_obj}
    COMMENT "Generating BPF skeleton ${name}.skel.h")
  add_custom_target(${name}_skel_gen DEPENDS ${_skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  # SYSTEM: generated code, not ours to lint.
  target_include_directories(${name}_skel SYSTEM INTERFACE ${_bpf_gen})
endfunction()
