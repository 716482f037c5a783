#!/bin/sh
# scripts/test.sh — installs what is missing, builds nodec and runs the whole
# test suite through CTest.  `scripts/test.sh --sanitize` does the same in a
# separate build with AddressSanitizer and UndefinedBehaviorSanitizer, and
# `scripts/test.sh --no-llvm` in a build without the LLVM JIT backend and
# without OpenBLAS (the tile products then run nodec's own loops).
set -e
cd "$(dirname "$0")/.."
scripts/deps.sh
build=build
flags=""
case "$1" in
  --sanitize) build=build-asan; flags="-DNODEC_SANITIZE=ON" ;;
  --no-llvm) build=build-nollvm; flags="-DNODEC_LLVM=OFF -DNODEC_BLAS=OFF" ;;
esac
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $flags >/dev/null
cmake --build "$build" -j 2
ctest --test-dir "$build" --output-on-failure -j 2
