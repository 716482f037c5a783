#!/usr/bin/env bash
# run.sh — benchmarks nodec's emitted C against hand-written C, and times
# `nodec emit`.  bench/README.md says what is measured and why.
#
#   bench/run.sh                  everything, with cc
#   CC=clang bench/run.sh         another compiler (same flags for both sides)
#   ROUNDS=61 EMIT_RUNS=20 BUILD=/path/to/build bench/run.sh
#
# Steps: build nodec (Release) into $BUILD; emit models/spiral.nde into a
# fresh /tmp directory; compile bench_emit.c + the emitted spiral.c +
# handwritten_spiral.c with each flag set; verify they agree, then time
# them; count instructions with callgrind where valgrind can run the binary;
# time `nodec emit` on every models/*.nde.  The emitted C stays in the
# printed directory for reading.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
BUILD=${BUILD:-$root/build-bench}
CC=${CC:-cc}
ROUNDS=${ROUNDS:-41}
EMIT_RUNS=${EMIT_RUNS:-20}
CG_CALLS=${CG_CALLS:-1000}
WARN="-std=c99 -pedantic -Wall -Wextra"
# Timed flag sets.  -march=native may use AVX-512, which valgrind 3.19
# cannot decode, so callgrind counts use -O2 and an AVX2 build instead.
FLAGSETS=("-O2" "-O3 -march=native")
CG_FLAGSETS=("-O2" "-O3 -march=x86-64-v3")

echo "== machine"
echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpu:      $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cpus)"
echo "cc:       $($CC --version | head -1)"
echo "nodec:    $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"

echo "== build nodec ($BUILD)"
cmake -S "$root" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 >/dev/null
nodec=$BUILD/nodec

out=$(mktemp -d /tmp/nodec-bench.XXXXXX)
"$nodec" emit "$root/models/spiral.nde" -o "$out"
echo "emitted:  $out/spiral.c"

build() { # build BINARY FLAGS...
    local bin=$1
    shift
    # shellcheck disable=SC2086
    $CC $WARN "$@" -I"$out" -o "$bin" "$here/bench_emit.c" "$out/spiral.c" \
        "$here/handwritten_spiral.c" -lm
}

for flags in "${FLAGSETS[@]}"; do
    echo "== time: $CC $flags"
    # shellcheck disable=SC2086
    build "$out/bench" $flags
    "$out/bench" all "$ROUNDS"
done

if command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null; then
    for flags in "${CG_FLAGSETS[@]}"; do
        echo "== callgrind: $CC $flags, instructions per call (incl. tanh / self)"
        # shellcheck disable=SC2086
        build "$out/bench_cg" $flags
        printf '%-5s %-4s %17s %17s %17s %13s\n' kernel B emitted hand hand_fused "emit/hand"
        for B in 1 20; do
            cg=$out/callgrind.$B.out
            valgrind --tool=callgrind --callgrind-out-file="$cg" "$out/bench_cg" count "$B" \
                "$CG_CALLS" >/dev/null 2>&1
            callgrind_annotate --inclusive=yes "$cg" >"$cg.incl"
            callgrind_annotate "$cg" >"$cg.self"
            for k in f vjp; do
                awk -v k="$k" -v B="$B" -v n="$CG_CALLS" '
                    FNR == 1 { file++ }
                    {
                        for (i = 1; i <= NF; i++) if ($i ~ /:(hw_(fused_)?)?spiral_/) break
                        if (i > NF) next
                        fn = $i; sub(/.*:/, "", fn); ir = $1; gsub(/,/, "", ir)
                        v[file, fn] = ir / n
                    }
                    END {
                        split("spiral_" k " hw_spiral_" k " hw_fused_spiral_" k, name, " ")
                        printf "%-5s %-4d", k, B
                        for (j = 1; j <= 3; j++)
                            printf " %8.0f / %6.0f", v[1, name[j]], v[2, name[j]]
                        printf "  %5.3f / %5.3f\n", v[1, name[1]] / v[1, name[2]],
                            v[2, name[1]] / v[2, name[2]]
                    }' "$cg.incl" "$cg.self"
            done
        done
    done
else
    echo "== callgrind: valgrind not found, skipped"
fi

echo "== nodec emit: median wall time of $EMIT_RUNS runs (whole process)"
# /bin/true first: what starting any process costs on this machine.
for m in /bin/true "$root"/models/*.nde; do
    dir=$(mktemp -d /tmp/nodec-emit.XXXXXX)
    times=()
    for _ in $(seq "$EMIT_RUNS"); do
        t0=$EPOCHREALTIME
        if [ "$m" = /bin/true ]; then /bin/true; else "$nodec" emit "$m" -o "$dir" >/dev/null; fi
        t1=$EPOCHREALTIME
        times+=("$(echo "($t1 - $t0) * 1000" | bc -l)")
    done
    med=$(printf '%s\n' "${times[@]}" | sort -g | awk '{ x[NR] = $1 }
        END { print (NR % 2) ? x[(NR + 1) / 2] : (x[NR / 2] + x[NR / 2 + 1]) / 2 }')
    min=$(printf '%s\n' "${times[@]}" | sort -g | head -1)
    printf '%-24s median %7.2f ms   min %7.2f ms\n' "$(basename "$m")" "$med" "$min"
    rm -rf "$dir"
done
