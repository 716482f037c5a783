/* scale_bench.c — one adjoint loss gradient of the MLP neural ODE
 *
 *     dz/dt = W3 tanh(W2 tanh(W1 z + b1) + b2) + b3,   z ∈ R², hidden H
 *
 * for a batch of B trajectories (independent initial states), 11
 * observation times on [0, 1], rk4 at a fixed step of 0.05, MSE, f64, one
 * nodec thread (nodec_set_threads(s, 1); the runtime's default is all
 * cores) and then two — against OpenBLAS dgemm on the products a batch-major
 * implementation of the same f and VJP would make.  run.sh emits
 * `mlp_H.nde` (model name `mlp`) once per H and links this driver with the
 * emitted mlp.c, libnodec.a and OpenBLAS; bench/scale/README.md says what
 * is measured and how the FLOPs are counted.
 *
 *   scale_bench [--batches 20,256,2048] [--max-s 20] [--reps 5] [--big-reps 3]
 *               [--kernel-ms 300] [--dgemm-ms 300] [--no-dgemm]
 *   scale_bench --profile N [--batches 256]     N calls of f, then N of f_vjp
 *                                               per B, nothing timed (for
 *                                               callgrind: instructions per call)
 *
 * For each B it prints one line of key=value pairs (summarize.py makes the
 * tables):
 *   1. f and f_vjp (or f then vjp) timed alone at the full shape;
 *   2. the evaluation counts of one gradient (from a B = 1 run: they do not
 *      depend on B or H at fixed steps), and from them and 1. a predicted
 *      gradient time; a shape predicted to take more than --max-s seconds
 *      of CPU is not run (its line says skipped and gives the prediction);
 *   3. nodec_loss_grad --reps times (--big-reps when predicted > 5 s) with one
 *      nodec thread (thread CPU time and wall time per gradient), each
 *      followed by one with two threads (wall time; the calling thread's and
 *      the process's CPU time):
 *      the 1 → 2 speed-up is the ratio of the wall-time medians, and the
 *      two-thread gradient (∂θ, ∂z0, loss) must be the same bits;
 *   4. dgemm: the 3 products of f and the 6 of the VJP ("the mix") and the
 *      largest one alone (B×H · H×H), with 1 and then 2 OpenBLAS threads.
 * Single-threaded times are thread CPU time (CLOCK_THREAD_CPUTIME_ID): on
 * this shared 2-core machine wall time mostly measures the other jobs.  The
 * two-thread dgemm can only be timed by the wall clock.  No timed assertion:
 * it measures and prints.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "mlp.h"
#include "nodec.h"

#define NT 11     /* observation times 0, 0.1, …, 1 */
#define STEP 0.05 /* rk4 fixed step */
#define MAX_ROUNDS 64

static const nodec_model *M = &mlp_model;
static int H; /* hidden width, read from the descriptor */

/* ---- clocks ---- */

typedef struct {
    double wall, cpu;
} stamp;

static stamp now(void) {
    struct timespec w, c;
    clock_gettime(CLOCK_MONOTONIC, &w);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c);
    return (stamp){w.tv_sec + 1e-9 * w.tv_nsec, c.tv_sec + 1e-9 * c.tv_nsec};
}

