/* bench_jit.c — the LLVM JIT backend against the emitted C built by gcc -O2
 * (docs/jit.md records the numbers; bench/jit/run.sh builds and runs it).
 *
 *   bench_jit compile [runs] MODEL...   time from source text to callable code
 *   bench_jit speed [rounds] MODEL      f, vjp, f_vjp: ns per call, JIT vs C
 *
 * compile: for each model, `runs` times: parse, check, lower, differentiate
 * (nc_compile) then nc_load_llvm (LLVM IR, O2, machine code, lookup), up to
 * the moment the descriptor's functions can be called.  The first run of the
 * process also pays LLVM's one-time target initialisation and is reported
 * apart.  Medians of the rest: wall clock, this thread's CPU time, and
 * the wall clock split into nodec's front end and LLVM; then the CPU time of
 * the first call of vjp, which compiles the lazy module (vjp, jvp, jac_z).
 * For comparison, the same through the system C compiler (nc_load_cc:
 * write files, cc -O2, dlopen).
 *
 * speed: both descriptors are loaded in one process (emitted C through
 * nc_load_cc, i.e. `cc -std=c99 -O2 -fPIC -shared`, dlopen'd; the JIT in
 * memory), checked to agree, then f, vjp and f_vjp (all outputs; the
 * fused f and VJP that the adjoint's backward pass calls) are timed at
 * B = 1 and B = 20: each timed batch is ~2 ms of back-to-back calls through
 * volatile function pointers, outputs feeding a volatile sink; the two
 * backends alternate within each round, which goes first rotating, so the
 * noise of a shared machine hits both alike.  Reported: median ns per call
 * of each, the median of the per-round ratios JIT / C (paired), and the
 * fastest round of each with their ratio (the least disturbed by other load).
 */
#define _POSIX_C_SOURCE 199309L
#include "cmd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nodec_model.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of this thread: what the compile costs without the waits for a
 * core that a loaded machine adds to the wall-clock time. */
static double cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static bool compile(const char *path, Compilation *c) {
    memset(c, 0, sizeof *c);
    c->arena = arena_new();
    char err[512];
    if (!source_read(path, &c->src, c->arena, err, sizeof err)) {
        fprintf(stderr, "bench_jit: %s\n", err);
        return false;
    }
    c->diag.out = stderr;
    return nc_compile(c, STAGE_C);
}

