#!/usr/bin/env bash
# run.sh — nodec's adjoint gradient of an MLP neural ODE as the network and
# the batch grow, against OpenBLAS dgemm on the same shapes (issue 14).
# bench/scale/README.md says what is measured, how FLOPs are counted, and
# what came out.
#
#   bench/scale/run.sh                        the grid H ∈ {50,256,512,1024} × B ∈ {20,256,2048}
#   HS="50 256" BS=20,256 bench/scale/run.sh  a smaller grid
#   MAX_S=60 bench/scale/run.sh               run shapes predicted to take up to 60 s CPU
#   FLAGSETS=cc bench/scale/run.sh            one flag set (default: "O2 cc-own cc"; also O3native)
#   SNAPSHOT=1 bench/scale/run.sh             build `git archive HEAD`, not the work tree
#   PROFILE=1 bench/scale/run.sh              also perf and callgrind at H=256, B=256 (-O2)
#   EMIT=--no-tiles bench/scale/run.sh        extra `nodec emit` flags (--no-tiles: the per-sample code)
#   BUILD=/path OUT=/tmp/dir REPS=7 BIG_REPS=3 bench/scale/run.sh
#
# Steps:
#  1. find OpenBLAS (Debian libopenblas-dev, the pthread variant);
#  2. build nodec (Release) into $BUILD (default build-scale/); if the work
#     tree does not build (others' edits in progress), a snapshot of HEAD;
#  3. write $OUT/mlp_H.nde for each H and `nodec emit` it into $OUT/H<H>/;
#  4. per flag set, compile the emitted mlp.c and scale_bench.c with
#       O2        `cc -std=c99 -O2`: the emitted C as an embedder compiles it
#                 by default (nd_gemm's own loops, scalar libm, SSE2);
#       cc-own    -O2 + the cc backend's vector-math flags (compiler/vmath.c,
#                 vmath_cflags()), without ND_CBLAS: nodec's own kernel;
#       cc        exactly what the cc backend (tools/load.c) does when nodec
#                 is built with OpenBLAS: cc-own + -DND_CBLAS -I<openblas>;
#       O3native  `-O3 -march=native` (not by default: see README);
#     link libnodec.a and OpenBLAS, and run scale_bench once per H, with
#     OPENBLAS_NUM_THREADS=2 in the environment (scale_bench sets 1 thread
#     itself and 2 only for the two-thread dgemm; nodec's threads each call
#     dgemm on one OpenBLAS thread, as in the cc backend);
#     bench/threads/spin.c before and after: what the two cores gave;
#  5. summarize.py prints the tables; raw key=value lines stay in $OUT.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-$root/build-scale}
OUT=${OUT:-$(mktemp -d /tmp/nodec-scale.XXXXXX)}
HS=${HS:-50 256 512 1024}
BS=${BS:-20,256,2048}
MAX_S=${MAX_S:-20}
REPS=${REPS:-5}
BIG_REPS=${BIG_REPS:-3}
FLAGSETS=${FLAGSETS:-O2 cc-own cc}
CC=${CC:-cc}
EMIT=${EMIT:-}
mkdir -p "$OUT"
SRC=$root

