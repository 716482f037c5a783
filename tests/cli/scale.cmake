# Models at the compiler's size limits (issue 9): each case generates its
# model, runs nodec, and states what must come out.
#   cmake -DNODEC=… -DROOT=<source dir> -DOUT=<scratch dir> -DCASE=name -P scale.cmake
# Cases:
#   concat_solve   a concat of 260 copies of a 64,000-vector: its chain of
#                  intermediates once needed 2.2e9 doubles of work, past
#                  INT_MAX, and `solve` wrote at w[-2135967296]; now the parts
#                  are written into their slices of one 16.6e6-double result
#   concat_parts   concat parts placed in their slices (a nested concat, a
#                  matrix product, scalars, a concat read twice) give the
#                  analytic solution on both backends and check against
#                  finite differences
#   concat_100k    `let v = concat(z, z, …)` with 100,000 arguments: emitted
#                  with linear work (it used to overflow, or crash the
#                  compiler after 30 s)
#   params_100k    100,000 `param` lines: sema is linear (20,000 took 16 s and
#                  3.2 GB when it copied its symbol array per declaration)
file(MAKE_DIRECTORY ${OUT})

function(run expect_rc)
  execute_process(COMMAND ${NODEC} ${ARGN} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc STREQUAL expect_rc)
    string(SUBSTRING "${out}" 0 2000 out)
    message(FATAL_ERROR "nodec ${ARGV1} ${ARGV2}: exit ${rc}, expected ${expect_rc}\nstdout:\n${out}\nstderr:\n${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
  set(err "${err}" PARENT_SCOPE)
endfunction()

# |a - b| <= tol * max(1, |b|)
function(expect_near a b tol what)
  execute_process(COMMAND awk "BEGIN { a=${a}; b=${b}; s=(b<0?-b:b); if (s<1) s=1; d=a-b; if (d<0) d=-d; exit !(d <= ${tol}*s) }"
                  RESULT_VARIABLE bad)
  if(bad)
    message(FATAL_ERROR "${what}: ${a} differs from ${b} by more than ${tol} (relative)")
  endif()
endfunction()

# The emitted work size of `model`: more than `lo`, at most `hi` doubles, and
# every offset into the work buffer non-negative.
function(expect_work model lo hi)
  get_filename_component(name ${model} NAME_WE)
  run(0 emit ${model} -o ${OUT}/emit)
  file(READ ${OUT}/emit/${name}.h h)
  string(REGEX MATCH "WORK_SIZE (-?[0-9]+)" m "${h}")
  set(w ${CMAKE_MATCH_1})
  if(w LESS_EQUAL lo OR w GREATER hi)
    message(FATAL_ERROR "${name}: work size ${w}, expected more than ${lo} and at most ${hi}")
  endif()
  file(STRINGS ${OUT}/emit/${name}.c negative REGEX "w\\[-")
  if(negative)
    list(GET negative 0 first)
    message(FATAL_ERROR "${name}: a negative work offset: ${first}")
  endif()
endfunction()

# "z, z, …" n times
function(copies n var)
  string(REPEAT "z, " ${n} s)
  string(REGEX REPLACE ", $" "" s "${s}")
  set(${var} "${s}" PARENT_SCOPE)
endfunction()

if(CASE STREQUAL "concat_solve")
  copies(260 parts)
  # v's last part is z itself: dz/dt = -z, z(1) = e^-1
  file(WRITE ${OUT}/c260.nde "state z[64000] = 1\nlet v = concat(${parts})\ndz/dt = -v[16576000:16640000]\n")
  # f holds v (16,640,000); f_vjp also v's gradient, and a few partial sums
  expect_work(${OUT}/c260.nde 16640000 40000000)
  run(0 solve ${OUT}/c260.nde --t1 1 --n 2 -o ${OUT}/c260.csv)
  file(STRINGS ${OUT}/c260.csv lines)
  list(GET lines 2 last)
  string(REGEX MATCH "^1,([^,]+),[^,]+,.*,([^,]+)$" m "${last}")
  # dopri5 at rtol 1e-7 over one time constant
  expect_near(${CMAKE_MATCH_1} 0.36787944117144233 1e-6 "z[0](1)")
  expect_near(${CMAKE_MATCH_2} 0.36787944117144233 1e-6 "z[63999](1)")
elseif(CASE STREQUAL "concat_parts")
  # u = [z, -z, z, z, Σz], v = [u, 2u, (-z)ᵀW = z]; the slices below add up
  # to -3z, and 2Σz - 2Σz = 0: z(t) = z0 e^(-3t)
  file(WRITE ${OUT}/parts.nde
"state z[3] = [1, 2, 3]
param W[3, 3] = [[-1, 0, 0], [0, -1, 0], [0, 0, -1]]
let p = concat(z, z)
let u = concat(z[0], z[1:], W @ z, p, sum(z))
let v = concat(u, 2 * u, u[3:6] @ W)
dz/dt = v[3:6] + v[16:19] + v[19:22] - v[22:25] + v[26:29] - v[0:3] + (2 * v[12] - v[25])
")
  expect_work(${OUT}/parts.nde 0 1000)
  foreach(backend llvm cc)
    execute_process(COMMAND ${NODEC} solve ${OUT}/parts.nde --backend ${backend} --t1 1 --n 2
                    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
    if(backend STREQUAL "llvm" AND err MATCHES "built without LLVM")
      continue()
    endif()
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "solve --backend ${backend}: exit ${rc}\n${err}")
    endif()
    string(REGEX MATCH "\n1,([^,]+),([^,]+),([^,\n]+)" m "${out}")
    foreach(k 1 2 3) # awk evaluates the expected value
      expect_near(${CMAKE_MATCH_${k}} "${k} * exp(-3)" 1e-5 "${backend}: component ${k} of z(1)")
    endforeach()
  endforeach()
  run(0 check ${OUT}/parts.nde)
elseif(CASE STREQUAL "concat_100k")
  copies(100000 parts)
  file(WRITE ${OUT}/c100k.nde "state z[2] = 1\nlet v = concat(${parts})\ndz/dt = -v[199998:200000]\n")
  # v is 200,000 doubles; its gradient as much again, and z's, summed over
  # 100,000 uses, a partial sum per 64 terms
  expect_work(${OUT}/c100k.nde 200000 1000000)
elseif(CASE STREQUAL "params_100k")
  # names p0_0 … p99_999, a chunk of a thousand per file write
  file(WRITE ${OUT}/params.nde "state z\n")
  foreach(hi RANGE 0 99)
    set(chunk "")
    foreach(lo RANGE 0 999)
      string(APPEND chunk "param p${hi}_${lo} = 0\n")
    endforeach()
    file(APPEND ${OUT}/params.nde "${chunk}")
  endforeach()
  file(APPEND ${OUT}/params.nde "dz/dt = -z + p99_999\n")
  run(0 emit ${OUT}/params.nde --dump=sema)
  string(REGEX MATCHALL "\n  param " params "${out}")
  list(LENGTH params n)
  if(NOT n EQUAL 100000)
    message(FATAL_ERROR "--dump=sema lists ${n} params, expected 100000")
  endif()
  run(0 emit ${OUT}/params.nde -o ${OUT}/emit)
else()
  message(FATAL_ERROR "unknown CASE ${CASE}")
endif()
