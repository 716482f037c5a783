/* tests/vmath/test_vmath.c — the accuracy, in ulps, of the vector math
 * functions the cc backend may call (docs/vmath.md), each variant called
 * directly on dense sweeps and special inputs (ulp.h):
 *
 *   glibc libmvec   _ZGVbN2v_f (SSE2), _ZGVdN4v_f (AVX2), _ZGVeN8v_f (AVX-512)
 *                   for f = tanh, exp, log, log1p: bound 4 ulp, glibc's
 *                   stated bound for libmvec (manual, "Errors in Math Functions")
 *   SLEEF 3         Sleef_fd4_u10avx2, Sleef_fd8_u10avx512f: bound 1.0 ulp (u10),
 *                   plus 1/1024 ulp for the reference's own rounding (SLEEF
 *                   measures against MPFR; its tanh reaches 1.0005 here)
 *
 * gcc's vectoriser may pick any libmvec width the target has, for the main
 * loop and its epilogue alike, so every width this CPU runs is held to the
 * bound.  Both libraries are opened with dlopen: a machine without SLEEF
 * runs the libmvec rows; one without libmvec (glibc < 2.35, not x86-64)
 * skips the whole test (exit 77, CTest SKIP_RETURN_CODE).
 *
 * usage: test_vmath [--bound ULP] [--dense N]
 *   --bound overrides every bound (e.g. 0.5 must fail: the test can fail);
 *   --dense is the points per dense sweep (default 400000). */
#define _GNU_SOURCE
#include "ulp.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <dlfcn.h>
#include <immintrin.h>

#define SLEEF_U10 (1.0 + 1.0 / 1024)

typedef __m128d V2(__m128d);
typedef __m256d V4(__m256d);
typedef __m512d V8(__m512d);

/* y = fn(x) over n doubles, lanes at a time (the tail padded with x[0]). */
static void run2(V2 *fn, const double *x, double *y, long n) {
    for (long i = 0; i < n; i += 2) {
        double in[2], out[2];
        for (int l = 0; l < 2; l++) in[l] = i + l < n ? x[i + l] : x[0];
        _mm_storeu_pd(out, fn(_mm_loadu_pd(in)));
        for (int l = 0; l < 2 && i + l < n; l++) y[i + l] = out[l];
    }
}
__attribute__((target("avx2,fma"))) static void run4(V4 *fn, const double *x, double *y, long n) {
    for (long i = 0; i < n; i += 4) {
        double in[4], out[4];
        for (int l = 0; l < 4; l++) in[l] = i + l < n ? x[i + l] : x[0];
        _mm256_storeu_pd(out, fn(_mm256_loadu_pd(in)));
        for (int l = 0; l < 4 && i + l < n; l++) y[i + l] = out[l];
    }
}
__attribute__((target("avx512f"))) static void run8(V8 *fn, const double *x, double *y, long n) {
    for (long i = 0; i < n; i += 8) {
        double in[8], out[8];
        for (int l = 0; l < 8; l++) in[l] = i + l < n ? x[i + l] : x[0];
        _mm512_storeu_pd(out, fn(_mm512_loadu_pd(in)));
        for (int l = 0; l < 8 && i + l < n; l++) y[i + l] = out[l];
    }
}

int main(int argc, char **argv) {
    double force = -1;
    long dense = 400000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--bound"))
            force = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--dense"))
            dense = atol(argv[i + 1]);
    }
    void *mvec = dlopen("libmvec.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!mvec || !dlsym(mvec, "_ZGVbN2v_tanh")) {
        printf("SKIP: no libmvec with tanh (glibc >= 2.35 on x86-64): %s\n", mvec ? "no _ZGVbN2v_tanh" : dlerror());
        return 77;
    }
    void *sleef = dlopen("libsleef.so.3", RTLD_NOW | RTLD_LOCAL);
    if (!sleef) printf("note: SLEEF (libsleef.so.3) not found: its rows are skipped\n");
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    int avx512 = __builtin_cpu_supports("avx512f");
    static const char *const fn[4] = {"tanh", "exp", "log", "log1p"};

    long cap = 3 * dense + 64;
    double *x = malloc(sizeof(double) * cap), *y = malloc(sizeof(double) * cap), *xs = malloc(sizeof(double) * cap);
    if (!x || !y || !xs) return fprintf(stderr, "out of memory\n"), 1;
    int fails = 0, rows = 0;
    for (int f = 0; f < 4; f++) {
        long n = vm_inputs(f, x, cap, dense);
        char sym[64];
        struct {
            const char *fmt;
            int lanes, ok;
            double bound;
            void *lib;
        } vs[] = {
            {"_ZGVbN2v_%s", 2, 1, 4.0, mvec},
            {"_ZGVdN4v_%s", 4, avx2, 4.0, mvec},
            {"_ZGVeN8v_%s", 8, avx512, 4.0, mvec},
            {"Sleef_%sd4_u10avx2", 4, avx2 && sleef, SLEEF_U10, sleef},
            {"Sleef_%sd8_u10avx512f", 8, avx512 && sleef, SLEEF_U10, sleef},
        };
        for (long i = 0; i < n; i++) y[i] = vm_scalar(f, x[i]); /* the baseline, not held to a vector bound */
        snprintf(sym, sizeof sym, "libm %s (scalar)", fn[f]);
        fails += vm_report(sym, f, x, y, n, force >= 0 ? force : 4.0), rows++;
        for (size_t v = 0; v < sizeof vs / sizeof *vs; v++) {
            if (!vs[v].ok) continue;
            snprintf(sym, sizeof sym, vs[v].fmt, fn[f]);
            void *p = dlsym(vs[v].lib, sym);
            if (!p) {
                printf("%-26s missing: skipped\n", sym);
                continue;
            }
            long m = n;                       /* SLEEF's log1p is specified on [-1, 1e307] only (its documentation): */
            if (vs[v].lib == sleef && f == 3) /* log1p(DBL_MAX) is inf there; the other inputs are kept */
                for (long i = m = 0; i < n; i++)
                    if (!(x[i] > 1e307)) xs[m++] = x[i];
            const double *in = m < n ? xs : x;
            if (vs[v].lanes == 2)
                run2((V2 *)p, in, y, m);
            else if (vs[v].lanes == 4)
                run4((V4 *)p, in, y, m);
            else
                run8((V8 *)p, in, y, m);
            fails += vm_report(sym, f, in, y, m, force >= 0 ? force : vs[v].bound);
            rows++;
        }
    }
    free(x), free(y), free(xs);
    printf("%d of %d variant rows within their bounds\n", rows - fails, rows);
    return fails ? 1 : 0;
}
#else
int main(void) {
    printf("SKIP: the vector math variants are x86-64 and gcc/clang only\n");
    return 77;
}
#endif
