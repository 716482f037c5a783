#!/bin/sh
# bench/vmath/run.sh — build and run the vector-math bench (docs/vmath.md).
# Builds in ${OUT:-/tmp/nodec-vmath}; uses SLEEF when <sleef.h> is found.
# Prints which vector symbols each flag set's tanh loop calls (nm), then the table.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$here/../..
out=${OUT:-/tmp/nodec-vmath}
mkdir -p "$out"
cc=${CC:-gcc}
$cc -std=c99 -O2 -o "$out/gen_prelude" "$here/gen_prelude.c" "$root/compiler/vmath.c"
"$out/gen_prelude" > "$out/prelude.h"
vm="-DND_VECTOR_MATH -fno-math-errno -ffp-contract=off"
k() { # k SUFFIX FLAGS...
    v=$1; shift
    $cc -std=c99 -I"$out" -DV="$v" "$@" -c "$here/kern.c" -o "$out/kern_$v.o"
    printf '%-10s %-70s %s\n' "$v" "$*" "$(nm "$out/kern_$v.o" | grep -o '_ZGV[A-Za-z0-9_]*' | sort -u | tr '\n' ' ')"
}
k scalar -O2
k sse2 -O2 $vm -ftree-vectorize
k avx2 -O2 $vm -mavx2 -mfma -ftree-vectorize
k native -O2 $vm -march=native -ftree-vectorize
k native512 -O2 $vm -march=native -mprefer-vector-width=512 -ftree-vectorize
k o3native -O3 $vm -march=native
objs="$out/kern_scalar.o $out/kern_sse2.o $out/kern_avx2.o $out/kern_native.o $out/kern_native512.o $out/kern_o3native.o"
sleef=
if printf '#include <sleef.h>\n' | $cc -E -x c - >/dev/null 2>&1; then
    $cc -std=c99 -O2 -mavx2 -mfma -mavx512f -c "$here/sleef_kern.c" -o "$out/sleef_kern.o"
    objs="$objs $out/sleef_kern.o"
    sleef="-DHAVE_SLEEF -lsleef"
fi
$cc -std=c99 -O2 -o "$out/bench_vmath" "$here/bench_vmath.c" $objs $sleef -lm
"$out/bench_vmath" "$@"

# Whole models: an emitted model's f and f_vjp, plain -O2 against the
# prelude and vmath_cflags (docs/vmath.md), when a nodec binary is at hand
# (NODEC=path, or build/nodec).  "hoisted" is spiral with the loads of z³
# moved before the tanh loop by hand: what emit_c.c must print for gcc to
# vectorise that loop (the JIT does the same, docs/jit.md).
nodec=${NODEC:-$root/build/nodec}
[ -x "$nodec" ] || { echo "(no nodec at $nodec: whole-model timings skipped)"; exit 0; }
$cc -std=c99 -O2 -I"$root/runtime" -o "$out/bench_model" "$here/bench_model.c" -ldl -lm
flags=$("$out/gen_prelude" --cflags)
for model in spiral mlp256; do
    if [ $model = spiral ]; then src=$root/models/spiral.nde; else
        src=$out/mlp256.nde
        printf '%s\n' 'state z[2] = [2, 0]' 'param W1[256, 2] = glorot' 'param b1[256] = zeros' \
            'param W2[256, 256] = glorot' 'param b2[256] = zeros' 'param W3[2, 256] = glorot' 'param b3[2] = zeros' \
            'let h1 = tanh(W1 @ z + b1)' 'let h2 = tanh(W2 @ h1 + b2)' 'dz/dt = W3 @ h2 + b3' >"$src"
    fi
    name=$(sed -n 's/^model \([A-Za-z_0-9]*\).*/\1/p' "$src"); name=${name:-$(basename "$src" .nde)}
    "$nodec" emit "$src" -o "$out/$model" >/dev/null
    c=$out/$model/$name.c
    # the prelude goes right after #include <math.h>, as emit_c.c will put it
    awk -v p="$out/prelude.h" '{print} /^#include <math.h>$/ && !done {while ((getline l < p) > 0) print l; done=1}' "$c" >"$out/$model/vm.c"
    cp "$out/$model/$name.h" "$out/$model/vm.h" 2>/dev/null || true
    sos="$out/$model/plain.so $out/$model/vm.so"
    $cc -std=c99 -O2 -fPIC -shared -I"$out/$model" -o "$out/$model/plain.so" "$c" -lm
    $cc -std=c99 -O2 -fPIC -shared -I"$out/$model" $flags -o "$out/$model/vm.so" "$out/$model/vm.c" -lm
    if [ $model = spiral ]; then
        perl -0pe 's/\n( *)(for \(int i = 0; i < 50; i\+\+\) \{\n *double acc = theta\[i \* 2\] \* )w\[0\]( \+ theta\[1 \+ i \* 2\] \* )w\[1\]/$n++; "\n$1const double u0_$n = w[0], u1_$n = w[1];\n$1$2u0_$n$3u1_$n"/ge' \
            "$out/$model/vm.c" >"$out/$model/hoisted.c"
        $cc -std=c99 -O2 -fPIC -shared -I"$out/$model" $flags -o "$out/$model/hoisted.so" "$out/$model/hoisted.c" -lm
        sos="$sos $out/$model/hoisted.so"
    fi
    for so in $sos; do printf '%-40s calls %s\n' "$so" "$(nm -D "$so" | grep -o '_ZGV[A-Za-z0-9_]*' | sort -u | tr '\n' ' ')"; done
    "$out/bench_model" "${name}_model" $sos
done
