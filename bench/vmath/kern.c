/* bench/vmath/kern.c — the loops bench_vmath.c times, compiled once per
 * set of flags (run.sh) with -DV=<suffix>: y[i] = f(x[i]) over a row, the
 * shape emit_c.c prints.  With -DND_VECTOR_MATH the prelude's declarations
 * (compiler/vmath.c, copied here verbatim by run.sh as prelude.h) let gcc
 * call libmvec's _ZGV* variants; without it this is the cc backend today. */
#include <math.h>

#include "prelude.h"

#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
#define ROW(fn, expr)                                                                                                  \
    void CAT(fn, V)(int n, const double *restrict x, double *restrict y) {                                             \
        for (int i = 0; i < n; i++) y[i] = expr;                                                                       \
    }

/* The helpers as emit_c.c prints them today (branches). */
static double old_sigmoid(double x) {
    if (x >= 0) return 1 / (1 + exp(-x));
    double ex = exp(x);
    return ex / (1 + ex);
}
static double old_softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

ROW(k_tanh, tanh(x[i]))
ROW(k_exp, exp(x[i]))
ROW(k_log, log(x[i]))
ROW(k_log1p, log1p(x[i]))
ROW(k_sigmoid_old, old_sigmoid(x[i]))
ROW(k_softplus_old, old_softplus(x[i]))
ROW(k_sigmoid, nd_sigmoid(x[i]))
ROW(k_softplus, nd_softplus(x[i]))
