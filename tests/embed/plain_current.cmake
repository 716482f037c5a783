# embed/plain_current: examples/embed-plain's checked-in lotka_volterra.c
# and .h are what this nodec emits from models/lotka_volterra.nde (run from
# the source root, so the files name the model relative to it).  With
# -DUPDATE=1 (`cmake --build build --target update-goldens`) it rewrites them.
set(model models/lotka_volterra.nde)
file(REMOVE_RECURSE ${OUT})
execute_process(COMMAND ${NODEC} emit ${model} -o ${OUT} WORKING_DIRECTORY ${SRC} RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nodec emit ${model} failed:\n${err}")
endif()
foreach(f lotka_volterra.c lotka_volterra.h)
  set(checked_in ${SRC}/examples/embed-plain/${f})
  if(UPDATE)
    configure_file(${OUT}/${f} ${checked_in} COPYONLY)
    continue()
  endif()
  file(READ ${OUT}/${f} now)
  file(READ ${checked_in} old)
  if(NOT now STREQUAL old)
    message(FATAL_ERROR "examples/embed-plain/${f} is not what nodec emits now.  If the change in nodec is "
                        "intended, update it from the source root with\n"
                        "    build/nodec emit ${model} -o examples/embed-plain\n"
                        "(or `cmake --build build --target update-goldens`), read the diff and commit it.\n"
                        "diff -u ${checked_in} ${OUT}/${f} shows the difference.")
  endif()
endforeach()
