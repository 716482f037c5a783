# embed/cxx/<compiler>: a C++17 program (cxx_user.cpp) that includes an
# emitted header and all the runtime's public headers, compiled warning-free
# with CXX, linked with the emitted C compiled as C by CC and libnodec.a
# (RUNTIME; TOOLS and SUPPORT for nodec_tools.h): C linkage on both sides, or the link fails.  Then run.
file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT})
function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE o)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (exit ${rc}):\n${o}")
  endif()
  set(out "${o}" PARENT_SCOPE)
endfunction()
separate_arguments(flags UNIX_COMMAND "${FLAGS}")
run("nodec emit" ${NODEC} emit ${SRC}/models/lotka_volterra.nde -o ${OUT})
run("${CC} (the emitted C)" ${CC} -std=c99 -O2 ${flags} -c ${OUT}/lotka_volterra.c -o ${OUT}/lotka_volterra.o)
run("${CXX} -std=c++17" ${CXX} -std=c++17 -pedantic -Wall -Wextra -Werror -O2 ${flags} -I${OUT} -I${SRC}/runtime -I${SRC}/tools
    -c ${SRC}/tests/embed/cxx_user.cpp -o ${OUT}/cxx_user.o)
run("linking with ${CXX}" ${CXX} ${flags} ${OUT}/cxx_user.o ${OUT}/lotka_volterra.o ${TOOLS} ${SUPPORT} ${RUNTIME} -lz -lm -o ${OUT}/cxx_user)
run("cxx_user" ${OUT}/cxx_user)
message(STATUS "${out}")