static int cmd_compile(int runs, char **models, int n) {
    printf("%-22s %9s %10s %9s %9s %9s %9s %8s\n", "model", "first ms", "median ms", "cpu ms", "front ms", "llvm ms",
           "lazy ms", "cc ms");
    for (int k = 0; k < n; k++) {
        double *tot = malloc(sizeof(double) * (size_t)runs), *fr = malloc(sizeof(double) * (size_t)runs),
               *ll = malloc(sizeof(double) * (size_t)runs), *cp = malloc(sizeof(double) * (size_t)runs),
               *lz = malloc(sizeof(double) * (size_t)runs), first = 0;
        for (int r = 0; r < runs; r++) {
            Compilation c;
            LoadedModel lm;
            char err[2048];
            double c0 = cpu(), t0 = now();
            if (!compile(models[k], &c)) return 1;
            EmitOpts o = {c.src.path, fnv1a64(c.src.text, (size_t)c.src.len), false};
            double t1 = now();
            if (!nc_load_llvm(c.prog, &o, &lm, err, sizeof err)) return fprintf(stderr, "bench_jit: %s\n", err), 1;
            double t2 = now();
            cp[r] = (cpu() - c0) * 1e3;
            tot[r] = (t2 - t0) * 1e3, fr[r] = (t1 - t0) * 1e3, ll[r] = (t2 - t1) * 1e3;
            if (r == 0) first = tot[r];
            /* the first vjp call compiles the lazy module */
            const nodec_model *m = lm.model;
            int ns = m->n_state;
            double *z = calloc((size_t)ns, sizeof(double)), *az = calloc((size_t)ns, sizeof(double));
            double *th = calloc((size_t)m->n_param + 1, sizeof(double)), *w = calloc((size_t)m->work_size + 1, 8);
            double c1 = cpu();
            m->vjp(1, 0, z, th, z, az, NULL, NULL, w);
            lz[r] = (cpu() - c1) * 1e3;
            free(z), free(az), free(th), free(w);
            nc_unload_llvm(&lm), nc_free(&c);
        }
        /* the C route, a few times */
        double cc[3];
        for (int r = 0; r < 3; r++) {
            Compilation c;
            LoadedModel lm;
            char err[2048];
            double t0 = now();
            if (!compile(models[k], &c)) return 1;
            EmitOpts o = {c.src.path, fnv1a64(c.src.text, (size_t)c.src.len), false};
            if (!nc_load_cc(c.prog, &o, &lm, err, sizeof err)) return fprintf(stderr, "bench_jit: %s\n", err), 1;
            cc[r] = (now() - t0) * 1e3;
            nc_unload(&lm), nc_free(&c);
        }
        const char *base = strrchr(models[k], '/');
        printf("%-22s %9.1f %10.1f %9.1f %9.2f %9.1f %9.1f %8.1f\n", base ? base + 1 : models[k], first,
               median(tot + 1, runs - 1), median(cp + 1, runs - 1), median(fr + 1, runs - 1), median(ll + 1, runs - 1),
               median(lz + 1, runs - 1), median(cc, 3));
        free(tot), free(fr), free(ll), free(cp), free(lz);
    }
    return 0;
}

static volatile double sink;

enum { T_F, T_VJP, T_F_VJP, T_COUNT };
static const char *const t_name[T_COUNT] = {"f", "vjp", "f_vjp"};

/* ns per call of `calls` back-to-back calls of f, vjp or f_vjp at batch B;
 * out has room for 2 B n_state doubles (f_vjp: dzdt, then az). */
static double time_one(const nodec_model *m, int fn, int B, long calls, double *z, double *th, double *a, double *out,
                       double *ath, double *work) {
    nodec_f_fn volatile f = m->f;
    nodec_vjp_fn volatile v = m->vjp;
    nodec_f_vjp_fn volatile fv = m->f_vjp;
    double at = 0, t0 = now();
    if (fn == T_VJP)
        for (long k = 0; k < calls; k++) v(B, 0.5, z, th, a, out, ath, &at, work);
    else if (fn == T_F_VJP)
        for (long k = 0; k < calls; k++) fv(B, 0.5, z, th, a, out, out + B * m->n_state, ath, &at, work);
    else
        for (long k = 0; k < calls; k++) f(B, 0.5, z, th, out, work);
    double dt = now() - t0;
    sink = out[0] + at + (fn != T_F ? ath[0] : 0);
    return dt / (double)calls * 1e9;
}

