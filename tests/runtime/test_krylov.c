/* test_krylov.c — kvaerno4's matrix-free Newton–Krylov path (runtime/
 * esdirk.c, "the GMRES path"): W Δ = d solved by GMRES(20) on products
 * J·v, no n × n matrix, against the dense LU path on the same problem.
 *
 * The problem: 1-D reaction–diffusion (Fisher–KPP) on N interior points,
 *     z_i' = D (z_{i−1} − 2 z_i + z_{i+1}) / Δx² + k z_i (1 − z_i),
 * z_0 = z_{N+1} = 0, Δx = 1/(N + 1), θ = (D, k) = (0.01, 1), over [0, 2]:
 * the stiffest eigenvalue ≈ −4D/Δx² = −6.4e3 at N = 400.
 *
 * Expected values (measured values in docs/runtime.md):
 *   - N = 400, B = 2, rtol 1e-6, atol 1e-9: with linsolve forced to GMRES
 *     and to dense, z at t = 0.5, 1, 2 agree within 10 rtol (of max |z|);
 *     the GMRES run made Krylov solves and no Jacobian or LU, the dense
 *     run no Krylov solve;
 *     against the dense path with J evaluated every step (the J that the
 *     GMRES path's products take, so the paths differ only by their
 *     linear solves), GMRES on the model's JVP within 1e-2 rtol, closer
 *     than GMRES on the difference quotient (the model without its jvp),
 *     with fewer products a solve and fewer f; the dense path with J
 *     reused takes fewer Jacobians and LUs than with J every step;
 *   - memory: at N = 2000 (B = 1) the GMRES path's peak is below N²·8/8
 *     bytes (the dense path's J and LU alone are 2·N²·8); at N = 600 the
 *     dense path's peak is at least 2·N²·8 and GMRES's below a tenth of it;
 *   - the switch: auto takes GMRES at N = ESD_KRYLOV_N + 1 = 513 and the
 *     dense LU at N = 512;
 *   - checkpoint gradients (dθ, dz0) at N = 100, B = 2, rtol 1e-8: GMRES
 *     within 1e-5 of dense (relative to the largest entry), the backward
 *     pass also on the GMRES path (its J·v the model's VJP); dθ within
 *     1e-6 of rodas5p's at rtol 1e-11 and of central differences of the
 *     loss (kvaerno4 on GMRES at rtol 1e-11, δ = 1e-5 relative);
 *     direct on the GMRES path (rtol 1e-8) within 1e-6 of rodas5p's;
 *   - the GMRES path's checkpoint gradient at B = 16 split into two
 *     chunks: 1 and 2 threads the same bits;
 *   - auto on a large state switches from dopri5 to kvaerno4 on GMRES
 *     (test_auto: no Jacobian; z and the checkpoint gradient as
 *     kvaerno4's dense path's, 10 rtol and 1e-5);
 *   - the time of dense vs GMRES at N = 400 is printed, not checked
 *     (`test_rt_krylov N [D]`: only the timings, medians of 3, B = 1,
 *     N ≤ 2000: GMRES on the JVP and on the quotient, dense with J
 *     reused and every step; `test_rt_krylov N D EPS`: with a full J).
 *
 * rd_model has the JVP the runtime's GMRES uses; test_solve's q is the
 * same model without it, so GMRES falls back to a difference quotient.
 */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h" /* s->linsolve, s->xs: the white-box switch and counters */
#include "models.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* ---- the model, N set at run time (rd_set) ---- */

enum { NMAX = 2000 };
static int RN;

static double lap(const double *z, int i, double idx2) {
    double l = i > 0 ? z[i - 1] : 0, r = i < RN - 1 ? z[i + 1] : 0;
    return (l - 2 * z[i] + r) * idx2;
}

static double idx2(void) { return (double)(RN + 1) * (RN + 1); }

