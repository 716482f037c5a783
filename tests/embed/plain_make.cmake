# embed/plain_make: examples/embed-plain, copied out of the tree, built with
# `make` and the C compiler alone (warnings as errors), and run: it checks
# its own numbers.
set(dir ${TMP}/embed-plain)
file(REMOVE_RECURSE ${dir})
file(COPY ${SRC}/examples/embed-plain/ DESTINATION ${dir})
file(REMOVE ${dir}/lv_rk4)
execute_process(COMMAND ${MAKE} -C ${dir} CC=${CC} "CFLAGS=-std=c99 -pedantic -O2 -Wall -Wextra -Werror ${FLAGS}"
                        LDFLAGS=${FLAGS} check
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out MATCHES "all checks passed")
  message(FATAL_ERROR "make check in examples/embed-plain failed (exit ${rc}):\n${out}")
endif()
message(STATUS "${out}")
