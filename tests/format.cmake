# format/clang-format: nodec's C follows one style, .clang-format at the
# root (STYLE.md §15), checked with clang-format --dry-run -Werror.  To
# apply it: clang-format -i on the files named in a failure.
#   cmake -DCLANG_FORMAT=… -DSRC=<source dir> -P format.cmake
set(files)
foreach(dir support runtime compiler tools)
  file(GLOB f ${SRC}/${dir}/*.c ${SRC}/${dir}/*.h)
  list(APPEND files ${f})
endforeach()
# nodec_model.h is copied byte for byte into every emitted header (the emit
# goldens hold it), so it keeps its own layout.
list(FILTER files EXCLUDE REGEX "/nodec_model\\.h$")
execute_process(COMMAND ${CLANG_FORMAT} --dry-run -Werror ${files} RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  string(SUBSTRING "${err}" 0 4000 err)
  message(FATAL_ERROR "these files are not formatted with .clang-format (run clang-format -i on them):\n${err}")
endif()