/* The bench's dense variant (`test_rt_krylov N D EPS`): + EPS·mean(z) in
 * every component, so that J is full and its LU O(N³) (tridiagonal, la_lu
 * skips the zero multipliers: O(N²)); 0 in the tests. */
static double EPS;

static double mean(const double *v) {
    double s = 0;
    for (int i = 0; i < RN; i++) s += v[i];
    return EPS * s / RN;
}

static void rd_f(int B, double t, const double *z, const double *p, double *dz, double *w) {
    double c = idx2();
    (void)t, (void)w;
    for (int b = 0; b < B; b++) {
        const double *zb = z + (long)b * RN;
        double mz = mean(zb);
        for (int i = 0; i < RN; i++) dz[(long)b * RN + i] = p[0] * lap(zb, i, c) + p[1] * zb[i] * (1 - zb[i]) + mz;
    }
}

static void rd_vjp(int B, double t, const double *z, const double *p, const double *a, double *az, double *ath,
                   double *at, double *w) {
    double c = idx2(), sD = 0, sk = 0;
    (void)t, (void)w;
    for (int b = 0; b < B; b++) {
        const double *zb = z + (long)b * RN, *ab = a + (long)b * RN;
        double ma = mean(ab);
        for (int i = 0; i < RN; i++) {
            if (az) az[(long)b * RN + i] = p[0] * lap(ab, i, c) + p[1] * (1 - 2 * zb[i]) * ab[i] + ma;
            sD += ab[i] * lap(zb, i, c);
            sk += ab[i] * zb[i] * (1 - zb[i]);
        }
    }
    if (ath) ath[0] = sD, ath[1] = sk;
    if (at) *at = 0;
}

static void rd_jvp(int B, double t, const double *z, const double *p, const double *v, double *out, double *w) {
    double c = idx2();
    (void)t, (void)w;
    for (int b = 0; b < B; b++) {
        const double *zb = z + (long)b * RN, *vb = v + (long)b * RN;
        double mv = mean(vb);
        for (int i = 0; i < RN; i++) out[(long)b * RN + i] = p[0] * lap(vb, i, c) + p[1] * (1 - 2 * zb[i]) * vb[i] + mv;
    }
}

static void rd_jac(double t, const double *z, const double *p, double *J, double *w) {
    double c = idx2();
    (void)t, (void)w;
    for (long q = 0; q < (long)RN * RN; q++) J[q] = EPS / RN;
    for (int i = 0; i < RN; i++) {
        J[(long)i * RN + i] += -2 * p[0] * c + p[1] * (1 - 2 * z[i]);
        if (i > 0) J[(long)i * RN + i - 1] += p[0] * c;
        if (i < RN - 1) J[(long)i * RN + i + 1] += p[0] * c;
    }
}

static double rd_loss(int B, const double *p, const double *o, double *w) {
    double L = 0;
    (void)w;
    for (long i = 0; i < (long)B * RN; i++) L += (p[i] - o[i]) * (p[i] - o[i]);
    return L / RN;
}

static double rd_loss_grad(int B, const double *p, const double *o, double *g, double *w) {
    for (long i = 0; i < (long)B * RN; i++) g[i] = 2 * (p[i] - o[i]) / RN;
    return rd_loss(B, p, o, w);
}

static nodec_var rd_sv[1] = {{"z", 1, {NMAX, 1}, 0, NMAX}};
static const nodec_var rd_pv[] = {{"D", 0, {1, 1}, 0, 1}, {"k", 0, {1, 1}, 1, 1}};
static nodec_model rd_model = {
    NODEC_ABI_VERSION,
    "reaction_diffusion",
    "0",
    NMAX,
    2,
    1,
    rd_sv,
    2,
    rd_pv,
    0,
    0,
    NULL,
    rd_f,
    rd_vjp,
    rd_jvp,
    rd_jac,
    rd_loss,
    rd_loss_grad,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL, /* inputs */
};

