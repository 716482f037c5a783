# embed/pkg_config: a program built with the installed nodec's emitted C and
# `pkg-config nodec` (PKG_CONFIG_PATH=<prefix>/<libdir>/pkgconfig), against
# libnodec.a (--static) and libnodec.so; and `nodec build` from the prefix.
file(GLOB pc ${PREFIX}/lib*/pkgconfig/nodec.pc ${PREFIX}/lib/*/pkgconfig/nodec.pc)
list(GET pc 0 pc)
get_filename_component(pcdir ${pc} DIRECTORY)
set(ENV{PKG_CONFIG_PATH} ${pcdir})
set(out ${TMP}/pkg-config)
file(REMOVE_RECURSE ${out})
file(MAKE_DIRECTORY ${out})

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE o OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (exit ${rc}):\n${o}")
  endif()
  set(out "${o}" PARENT_SCOPE)
endfunction()

run("pkg-config --modversion nodec" ${PKG_CONFIG} --modversion nodec)
message(STATUS "pkg-config: nodec ${out}")
set(dir ${TMP}/pkg-config)
run("the installed nodec emit" ${PREFIX}/bin/nodec emit ${SRC}/examples/embed/lotka_volterra.nde -o ${dir})
separate_arguments(flags UNIX_COMMAND "${FLAGS}")
foreach(kind static shared)
  if(kind STREQUAL "static")
    # -lnodec would pick libnodec.so beside libnodec.a; -l:libnodec.a
    # asks GNU ld and lld for the archive (docs/embedding.md).
    run("pkg-config --static" ${PKG_CONFIG} --static --cflags --libs nodec)
    string(REPLACE "-lnodec" "-l:libnodec.a" out "${out}")
  else()
    run("pkg-config" ${PKG_CONFIG} --cflags --libs nodec)
    string(REGEX MATCH "-L[^ ]+" L "${out}")
    string(REPLACE "-L" "-Wl,-rpath," rpath "${L}")
    set(out "${out} ${rpath}")
  endif()
  separate_arguments(pc UNIX_COMMAND "${out}")
  run("${CC} with pkg-config's flags (${kind})" ${CC} -std=c99 -O2 ${flags} -I${dir}
      ${SRC}/examples/embed/main.c ${dir}/lotka_volterra.c ${pc} -lm -o ${dir}/embed_${kind})
  run("embed_${kind}" ${dir}/embed_${kind})
  if(NOT out MATCHES "all checks passed")
    message(FATAL_ERROR "embed_${kind} printed:\n${out}")
  endif()
endforeach()

# `nodec build` from the prefix finds the installed runtime beside itself.
# (A sanitized runtime needs the trainer sanitized too: skipped then.)
if(NOT FLAGS)
  set(ENV{NODEC_RUNTIME_DIR} "")
  run("the installed nodec build" ${PREFIX}/bin/nodec build ${SRC}/models/lotka_volterra.nde -o ${dir}/trainer)
  run("the trainer" ${dir}/trainer --help)
endif()
