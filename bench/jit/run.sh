#!/usr/bin/env bash
# run.sh — the LLVM JIT backend's benchmark (bench_jit.c; docs/jit.md).
#
#   bench/jit/run.sh                        everything
#   RUNS=41 ROUNDS=61 BUILD=/path bench/jit/run.sh
#
# Builds nodec with NODEC_LLVM=ON into $BUILD (default build-jit, -O2),
# links bench_jit.c against its libraries, then times source → callable
# code for every models/*.nde and f/vjp speed, JIT against the emitted C
# compiled by cc -std=c99 -O2 (nc_load_cc), for spiral and hybrid_lv.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$(dirname "$here")")
BUILD=${BUILD:-$root/build-jit}
RUNS=${RUNS:-21}
ROUNDS=${ROUNDS:-31}

echo "== machine"
echo "date:   $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpu:    $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cpus)"
echo "load:   $(cut -d' ' -f1-3 /proc/loadavg)"
echo "cc:     $(${CC:-cc} --version | head -1)"
echo "llvm:   $(llvm-config --version 2>/dev/null || echo '?')"
echo "nodec:  $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"

cmake -S "$root" -B "$BUILD" -G Ninja -DNODEC_LLVM=ON >/dev/null
cmake --build "$BUILD" -j2 --target nodec_cmd nodec_jit >/dev/null
llvm_lib=$(llvm-config --libdir)
bin=$BUILD/bench_jit
${CC:-cc} -std=c11 -O2 -Wall -Wextra -I"$root/compiler" -I"$root/runtime" -I"$root/tools" -I"$root/support" \
  -I"$BUILD/compiler" "$here/bench_jit.c" "$BUILD/tools/libnodec_cmd.a" "$BUILD/compiler/libnodec_compiler.a" \
  "$BUILD/lib/libnodec_tools.a" "$BUILD/lib/libnodec_support.a" "$BUILD/lib/libnodec.a" \
  "$BUILD/libnodec_jit.so" -Wl,-rpath,"$BUILD" \
  -L"$llvm_lib" -Wl,-rpath,"$llvm_lib" -lLLVM -lreadline -lz -lm -ldl -lpthread -o "$bin"
# (nc_load_llvm is in the JIT plugin, libnodec_jit.so, since the JIT became one)

echo "== source to callable code ($RUNS runs each)"
"$bin" compile "$RUNS" "$root"/models/*.nde
for m in spiral hybrid_lv; do
  echo "== speed: $m ($ROUNDS rounds)"
  "$bin" speed "$ROUNDS" "$root/models/$m.nde"
done
echo "load:   $(cut -d' ' -f1-3 /proc/loadavg)"
