#!/bin/sh
# scripts/deps.sh — installs the Debian packages nodec needs that are missing.
# Build: a C compiler, CMake, Ninja, Flex, Bison, zlib; the JIT: LLVM; the
# REPL: readline; plots: gnuplot; tests: clang and g++ (the emitted C is
# compiled with both) and NumPy (parameter files are read back with it);
# the fuzzers: clang's libFuzzer (libclang-rt-14-dev); the format check:
# clang-format; MPI: Open MPI; the products of batch-major code: OpenBLAS
# (optional: without it nodec's own loops compute them, docs/kernels.md).
# Benchmarks (bench/) also want libsundials-dev.
set -e
pkgs="gcc g++ clang make cmake ninja-build flex bison zlib1g-dev llvm-dev libreadline-dev gnuplot-nox python3-numpy libclang-rt-14-dev clang-format libopenmpi-dev openmpi-bin libopenblas-dev"
[ "$1" = "--bench" ] && pkgs="$pkgs libsundials-dev valgrind"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "nodec: installing$missing"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