static void rd_set(int n) {
    RN = n;
    rd_model.n_state = n;
    rd_sv[0].dim[0] = rd_sv[0].size = n;
}

static double TH[2] = {0.01, 1};

static void rd_z0(int B, double *z0) {
    for (int b = 0; b < B; b++)
        for (int i = 0; i < RN; i++) {
            double x = (i + 1.0) / (RN + 1);
            z0[(long)b * RN + i] =
                0.5 * sin(3.14159265358979323846 * x) + (b + 1) * 0.3 * exp(-200 * (x - 0.3) * (x - 0.3));
        }
}

/* ls: ESD_LINSOLVE_*; fresh: the dense path evaluates J every step (no
 * reuse across steps: what the GMRES path's J·v at each step's start is) */
static nodec_solver *make_m(const nodec_model *m, int B, double rtol, double atol, int ls, int fresh) {
    nodec_solver *s = nodec_create(m, B);
    nodec_set_method(s, NODEC_KVAERNO4);
    nodec_set_tolerances(s, rtol, atol);
    nodec_set_max_steps(s, 1000000);
    s->linsolve = ls;
    s->jac_every_step = fresh;
    return s;
}

static nodec_solver *make(int B, double rtol, double atol, int ls) { return make_m(&rd_model, B, rtol, atol, ls, 0); }

/* One adaptive solve to t = 2 and what it took. */
typedef struct run {
    double sec;
    long kry, mv, jac, lu, steps, fe;
} run;

static run solve_m(const nodec_model *m, int B, double rtol, int ls, int fresh, double *z) {
    static const double t[4] = {0, 0.5, 1, 2};
    double z0[2 * NMAX];
    nodec_solver *s = make_m(m, B, rtol, 1e-9, ls, fresh);
    run R;
    int rc;
    rd_z0(B, z0);
    R.sec = now();
    rc = nodec_solve(s, TH, z0, 4, t, z);
    R.sec = now() - R.sec;
    CHECK(rc == 0, "solve (N = %d, linsolve %d): %s", RN, ls, nodec_get_error_message(s));
    R.kry = s->xs[0].krylov;
    R.mv = s->xs[0].krylov_mv;
    R.jac = s->xs[0].jac_evals;
    R.lu = s->xs[0].lu;
    R.steps = nodec_get_num_steps(s, 0);
    R.fe = nodec_get_num_f_evals(s, 0);
    nodec_free(s);
    return R;
}

static double solve(int B, double rtol, int ls, double *z, long *kry, long *jac, long *steps, long *fe) {
    run R = solve_m(&rd_model, B, rtol, ls, 0, z);
    *kry = R.kry, *jac = R.jac, *steps = R.steps, *fe = R.fe;
    return R.sec;
}

static double relmax(const double *a, const double *b, long n) {
    double d = 0, m = 0;
    for (long i = 0; i < n; i++) {
        d = fmax(d, fabs(a[i] - b[i]));
        m = fmax(m, fabs(b[i]));
    }
    return d / m;
}

