# run_error_test.cmake — one malformed-model test (see CMakeLists.txt).
#
#   cmake -DNODEC=path/to/nodec -DNAME=x -DSRC_DIR=dir/of/x.nde -DERR=x.err
#         -DWORK=scratch/dir [-DUPDATE=ON] -P run_error_test.cmake
#
# Runs `nodec emit x.nde -o WORK/out` from SRC_DIR, with WORK/out freshly
# created and empty.  Passes when nodec exits with exactly 1, prints nothing
# on stdout, prints exactly the contents of ERR on stderr and leaves WORK/out
# empty.  With UPDATE=ON it writes stderr to ERR instead of comparing (the
# other checks still apply).  On a mismatch the actual stderr is kept in
# WORK/actual.err for `diff`.
cmake_minimum_required(VERSION 3.20)

foreach(var NODEC NAME SRC_DIR ERR WORK)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_error_test.cmake: -D${var}=… is required")
  endif()
endforeach()

set(out_dir ${WORK}/out)
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${out_dir})

execute_process(
  COMMAND ${NODEC} emit ${NAME}.nde -o ${out_dir}
  WORKING_DIRECTORY ${SRC_DIR}
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE stdout
  ERROR_VARIABLE stderr)

set(failures "")
if(NOT rc STREQUAL "1")
  string(APPEND failures "\n  - exit status is '${rc}', expected 1 (0 = accepted the model; anything else = crash)")
endif()
if(NOT stdout STREQUAL "")
  string(APPEND failures "\n  - stdout is not empty:\n${stdout}")
endif()
file(GLOB left_over LIST_DIRECTORIES true ${out_dir}/* ${out_dir}/.*)
if(left_over)
  string(APPEND failures "\n  - the output directory is not empty: ${left_over}")
endif()

if(UPDATE)
  if(EXISTS ${ERR})
    file(READ ${ERR} old)
  else()
    set(old "")
  endif()
  if(NOT old STREQUAL stderr OR NOT EXISTS ${ERR})
    file(WRITE ${ERR} "${stderr}")
    message(STATUS "updated ${ERR}")
  endif()
elseif(NOT EXISTS ${ERR})
  file(WRITE ${WORK}/actual.err "${stderr}")
  string(APPEND failures "\n  - no golden file ${ERR}; the actual stderr is in ${WORK}/actual.err")
else()
  file(READ ${ERR} expected)
  if(NOT expected STREQUAL stderr)
    file(WRITE ${WORK}/actual.err "${stderr}")
    find_program(DIFF diff)
    set(shown "")
    if(DIFF)
      execute_process(COMMAND ${DIFF} -u ${ERR} ${WORK}/actual.err OUTPUT_VARIABLE shown)
    else()
      set(shown "--- expected\n${expected}\n+++ actual\n${stderr}")
    endif()
    string(APPEND failures "\n  - stderr differs from the golden (accept with the update-goldens-errors target):\n${shown}")
  endif()
endif()

if(NOT failures STREQUAL "")
  # NOTICE prints verbatim (FATAL_ERROR would re-wrap the diff)
  message(NOTICE "errors/${NAME}: nodec emit ${NAME}.nde -o ${out_dir} (in ${SRC_DIR})${failures}")
  message(FATAL_ERROR "errors/${NAME} failed")
endif()
