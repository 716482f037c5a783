#!/bin/sh
# bench/threads/run.sh BUILD — issue 14's 1 → 2 thread speed-up of the
# runtime (docs/runtime.md "Threads"): emits mlp_256.nde with BUILD/nodec,
# links threads_bench.c with BUILD/lib/libnodec.a, runs it at B = 256
# (adjoint, then checkpoint), and spin.c as a control of what the cores
# give right now.  BUILD defaults to ./build.
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
out=$(mktemp -d /tmp/nodec-threads.XXXXXX)
"$build/nodec" emit "$here/mlp_256.nde" -o "$out" >/dev/null
cc -O2 -std=c11 -I"$out" -I"$root/runtime" -c "$out/mlp.c" -o "$out/mlp.o"
cc -O2 -std=c11 -I"$out" -I"$root/runtime" "$here/threads_bench.c" "$out/mlp.o" "$build/lib/libnodec.a" \
   -lm -lpthread -o "$out/threads_bench"
cc -O2 "$here/spin.c" -o "$out/spin" -lpthread
echo "load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cpus"
"$out/spin"
"$out/threads_bench" 256 3 0
"$out/threads_bench" 256 3 1
rm -rf "$out"
