# Runs `nodec ARGS` in DIR and compares its standard output with GOLDEN.
# With UPDATE=1 the golden file is rewritten instead (read the diff first).
#   cmake -DNODEC=… -DDIR=… -DARGS="emit|x.nde|--dump=ast" -DGOLDEN=x.ast [-DUPDATE=1] -P golden.cmake
string(REPLACE "|" ";" ARGS "${ARGS}")
execute_process(COMMAND ${NODEC} ${ARGS} WORKING_DIRECTORY ${DIR}
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nodec ${ARGS} exited with ${rc}:\n${err}")
endif()
if(UPDATE)
  file(WRITE ${DIR}/${GOLDEN} "${out}")
  return()
endif()
file(READ ${DIR}/${GOLDEN} want)
if(NOT out STREQUAL want)
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/${GOLDEN}.actual "${out}")
  message(FATAL_ERROR "output differs from ${DIR}/${GOLDEN}; the actual output is in "
          "${CMAKE_CURRENT_BINARY_DIR}/${GOLDEN}.actual\n"
          "diff it, and if the change is right run `cmake --build . --target update-goldens`")
endif()
