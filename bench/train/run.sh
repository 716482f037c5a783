#!/usr/bin/env bash
# run.sh — benchmarks the spiral demo's training (`nodec train models/spiral.nde
# --data data/spiral.csv`, ode_demo's settings: 20 windows of 10, rmsprop
# lr 1e-3, dopri5 rtol 1e-7 atol 1e-9) for --mode adjoint|checkpoint|direct
# and --backend llvm|cc, and profiles it.  bench/train/README.md says what is
# measured, why, and what came out.
#
#   bench/train/run.sh                      everything (~3 min on 2 cores)
#   RUNS=7 ITERS=500 bench/train/run.sh     more/longer timed runs
#   FULL=0 PROFILE=0 bench/train/run.sh     skip the 2000-iteration runs / callgrind
#   BUILD=/path/to/build OUT=/tmp/dir bench/train/run.sh
#   SNAPSHOT=1 bench/train/run.sh           build `git archive HEAD`, not the work tree
#
# Steps:
#  1. build nodec (Release) into $BUILD (default build-tb/); if the working
#     tree does not build, a snapshot of HEAD under $OUT;
#  2. emit models/spiral.nde and build train_bench.c against it and
#     $BUILD/lib/libnodec.a (spiral.c with `cc -std=c99 -O2 -fPIC`, the
#     flags of the cc backend), and check that it reproduces the CLI;
#  3. `nodec train` RUNS× per backend × mode, ITERS iterations, no
#     evaluations (--eval-every 0), interleaved round-robin; /usr/bin/time
#     for max RSS and CPU time; a --iters 0 run per backend for the start-up;
#  4. train_bench: the runtime allocator's peak (nodec_get_mem_peak), a
#     process's max RSS with only the runtime, per-iteration median, fused
#     vs unfused f_vjp, and time inside the model's kernels;
#  5. the full 2000-iteration demo (CLI defaults, evaluations every 20);
#  6. the adjoint without the seminorm (torchdiffeq 0.2.5's default);
#  7. profile: perf if the kernel exposes counters, else callgrind on
#     train_bench (30 iterations);
#  8. summary tables (summarize.py) — raw JSON stays in $OUT.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-$root/build-tb}
RUNS=${RUNS:-5}
ITERS=${ITERS:-300}
FULL=${FULL:-1}
PROFILE=${PROFILE:-1}
CG_ITERS=${CG_ITERS:-30}
OUT=${OUT:-$(mktemp -d /tmp/nodec-train-bench.XXXXXX)}
mkdir -p "$OUT"
SRC=$root
data=$root/data/spiral.csv
model=$root/models/spiral.nde
BACKENDS=(llvm cc)
MODES=(adjoint checkpoint direct)

{
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cpus)"
    echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "cc=$(cc --version | head -1)"
    echo "llvm=$(llvm-config --version 2>/dev/null || echo '?')"
    echo "commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet HEAD -- compiler runtime 2>/dev/null || echo ' (+ uncommitted changes in compiler/ or runtime/)')"
    echo "load=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "runs=$RUNS iters=$ITERS"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt"

# The working tree is shared with others' edits in progress; when it does
# not build (or with SNAPSHOT=1), build a snapshot of the committed HEAD
# (git archive, read-only for the repository) under $OUT instead.
snapshot() {
    echo "== build a snapshot of HEAD ($(git -C "$root" rev-parse --short HEAD)) into $OUT/build"
    rm -rf "$OUT/src" && mkdir -p "$OUT/src"
    git -C "$root" archive HEAD | tar -x -C "$OUT/src"
    BUILD=$OUT/build SRC=$OUT/src
    cmake -S "$OUT/src" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j2 >"$OUT/build.log" 2>&1 || { tail -20 "$OUT/build.log"; exit 1; }
    sed -i 's/^commit=.*/commit='"$(git -C "$root" rev-parse --short HEAD)"' (snapshot of HEAD)/' "$OUT/machine.txt"
}
if [ "${SNAPSHOT:-0}" = 1 ]; then
    snapshot
else
    echo "== build nodec ($BUILD)"
    if ! { cmake -S "$root" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null &&
        cmake --build "$BUILD" -j2 >"$OUT/build.log" 2>&1; }; then
        echo "   the working tree does not build (others' edits in progress?):"
        grep -m3 'error' "$OUT/build.log" | sed 's/^/   /' || true
        snapshot
    fi
fi
nodec=$BUILD/nodec
"$nodec" --version | tee -a "$OUT/machine.txt"

