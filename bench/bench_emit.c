/* bench_emit.c — times nodec's emitted spiral_f / spiral_vjp against the
 * hand-written ones in handwritten_spiral.c (bench/README.md).
 *
 * Built by run.sh from three translation units compiled with the same flags:
 * this driver, the emitted spiral.c and handwritten_spiral.c.  Calls go
 * through volatile function pointers into other translation units, and every
 * timed batch feeds its output into a volatile sink, so neither kernel can
 * be inlined into the loop or dropped as dead code.
 *
 *   bench_emit verify          both implementations agree (max abs diff < 1e-12)
 *   bench_emit time [rounds]   median ns per call, emitted vs hand-written
 *   bench_emit count B N       N calls of each kernel at batch B (for callgrind)
 *
 * With no arguments it verifies, then times.  Timing interleaves the two
 * implementations round by round, alternating which goes first, so slow
 * phases of a shared, noisy machine hit both alike; it reports the median
 * over rounds for each and two ratios: of the medians, and the median of the
 * per-round ratios (paired, the more robust of the two).
 */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spiral.h"

void hw_spiral_f(int B, double t, const double *z, const double *theta, double *dzdt,
    double *work);
void hw_spiral_vjp(int B, double t, const double *z, const double *theta, const double *a,
    double *az, double *atheta, double *at, double *work);
void hw_fused_spiral_f(int B, double t, const double *z, const double *theta, double *dzdt,
    double *work);
void hw_fused_spiral_vjp(int B, double t, const double *z, const double *theta, const double *a,
    double *az, double *atheta, double *at, double *work);

#define NZ 2
#define BMAX 20
#define TOL 1e-12

static double theta[252];
static double z[BMAX * NZ], a[BMAX * NZ];
static double out[BMAX * NZ], az[BMAX * NZ], atheta[252], at;
static double *work;
static volatile double sink;

/* 0 is nodec's, 1 the hand-written baseline, 2 its fused variant. */
#define NIMPL 3
static nodec_f_fn volatile f_impl[NIMPL] = {spiral_f, hw_spiral_f, hw_fused_spiral_f};
static nodec_vjp_fn volatile vjp_impl[NIMPL] = {spiral_vjp, hw_spiral_vjp, hw_fused_spiral_vjp};
static const char *impl_name[NIMPL] = {"emitted", "hand", "hand_fused"};

static unsigned long long rng = 0x853c49e6748fea9bull;
static double uniform(double lo, double hi)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (double)(rng >> 11) / 9007199254740992.0;
}

/* θ from the model's own initializer, then nonzero biases so every term of
 * the VJP is exercised; states in the range the spiral demo visits. */
static void setup(void)
{
    int n = spiral_model.n_param;
    if (n != 252 || spiral_model.n_state != NZ) {
        fprintf(stderr, "bench_emit: unexpected spiral sizes (%d params, %d states)\n", n,
            spiral_model.n_state);
        exit(2);
    }
    spiral_init_params(theta, 1);
    for (int i = 100; i < 150; i++) theta[i] = uniform(-0.5, 0.5);
    for (int i = 250; i < 252; i++) theta[i] = uniform(-0.5, 0.5);
    for (int i = 0; i < BMAX * NZ; i++) z[i] = uniform(-2, 2), a[i] = uniform(-1, 1);
    work = malloc(sizeof(double) * (size_t)(spiral_model.work_size + 16));
    if (!work) exit(2);
}

static double maxdiff(const double *x, const double *y, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++) {
        double d = fabs(x[i] - y[i]);
        if (!(d <= m)) m = d; /* NaN propagates as a failure */
    }
    return m;
}

