#!/bin/sh
# scripts/fuzz.sh [SECONDS] — builds nodec's libFuzzer fuzzers (tests/fuzz,
# docs/fuzzing.md) with clang, ASan and UBSan in build-fuzz, and runs each
# for SECONDS (default 20) through CTest, one at a time.  The corpus grows
# in build-fuzz/tests/fuzz/corpus from one run to the next; an input that
# crashes is kept in build-fuzz/tests/fuzz/artifacts and fails the run.
set -e
cd "$(dirname "$0")/.."
seconds=${1:-20}
case "$seconds" in
  ''|*[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS]" >&2; exit 2 ;;
esac
build=build-fuzz
CC=clang cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNODEC_FUZZ=ON \
  -DNODEC_SANITIZE=ON -DNODEC_LLVM=OFF -DNODEC_FUZZ_SECONDS="$seconds" >/dev/null
cmake --build "$build" -j 2 --target fuzz_compile fuzz_csv fuzz_npy
status=0
# The fuzzers, then every input that once crashed one (tests/fuzz/crashes).
ctest --test-dir "$build" -L 'libfuzzer|fuzz-crashes' --no-tests=error --output-on-failure || status=$?
# One line per fuzzer: inputs run, edges covered, corpus, speed, memory.
awk '/ Test: /{name=$3} /[ \t]DONE /{print name ": " $0}' "$build/Testing/Temporary/LastTest.log"
exit $status