static void test_solve(void) {
    static double zg[4 * 2 * NMAX], zq[4 * 2 * NMAX], zd[4 * 2 * NMAX], zf[4 * 2 * NMAX];
    nodec_model q;
    run g, gq, d, f;
    long kg, jg, sg, fg;
    double rtol = 1e-6, e, eq, ed;
    rd_set(400);
    q = rd_model;
    q.jvp = NULL; /* no JVP: GMRES on the difference quotient */
    g = solve_m(&rd_model, 2, rtol, ESD_LINSOLVE_GMRES, 0, zg);
    gq = solve_m(&q, 2, rtol, ESD_LINSOLVE_GMRES, 0, zq);
    f = solve_m(&rd_model, 2, rtol, ESD_LINSOLVE_DENSE, 1, zf);
    d = solve_m(&rd_model, 2, rtol, ESD_LINSOLVE_DENSE, 0, zd);
    e = relmax(zg + 2 * RN, zf + 2 * RN, 3 * 2 * RN);
    eq = relmax(zq + 2 * RN, zf + 2 * RN, 3 * 2 * RN);
    ed = relmax(zg + 2 * RN, zd + 2 * RN, 3 * 2 * RN);
    printf("N = 400, B = 2, rtol 1e-6, |· − dense| / max|z| (dense with J every step: %.3f s, %ld steps, %ld f, %ld "
           "Jacobians, %ld LU):\n",
           f.sec, f.steps, f.fe, f.jac, f.lu);
    printf("  GMRES on the JVP:      %.2e; %.3f s, %ld steps, %ld f, %ld solves, %.1f products a solve\n", e, g.sec,
           g.steps, g.fe, g.kry, (double)g.mv / g.kry);
    printf("  GMRES on the quotient: %.2e; %.3f s, %ld steps, %ld f, %ld solves, %.1f products a solve\n", eq, gq.sec,
           gq.steps, gq.fe, gq.kry, (double)gq.mv / gq.kry);
    printf("  dense, J reused:       %.2e from GMRES on the JVP; %.3f s, %ld steps, %ld f, %ld Jacobians, %ld LU\n", ed,
           d.sec, d.steps, d.fe, d.jac, d.lu);
    CHECK(ed <= 10 * rtol, "GMRES vs dense: %.3g > 10 rtol", ed);
    CHECK(e <= 1e-2 * rtol, "GMRES on the JVP vs dense with J every step: %.3g > 1e-2 rtol", e);
    CHECK(e < eq, "GMRES on the JVP (%.3g) not closer to dense than on the quotient (%.3g)", e, eq);
    CHECK(g.mv * gq.kry < gq.mv * g.kry, "products a solve: JVP %ld/%ld, quotient %ld/%ld", g.mv, g.kry, gq.mv, gq.kry);
    CHECK(g.fe < gq.fe, "f evaluations: JVP %ld, quotient %ld", g.fe, gq.fe);
    CHECK(g.kry > 0 && g.jac == 0 && g.lu == 0, "the GMRES run: %ld Krylov solves, %ld Jacobians, %ld LU", g.kry, g.jac,
          g.lu);
    CHECK(d.kry == 0 && d.jac > 0, "the dense run: %ld Krylov solves, %ld Jacobians", d.kry, d.jac);
    CHECK(d.jac < f.jac && d.lu < f.lu, "J reuse: %ld Jacobians, %ld LU; every step %ld, %ld", d.jac, d.lu, f.jac,
          f.lu);
    CHECK(isfinite(zg[4 * 2 * RN - 1]) && zg[2 * RN + RN / 2] > 0.1, "the solution looks wrong: %g",
          zg[2 * RN + RN / 2]);

    /* the switch: auto, on either side of ESD_KRYLOV_N */
    rd_set(ESD_KRYLOV_N + 1);
    solve(1, rtol, ESD_LINSOLVE_AUTO, zg, &kg, &jg, &sg, &fg);
    CHECK(kg > 0 && jg == 0, "auto at N = %d: %ld Krylov solves, %ld Jacobians", RN, kg, jg);
    rd_set(ESD_KRYLOV_N);
    solve(1, rtol, ESD_LINSOLVE_AUTO, zg, &kg, &jg, &sg, &fg);
    CHECK(kg == 0 && jg > 0, "auto at N = %d: %ld Krylov solves, %ld Jacobians", RN, kg, jg);
}

/* Peak bytes of one solve over [0, T], B = 1, N points. */
static size_t peak(int n, int ls, double T) {
    static double z[2 * NMAX];
    double t[2] = {0, T}, z0[NMAX];
    nodec_solver *s;
    size_t pk;
    int rc;
    rd_set(n);
    s = make(1, 1e-6, 1e-9, ls);
    rd_z0(1, z0);
    rc = nodec_solve(s, TH, z0, 2, t, z);
    CHECK(rc == 0, "memory, N = %d (linsolve %d): %s", n, ls, nodec_get_error_message(s));
    pk = nodec_get_mem_peak(s);
    nodec_free(s);
    return pk;
}

