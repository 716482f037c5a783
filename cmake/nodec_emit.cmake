# nodec_emit.cmake — the build step of nodec_add_model() (NodecAddModel.cmake):
#   cmake -DNODEC=nodec -DMODEL=m.nde -DNAME=name -DOUT=dir -P nodec_emit.cmake
# Emits into a fresh directory beside OUT and moves NAME.c and NAME.h into
# OUT, so a failed emit or a model that names itself otherwise leaves no
# half-written or stale files behind.
set(tmp ${OUT}/.nodec-emit-${NAME})
file(REMOVE_RECURSE ${tmp})
file(MAKE_DIRECTORY ${tmp})
execute_process(COMMAND ${NODEC} emit ${MODEL} -o ${tmp} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE_RECURSE ${tmp})
  message(FATAL_ERROR "nodec emit ${MODEL} failed (exit ${rc})")
endif()
if(NOT EXISTS ${tmp}/${NAME}.c OR NOT EXISTS ${tmp}/${NAME}.h)
  file(GLOB made RELATIVE ${tmp} ${tmp}/*.h)
  string(REPLACE ".h" "" made "${made}")
  file(REMOVE_RECURSE ${tmp})
  message(FATAL_ERROR "nodec_add_model: ${MODEL} is the model '${made}', not '${NAME}': "
                      "pass NAME ${made} to nodec_add_model, or configure again")
endif()
file(RENAME ${tmp}/${NAME}.c ${OUT}/${NAME}.c)
file(RENAME ${tmp}/${NAME}.h ${OUT}/${NAME}.h)
file(REMOVE_RECURSE ${tmp})