static int cmd_speed(int rounds, const char *path) {
    Compilation c;
    if (!compile(path, &c)) return 1;
    EmitOpts o = {c.src.path, fnv1a64(c.src.text, (size_t)c.src.len), false};
    LoadedModel lc, lj;
    char err[2048];
    if (!nc_load_cc(c.prog, &o, &lc, err, sizeof err) || !nc_load_llvm(c.prog, &o, &lj, err, sizeof err))
        return fprintf(stderr, "bench_jit: %s\n", err), 1;
    const nodec_model *m[2] = {lc.model, lj.model};
    enum { BMAX = 20 };
    int ns = m[0]->n_state, np = m[0]->n_param;
    double *z = malloc(sizeof(double) * BMAX * (size_t)ns), *a = malloc(sizeof(double) * BMAX * (size_t)ns);
    double *out[2], *ath[2], *work[2], *th = malloc(sizeof(double) * (size_t)(np + 1));
    for (int i = 0; i < 2; i++) {
        out[i] = malloc(sizeof(double) * 2 * BMAX * (size_t)ns);
        ath[i] = malloc(sizeof(double) * (size_t)(np + 1));
        work[i] = malloc(sizeof(double) * (size_t)(m[i]->work_size + 1));
    }
    unsigned long long s = 12345;
    for (int i = 0; i < BMAX * ns; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        z[i] = 0.2 + (double)(s >> 11) / 9007199254740992.0;
        a[i] = z[i] - 0.7;
    }
    m[0]->init_params(th, 7);
    /* agree before timing */
    for (int i = 0; i < 2; i++) m[i]->vjp(BMAX, 0.5, z, th, a, out[i], ath[i], &(double){0}, work[i]);
    double diff = 0;
    for (int i = 0; i < BMAX * ns; i++) diff = fmax(diff, fabs(out[0][i] - out[1][i]));
    for (int i = 0; i < np; i++) diff = fmax(diff, fabs(ath[0][i] - ath[1][i]));
    printf("%s: n_state %d, n_param %d; vjp max |C - JIT| = %.3g\n", m[0]->name, ns, np, diff);
    if (!(diff < 1e-12)) return fprintf(stderr, "bench_jit: the backends disagree, not timing\n"), 1;
    printf("%-10s %4s %12s %12s %10s %10s %10s %10s\n", "function", "B", "C ns/call", "JIT ns/call", "JIT/C", "C min",
           "JIT min", "min ratio");
    const int Bs[2] = {1, BMAX};
    for (int fv = 0; fv < T_COUNT; fv++)
        for (int bi = 0; bi < 2; bi++) {
            if (fv == T_F_VJP && !(m[0]->f_vjp && m[1]->f_vjp)) continue;
            int B = Bs[bi];
            /* calibrate to ~2 ms per timed batch */
            long calls = 16;
            while (time_one(m[0], fv, B, calls, z, th, a, out[0], ath[0], work[0]) * calls < 2e6 && calls < (1L << 24))
                calls *= 2;
            double *t[2], *ratio = malloc(sizeof(double) * (size_t)rounds);
            t[0] = malloc(sizeof(double) * (size_t)rounds), t[1] = malloc(sizeof(double) * (size_t)rounds);
            for (int r = 0; r < rounds; r++) {
                for (int q = 0; q < 2; q++) {
                    int i = (q + r) % 2;
                    t[i][r] = time_one(m[i], fv, B, calls, z, th, a, out[i], ath[i], work[i]);
                }
                ratio[r] = t[1][r] / t[0][r];
            }
            double mc = median(t[0], rounds), mj = median(t[1], rounds); /* sorts t[] */
            printf("%-10s %4d %12.1f %12.1f %10.3f %10.1f %10.1f %10.3f\n", t_name[fv], B, mc, mj,
                   median(ratio, rounds), t[0][0], t[1][0], t[1][0] / t[0][0]);
            free(t[0]), free(t[1]), free(ratio);
        }
    for (int i = 0; i < 2; i++) free(out[i]), free(ath[i]), free(work[i]);
    free(z), free(a), free(th);
    nc_unload_llvm(&lj), nc_unload(&lc), nc_free(&c);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && !strcmp(argv[1], "compile")) {
        int runs = atoi(argv[2]);
        if (runs >= 2) return cmd_compile(runs, argv + 3, argc - 3);
        return cmd_compile(21, argv + 2, argc - 2);
    }
    if (argc >= 3 && !strcmp(argv[1], "speed")) {
        int rounds = argc >= 4 ? atoi(argv[2]) : 21;
        return cmd_speed(rounds > 0 ? rounds : 21, argv[argc - 1]);
    }
    fprintf(stderr, "usage: bench_jit compile [runs] MODEL... | bench_jit speed [rounds] MODEL\n");
    return 2;
}