static void test_memory(void) {
    size_t g2000 = peak(2000, ESD_LINSOLVE_AUTO, 0.05), g600 = peak(600, ESD_LINSOLVE_GMRES, 0.05);
    size_t d600 = peak(600, ESD_LINSOLVE_DENSE, 0.05), n2 = (size_t)2000 * 2000 * sizeof(double);
    printf("memory peak: N = 2000 GMRES %zu bytes (N²·8 = %zu); N = 600 GMRES %zu, dense %zu (2·N²·8 = %zu)\n", g2000,
           n2, g600, d600, (size_t)2 * 600 * 600 * sizeof(double));
    CHECK(g2000 < n2 / 8, "N = 2000, GMRES: peak %zu bytes, not below N²·8/8 = %zu", g2000, n2 / 8);
    CHECK(d600 >= (size_t)2 * 600 * 600 * sizeof(double), "N = 600, dense: peak %zu below 2·N²·8", d600);
    CHECK(g600 < d600 / 10, "N = 600: GMRES peak %zu, dense %zu", g600, d600);
}

static nodec_grad_mode GMODE = NODEC_GRAD_CHECKPOINT;

static void grad_m(nodec_method meth, double rtol, int ls, const double *th, double *dth, double *dz0, double *L,
                   long *kb) {
    static const double t[4] = {0, 0.5, 1, 2};
    static double obs[4 * 2 * NMAX];
    double z0[2 * NMAX];
    nodec_solver *s = make(2, rtol, rtol * 1e-2, ls);
    int rc;
    nodec_set_method(s, meth);
    nodec_set_grad_mode(s, GMODE);
    rd_z0(2, z0);
    for (long i = 0; i < 4L * 2 * RN; i++) obs[i] = 0.2 * sin(0.37 * i);
    rc = nodec_loss_grad(s, th, z0, 4, t, obs, L, dth, dz0, NULL, NULL);
    CHECK(rc == 0, "loss_grad (%s, linsolve %d): %s", nodec_method_name(meth), ls, nodec_get_error_message(s));
    if (kb) *kb = s->xs[1].krylov;
    nodec_free(s);
}

static void grad(int ls, double *dth, double *dz0, double *L, long *kb) {
    grad_m(NODEC_KVAERNO4, 1e-8, ls, TH, dth, dz0, L, kb);
}