# 1. OpenBLAS: Debian's libopenblas-dev installs cblas.h and libopenblas.so
# per threading variant under <multiarch>/openblas-pthread/.
arch=$($CC -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
OPENBLAS_INC=${OPENBLAS_INC:-/usr/include/$arch/openblas-pthread}
OPENBLAS_LIB=${OPENBLAS_LIB:-/usr/lib/$arch/openblas-pthread}
if [ ! -f "$OPENBLAS_INC/cblas.h" ] || [ ! -e "$OPENBLAS_LIB/libopenblas.so" ]; then
    echo "run.sh: OpenBLAS not found ($OPENBLAS_INC/cblas.h, $OPENBLAS_LIB/libopenblas.so)." >&2
    echo "        Install it:  apt-get install libopenblas-dev" >&2
    echo "        (or set OPENBLAS_INC and OPENBLAS_LIB to another OpenBLAS build)" >&2
    exit 1
fi
obver=$(dpkg-query -W -f='${Version}' libopenblas-dev 2>/dev/null || echo '?')

{
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cpus; flags:$(grep -m1 -o -w -E 'avx2|avx512f' /proc/cpuinfo | sort -u | tr '\n' ' '))"
    echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "cc=$($CC --version | head -1)"
    echo "openblas=libopenblas-dev $obver ($OPENBLAS_LIB)"
    echo "commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet HEAD -- compiler runtime grammar 2>/dev/null || echo ' (+ uncommitted changes in compiler/, runtime/ or grammar/)')"
    echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "grid=H {$HS} x B {$BS}, max_s=$MAX_S reps=$REPS big_reps=$BIG_REPS${EMIT:+, nodec emit $EMIT}"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt"

# 2. build (as bench/train/run.sh)
snapshot() {
    echo "== build a snapshot of HEAD ($(git -C "$root" rev-parse --short HEAD)) into $OUT/build"
    rm -rf "$OUT/src" && mkdir -p "$OUT/src"
    git -C "$root" archive HEAD | tar -x -C "$OUT/src"
    BUILD=$OUT/build SRC=$OUT/src
    cmake -S "$OUT/src" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j2 --target nodec nodec_runtime >"$OUT/build.log" 2>&1 ||
        cmake --build "$BUILD" -j2 >>"$OUT/build.log" 2>&1 || { tail -20 "$OUT/build.log"; exit 1; }
    sed -i 's/^commit=.*/commit='"$(git -C "$root" rev-parse --short HEAD)"' (snapshot of HEAD)/' "$OUT/machine.txt"
}
if [ "${SNAPSHOT:-0}" = 1 ]; then
    snapshot
else
    echo "== build nodec ($BUILD)"
    if ! { cmake -S "$root" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null &&
        { cmake --build "$BUILD" -j2 --target nodec nodec_runtime >"$OUT/build.log" 2>&1 ||
            cmake --build "$BUILD" -j2 >>"$OUT/build.log" 2>&1; }; }; then
        echo "   the work tree does not build (others' edits in progress?):"
        grep -m3 'error' "$OUT/build.log" | sed 's/^/   /' || true
        snapshot
    fi
fi
nodec=$BUILD/nodec
lib=$BUILD/lib/libnodec.a
[ -f "$lib" ] || lib=$(find "$BUILD" -name libnodec.a | head -1)
[ -n "$lib" ] && [ -f "$lib" ] || { echo "run.sh: libnodec.a not found under $BUILD" >&2; exit 1; }
"$nodec" --version | tee -a "$OUT/machine.txt"

# 3. the models: one file per H, all named `mlp` so one driver fits all
for h in $HS; do
    cat >"$OUT/mlp_$h.nde" <<EOF
# mlp_$h.nde — bench/scale's MLP neural ODE, hidden width $h (written by run.sh)
model mlp
state z[2] = [2, 0]
param W1[$h, 2] = glorot
param b1[$h]    = zeros
param W2[$h, $h] = glorot
param b2[$h]    = zeros
param W3[2, $h] = glorot
param b3[2]     = zeros

let h1 = tanh(W1 @ z + b1)
let h2 = tanh(W2 @ h1 + b2)
dz/dt = W3 @ h2 + b3

loss(pred, obs) = mean((pred - obs)^2)
EOF
    mkdir -p "$OUT/H$h"
    # shellcheck disable=SC2086
    "$nodec" emit "$OUT/mlp_$h.nde" -o "$OUT/H$h" $EMIT >/dev/null
done
echo "== models emitted into $OUT/H*/"

# 4. build and run per flag set and H
# The cc backend's vector-math flags, read from compiler/vmath.c (its
# cflags[] array) so that the `cc` sets follow it; the fallback is the list
# as of 2026-12-02.
VMATH=$(sed -n '/cflags\[\] = {/,/};/p' "$SRC/compiler/vmath.c" | grep -o '"-[^"]*"' | tr -d '"' | tr '\n' ' ')
VMATH=${VMATH:--DND_VECTOR_MATH -fno-math-errno -march=native -ffp-contract=off -ftree-vectorize }
echo "vmath_flags=$VMATH" >>"$OUT/machine.txt"
$CC -O2 "$SRC/bench/threads/spin.c" -o "$OUT/spin" -lpthread
echo "spin_before=$("$OUT/spin") (load $(cut -d' ' -f1 /proc/loadavg))" | tee -a "$OUT/machine.txt"
export OPENBLAS_NUM_THREADS=2
: >"$OUT/raw.txt"
for fs in $FLAGSETS; do
    case $fs in
    O2) flags="-O2" ;;
    cc-own) flags="-O2 $VMATH" ;;
    cc) flags="-O2 $VMATH -DND_CBLAS -I$OPENBLAS_INC" ;;
    O3native) flags="-O3 -march=native" ;;
    *) echo "run.sh: unknown flag set '$fs' (O2, cc-own, cc, O3native)" >&2; exit 1 ;;
    esac
    for h in $HS; do
        d=$OUT/H$h
        # shellcheck disable=SC2086
        $CC -std=c99 $flags -c "$d/mlp.c" -o "$d/mlp.$fs.o"
        # shellcheck disable=SC2086
        $CC -std=c11 $flags -g -Wall -Wextra -I"$SRC/runtime" -I"$d" -I"$OPENBLAS_INC" \
            -o "$d/scale_bench.$fs" "$here/scale_bench.c" "$d/mlp.$fs.o" "$lib" \
            -L"$OPENBLAS_LIB" -Wl,-rpath,"$OPENBLAS_LIB" -lopenblas -lm
        echo "== $fs: cc $flags, H=$h (load $(cut -d' ' -f1 /proc/loadavg))"
        "$d/scale_bench.$fs" --batches "$BS" --max-s "$MAX_S" --reps "$REPS" --big-reps "$BIG_REPS" |
            sed "s/^/flags=$fs /" | tee -a "$OUT/raw.txt"
    done