echo "== train_bench (emitted spiral.c + libnodec.a) in $OUT"
"$nodec" emit "$model" -o "$OUT"
cc -std=c99 -O2 -fPIC -c "$OUT/spiral.c" -o "$OUT/spiral.o"
cc -std=c11 -O2 -g -Wall -Wextra -I"$SRC/runtime" -I"$SRC/tools" -I"$OUT" -o "$OUT/train_bench" "$here/train_bench.c" \
    "$OUT/spiral.o" "$BUILD/lib/libnodec_tools.a" "$BUILD/lib/libnodec_support.a" "$BUILD/lib/libnodec.a" -lz -lm
tb=$OUT/train_bench

TIMEFMT="maxrss_kb=%M user_s=%U sys_s=%S wall_s=%e"
cli() { # cli NAME ARGS... → $OUT/NAME.json, $OUT/NAME.time
    local name=$1
    shift
    /usr/bin/time -f "$TIMEFMT" -o "$OUT/$name.time" "$nodec" train "$model" --data "$data" --quiet "$@" \
        >"$OUT/$name.json"
}

echo "== nodec train: $RUNS × $ITERS iterations per backend and mode (round-robin)"
for be in "${BACKENDS[@]}"; do
    cli "start.$be" --backend "$be" --iters 0
done
for r in $(seq "$RUNS"); do
    for be in "${BACKENDS[@]}"; do
        for mode in "${MODES[@]}"; do
            cli "cli.$be.$mode.$r" --backend "$be" --mode "$mode" --iters "$ITERS" --eval-every 0
        done
    done
    echo "   round $r/$RUNS done"
done

echo "== train_bench: $RUNS × $ITERS iterations per mode, and the adjoint without the fused f_vjp"
for r in $(seq "$RUNS"); do
    for mode in "${MODES[@]}"; do
        "$tb" "$data" "$mode" "$ITERS" >"$OUT/drv.$mode.$r.json"
    done
    "$tb" "$data" adjoint "$ITERS" --unfused >"$OUT/drv.adjoint-unfused.$r.json"
done
"$tb" "$data" adjoint "$ITERS" --timers >"$OUT/timers.fused.json"
"$tb" "$data" adjoint "$ITERS" --timers --unfused >"$OUT/timers.unfused.json"
"$tb" "$data" adjoint 2000 --trace "$OUT/trace.adjoint.csv" >"$OUT/trace.adjoint.json"

echo "== the adjoint without the seminorm (torchdiffeq 0.2.5's default)"
cli "nosemi.cc" --backend cc --mode adjoint --iters "$ITERS" --eval-every 0 --no-seminorm

if [ "$FULL" = 1 ]; then
    echo "== the full demo: 2000 iterations, evaluations every 20"
    for be in "${BACKENDS[@]}"; do
        for mode in "${MODES[@]}"; do
            cli "full.$be.$mode" --backend "$be" --mode "$mode"
        done
    done
fi

if [ "$PROFILE" = 1 ]; then
    if perf stat -e instructions true >/dev/null 2>&1 &&
        ! perf stat -e instructions true 2>&1 | grep -q 'not supported'; then
        echo "== perf record: train_bench adjoint, $ITERS iterations"
        perf record -q -o "$OUT/perf.data" -g "$tb" "$data" adjoint "$ITERS" >/dev/null 2>&1 || true
        perf report -i "$OUT/perf.data" --no-children --stdio 2>/dev/null | head -60 >"$OUT/perf.txt" || true
    else
        echo "   (perf: no hardware counters here; callgrind instead)"
    fi
    if command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null; then
        for mode in "${MODES[@]}"; do
            echo "== callgrind: train_bench $mode, $CG_ITERS iterations"
            valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.$mode.out" "$tb" "$data" "$mode" "$CG_ITERS" \
                >/dev/null 2>"$OUT/cg.$mode.log"
            callgrind_annotate --auto=no --inclusive=no "$OUT/cg.$mode.out" >"$OUT/cg.$mode.self.txt" 2>/dev/null
            callgrind_annotate --auto=no --inclusive=yes "$OUT/cg.$mode.out" >"$OUT/cg.$mode.incl.txt" 2>/dev/null
            # the start-up (data loading) and iteration 1, to subtract
            valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.zero.$mode.out" "$tb" "$data" "$mode" 1 \
                >/dev/null 2>"$OUT/cg.zero.$mode.log"
            callgrind_annotate --auto=no --inclusive=no "$OUT/cg.zero.$mode.out" >"$OUT/cg.zero.$mode.self.txt" \
                2>/dev/null
        done
    else
        echo "   (valgrind not found: no profile)"
    fi
fi

echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
echo "== summary"
python3 "$here/summarize.py" "$OUT" | tee "$OUT/summary.md"
echo "raw results: $OUT"