static void test_grad(void) {
    double dg[2], dd[2], zg[2 * NMAX], zd[2 * NMAX], Lg, Ld, m = 0, e = 0;
    long kg, kd;
    rd_set(100);
    grad(ESD_LINSOLVE_GMRES, dg, zg, &Lg, &kg);
    grad(ESD_LINSOLVE_DENSE, dd, zd, &Ld, &kd);
    for (int i = 0; i < 2; i++) m = fmax(m, fabs(dd[i])), e = fmax(e, fabs(dg[i] - dd[i]));
    printf("checkpoint, N = 100, rtol 1e-8: dθ GMRES (%.10g, %.10g), dense (%.10g, %.10g): %.2e of the largest\n",
           dg[0], dg[1], dd[0], dd[1], e / m);
    CHECK(e <= 1e-5 * m, "dθ: GMRES vs dense %.3g of the largest", e / m);
    e = relmax(zg, zd, 2 * RN);
    printf("  dz0: %.2e of the largest; loss %.12g vs %.12g\n", e, Lg, Ld);
    CHECK(e <= 1e-5, "dz0: GMRES vs dense %.3g of the largest", e);
    CHECK(fabs(Lg - Ld) <= 1e-6 * fabs(Ld), "loss %.12g vs %.12g", Lg, Ld);
    CHECK(kg > 0 && kd == 0, "backward Krylov solves: GMRES run %ld, dense run %ld", kg, kd);

    /* against rodas5p and central differences of the loss (GMRES, rtol 1e-11) */
    {
        double dr[2], fd[2], L1, L2, th[2], er = 0, ef = 0;
        grad_m(NODEC_RODAS5P, 1e-11, ESD_LINSOLVE_AUTO, TH, dr, zd, &Ld, NULL);
        for (int i = 0; i < 2; i++) {
            double d = 1e-5 * fabs(TH[i]);
            memcpy(th, TH, sizeof th);
            th[i] = TH[i] + d;
            grad_m(NODEC_KVAERNO4, 1e-11, ESD_LINSOLVE_GMRES, th, NULL, NULL, &L1, NULL);
            th[i] = TH[i] - d;
            grad_m(NODEC_KVAERNO4, 1e-11, ESD_LINSOLVE_GMRES, th, NULL, NULL, &L2, NULL);
            fd[i] = (L1 - L2) / (2 * d);
        }
        for (int i = 0; i < 2; i++) er = fmax(er, fabs(dg[i] - dr[i])), ef = fmax(ef, fabs(dg[i] - fd[i]));
        printf("  dθ GMRES (rtol 1e-8) vs rodas5p (1e-11) %.2e, vs central differences %.2e of the largest "
               "(rodas5p (%.10g, %.10g), differences (%.10g, %.10g))\n",
               er / m, ef / m, dr[0], dr[1], fd[0], fd[1]);
        CHECK(er <= 1e-6 * m, "dθ: GMRES vs rodas5p %.3g of the largest", er / m);
        CHECK(ef <= 1e-6 * m, "dθ: GMRES vs central differences %.3g of the largest", ef / m);

        /* direct on the GMRES path (its transposed stage solves by GMRES
         * on VJPs) vs rodas5p's checkpoint gradient */
        GMODE = NODEC_GRAD_DIRECT;
        grad_m(NODEC_KVAERNO4, 1e-8, ESD_LINSOLVE_GMRES, TH, dd, zg, &Lg, &kg);
        GMODE = NODEC_GRAD_CHECKPOINT;
        er = fmax(fabs(dd[0] - dr[0]), fabs(dd[1] - dr[1]));
        printf("  direct, GMRES (rtol 1e-8): dθ (%.10g, %.10g), vs rodas5p %.2e of the largest, %ld Krylov solves "
               "backward; dz0 vs rodas5p %.2e\n",
               dd[0], dd[1], er / m, kg, relmax(zg, zd, 2 * RN));
        CHECK(er <= 1e-6 * m && kg > 0, "direct GMRES vs rodas5p %.3g of the largest, %ld solves", er / m, kg);
        CHECK(relmax(zg, zd, 2 * RN) <= 1e-6, "direct GMRES dz0 vs rodas5p %.3g", relmax(zg, zd, 2 * RN));
    }
}

/* auto on a large state: its stiff method is kvaerno4 on GMRES (a
 * Rosenbrock method needs W's LU).  N = 400 with GMRES forced: auto
 * switches from dopri5, forms no Jacobian, and z agrees with kvaerno4's
 * dense path within 10 rtol; its checkpoint gradient with kvaerno4's
 * within 1e-5 of the largest entry.  N = 513 (the switch): the same
 * without forcing. */