done
echo "spin_after=$("$OUT/spin") (load $(cut -d' ' -f1 /proc/loadavg))" | tee -a "$OUT/machine.txt"
echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"

if [ "${PROFILE:-0}" = 1 ] && [ -x "$OUT/H256/scale_bench.O2" ]; then
    # 5. where the time goes at H=256, B=256 (cc -O2): perf's cpu-clock
    # samples over one gradient (this VM has no hardware counters), and
    # callgrind's instructions per call of f and f_vjp (deterministic;
    # -O2 only: valgrind 3.19 cannot decode the AVX-512 of -march=native)
    sb=$OUT/H256/scale_bench.O2
    if command -v perf >/dev/null; then
        echo "== perf record -e cpu-clock: one gradient, H=256, B=256, cc -O2"
        perf record -q -e cpu-clock -o "$OUT/perf.data" "$sb" --batches 256 --reps 1 --no-dgemm \
            --kernel-ms 1 >/dev/null 2>"$OUT/perf.log" || true
        perf report -i "$OUT/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
            grep -v '^#' | grep -v '^$' | head -12 | tee "$OUT/perf.txt" || true
        perf annotate -i "$OUT/perf.data" --stdio -s mlp_f_vjp 2>/dev/null >"$OUT/perf.annotate.f_vjp.txt" || true
    fi
    if command -v valgrind >/dev/null; then
        echo "== callgrind: instructions per call of f and f_vjp, H=256, B=256, cc -O2 (2 calls each)"
        for fn in mlp_f mlp_f_vjp; do
            valgrind --tool=callgrind --toggle-collect="$fn" --callgrind-out-file="$OUT/cg.$fn.out" \
                "$sb" --profile 2 --batches 256 >/dev/null 2>"$OUT/cg.$fn.log" || true
            callgrind_annotate --auto=no --inclusive=no "$OUT/cg.$fn.out" 2>/dev/null >"$OUT/cg.$fn.txt" || true
            echo "   $fn: $(awk '/PROGRAM TOTALS/ { n = $1; gsub(",", "", n); printf "%.4g instructions per call", n / 2 }' \
                "$OUT/cg.$fn.txt"); self, by function:"
            grep -E '^ *[0-9,]+ \(' "$OUT/cg.$fn.txt" | head -5 | sed 's/^/      /'
        done
    fi
fi

echo "== summary"
python3 "$here/summarize.py" "$OUT" | tee "$OUT/summary.md"
echo "raw results: $OUT"
