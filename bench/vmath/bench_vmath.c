/* bench/vmath/bench_vmath.c — nanoseconds per element of y[i] = f(x[i]) over
 * a row of 1024 doubles (in L1), for tanh, exp, log, log1p, sigmoid and
 * softplus: scalar libm, libmvec through gcc's vectoriser at several flag
 * sets (kern.c, built once per set by run.sh), and SLEEF's vector functions
 * (sleef_kern.c).  Fastest of 7 runs of ≥ 20 ms each (the
 * minimum: on a shared 2-core machine the noise only ever adds time).  Inputs are uniform on
 * the range an activation sees: tanh, sigmoid, softplus on [-8, 8], exp on
 * [-20, 20], log on [1e-3, 1e3] (log-uniform), log1p on [0, 1] (softplus's
 * log1p(exp(-|x|))).  Usage: bench_vmath [ms-per-run]. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void Row(int n, const double *restrict x, double *restrict y);

#define FUNCS(X, v)                                                                                                    \
    X(k_tanh_##v)                                                                                                      \
    X(k_exp_##v)                                                                                                       \
    X(k_log_##v) X(k_log1p_##v) X(k_sigmoid_old_##v) X(k_softplus_old_##v) X(k_sigmoid_##v) X(k_softplus_##v)
#define DECL(f) Row f;
#define VARIANTS(X) X(scalar) X(sse2) X(avx2) X(native) X(native512) X(o3native)
#define DECLV(v) FUNCS(DECL, v)
VARIANTS(DECLV)
#ifdef HAVE_SLEEF
Row s4_tanh, s4_exp, s4_log, s4_log1p, s8_tanh, s8_exp, s8_log, s8_log1p, sd_tanh, sd_exp, sd_log, sd_log1p;
#endif

enum { N = 1024, RUNS = 7 };
static double run_ms = 20;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ns per element, fastest of RUNS. */
static double time_row(Row *f, const double *x, double *y) {
    long reps = 1;
    for (;;) { /* calibrate */
        double t0 = now();
        for (long r = 0; r < reps; r++) f(N, x, y);
        double t = now() - t0;
        if (t > run_ms * 1e-3 / 4) {
            reps = (long)(reps * (run_ms * 1e-3) / t) + 1;
            break;
        }
        reps *= 2;
    }
    double s[RUNS];
    for (int k = 0; k < RUNS; k++) {
        double t0 = now();
        for (long r = 0; r < reps; r++) f(N, x, y);
        s[k] = (now() - t0) / reps / N * 1e9;
    }
    qsort(s, RUNS, sizeof *s, cmp);
    return s[0];
}

static double x_tanh[N], x_exp[N], x_log[N], x_log1p[N], y[N];

static void fill(void) {
    unsigned long long s = 42;
    for (int i = 0; i < N; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(s >> 11) / 9007199254740992.0;
        x_tanh[i] = -8 + 16 * u;
        x_exp[i] = -20 + 40 * u;
        x_log[i] = exp(log(1e-3) + u * (log(1e3) - log(1e-3)));
        x_log1p[i] = u;
    }
}

int main(int argc, char **argv) {
    if (argc > 1) run_ms = atof(argv[1]);
    fill();
    const char *vname[] = {"scalar", "sse2", "avx2", "native", "native512", "o3native"};
    Row *rows[][8] = {
#define ROWV(v)                                                                                                        \
    {k_tanh_##v,        k_exp_##v,          k_log_##v,     k_log1p_##v,                                                \
     k_sigmoid_old_##v, k_softplus_old_##v, k_sigmoid_##v, k_softplus_##v},
        VARIANTS(ROWV)};
    const char *fname[] = {"tanh", "exp", "log", "log1p", "sigmoid(old)", "softplus(old)", "sigmoid", "softplus"};
    const double *xs[] = {x_tanh, x_exp, x_log, x_log1p, x_tanh, x_tanh, x_tanh, x_tanh};
    printf("ns per element, row of %d doubles, fastest of %d runs\n%-14s", N, RUNS, "");
    for (int v = 0; v < 6; v++) printf(" %10s", vname[v]);
#ifdef HAVE_SLEEF
    printf(" %10s %10s %10s", "sleef4", "sleef8", "sleef-disp");
#endif
    printf("\n");
    for (int f = 0; f < 8; f++) {
        printf("%-14s", fname[f]);
        for (int v = 0; v < 6; v++) printf(" %10.2f", time_row(rows[v][f], xs[f], y));
#ifdef HAVE_SLEEF
        Row *s4[] = {s4_tanh, s4_exp, s4_log, s4_log1p}, *s8[] = {s8_tanh, s8_exp, s8_log, s8_log1p},
            *sd[] = {sd_tanh, sd_exp, sd_log, sd_log1p};
        if (f < 4)
            printf(" %10.2f %10.2f %10.2f", time_row(s4[f], xs[f], y), time_row(s8[f], xs[f], y),
                   time_row(sd[f], xs[f], y));
#endif
        printf("\n");
        fflush(stdout);
    }
    return 0;
}