static void test_auto(void) {
    static const double t[4] = {0, 0.5, 1, 2};
    static double za[4 * 2 * NMAX], zd[4 * 2 * NMAX], obs[4 * 2 * NMAX];
    double z0[2 * NMAX], dta[2], dtd[2], La, Ld, m = 0, e = 0;
    rd_set(400);
    rd_z0(2, z0);
    nodec_solver *s = make(2, 1e-6, 1e-9, ESD_LINSOLVE_GMRES);
    nodec_set_method(s, NODEC_AUTO);
    int rc = nodec_solve(s, TH, z0, 4, t, za);
    CHECK(rc == 0, "auto, GMRES: %s", nodec_get_error_message(s));
    solve(2, 1e-6, ESD_LINSOLVE_DENSE, zd, &(long){0}, &(long){0}, &(long){0}, &(long){0});
    double d = relmax(za + 2 * RN, zd + 2 * RN, 3L * 2 * RN);
    printf("auto, N = 400, GMRES forced: %ld switches, %ld stiff of %ld steps, %ld Krylov solves, %ld Jacobians, "
           "last method %s; z vs kvaerno4 dense %.2e\n",
           nodec_get_num_switches(s, 0), nodec_get_num_stiff_steps(s, 0), nodec_get_num_steps(s, 0),
           s->xs[0].krylov, s->xs[0].jac_evals, nodec_method_name(nodec_get_method_in_use(s, 0)), d);
    CHECK(nodec_get_num_switches(s, 0) >= 1 && nodec_get_method_in_use(s, 0) == NODEC_KVAERNO4,
          "auto did not switch to kvaerno4 (%ld switches, last %s)", nodec_get_num_switches(s, 0),
          nodec_method_name(nodec_get_method_in_use(s, 0)));
    CHECK(s->xs[0].krylov > 0 && s->xs[0].jac_evals == 0 && s->xs[0].lu == 0,
          "auto on GMRES: %ld Krylov solves, %ld Jacobians, %ld LU", s->xs[0].krylov, s->xs[0].jac_evals,
          s->xs[0].lu);
    CHECK(d <= 10 * 1e-6, "auto (GMRES) vs kvaerno4 (dense): %.3g", d);
    nodec_free(s);

    rd_set(100);
    rd_z0(2, z0);
    for (long i = 0; i < 4L * 2 * RN; i++) obs[i] = 0.2 * sin(0.37 * i);
    for (int k = 0; k < 2; k++) {
        s = make(2, 1e-8, 1e-10, k ? ESD_LINSOLVE_DENSE : ESD_LINSOLVE_GMRES);
        nodec_set_method(s, k ? NODEC_KVAERNO4 : NODEC_AUTO);
        rc = nodec_loss_grad(s, TH, z0, 4, t, obs, k ? &Ld : &La, k ? dtd : dta, NULL, NULL, NULL);
        CHECK(rc == 0, "loss_grad (%s): %s", k ? "kvaerno4" : "auto", nodec_get_error_message(s));
        if (!k) CHECK(s->xs[1].krylov > 0, "auto's backward pass made no Krylov solve");
        nodec_free(s);
    }
    for (int i = 0; i < 2; i++) m = fmax(m, fabs(dtd[i])), e = fmax(e, fabs(dta[i] - dtd[i]));
    printf("  checkpoint, N = 100: dθ auto/GMRES (%.10g, %.10g), kvaerno4 dense (%.10g, %.10g): %.2e\n", dta[0],
           dta[1], dtd[0], dtd[1], e / m);
    CHECK(e <= 1e-5 * m, "dθ: auto (GMRES) vs kvaerno4 (dense) %.3g of the largest", e / m);

    rd_set(ESD_KRYLOV_N + 1);
    rd_z0(1, z0);
    s = make(1, 1e-5, 1e-8, ESD_LINSOLVE_AUTO);
    nodec_set_method(s, NODEC_AUTO);
    rc = nodec_solve(s, TH, z0, 4, t, za);
    CHECK(rc == 0 && nodec_get_method_in_use(s, 0) == NODEC_KVAERNO4 && s->xs[0].jac_evals == 0,
          "auto at N = %d: rc %d, last method %s, %ld Jacobians", RN, rc,
          nodec_method_name(nodec_get_method_in_use(s, 0)), s->xs[0].jac_evals);
    nodec_free(s);
}