/* Outputs are pre-filled with NaN: the VJP must overwrite, not accumulate. */
static int verify(void)
{
    int ok = 1;
    static const int Bs[] = {1, 3, BMAX};
    for (unsigned c = 0; c < sizeof Bs / sizeof *Bs; c++) {
        int B = Bs[c];
        double fo[NIMPL][BMAX * NZ], azo[NIMPL][BMAX * NZ], ath[NIMPL][252], ato[NIMPL];
        for (int k = 0; k < NIMPL; k++) {
            for (int i = 0; i < BMAX * NZ; i++) fo[k][i] = azo[k][i] = NAN;
            for (int i = 0; i < 252; i++) ath[k][i] = NAN;
            ato[k] = NAN;
            f_impl[k](B, 0.5, z, theta, fo[k], work);
            vjp_impl[k](B, 0.5, z, theta, a, azo[k], ath[k], &ato[k], work);
        }
        for (int k = 0; k < NIMPL; k++) {
            if (k == 1) continue; /* each against the hand-written baseline */
            double df = maxdiff(fo[k], fo[1], B * NZ), daz = maxdiff(azo[k], azo[1], B * NZ);
            double dth = maxdiff(ath[k], ath[1], 252), dat = maxdiff(&ato[k], &ato[1], 1);
            int pass = df < TOL && daz < TOL && dth < TOL && dat < TOL;
            printf("verify %-10s vs hand  B=%-2d  max|diff|  f %.2e  az %.2e  atheta %.2e  "
                   "at %.2e  %s\n",
                impl_name[k], B, df, daz, dth, dat, pass ? "ok" : "FAIL");
            ok &= pass;
        }
    }
    return ok;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ns per call of `reps` back-to-back calls of implementation k. */
static double run(int kind, int k, int B, long reps)
{
    double t0 = now_ns();
    if (kind == 0) {
        nodec_f_fn f = f_impl[k];
        for (long r = 0; r < reps; r++) f(B, 0.5, z, theta, out, work);
        sink += out[0];
    } else {
        nodec_vjp_fn g = vjp_impl[k];
        for (long r = 0; r < reps; r++) g(B, 0.5, z, theta, a, az, atheta, &at, work);
        sink += az[0] + atheta[0] + at;
    }
    return (now_ns() - t0) / (double)reps;
}

static int cmp(const void *x, const void *y)
{
    double u = *(const double *)x, v = *(const double *)y;
    return (u > v) - (u < v);
}

static double median(double *x, int n)
{
    qsort(x, (size_t)n, sizeof *x, cmp);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

static void time_case(int kind, int B, int rounds)
{
    enum { MAXR = 1001 };
    static double ns[NIMPL][MAXR], ratio[2][MAXR];
    /* Calibrate so one timed batch lasts about 4 ms. */
    long reps = 16;
    for (;;) {
        double t = run(kind, 1, B, reps) * (double)reps;
        if (t > 4e6 || reps > (1L << 30)) break;
        reps = t < 1e5 ? reps * 16 : (long)((double)reps * 4e6 / t) + 1;
    }
    run(kind, 0, B, reps); /* warm the others up too */
    run(kind, 2, B, reps);
    for (int r = 0; r < rounds; r++) {
        /* Rotate the order (and reverse it every other round) so no
         * implementation always runs first or last. */
        for (int i = 0; i < NIMPL; i++) {
            int k = (r & 1) ? (r + i) % NIMPL : (r + NIMPL - i) % NIMPL;
            ns[k][r] = run(kind, k, B, reps);
        }
        ratio[0][r] = ns[0][r] / ns[1][r];
        ratio[1][r] = ns[0][r] / ns[2][r];
    }
    double me = median(ns[0], rounds), mh = median(ns[1], rounds);
    double mf = median(ns[2], rounds);
    double mr = median(ratio[0], rounds), mrf = median(ratio[1], rounds);
    printf("%-4s B=%-2d %11.1f %11.1f %11.1f %9.3f %9.3f %9.3f   (%d rounds x %ld calls)\n",
        kind ? "vjp" : "f", B, me, mh, mf, me / mh, mr, mrf, rounds, reps);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    setup();
    const char *mode = argc > 1 ? argv[1] : "all";
    if (!strcmp(mode, "count")) {
        int B = argc > 2 ? atoi(argv[2]) : 1;
        long n = argc > 3 ? atol(argv[3]) : 1000;
        if (B < 1 || B > BMAX || n < 1) return 2;
        for (int k = 0; k < NIMPL; k++) {
            for (long r = 0; r < n; r++) f_impl[k](B, 0.5, z, theta, out, work);
            for (long r = 0; r < n; r++)
                vjp_impl[k](B, 0.5, z, theta, a, az, atheta, &at, work);
        }
        sink += out[0] + az[0] + atheta[0];
        printf("count: %ld calls of each kernel (%s, %s, %s) at B=%d\n", n, impl_name[0],
            impl_name[1], impl_name[2], B);
        return 0;
    }
    if (!verify()) {
        fprintf(stderr, "bench_emit: implementations disagree; not timing wrong code\n");
        return 1;
    }
    if (!strcmp(mode, "verify")) return 0;
    int rounds = !strcmp(mode, "time") && argc > 2 ? atoi(argv[2]) : 41;
    if (rounds < 1 || rounds > 1001) rounds = 41;
    printf("ns per call (medians)                           emitted/hand   emitted/fused\n"
           "kernel        emitted        hand  hand_fused  ratio-med med-ratio med-ratio\n");
    for (int kind = 0; kind < 2; kind++) {
        time_case(kind, 1, rounds);
        time_case(kind, BMAX, rounds);
    }
    return 0;
}
