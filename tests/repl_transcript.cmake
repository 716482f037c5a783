# Runs `nodec repl` on DIR/NAME.in (standard input, no terminal) and compares
# the transcript (standard output and error, merged) with DIR/NAME.out.
execute_process(COMMAND ${NODEC} repl --backend ${BACKEND} WORKING_DIRECTORY ${DIR} INPUT_FILE ${DIR}/${NAME}.in
                OUTPUT_VARIABLE out ERROR_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nodec repl exited with ${rc}:\n${out}")
endif()
if(UPDATE)
  file(WRITE ${DIR}/${NAME}.out "${out}")
  return()
endif()
file(READ ${DIR}/${NAME}.out want)
if(NOT out STREQUAL want)
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/${NAME}.${BACKEND}.actual "${out}")
  message(FATAL_ERROR "the transcript differs from ${DIR}/${NAME}.out; the actual one is in "
          "${CMAKE_CURRENT_BINARY_DIR}/${NAME}.${BACKEND}.actual")
endif()