static double process_cpu(void) /* all threads of the process */
{
    struct timespec c;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c);
    return c.tv_sec + 1e-9 * c.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n) {
    double s[MAX_ROUNDS];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

static double vmin(const double *v, int n) {
    double m = v[0];
    for (int i = 1; i < n; i++) m = v[i] < m ? v[i] : m;
    return m;
}

static double vmax(const double *v, int n) {
    double m = v[0];
    for (int i = 1; i < n; i++) m = v[i] > m ? v[i] : m;
    return m;
}

/* Times fn(arg): `rounds` rounds of k back-to-back calls, k chosen from a
 * first call so that all rounds take about target_s; returns the median
 * time per call over the rounds (wall and CPU). */
typedef void (*work_fn)(void *arg);

static stamp time_calls(work_fn fn, void *arg, double target_s, int rounds) {
    stamp t0 = now();
    fn(arg); /* warm-up and calibration */
    stamp t1 = now();
    double one = t1.wall - t0.wall > 1e-7 ? t1.wall - t0.wall : 1e-7;
    long k = (long)(target_s / rounds / one);
    if (k < 1) k = 1;
    double w[MAX_ROUNDS], c[MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        stamp a = now();
        for (long i = 0; i < k; i++) fn(arg);
        stamp b = now();
        w[r] = (b.wall - a.wall) / k;
        c[r] = (b.cpu - a.cpu) / k;
    }
    return (stamp){median(w, rounds), median(c, rounds)};
}

/* ---- FLOPs (README: "What a gradient costs") ----
 * Multiply-adds per sample: f = 2H + H² + 2H (W1 z, W2 h1, W3 h2); the VJP
 * twice that (W3ᵀa, a h2ᵀ, W2ᵀg2, g2 h1ᵀ, W1ᵀg1, g1 zᵀ).  One multiply-add
 * counts 2 FLOPs; biases, tanh and the ⊙(1 − h²) are not counted. */
static double flops_f(int B) { return 2.0 * B * ((double)H * H + 4.0 * H); }
static double flops_vjp(int B) { return 2.0 * flops_f(B); }

static uint64_t rng_state;
static double urand(double lo, double hi) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return lo + (hi - lo) * (double)(z >> 11) * 0x1.0p-53;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "scale_bench: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

/* ---- the nodec gradient ---- */

typedef struct {
    int B;
    nodec_solver *s;
    double *theta, *z0, *obs, *dtheta, *dz0, t[NT], loss;
    /* kernels alone */
    double *a, *dzdt, *az, *atheta, at, *work;
} problem;

static void problem_init(problem *p, int B) {
    int nz = B * M->n_state, P = M->n_param;
    p->B = B;
    p->theta = xmalloc(P * sizeof(double));
    p->dtheta = xmalloc(P * sizeof(double));
    p->atheta = xmalloc(P * sizeof(double));
    p->z0 = xmalloc(nz * sizeof(double));
    p->dz0 = xmalloc(nz * sizeof(double));
    p->a = xmalloc(nz * sizeof(double));
    p->dzdt = xmalloc(nz * sizeof(double));
    p->az = xmalloc(nz * sizeof(double));
    p->obs = xmalloc((size_t)NT * nz * sizeof(double));
    p->work = xmalloc((M->work_size ? M->work_size : 1) * sizeof(double));
    M->init_params(p->theta, 1); /* glorot weights, zero biases */
    rng_state = 12345;
    for (int i = 0; i < nz; i++) p->z0[i] = urand(-2, 2), p->a[i] = urand(-1, 1);
    /* observations: each initial state turned about the origin (a target
     * the untrained network does not follow, so the loss is not small) */
    for (int i = 0; i < NT; i++) {
        p->t[i] = 0.1 * i;
        double c = cos(2 * p->t[i]), s = sin(2 * p->t[i]);
        for (int b = 0; b < B; b++) {
            const double *z = p->z0 + 2 * b;
            double *o = p->obs + (size_t)i * nz + 2 * b;
            o[0] = c * z[0] - s * z[1], o[1] = s * z[0] + c * z[1];
        }
    }
    p->s = nodec_create(M, B);
    if (!p->s || nodec_set_method(p->s, NODEC_RK4) || nodec_set_fixed_step(p->s, STEP) ||
        nodec_set_grad_mode(p->s, NODEC_GRAD_ADJOINT) || nodec_set_threads(p->s, 1)) {
        fprintf(stderr, "scale_bench: cannot set up the solver (B = %d)\n", B);
        exit(1);
    }
}

static void problem_free(problem *p) {
    nodec_free(p->s);
    free(p->theta), free(p->dtheta), free(p->atheta), free(p->z0), free(p->dz0);
    free(p->a), free(p->dzdt), free(p->az), free(p->obs), free(p->work);
}

static void grad(problem *p) {
    int rc = nodec_loss_grad(p->s, p->theta, p->z0, NT, p->t, p->obs, &p->loss, p->dtheta, p->dz0, NULL, NULL);
    if (rc != NODEC_SUCCESS) {
        fprintf(stderr, "scale_bench: nodec_loss_grad: %s: %s\n", nodec_error_name(rc), nodec_get_error_message(p->s));
        exit(1);
    }
}

static void call_f(void *arg) {
    problem *p = arg;
    M->f(p->B, 0.5, p->z0, p->theta, p->dzdt, p->work);
}

static void call_fvjp(void *arg) /* what the adjoint's backward pass calls */
{
    problem *p = arg;
    if (M->f_vjp)
        M->f_vjp(p->B, 0.5, p->z0, p->theta, p->a, p->dzdt, p->az, p->atheta, &p->at, p->work);
    else {
        M->f(p->B, 0.5, p->z0, p->theta, p->dzdt, p->work);
        M->vjp(p->B, 0.5, p->z0, p->theta, p->a, p->az, p->atheta, &p->at, p->work);
    }
}

/* ---- dgemm on the same shapes (row-major; see README) ---- */

typedef struct {
    int B;
    double *Z, *W1, *W2, *W3, *H1, *H2, *A, *G1, *G2; /* inputs */
    double *T1, *T2, *Y, *aW1, *aW2, *aW3, *aZ;       /* outputs */
} gemm_set;

static double *randmat(long n) {
    double *m = xmalloc(n * sizeof(double));
    for (long i = 0; i < n; i++) m[i] = urand(-1, 1);
    return m;
}

static void gemm_init(gemm_set *g, int B) {
    long BH = (long)B * H, HH = (long)H * H;
    rng_state = 777;
    g->B = B;
    g->Z = randmat(2L * B), g->A = randmat(2L * B), g->W1 = randmat(2L * H), g->W3 = randmat(2L * H);
    g->W2 = randmat(HH), g->H1 = randmat(BH), g->H2 = randmat(BH), g->G1 = randmat(BH), g->G2 = randmat(BH);
    g->T1 = randmat(BH), g->T2 = randmat(BH), g->Y = randmat(2L * B), g->aZ = randmat(2L * B);
    g->aW1 = randmat(2L * H), g->aW2 = randmat(HH), g->aW3 = randmat(2L * H);
}

static void gemm_free(gemm_set *g) {
    double *all[] = {g->Z,  g->A,  g->W1, g->W3, g->W2, g->H1,  g->H2,  g->G1,
                     g->G2, g->T1, g->T2, g->Y,  g->aZ, g->aW1, g->aW2, g->aW3};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]);
}

