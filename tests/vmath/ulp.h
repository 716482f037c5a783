/* tests/vmath/ulp.h — the inputs, references and ULP measure both vmath
 * tests share (test_vmath.c: the vector libraries called directly;
 * test_prelude.c: loops compiled with compiler/vmath.c's prelude and flags).
 *
 * The reference is the x87 long double function (64-bit significand, 11
 * bits beyond double), so a double result's error is measured to about
 * 1/2000 of an ulp.  An error in ulps is |y - ref| / ulp(ref), ulp(ref) the
 * spacing of doubles at ref (2^-1074 below the normal range).  Where the
 * scalar libm result of a special input is ±0, ±inf or NaN, the vector
 * result must be exactly that (zero's sign included); ulps cannot see it. */
#ifndef NODEC_TESTS_VMATH_ULP_H
#define NODEC_TESTS_VMATH_ULP_H

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { VM_TANH, VM_EXP, VM_LOG, VM_LOG1P, VM_SIGMOID, VM_SOFTPLUS, VM_NFUNC };
static const char *const vm_name[VM_NFUNC] = {"tanh", "exp", "log", "log1p", "sigmoid", "softplus"};

static long double vm_ref(int f, long double x) {
    switch (f) {
    case VM_TANH: return tanhl(x);
    case VM_EXP: return expl(x);
    case VM_LOG: return logl(x);
    case VM_LOG1P: return log1pl(x);
    case VM_SIGMOID: return x >= 0 ? 1 / (1 + expl(-x)) : expl(x) / (1 + expl(x));
    default: return x > 0 ? x + log1pl(expl(-x)) : log1pl(expl(x));
    }
}

/* The scalar libm value (and, for sigmoid and softplus, the forms emit_c.c
 * printed before vmath.c: branches, one exp). */
static double vm_scalar(int f, double x) {
    switch (f) {
    case VM_TANH: return tanh(x);
    case VM_EXP: return exp(x);
    case VM_LOG: return log(x);
    case VM_LOG1P: return log1p(x);
    case VM_SIGMOID:
        if (x >= 0)
            return 1 / (1 + exp(-x));
        else {
            double ex = exp(x);
            return ex / (1 + ex);
        }
    default: return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
    }
}

static double vm_ulps(double y, long double ref) {
    if (isnan(y) || isnan((double)ref)) return isnan(y) && isnan((double)ref) ? 0 : INFINITY;
    if (isinf((double)ref) || isinf(y)) return y == (double)ref ? 0 : INFINITY;
    long double a = fabsl(ref);
    int e;
    frexpl(a, &e); /* a in [2^(e-1), 2^e) */
    long double ulp = e - 1 < DBL_MIN_EXP - 1 ? ldexpl(1, -1074) : ldexpl(1, e - 53);
    if (a > DBL_MAX) ulp = ldexpl(1, 1024 - 53); /* ref beyond double's range, y finite */
    return (double)(fabsl((long double)y - ref) / ulp);
}

/* Special inputs: the ends of each range and the values IEEE names. */
static const double vm_special[] = {0.0,     -0.0,     INFINITY,  -INFINITY, NAN,
                                    -NAN,    4.9e-324, -4.9e-324, 2.2e-308,  -2.2e-308,
                                    1e-300,  -1e-300,  1e-20,     -1e-20,    1e300,
                                    -1e300,  DBL_MAX,  -DBL_MAX,  709.78,    709.79,
                                    -745.13, -745.14,  -708.4,    -1,        -0.9999999999999999,
                                    1,       19.0615,  22,        -22,       0.5493,
                                    -0.5493, 36.05};
enum { VM_NSPECIAL = sizeof vm_special / sizeof *vm_special };

/* The measured inputs of f: dense uniform sweeps over the range that
 * matters, plus log-spaced magnitudes where relative accuracy near 0 or at
 * the extremes matters.  Returns the count (≤ cap). */
static long vm_inputs(int f, double *x, long cap, long dense) {
    long n = 0;
#define SWEEP(lo, hi, k)                                                                                               \
    for (long i = 0; i < (k) && n < cap; i++) x[n++] = (lo) + ((hi) - (lo)) * ((double)i + 0.5) / (double)(k)
#define LOGSWEEP(lo, hi, k, sgn)                                                                                       \
    for (long i = 0; i < (k) && n < cap; i++)                                                                          \
    x[n++] = (sgn)*exp(log(lo) + (log(hi) - log(lo)) * (double)i / (double)(k))
    switch (f) {
    case VM_TANH:
    case VM_SIGMOID:
    case VM_SOFTPLUS:
        SWEEP(-20.0, 20.0, dense);
        LOGSWEEP(1e-300, 20.0, dense / 8, 1);
        LOGSWEEP(1e-300, 20.0, dense / 8, -1);
        SWEEP(-740.0, 740.0, dense / 8);
        break;
    case VM_EXP:
        SWEEP(-20.0, 20.0, dense);
        SWEEP(-745.2, 709.8, dense / 4);
        LOGSWEEP(1e-300, 1.0, dense / 8, 1);
        LOGSWEEP(1e-300, 1.0, dense / 8, -1);
        break;
    case VM_LOG:
        SWEEP(0.5, 2.0, dense);
        LOGSWEEP(4.9e-324, 1.7e308, dense / 2, 1);
        break;
    default: /* log1p */
        SWEEP(-0.999, 20.0, dense);
        LOGSWEEP(1e-300, 1.0, dense / 8, 1);
        LOGSWEEP(1e-300, 1.0, dense / 8, -1);
        LOGSWEEP(1.0, 1e300, dense / 8, 1);
        break;
    }
#undef SWEEP
#undef LOGSWEEP
    for (int i = 0; i < VM_NSPECIAL && n < cap; i++) x[n++] = vm_special[i];
    return n;
}

static int vm_is_special(double x) {
    for (int i = 0; i < VM_NSPECIAL; i++)
        if (memcmp(&x, &vm_special[i], sizeof x) == 0) return 1;
    return 0;
}

/* Max ulp error of y against the reference over x[0..n); specials must
 * equal the scalar result exactly.  Prints one line; returns 0 when within
 * bound, 1 otherwise. */
static int vm_report(const char *variant, int f, const double *x, const double *y, long n, double bound) {
    double worst = 0, at = 0;
    long bad_special = 0;
    for (long i = 0; i < n; i++) {
        double s = vm_scalar(f, x[i]);
        if (vm_is_special(x[i]) && (s == 0 || isinf(s) || isnan(s))) {
            int same = isnan(s) ? isnan(y[i]) : (y[i] == s && signbit(y[i]) == signbit(s));
            if (!same) {
                if (bad_special++ < 3)
                    fprintf(stderr, "  %s %s(%a) = %a, scalar libm gives %a\n", variant, vm_name[f], x[i], y[i], s);
            }
            continue;
        }
        double u = vm_ulps(y[i], vm_ref(f, x[i]));
        if (!(u <= worst)) worst = u, at = x[i];
    }
    int fail = worst > bound || bad_special;
    printf("%-26s %-9s %9ld points  max %7.4f ulp at x = %-24.17g bound %.2f%s\n", variant, vm_name[f], n, worst, at,
           bound, fail ? "  FAIL" : "");
    if (bad_special) printf("  %ld special inputs differ from scalar libm\n", bad_special);
    return fail;
}

#endif
