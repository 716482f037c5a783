#!/usr/bin/env bash
# run.sh — nodec against SUNDIALS CVODES' adjoint: time per loss gradient,
# function evaluations and gradient error.  bench/cvodes/README.md.
#
#   bench/cvodes/run.sh                       the table (both tolerances)
#   bench/cvodes/run.sh --sweep --tols 1e-4,1e-5,1e-6,1e-7,1e-8,1e-9,1e-10
#                                             work–precision sweep
#   ROUNDS=31 BUILD=/path CC=clang bench/cvodes/run.sh
#   bench/cvodes/run.sh --stiff               the stiff problems (Robertson,
#                                             van der Pol μ = 1000): nodec
#                                             rodas5p/rodas4/auto against
#                                             CVODES BDF adjoint and forward
#                                             sensitivities (bench_stiff.c)
#
# Builds nodec (Release) into $BUILD if needed, emits the two models into a
# fresh /tmp directory, compiles the emitted C, the hand-written CVODES peer
# and the driver with the same flags, links libnodec.a and SUNDIALS, runs.
# Extra arguments go to bench_cvodes (--rounds, --target-ms, --tols,
# --problems, --nd, --quad-errcon, --sweep).
set -euo pipefail
stiff=0
if [ "${1:-}" = --stiff ]; then stiff=1; shift; fi

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-$root/build-cv}
CC=${CC:-cc}
CFLAGS=${CFLAGS:--O3}   # CMake's Release flags for libnodec are -O3 -DNDEBUG
ROUNDS=${ROUNDS:-21}

# SUNDIALS: headers and the two libraries (Debian: libsundials-dev)
SUN_INC=${SUN_INC:-}
SUN_LIB=${SUN_LIB:-}
if [ -z "$SUN_INC" ]; then
    for d in /usr/include /usr/local/include /opt/sundials/include; do
        if [ -f "$d/cvodes/cvodes.h" ]; then SUN_INC=$d; break; fi
    done
fi
[ -n "$SUN_INC" ] || { echo "run.sh: SUNDIALS (cvodes/cvodes.h) not found; install libsundials-dev or set SUN_INC/SUN_LIB" >&2; exit 1; }
sunver=$(sed -n 's/^#define SUNDIALS_VERSION "\(.*\)"/\1/p' "$SUN_INC/sundials/sundials_config.h")
case $sunver in
6.*) ;;
*) echo "run.sh: needs SUNDIALS 6.x (found '$sunver')" >&2; exit 1 ;;
esac
LDSUN="-lsundials_cvodes -lsundials_nvecserial"
[ -n "$SUN_LIB" ] && LDSUN="-L$SUN_LIB -Wl,-rpath,$SUN_LIB $LDSUN"

echo "== machine"
echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpu:      $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cpus)"
echo "cc:       $($CC --version | head -1), flags $CFLAGS"
echo "sundials: $sunver ($SUN_INC)"
echo "nodec:    $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet HEAD -- runtime compiler tools 2>/dev/null || echo ' (runtime/compiler modified in the work tree)')"

echo "== build nodec ($BUILD)"
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD" -j2 --target nodec nodec_runtime >/dev/null 2>&1 ||
    cmake --build "$BUILD" -j2 >/dev/null
# the build's own library, not a copy a test installed under $BUILD/tests
lib=$BUILD/lib/libnodec.a
[ -f "$lib" ] || lib=$(find "$BUILD" -name libnodec.a -not -path '*/tests/*' | head -1)
[ -n "$lib" ] || { echo "run.sh: libnodec.a not found under $BUILD" >&2; exit 1; }

out=$(mktemp -d /tmp/nodec-cvodes.XXXXXX)
if [ "$stiff" = 1 ]; then
    "$BUILD/nodec" emit "$root/models/robertson.nde" -o "$out"
    "$BUILD/nodec" emit "$root/models/van_der_pol.nde" -o "$out"
    echo "emitted:  $out"
    # shellcheck disable=SC2086
    $CC -std=c11 -Wall -Wextra $CFLAGS -I"$out" -I"$root/runtime" -I"$SUN_INC" \
        -o "$out/bench_stiff" "$here/bench_stiff.c" "$here/cv_peer.c" "$here/cv_sens.c" \
        "$out/robertson.c" "$out/van_der_pol.c" "$lib" $LDSUN -lz -lm
    echo "== run (stiff)"
    "$out/bench_stiff" "$root/data/robertson.csv" --rounds "${ROUNDS_STIFF:-11}" "$@"
    exit 0
fi
"$BUILD/nodec" emit "$root/models/spiral.nde" -o "$out"
"$BUILD/nodec" emit "$root/models/lotka_volterra.nde" -o "$out"
echo "emitted:  $out"

# shellcheck disable=SC2086
$CC -std=c11 -Wall -Wextra $CFLAGS -I"$out" -I"$root/runtime" -I"$SUN_INC" \
    -o "$out/bench_cvodes" "$here/bench_cvodes.c" "$here/cv_peer.c" \
    "$out/spiral.c" "$out/lotka_volterra.c" "$lib" $LDSUN -lz -lm

if [ "${COUNT:-0}" = 1 ]; then
    # Deterministic instructions per gradient (callgrind), for a noisy
    # machine: each config's gradients are dumped separately.
    command -v valgrind >/dev/null || { echo "run.sh: COUNT=1 needs valgrind" >&2; exit 1; }
    echo "== callgrind: instructions per gradient (everything: CVODES, libm, malloc)"
    valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$out/cg.out" \
        "$out/bench_cvodes" "$root/data/spiral.csv" --count "$@" >"$out/count.log" 2>&1 ||
        { cat "$out/count.log" >&2; exit 1; }
    grep '^counted' "$out/count.log" | sed 's/^counted //'
    for f in "$out"/cg.out.*; do
        awk '/^desc: Trigger: Client Request: / { sub(/^desc: Trigger: Client Request: /, ""); lab = $0 }
             /^(summary|totals):/ { ir = $2 }
             END { split(lab, a, "|"); if (lab != "") printf "%-10s %-17s %s  %12.0f Ir/gradient\n", a[1], a[2], a[3], ir / a[4] }' "$f"
    done | sort -k1,1 -k3,3 -k2,2
    exit 0
fi

echo "== run"
"$out/bench_cvodes" "$root/data/spiral.csv" --rounds "$ROUNDS" "$@"