#define GEMM(ta, tb, m, n, k, A, lda, Bm, ldb, C, ldc)                                                                 \
    cblas_dgemm(CblasRowMajor, Cblas##ta, Cblas##tb, m, n, k, 1.0, A, lda, Bm, ldb, 0.0, C, ldc)

/* f for the batch: A1 = Z W1ᵀ, A2 = H1 W2ᵀ, Y = H2 W3ᵀ (row-major, B rows) */
static void gemm_f(void *arg) {
    gemm_set *g = arg;
    int B = g->B;
    GEMM(NoTrans, Trans, B, H, 2, g->Z, 2, g->W1, 2, g->T1, H);
    GEMM(NoTrans, Trans, B, H, H, g->H1, H, g->W2, H, g->T2, H);
    GEMM(NoTrans, Trans, B, 2, H, g->H2, H, g->W3, H, g->Y, 2);
}

/* the VJP: G2 = A W3, aW3 = Aᵀ H2, G1 = G2 W2, aW2 = G2ᵀ H1, aZ = G1 W1,
 * aW1 = G1ᵀ Z (G2 and G1 are overwritten with values of the same size) */
static void gemm_vjp(void *arg) {
    gemm_set *g = arg;
    int B = g->B;
    GEMM(NoTrans, NoTrans, B, H, 2, g->A, 2, g->W3, H, g->G2, H);
    GEMM(Trans, NoTrans, 2, H, B, g->A, 2, g->H2, H, g->aW3, H);
    GEMM(NoTrans, NoTrans, B, H, H, g->G2, H, g->W2, H, g->G1, H);
    GEMM(Trans, NoTrans, H, H, B, g->G2, H, g->H1, H, g->aW2, H);
    GEMM(NoTrans, NoTrans, B, 2, H, g->G1, H, g->W1, 2, g->aZ, 2);
    GEMM(Trans, NoTrans, H, 2, B, g->G1, H, g->Z, 2, g->aW1, 2);
}

/* the largest product alone: B×H · H×H */
static void gemm_big(void *arg) {
    gemm_set *g = arg;
    GEMM(NoTrans, Trans, g->B, H, H, g->H1, H, g->W2, H, g->T2, H);
}

static void pause_s(double s) /* lets OpenBLAS's spinning workers go to sleep */
{
    struct timespec ts = {(time_t)s, (long)((s - (long)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static double loadavg(void) {
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = -1;
        fclose(f);
    }
    return l;
}

/* ---- main ---- */

static void usage(void) {
    fprintf(stderr, "usage: scale_bench [--batches 20,256,2048] [--max-s 20] [--reps 5] "
                    "[--big-reps 3] [--kernel-ms 300] [--dgemm-ms 300] [--no-dgemm]\n"
                    "       scale_bench --profile N [--batches B,...]\n");
    exit(2);
}

int main(int argc, char **argv) {
    int batches[16], nb = 0, reps = 5, big_reps = 3, dgemm = 1, profile = 0;
    double max_s = 20, kernel_s = 0.3, dgemm_s = 0.3;
    const char *blist = "20,256,2048";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--no-dgemm")) {
            dgemm = 0;
            continue;
        }
        if (i + 1 >= argc) usage();
        if (!strcmp(argv[i], "--batches"))
            blist = argv[++i];
        else if (!strcmp(argv[i], "--max-s"))
            max_s = atof(argv[++i]);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--big-reps"))
            big_reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--kernel-ms"))
            kernel_s = atof(argv[++i]) / 1e3;
        else if (!strcmp(argv[i], "--profile"))
            profile = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dgemm-ms"))
            dgemm_s = atof(argv[++i]) / 1e3;
        else
            usage();
    }
    for (const char *c = blist; *c && nb < 16; c = strchr(c, ',') ? strchr(c, ',') + 1 : "")
        if ((batches[nb++] = atoi(c)) < 1) usage();
    if (reps < 1 || reps > MAX_ROUNDS || big_reps < 1 || big_reps > MAX_ROUNDS) usage();

    /* H from the descriptor: W1 is the first parameter, H × 2 */
    if (M->n_param_vars < 1 || strcmp(M->param_vars[0].name, "W1")) {
        fprintf(stderr, "scale_bench: expected W1 as the first parameter of the model\n");
        return 1;
    }
    H = M->param_vars[0].dim[0];
    openblas_set_num_threads(1);

    if (profile > 0) {
        for (int ib = 0; ib < nb; ib++) {
            problem p;
            problem_init(&p, batches[ib]);
            for (int i = 0; i < profile; i++) call_f(&p);
            for (int i = 0; i < profile; i++) call_fvjp(&p);
            problem_free(&p);
        }
        return 0;
    }

    /* evaluation counts: independent of B and H at a fixed step */
    long nf_fwd, nf_bwd, nvjp;
    {
        problem p1;
        problem_init(&p1, 1);
        grad(&p1);
        nf_fwd = nodec_get_num_f_evals(p1.s, NODEC_PASS_FORWARD);
        nf_bwd = nodec_get_num_f_evals(p1.s, NODEC_PASS_BACKWARD);
        nvjp = nodec_get_num_vjp_evals(p1.s, NODEC_PASS_BACKWARD) + nodec_get_num_vjp_evals(p1.s, NODEC_PASS_FORWARD);
        problem_free(&p1);
    }

    for (int ib = 0; ib < nb; ib++) {
        int B = batches[ib];
        double load0 = loadavg();
        problem p;
        problem_init(&p, B);

        /* 1. the kernels alone */
        stamp tf = time_calls(call_f, &p, kernel_s, 3);
        stamp tfv = time_calls(call_fvjp, &p, kernel_s, 3);
        double F = flops_f(B), V = flops_vjp(B);
        double gflop = ((nf_fwd + nf_bwd) * F + nvjp * V) / 1e9;
        /* 2. predicted CPU seconds per gradient from the kernels alone:
         * the backward pass calls f_vjp once per f+vjp pair */
        double pred = (nf_fwd + nf_bwd - nvjp) * tf.cpu + nvjp * tfv.cpu;

        printf("H=%d B=%d n_param=%d f_evals_fwd=%ld f_evals_bwd=%ld vjp_evals=%ld "
               "fused=%d gflop=%.6g f_ms=%.6g fvjp_ms=%.6g f_gflops=%.4g fvjp_gflops=%.4g "
               "pred_s=%.4g",
               H, B, M->n_param, nf_fwd, nf_bwd, nvjp, M->f_vjp != NULL, gflop, tf.cpu * 1e3, tfv.cpu * 1e3,
               F / tf.cpu / 1e9, (F + V) / tfv.cpu / 1e9, pred);

        /* 3. the gradient: one nodec thread (CPU time), and two (wall time),
         * alternately, so both see the same load; the two-thread gradient
         * must be the same bits as the one-thread one */
        if (pred > max_s) {
            printf(" skipped=1");
        } else {
            int n = pred > 5 ? big_reps : reps, P = M->n_param, nz = B * M->n_state;
            double *g1 = xmalloc(P * sizeof(double)), *d1 = xmalloc(nz * sizeof(double)), l1;
            int same = 1, used2;
            nodec_set_threads(p.s, 2);
            used2 = nodec_get_threads(p.s);
            if (pred < 2) { /* warm-up, both */
                grad(&p);
                nodec_set_threads(p.s, 1);
                grad(&p);
            }
            double w[MAX_ROUNDS], c[MAX_ROUNDS], w2[MAX_ROUNDS], c2[MAX_ROUNDS], pc2[MAX_ROUNDS];
            for (int r = 0; r < n; r++) {
                nodec_set_threads(p.s, 1);
                stamp a = now();
                grad(&p);
                stamp b = now();
                w[r] = (b.wall - a.wall) * 1e3, c[r] = (b.cpu - a.cpu) * 1e3;
                memcpy(g1, p.dtheta, P * sizeof(double)), memcpy(d1, p.dz0, nz * sizeof(double)), l1 = p.loss;
                nodec_set_threads(p.s, 2);
                double q0 = process_cpu();
                a = now();
                grad(&p);
                b = now();
                w2[r] = (b.wall - a.wall) * 1e3, c2[r] = (b.cpu - a.cpu) * 1e3, pc2[r] = (process_cpu() - q0) * 1e3;
                same = same && !memcmp(g1, p.dtheta, P * sizeof(double)) && !memcmp(d1, p.dz0, nz * sizeof(double)) &&
                       !memcmp(&l1, &p.loss, sizeof l1);
            }
            nodec_set_threads(p.s, 1);
            if (nodec_get_num_f_evals(p.s, NODEC_PASS_FORWARD) != nf_fwd ||
                nodec_get_num_vjp_evals(p.s, NODEC_PASS_BACKWARD) != nvjp) {
                fprintf(stderr, "scale_bench: evaluation counts differ from B = 1's\n");
                return 1;
            }
            double g2 = 0;
            for (int i = 0; i < M->n_param; i++) g2 += g1[i] * g1[i];
            printf(" skipped=0 reps=%d cpu_ms=%.6g cpu_ms_min=%.6g cpu_ms_max=%.6g wall_ms=%.6g "
                   "wall_ms_min=%.6g wall_ms_max=%.6g loss=%.17g dtheta_norm=%.17g "
                   "threads2=%d wall2_ms=%.6g wall2_ms_min=%.6g wall2_ms_max=%.6g cpu2_ms=%.6g proc2_cpu_ms=%.6g "
                   "speedup2=%.4g same_bits=%d",
                   n, median(c, n), vmin(c, n), vmax(c, n), median(w, n), vmin(w, n), vmax(w, n), l1, sqrt(g2),
                   used2, median(w2, n), vmin(w2, n), vmax(w2, n), median(c2, n), median(pc2, n), median(w, n) / median(w2, n), same);
            free(g1), free(d1);
        }
        problem_free(&p);
        fflush(stdout);

        /* 4. dgemm, one thread then two */
        if (dgemm) {
            gemm_set g;
            gemm_init(&g, B);
            for (int nt = 1; nt <= 2; nt++) {
                openblas_set_num_threads(nt);
                stamp gf = time_calls(gemm_f, &g, dgemm_s, 5);
                stamp gv = time_calls(gemm_vjp, &g, dgemm_s, 5);
                stamp gb = time_calls(gemm_big, &g, dgemm_s, 5);
                /* one thread: CPU time, as nodec's; two: wall time */
                double tfs = nt == 1 ? gf.cpu : gf.wall, tvs = nt == 1 ? gv.cpu : gv.wall;
                double tbs = nt == 1 ? gb.cpu : gb.wall;
                /* the mix weighted as the gradient evaluates f and the VJP */
                double mix_s = (nf_fwd + nf_bwd) * tfs + nvjp * tvs;
                printf(" dgemm%d_f_gflops=%.4g dgemm%d_vjp_gflops=%.4g dgemm%d_mix_ms=%.6g "
                       "dgemm%d_mix_gflops=%.4g dgemm%d_big_gflops=%.4g",
                       nt, F / tfs / 1e9, nt, V / tvs / 1e9, nt, mix_s * 1e3, nt, gflop / mix_s, nt,
                       2.0 * B * H * H / tbs / 1e9);
                openblas_set_num_threads(1);
                pause_s(0.2); /* OpenBLAS's workers spin a while after a call */
            }
            gemm_free(&g);
        }
        printf(" load0=%.2f load1=%.2f\n", load0, loadavg());
        fflush(stdout);
    }
    return 0;
}
