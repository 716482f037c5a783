# embed/find_package: examples/embed, copied out of the tree, configured and
# built against PREFIX with find_package(nodec) and nodec_add_model (the
# generator and C compiler of this build), and run: both programs check
# their own numbers.  Then the model is edited: the next build must emit it
# again (the header's source hash changes) and still pass.
set(src ${TMP}/embed-src)
set(bin ${TMP}/embed-build)
file(REMOVE_RECURSE ${src} ${bin})
file(COPY ${SRC}/examples/embed/ DESTINATION ${src})

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (exit ${rc}):\n${out}")
  endif()
  set(out "${out}" PARENT_SCOPE)
endfunction()

set(configure ${CMAKE_COMMAND} -S ${src} -B ${bin} -G ${GENERATOR} -DCMAKE_PREFIX_PATH=${PREFIX}
              -DCMAKE_C_COMPILER=${CC} -DCMAKE_BUILD_TYPE=RelWithDebInfo)
if(MAKE_PROGRAM)
  list(APPEND configure -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM})
endif()
if(FLAGS)
  list(APPEND configure -DCMAKE_C_FLAGS=${FLAGS} -DCMAKE_EXE_LINKER_FLAGS=${FLAGS})
endif()
run("configuring examples/embed" ${configure})
run("building examples/embed" ${CMAKE_COMMAND} --build ${bin})
foreach(exe embed embed_shared)
  run("${exe}" ${bin}/${exe})
  if(NOT out MATCHES "all checks passed")
    message(FATAL_ERROR "${exe} printed:\n${out}")
  endif()
endforeach()
message(STATUS "examples/embed:\n${out}")
file(STRINGS ${bin}/nodec/embed/lotka_volterra.h before REGEX "source FNV-1a")
if(NOT before MATCHES "nodec [0-9.]+ from lotka_volterra.nde")
  message(FATAL_ERROR "the emitted header does not name its model file relative to the project:\n${before}")
endif()

# Editing the model rebuilds: a comment changes the source hash, not the numbers.
file(APPEND ${src}/lotka_volterra.nde "# edited by tests/embed/find_package.cmake\n")
run("building examples/embed after editing the model" ${CMAKE_COMMAND} --build ${bin})
if(NOT out MATCHES "nodec: emitting lotka_volterra.c")
  message(FATAL_ERROR "editing lotka_volterra.nde did not emit it again:\n${out}")
endif()
file(STRINGS ${bin}/nodec/embed/lotka_volterra.h after REGEX "source FNV-1a")
if(before STREQUAL after)
  message(FATAL_ERROR "the emitted header still has the old source hash: ${after}")
endif()
run("embed after the edit" ${bin}/embed)
# Nothing changed since: nothing to emit or build.
run("building examples/embed again" ${CMAKE_COMMAND} --build ${bin})
if(out MATCHES "nodec: emitting")
  message(FATAL_ERROR "an up-to-date build emitted the model again:\n${out}")
endif()
