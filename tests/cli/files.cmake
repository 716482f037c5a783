# The files nodec and its REPL write, and the ones they refuse to read,
# end to end (issue 9); the same checks on the library are in
# tests/io/test_files.c.
#   cmake -DNODEC=… -DROOT=<source dir> -DOUT=<scratch dir> -DCASE=name -P files.cmake
#
# Device nodes are made here (mknod) when we may, so that a regression
# replaces those and not the system's /dev/null or /dev/full.
file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT}/tmp)
set(ENV{TMPDIR} ${OUT}/tmp)
set(models ${ROOT}/models)

# run(rc args…): nodec with args, expecting exit code rc; sets out, err.
function(run expect_rc)
  execute_process(COMMAND ${NODEC} ${ARGN} WORKING_DIRECTORY ${OUT} OUTPUT_VARIABLE out ERROR_VARIABLE err
                  RESULT_VARIABLE rc)
  if(NOT rc STREQUAL expect_rc)
    message(FATAL_ERROR "nodec ${ARGN}: exit ${rc}, expected ${expect_rc}\nstdout:\n${out}\nstderr:\n${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
  set(err "${err}" PARENT_SCOPE)
endfunction()

# repl(input): the REPL on that input, in OUT; sets out (stdout and stderr).
function(repl input)
  file(WRITE ${OUT}/session.in "${input}")
  execute_process(COMMAND ${NODEC} repl --backend cc WORKING_DIRECTORY ${OUT} INPUT_FILE ${OUT}/session.in
                  OUTPUT_VARIABLE out ERROR_VARIABLE out RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "nodec repl exited with ${rc}:\n${out}")
  endif()
  set(out "${out}" PARENT_SCOPE)
endfunction()

function(expect_contains text what)
  string(FIND "${text}" "${what}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "expected to find '${what}' in:\n${text}")
  endif()
endfunction()

# expect_kind(path test-flag): `test -c` (character device), `-p` (FIFO)…
function(expect_kind path flag)
  execute_process(COMMAND test ${flag} ${path} RESULT_VARIABLE bad)
  if(bad)
    message(FATAL_ERROR "${path} should pass `test ${flag}`; it was replaced")
  endif()
endfunction()

# The temp directory is empty: nothing left behind.
function(expect_tmp_empty)
  file(GLOB left ${OUT}/tmp/*)
  if(left)
    message(FATAL_ERROR "left behind in TMPDIR: ${left}")
  endif()
endfunction()

if(CASE STREQUAL "special_out")
  # -o to a FIFO writes through it (a reader takes the rows), not over it
  execute_process(COMMAND mkfifo ${OUT}/fifo RESULT_VARIABLE bad)
  if(bad)
    message(FATAL_ERROR "mkfifo failed")
  endif()
  execute_process(COMMAND ${NODEC} solve ${models}/lotka_volterra.nde --t1 1 --n 3 -o ${OUT}/fifo
                  COMMAND cat ${OUT}/fifo
                  OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
  expect_kind(${OUT}/fifo -p)
  expect_contains("${out}" "t,x,y\n0,1,1\n")
  # a device is written in place; /dev/full says why it cannot be
  execute_process(COMMAND mknod ${OUT}/null c 1 3 RESULT_VARIABLE no_null OUTPUT_QUIET ERROR_QUIET)
  execute_process(COMMAND mknod ${OUT}/full c 1 7 RESULT_VARIABLE no_full OUTPUT_QUIET ERROR_QUIET)
  execute_process(COMMAND id -u OUTPUT_VARIABLE uid OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(no_null OR no_full)
    if(uid STREQUAL "0")
      message(STATUS "cannot make device nodes as root: the device checks are skipped")
      return()
    endif()
    set(null /dev/null) # a user cannot replace these
    set(full /dev/full)
  else()
    set(null ${OUT}/null)
    set(full ${OUT}/full)
  endif()
  run(0 solve ${models}/lotka_volterra.nde --t1 1 --n 3 -o ${null})
  expect_kind(${null} -c)
  run(1 solve ${models}/lotka_volterra.nde --t1 1 --n 3 -o ${full})
  expect_contains("${err}" "cannot write '${full}': No space left on device")
  expect_kind(${full} -c)
  # and so does the REPL's :save
  repl(":load ${models}/lotka_volterra.nde\n:save ${full}\n:save ${null}\n")
  expect_contains("${out}" "error: cannot write '${full}': No space left on device")
  expect_contains("${out}" "saved ${null}")
  expect_kind(${full} -c)
  expect_kind(${null} -c)
  file(GLOB left ${OUT}/*.tmp.*)
  if(left)
    message(FATAL_ERROR "temp files left: ${left}")
  endif()

elseif(CASE STREQUAL "special_in")
  # --data and --params from a device or a FIFO: refused at once, not read
  # for ever (/dev/zero) or waited on (a FIFO without a writer)
  execute_process(COMMAND mkfifo ${OUT}/fifo.csv)
  run(1 grad ${models}/lotka_volterra.nde --data /dev/zero)
  expect_contains("${err}" "cannot read '/dev/zero': it is a character device; nodec reads data and parameters from regular files")
  run(1 solve ${models}/lotka_volterra.nde --params /dev/zero)
  expect_contains("${err}" "cannot read '/dev/zero': it is a character device")
  run(1 grad ${models}/lotka_volterra.nde --data ${OUT}/fifo.csv)
  expect_contains("${err}" "fifo.csv': it is a FIFO (named pipe)")

elseif(CASE STREQUAL "repl_tmp")
  # :train keeps its parameters, and :plot its data, in a private directory
  # that is gone when the REPL ends (no predictable /tmp/nodec-repl-<pid>.npz)
  run(0 solve ${models}/lotka_volterra.nde --t1 2 --n 9 -o ${OUT}/lv.csv)
  set(ENV{NODEC_GNUPLOT} cat) # the script, not a drawing
  repl(":load ${models}/lotka_volterra.nde\n:train --data lv.csv --iters 2 --batch 1 --window 3 --quiet\n:eval\n:plot --t1 1 --n 3\n:quit\n")
  expect_tmp_empty()
  expect_contains("${out}" "\"iters\": 2")
  expect_contains("${out}" "plot.csv' using 1:2 with lines")
  string(REGEX MATCH "'([^']*)/plot.csv'" m "${out}")
  if(NOT CMAKE_MATCH_1 MATCHES "^${OUT}/tmp/nodec-repl-[A-Za-z0-9]+$")
    message(FATAL_ERROR "the plot's data was in '${CMAKE_MATCH_1}', not a private directory in TMPDIR")
  endif()

elseif(CASE STREQUAL "plot_quoting")
  # :plot --png NAME: NAME reaches gnuplot quoted, whatever it holds
  set(png "x.png';system('touch\${IFS}PWNED');#")
  set(session "state z[2]\ndz/dt = -z\n:plot --z0 1,1 --t1 1 --n 3 --png ${png}\n")
  set(ENV{NODEC_GNUPLOT} cat)
  repl("${session}")
  expect_contains("${out}" "set output 'x.png'';system(''touch\${IFS}PWNED'');#'\n")
  expect_tmp_empty()
  find_program(GNUPLOT gnuplot)
  if(GNUPLOT) # and gnuplot itself draws into that file and runs nothing
    unset(ENV{NODEC_GNUPLOT})
    repl("${session}")
    if(EXISTS ${OUT}/PWNED)
      message(FATAL_ERROR "gnuplot ran the command in the file name:\n${out}")
    endif()
    expect_contains("${out}" "plot in ${png}")
    if(NOT EXISTS "${OUT}/${png}")
      message(FATAL_ERROR "no plot in '${png}':\n${out}")
    endif()
  endif()

elseif(CASE STREQUAL "long_name")
  # a model name too long for a file name: said before a temp dir is made
  string(REPEAT "m" 300 name)
  file(WRITE ${OUT}/long.nde "model ${name}\nstate z = 1\ndz/dt = -z\n")
  run(1 solve ${OUT}/long.nde --backend cc --t1 1 --n 2)
  expect_contains("${err}" "the model's name is 300 characters long, too long for the file names of the cc backend (File name too long); shorten it to at most 251 characters")
  expect_tmp_empty()
  # 251 characters still fit
  string(REPEAT "m" 251 name)
  file(WRITE ${OUT}/long.nde "model ${name}\nstate z = 1\ndz/dt = -z\n")
  run(0 solve ${OUT}/long.nde --backend cc --t1 1 --n 2)
  expect_contains("${out}" "t,z\n0,1\n")
  expect_tmp_empty()

else()
  message(FATAL_ERROR "unknown CASE '${CASE}'")
endif()
