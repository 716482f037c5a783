/* vmath.c — vectorised elementwise math for the cc backend (docs/vmath.md).
 *
 * The emitted C calls tanh, exp, log and log1p one element at a time in
 * loops over rows (`w[i] = tanh(acc + theta[...])`).  gcc vectorises such a
 * loop, calling glibc's libmvec (`_ZGVdN4v_tanh`, `_ZGVeN8v_tanh`, ...), when
 * the function is declared with `__attribute__((simd))` and the call cannot
 * set errno; this file holds the text that says so, the branch-free sigmoid
 * and softplus that let their loops vectorise too, and the flags the cc
 * backend adds.  Nothing here runs at model time: it is text for emit_c.c
 * and a flag list for tools/load.c.
 *
 * Declarations for compiler/compiler.h (its `vmath.c` section):
 *
 *   // ---- vmath.c --------------------------------------------------------
 *   // Vector math for the emitted C (docs/vmath.md).  The prelude goes after
 *   // `#include <math.h>` in every emitted .c; it is empty unless the file
 *   // is compiled with -DND_VECTOR_MATH, so standalone emitted C stays
 *   // plain C99 + libm.  The helpers replace helper_src[H_SIGMOID] and
 *   // [H_SOFTPLUS]: branch-free, and bit for bit the old values.
 *   const char *vmath_prelude(void);
 *   const char *vmath_sigmoid_src(void);
 *   const char *vmath_softplus_src(void);
 *   // The flags the cc backend adds before the source file, NULL-terminated.
 *   const char *const *vmath_cflags(void);
 */
#include <stddef.h>

const char *vmath_prelude(void);
const char *vmath_sigmoid_src(void);
const char *vmath_softplus_src(void);
const char *const *vmath_cflags(void);

/* Why each line (measured in docs/vmath.md):
 * - `__simd__("notinbranch")` is what glibc's <bits/math-vector.h> itself
 *   puts on these functions, but only under -ffast-math; we say it without
 *   fast math, so nothing else about the arithmetic changes.  gcc's loop
 *   vectoriser (with vmath_cflags()) then picks the variant for the target:
 *   SSE2 `b`, AVX2 `d`, AVX-512 `e`.
 * - The variants exist from glibc 2.22 (exp, log) and 2.35 (tanh, log1p);
 *   on an older glibc the declaration is left out and that call stays scalar.
 * - clang ignores the attribute (it has -fveclib instead), so it is not
 *   shown to clang: ND_VECTOR_MATH is then a no-op, never an error.
 * - In C++ the redeclaration must be extern "C", as <math.h>'s is. */
static const char prelude[] =
    "/* Vector math (docs/vmath.md): with -DND_VECTOR_MATH, and gcc with -fno-math-errno\n"
    " * on glibc, loops of tanh, exp, log and log1p call libmvec's vector variants (<= 4 ulp). */\n"
    "#if defined(ND_VECTOR_MATH) && defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \\\n"
    "    defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 22))\n"
    "#ifdef __cplusplus\n"
    "extern \"C\" {\n"
    "#endif\n"
    "__attribute__((__simd__(\"notinbranch\"))) double exp(double);\n"
    "__attribute__((__simd__(\"notinbranch\"))) double log(double);\n"
    "#if __GLIBC__ > 2 || __GLIBC_MINOR__ >= 35\n"
    "#define ND_VECTOR_TANH 1 /* tests/vmath: tanh loops must call _ZGV*_tanh */\n"
    "__attribute__((__simd__(\"notinbranch\"))) double tanh(double);\n"
    "__attribute__((__simd__(\"notinbranch\"))) double log1p(double);\n"
    "#endif\n"
    "#ifdef __cplusplus\n"
    "}\n"
    "#endif\n"
    "#endif\n";

const char *vmath_prelude(void) { return prelude; }

/* σ(x) and softplus(x) without branches, so if-conversion leaves a loop the
 * vectoriser takes.  Both compute exactly what the branching forms did:
 * -fabs(x) is x for x < 0 and -x otherwise (exact), the select picks the
 * numerator 1 or e before the one division, and 0 + y == y for the y >= 0
 * that log1p(exp(.)) returns.  So the values are the same bits whichever
 * libm or libmvec computed exp and log1p (tests/vmath checks it); ±0, ±inf
 * and NaN included. */
const char *vmath_sigmoid_src(void) {
    return "static double nd_sigmoid(double x)\n{\n"
           "    double e = exp(-fabs(x));\n"
           "    return (x >= 0 ? 1 : e) / (1 + e);\n}\n";
}

const char *vmath_softplus_src(void) {
    return "static double nd_softplus(double x) { return (x > 0 ? x : 0) + log1p(exp(-fabs(x))); }\n";
}

/* -DND_VECTOR_MATH   turns the prelude on.
 * -fno-math-errno    exp, log and log1p may set errno, so gcc will not call a
 *                    vector variant for them without it; nodec never reads errno.
 *                    (tanh cannot fail and vectorises without it.)
 * -march=native      the cc backend compiles on the machine that runs the code:
 *                    AVX2 and AVX-512 variants instead of SSE2's 2 lanes.
 * -ffp-contract=off  -march=native brings FMA; keep a*b+c two roundings, as the
 *                    JIT does (already the default with -std=c99; said anyway).
 * -ftree-vectorize   already on at -O2, but with gcc's "very cheap" cost model,
 *                    which takes a loop only when the vector length divides its
 *                    trip count: spiral's 50-unit tanh row got 2 lanes (SSE2).
 *                    Asked for explicitly it brings the "dynamic" model of -O3
 *                    (8 lanes and a tail) without the rest of -O3.  clang
 *                    accepts it too (-fvect-cost-model=cheap, the other way,
 *                    is gcc's alone, and $CC may be clang). */
static const char *const cflags[] = {
    "-DND_VECTOR_MATH", "-fno-math-errno", "-march=native", "-ffp-contract=off", "-ftree-vectorize", NULL,
};

const char *const *vmath_cflags(void) { return cflags; }