/* The GMRES path with the batch split (B = 16, chunks of 8 rows: par_jvp
 * and par_vjp over two chunks): 1 and 2 threads give the same bits. */
static void test_threads(void) {
    enum { BT = 16 };
    static const double t[3] = {0, 0.5, 1};
    static double z0[BT * NMAX], obs[3 * BT * NMAX], zo[2][3 * BT * NMAX], dz[2][BT * NMAX];
    double L[2], dth[2][2];
    rd_set(100);
    for (long i = 0; i < (long)BT * RN; i++) z0[i] = 0.5 * sin(0.01 * i) + 0.3;
    for (long i = 0; i < 3L * BT * RN; i++) obs[i] = 0.2 * sin(0.37 * i);
    for (int th = 1; th <= 2; th++) {
        nodec_solver *s = make(BT, 1e-6, 1e-9, ESD_LINSOLVE_GMRES);
        int rc;
        nodec_set_threads(s, th);
        nodec_set_grad_mode(s, NODEC_GRAD_CHECKPOINT);
        s->chunk_rows = 8;
        rc = nodec_loss_grad(s, TH, z0, 3, t, obs, &L[th - 1], dth[th - 1], dz[th - 1], NULL, zo[th - 1]);
        CHECK(rc == 0 && s->xs[0].krylov > 0 && s->xs[1].krylov > 0, "threads %d: %s (Krylov solves %ld, %ld)", th,
              nodec_get_error_message(s), s->xs[0].krylov, s->xs[1].krylov);
        nodec_free(s);
    }
    CHECK(L[0] == L[1] && memcmp(dth[0], dth[1], sizeof dth[0]) == 0 &&
              memcmp(dz[0], dz[1], (size_t)BT * RN * sizeof(double)) == 0 &&
              memcmp(zo[0], zo[1], 3 * (size_t)BT * RN * sizeof(double)) == 0,
          "GMRES path, 1 and 2 threads: not the same bits");
}

/* test_rt_krylov N D [EPS]: only the timings, B = 1, at N points (N ≤ NMAX):
 * the median of 3 runs of each way. */
static void bench(int n) {
    static const char *name[4] = {"GMRES, JVP", "GMRES, quotient", "dense, J reused", "dense, J every step"};
    static double z[4 * NMAX];
    nodec_model q;
    rd_set(n);
    q = rd_model;
    q.jvp = NULL;
    for (int w = 0; w < 4; w++) {
        run R[3];
        double t[3];
        for (int i = 0; i < 3; i++) {
            R[i] =
                solve_m(w == 1 ? &q : &rd_model, 1, 1e-6, w < 2 ? ESD_LINSOLVE_GMRES : ESD_LINSOLVE_DENSE, w == 3, z);
            t[i] = R[i].sec;
        }
        for (int i = 0; i < 2; i++) /* sort 3 */
            for (int j = 0; j < 2 - i; j++)
                if (t[j] > t[j + 1]) {
                    double x = t[j];
                    t[j] = t[j + 1], t[j + 1] = x;
                }
        printf("N = %d, D = %g, EPS = %g, %-20s %.3f s (median of 3), %ld steps, %ld f", n, TH[0], EPS, name[w], t[1],
               R[0].steps, R[0].fe);
        if (w < 2)
            printf(", %.1f products a solve\n", (double)R[0].mv / R[0].kry);
        else
            printf(", %ld Jacobians, %ld LU\n", R[0].jac, R[0].lu);
    }
}

int main(int argc, char **argv) {
    if (argc > 1) {
        int n = atoi(argv[1]);
        if (argc > 2) TH[0] = atof(argv[2]); /* D */
        if (argc > 3) EPS = atof(argv[3]);
        if (n >= 2 && n <= NMAX) bench(n);
        return test_summary("krylov");
    }
    test_solve();
    test_memory();
    test_grad();
    test_threads();
    test_auto();
    return test_summary("krylov");
}
