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
 *   - the switch: auto takes GMRES at N = ESD_KRYLOV_N + 1 = 513 and the
 *     dense LU at N = 512;
 *   - checkpoint gradients (dθ, dz0) at N = 100, B = 2, rtol 1e-8: GMRES
 *     within 1e-5 of dense (relative to the largest entry), the backward
 *     pass also on the GMRES path;
 *   - the time of dense vs GMRES at N = 400 is printed, not checked
 *     (`test_rt_krylov N [D]`: only that timing, B = 1, N ≤ 2000).
 *
 * The runtime's GMRES takes J·v as a difference quotient of F (esdirk.c
 * says why); rd_jvp is here for the model's completeness.
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

static void rd_f(int B, double t, const double *z, const double *p, double *dz, double *w) {
    double c = idx2();
    (void)t, (void)w;
    for (int b = 0; b < B; b++) {
        const double *zb = z + (long)b * RN;
        for (int i = 0; i < RN; i++) dz[(long)b * RN + i] = p[0] * lap(zb, i, c) + p[1] * zb[i] * (1 - zb[i]);
    }
}

static void rd_vjp(int B, double t, const double *z, const double *p, const double *a, double *az, double *ath,
                   double *at, double *w) {
    double c = idx2(), sD = 0, sk = 0;
    (void)t, (void)w;
    for (int b = 0; b < B; b++) {
        const double *zb = z + (long)b * RN, *ab = a + (long)b * RN;
        for (int i = 0; i < RN; i++) {
            if (az) az[(long)b * RN + i] = p[0] * lap(ab, i, c) + p[1] * (1 - 2 * zb[i]) * ab[i];
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
        for (int i = 0; i < RN; i++) out[(long)b * RN + i] = p[0] * lap(vb, i, c) + p[1] * (1 - 2 * zb[i]) * vb[i];
    }
}

static void rd_jac(double t, const double *z, const double *p, double *J, double *w) {
    double c = idx2();
    (void)t, (void)w;
    memset(J, 0, (size_t)RN * RN * sizeof(double));
    for (int i = 0; i < RN; i++) {
        J[(long)i * RN + i] = -2 * p[0] * c + p[1] * (1 - 2 * z[i]);
        if (i > 0) J[(long)i * RN + i - 1] = p[0] * c;
        if (i < RN - 1) J[(long)i * RN + i + 1] = p[0] * c;
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

static nodec_solver *make(int B, double rtol, double atol, int ls) {
    nodec_solver *s = nodec_create(&rd_model, B);
    nodec_set_method(s, NODEC_KVAERNO4);
    nodec_set_tolerances(s, rtol, atol);
    nodec_set_max_steps(s, 1000000);
    s->linsolve = ls;
    return s;
}

static double solve(int B, double rtol, int ls, double *z, long *kry, long *jac, long *steps, long *fe) {
    static const double t[4] = {0, 0.5, 1, 2};
    double z0[2 * NMAX], t0;
    nodec_solver *s = make(B, rtol, 1e-9, ls);
    int rc;
    rd_z0(B, z0);
    t0 = now();
    rc = nodec_solve(s, TH, z0, 4, t, z);
    t0 = now() - t0;
    CHECK(rc == 0, "solve (N = %d, linsolve %d): %s", RN, ls, nodec_get_error_message(s));
    *kry = s->xs[0].krylov;
    *jac = s->xs[0].jac_evals;
    *steps = nodec_get_num_steps(s, 0);
    *fe = nodec_get_num_f_evals(s, 0);
    if (ls != ESD_LINSOLVE_DENSE && ls != ESD_LINSOLVE_AUTO)
        printf("  GMRES: %ld solves, %ld products W·v (%.1f a solve)\n", s->xs[0].krylov, s->xs[0].krylov_mv,
               s->xs[0].krylov ? (double)s->xs[0].krylov_mv / s->xs[0].krylov : 0.0);
    nodec_free(s);
    return t0;
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
    static double zg[4 * 2 * NMAX], zd[4 * 2 * NMAX];
    long kg, jg, sg, fg, kd, jd, sd, fd;
    double tg, td, rtol = 1e-6, e;
    rd_set(400);
    tg = solve(2, rtol, ESD_LINSOLVE_GMRES, zg, &kg, &jg, &sg, &fg);
    td = solve(2, rtol, ESD_LINSOLVE_DENSE, zd, &kd, &jd, &sd, &fd);
    e = relmax(zg + 2 * RN, zd + 2 * RN, 3 * 2 * RN);
    printf("N = 400, B = 2, rtol 1e-6: GMRES %.3f s (%ld steps, %ld f), dense %.3f s (%ld steps, %ld f, %ld "
           "Jacobians); |GMRES − dense| / max|z| = %.2e\n",
           tg, sg, fg, td, sd, fd, jd, e);
    CHECK(e <= 10 * rtol, "GMRES vs dense: %.3g > 10 rtol", e);
    CHECK(kg > 0 && jg == 0, "the GMRES run: %ld Krylov solves, %ld Jacobians", kg, jg);
    CHECK(kd == 0 && jd > 0, "the dense run: %ld Krylov solves, %ld Jacobians", kd, jd);
    CHECK(isfinite(zg[4 * 2 * RN - 1]) && zg[2 * RN + RN / 2] > 0.1, "the solution looks wrong: %g",
          zg[2 * RN + RN / 2]);

    /* the switch: auto, on either side of ESD_KRYLOV_N */
    rd_set(ESD_KRYLOV_N + 1);
    tg = solve(1, rtol, ESD_LINSOLVE_AUTO, zg, &kg, &jg, &sg, &fg);
    CHECK(kg > 0 && jg == 0, "auto at N = %d: %ld Krylov solves, %ld Jacobians", RN, kg, jg);
    rd_set(ESD_KRYLOV_N);
    tg = solve(1, rtol, ESD_LINSOLVE_AUTO, zg, &kg, &jg, &sg, &fg);
    CHECK(kg == 0 && jg > 0, "auto at N = %d: %ld Krylov solves, %ld Jacobians", RN, kg, jg);
}

static void grad(int ls, double *dth, double *dz0, double *L, long *kb) {
    static const double t[4] = {0, 0.5, 1, 2};
    static double obs[4 * 2 * NMAX];
    double z0[2 * NMAX];
    nodec_solver *s = make(2, 1e-8, 1e-10, ls);
    int rc;
    nodec_set_grad_mode(s, NODEC_GRAD_CHECKPOINT);
    rd_z0(2, z0);
    for (long i = 0; i < 4L * 2 * RN; i++) obs[i] = 0.2 * sin(0.37 * i);
    rc = nodec_loss_grad(s, TH, z0, 4, t, obs, L, dth, dz0, NULL, NULL);
    CHECK(rc == 0, "loss_grad (linsolve %d): %s", ls, nodec_get_error_message(s));
    *kb = s->xs[1].krylov;
    nodec_free(s);
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
}

/* test_rt_krylov N [D]: only the timing, B = 1, at N points (N ≤ NMAX). */
static void bench(int n) {
    static double z[4 * NMAX];
    long k, j, st, fe;
    double tg, td;
    rd_set(n);
    tg = solve(1, 1e-6, ESD_LINSOLVE_GMRES, z, &k, &j, &st, &fe);
    printf("N = %d: GMRES %.3f s (%ld steps)\n", n, tg, st);
    td = solve(1, 1e-6, ESD_LINSOLVE_DENSE, z, &k, &j, &st, &fe);
    printf("N = %d: dense %.3f s (%ld steps)\n", n, td, st);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        int n = atoi(argv[1]);
        if (argc > 2) TH[0] = atof(argv[2]); /* D */
        if (n >= 2 && n <= NMAX) bench(n);
        return test_summary("krylov");
    }
    test_solve();
    test_grad();
    return test_summary("krylov");
}
