/* test_esdirk.c — kvaerno4, the ESDIRK method (runtime/esdirk.c): its
 * order, stiff problems against known or tight-tolerance solutions, and
 * checkpoint gradients.
 *
 * Expected values (measured values in docs/runtime.md):
 *   - fixed steps (rtol 1e-13, so the Newton iteration converges far below
 *     the error), 16 → 128 steps over [0, 2]: slopes within 0.3 of 4 on
 *     hopfj (nonlinear, autonomous) and on Prothero–Robinson λ = −1 (uses
 *     t); and adaptive at rtol 1e-4 … 1e-8 on hopfj: the error falls
 *     with rtol (log-log slope 0.6 … 1.3);
 *   - dz/dt = A z with eigenvalues −1 and −1e4 (lin2) to t = 10 at rtol
 *     1e-8, atol 1e-12: z(t_i) within 1e-6 relative of expm, fewer than
 *     1000 steps; its dense output at 50 times in [0, 1] within 1e-5;
 *   - Prothero–Robinson λ = −1e6 (stiff, uses t) at rtol 1e-7: within
 *     1e-6 of sin t + e^{λt} at output times between steps (the dense
 *     output's check), fewer than 1000 steps;
 *   - Robertson to 4e5 at rtol 1e-8, atol 1e-14: within 1e-6 (relative)
 *     of rodas5p at rtol 1e-12, conservation to 1e-9, fewer than 3000
 *     steps; the statistics (Jacobians, LUs, implicit steps, method);
 *   - van der Pol μ = 1000 over [0, 3000] at rtol = atol = 1e-8: z(2000),
 *     z(3000) within 2e-6 (relative) of the values test_stiff_solve
 *     checks (rodas5p: 1e-6), after three relaxation jumps;
 *   - Jacobian reuse across steps (esdirk.c): on Robertson and van der
 *     Pol, against the same solve with J every step (s->jac_every_step):
 *     fewer than 2/3 of the Jacobians and LUs on Robertson, a third of the
 *     Jacobians and half the LUs on van der Pol, and an error at most 2×
 *     the other's;
 *   - checkpoint gradients (the adjoint solved backwards with kvaerno4)
 *     on lin2 (B = 2), Prothero–Robinson λ = −1e3 and Robertson's
 *     log-rates against rodas5p's checkpoint gradient at rtol 1e-12 (1e-5
 *     of the largest entry) and central differences (2e-5);
 *   - direct runs (its gradients: test_stiff_direct.c); adjoint refused
 *     with a message naming checkpoint; a
 *     fixed step too large for the Newton iteration fails with a message
 *     naming it; names.
 */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <string.h>
#include <time.h>

#include "internal.h" /* s->jac_every_step: the white-box switch of J reuse */
#include "stiff_models.h"

static int contains(const char *s, const char *part) { return strstr(s, part) != NULL; }

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* 1: kvaerno4 evaluates J every step (no reuse across steps), to compare */
static int FRESH;

static nodec_solver *make(const nodec_model *m, nodec_method meth, double rtol, double atol) {
    nodec_solver *s = nodec_create(m, 1);
    nodec_set_method(s, meth);
    nodec_set_tolerances(s, rtol, atol);
    nodec_set_max_steps(s, 1000000);
    s->jac_every_step = FRESH;
    return s;
}

/* ---- order ---- */

static double fixed_err(const nodec_model *m, const double *th, const double *z0, double T, long n,
                        const double *want) {
    nodec_solver *s = make(m, NODEC_KVAERNO4, 1e-13, 1e-15);
    int N = m->n_state, rc;
    double t[2] = {0, T}, z[8], err = 0;
    nodec_set_num_steps(s, n);
    rc = nodec_solve(s, th, z0, 2, t, z);
    CHECK(rc == 0, "fixed %ld: %s", n, nodec_get_error_message(s));
    for (int i = 0; i < N; i++) err = fmax(err, fabs(z[N + i] - want[i]));
    nodec_free(s);
    return err;
}

static void slope(const char *what, const nodec_model *m, const double *th, const double *z0, double T,
                  const double *want) {
    double e[4], sl;
    printf("%-8s kvaerno4", what);
    for (int j = 0; j < 4; j++) {
        e[j] = fixed_err(m, th, z0, T, 16L << j, want);
        printf(" %.3e", e[j]);
    }
    sl = log2(e[0] / e[3]) / 3;
    printf("  slope %.3f\n", sl);
    CHECK(fabs(sl - 4) < 0.3, "%s: slope %.3f, want 4", what, sl);
}

static void adaptive_slope(void) {
    double hp[2] = {1.3, 0.7}, hz0[2] = {0.2, 0.1}, want[2], t[2] = {0, 2}, z[4], e[5], tol[5];
    hopf_exact(hz0, hp, 2.0, want);
    printf("hopf adaptive:");
    for (int j = 0; j < 5; j++) {
        nodec_solver *s = make(&hopfj_model, NODEC_KVAERNO4, tol[j] = pow(10, -4 - j), 1e-12);
        CHECK(nodec_solve(s, hp, hz0, 2, t, z) == 0, "%s", nodec_get_error_message(s));
        e[j] = fmax(fabs(z[2] - want[0]), fabs(z[3] - want[1]));
        printf(" rtol %.0e: %ld steps, err %.2e;", tol[j], nodec_get_num_steps(s, 0), e[j]);
        nodec_free(s);
    }
    double sl = log10(e[0] / e[4]) / 4;
    printf(" slope %.2f\n", sl);
    CHECK(sl > 0.6 && sl < 1.3, "adaptive error against rtol: slope %.2f", sl);
}

/* ---- stiff solves ---- */

static void stiff_linear(void) {
    double A[4] = {-5000.5, 4999.5, 4999.5, -5000.5}, z0[2] = {1, 0.5};
    double t[6] = {0, 1e-4, 1e-3, 0.1, 1, 10}, z[12], want[2], worst = 0;
    nodec_solver *s = make(&lin2_model, NODEC_KVAERNO4, 1e-8, 1e-12);
    int rc = nodec_solve(s, A, z0, 6, t, z);
    long steps = nodec_get_num_steps(s, 0);
    CHECK(rc == 0, "%s", nodec_get_error_message(s));
    for (int i = 1; i < 6; i++) {
        lin2_exact(A, z0, t[i], want);
        for (int p = 0; p < 2; p++) worst = fmax(worst, fabs(z[2 * i + p] - want[p]) / fabs(want[p]));
    }
    printf("lin2 (-1, -1e4) kvaerno4: %ld steps, %ld rejected, %ld f, %ld jac, %ld LU, max rel err %.2e\n", steps,
           nodec_get_num_rejected(s, 0), nodec_get_num_f_evals(s, 0), nodec_get_num_jac_evals(s, 0),
           nodec_get_num_lu(s, 0), worst);
    CHECK(worst < 1e-6, "lin2: rel err %.3g", worst);
    CHECK(steps < 1000, "lin2: %ld steps", steps);
    nodec_free(s);

    /* dense output */
    double td[51], zd[102];
    worst = 0;
    s = make(&lin2_model, NODEC_KVAERNO4, 1e-8, 1e-12);
    for (int i = 0; i <= 50; i++) td[i] = i / 50.0;
    CHECK(nodec_solve(s, A, z0, 51, td, zd) == 0, "%s", nodec_get_error_message(s));
    for (int i = 1; i <= 50; i++) {
        lin2_exact(A, z0, td[i], want);
        for (int p = 0; p < 2; p++) worst = fmax(worst, fabs(zd[2 * i + p] - want[p]) / fabs(want[p]));
    }
    printf("dense output kvaerno4: %ld steps for 50 outputs, max rel err %.2e\n", nodec_get_num_steps(s, 0), worst);
    CHECK(worst < 1e-5, "dense: %.3g", worst);
    nodec_free(s);
}

static void stiff_pr(void) {
    double lam[1] = {-1e6}, z0[1] = {1}, t[5] = {0, 1e-6, 1e-3, 1, 10}, z[5], worst = 0;
    nodec_solver *s = make(&pr_model, NODEC_KVAERNO4, 1e-7, 1e-9);
    int rc = nodec_solve(s, lam, z0, 5, t, z);
    CHECK(rc == 0, "%s", nodec_get_error_message(s));
    for (int i = 1; i < 5; i++) worst = fmax(worst, fabs(z[i] - pr_exact(lam[0], z0[0], t[i])));
    printf("pr (lambda -1e6) kvaerno4: %ld steps, max err %.2e\n", nodec_get_num_steps(s, 0), worst);
    CHECK(worst < 1e-6, "pr: err %.3g", worst);
    CHECK(nodec_get_num_steps(s, 0) < 1000, "pr: %ld steps", nodec_get_num_steps(s, 0));
    nodec_free(s);
}

static const double rober_t[] = {0, 0.4, 4, 40, 400, 4e3, 4e4, 1e5, 4e5};
enum { NT = sizeof rober_t / sizeof *rober_t };

/* Solves Robertson with meth; returns the wall time of the fastest of reps. */
static double rober_solve(nodec_method meth, double rtol, double atol, double *z, long *stats, int reps) {
    double th[3], z0[3] = {1, 0, 0}, best = 1e30;
    rober_params(th);
    for (int k = 0; k < reps; k++) {
        nodec_solver *s = make(&rober_model, meth, rtol, atol);
        double t0 = now();
        int rc = nodec_solve(s, th, z0, NT, rober_t, z);
        best = fmin(best, now() - t0);
        CHECK(rc == 0, "robertson %s: %s", nodec_method_name(meth), nodec_get_error_message(s));
        stats[0] = nodec_get_num_steps(s, 0);
        stats[1] = nodec_get_num_rejected(s, 0);
        stats[2] = nodec_get_num_f_evals(s, 0);
        stats[3] = nodec_get_num_jac_evals(s, 0);
        stats[4] = nodec_get_num_lu(s, 0);
        stats[5] = nodec_get_num_stiff_steps(s, 0);
        stats[6] = nodec_get_method_in_use(s, 0);
        nodec_free(s);
    }
    return best;
}

static double rober_err(const double *zk, const double *zr) {
    double worst = 0;
    for (int i = 1; i < NT; i++)
        for (int p = 0; p < 3; p++) worst = fmax(worst, fabs(zk[3 * i + p] - zr[3 * i + p]) / fabs(zr[3 * i + p]));
    return worst;
}

static void robertson(void) {
    double zr[NT * 3], zk[NT * 3], zp[NT * 3], zf[NT * 3], worst, wf, cons = 0, tk, tp, tf;
    long st[7], sp[7], sf[7];
    rober_solve(NODEC_RODAS5P, 1e-12, 1e-18, zr, sp, 1);
    tk = rober_solve(NODEC_KVAERNO4, 1e-8, 1e-14, zk, st, 5);
    tp = rober_solve(NODEC_RODAS5P, 1e-8, 1e-14, zp, sp, 5);
    FRESH = 1;
    tf = rober_solve(NODEC_KVAERNO4, 1e-8, 1e-14, zf, sf, 5);
    FRESH = 0;
    worst = rober_err(zk, zr);
    wf = rober_err(zf, zr);
    for (int i = 1; i < NT; i++) cons = fmax(cons, fabs(zk[3 * i] + zk[3 * i + 1] + zk[3 * i + 2] - 1));
    printf("robertson to 4e5, rtol 1e-8: kvaerno4 %ld steps, %ld rejected, %ld f (Newton iterations + "
           "restarts), %ld jac, %ld LU, %.3f ms; rodas5p %ld steps, %ld rejected, %ld f, %ld jac, %ld LU, "
           "%.3f ms; kvaerno4 vs rodas5p at 1e-12: max rel err %.2e, conservation %.2e\n",
           st[0], st[1], st[2], st[3], st[4], 1e3 * tk, sp[0], sp[1], sp[2], sp[3], sp[4], 1e3 * tp, worst, cons);
    CHECK(worst < 1e-6, "robertson: rel err %.3g", worst);
    CHECK(cons < 1e-9, "robertson: conservation %.3g", cons);
    CHECK(st[0] < 3000, "robertson: %ld steps", st[0]);
    CHECK(st[5] == st[0] && st[6] == NODEC_KVAERNO4, "implicit counters: %ld of %ld, method %ld", st[5], st[0], st[6]);
    CHECK(st[3] > 0 && st[3] <= st[0] + st[1] && st[4] >= st[3], "jac %ld, LU %ld", st[3], st[4]);
    printf("  with J every step: %ld steps, %ld rejected, %ld f, %ld jac, %ld LU, %.3f ms, max rel err %.2e\n", sf[0],
           sf[1], sf[2], sf[3], sf[4], 1e3 * tf, wf);
    CHECK(3 * st[3] < 2 * sf[3] && 3 * st[4] < 2 * sf[4], "J reuse: %ld jac, %ld LU; every step %ld, %ld", st[3], st[4],
          sf[3], sf[4]);
    CHECK(worst <= 2 * wf, "J reuse: rel err %.3g, every step %.3g", worst, wf);
}

/* z(2000), z(3000) of van der Pol μ = 1000 from (2, 0): max relative
 * error against rodas5p at rtol 1e-13 (kvaerno4 at 1e-13 agrees to 4e-11);
 * *jac, *lu: the counts. */
static double vdp_run(int fresh, double *z, long *jac, long *lu) {
    static const double ref[4] = {1.70616773217, -0.000892809701111, -1.51060693674, 0.00117838000073};
    double mu[1] = {1000}, z0[2] = {2, 0}, t[3] = {0, 2000, 3000}, t0, err = 0;
    nodec_solver *s;
    int rc;
    FRESH = fresh;
    s = make(&vdp_model, NODEC_KVAERNO4, 1e-8, 1e-8);
    FRESH = 0;
    t0 = now();
    rc = nodec_solve(s, mu, z0, 3, t, z);
    t0 = now() - t0;
    CHECK(rc == 0, "vdp: %s", nodec_get_error_message(s));
    for (int p = 0; p < 4; p++) err = fmax(err, fabs(z[2 + p] - ref[p]) / fabs(ref[p]));
    printf("van der Pol mu=1000 kvaerno4%s: %ld steps, %ld rejected, %ld f, %ld jac, %ld LU, %.2f ms; "
           "z(2000) = (%.12g, %.12g), z(3000) = (%.12g, %.12g), max rel err %.2e\n",
           fresh ? " (J every step)" : "", nodec_get_num_steps(s, 0), nodec_get_num_rejected(s, 0),
           nodec_get_num_f_evals(s, 0), nodec_get_num_jac_evals(s, 0), nodec_get_num_lu(s, 0), 1e3 * t0, z[2], z[3],
           z[4], z[5], err);
    *jac = nodec_get_num_jac_evals(s, 0);
    *lu = nodec_get_num_lu(s, 0);
    nodec_free(s);
    return err;
}

static void van_der_pol(void) {
    double want[2][2] = {{1.7061677321708557, -8.92809701024391e-4}, {-1.5106069367, 1.17838000e-3}};
    double z[6], zf[6], e, ef;
    long jac, lu, jf, lf;
    e = vdp_run(0, z, &jac, &lu);
    ef = vdp_run(1, zf, &jf, &lf);
    for (int i = 0; i < 2; i++)
        for (int p = 0; p < 2; p++) check_close("vdp z", z[2 + 2 * i + p], want[i][p], 2e-6, 0);
    CHECK(3 * jac < jf && 2 * lu < lf, "vdp J reuse: %ld jac, %ld LU; every step %ld, %ld", jac, lu, jf, lf);
    CHECK(e <= 2 * ef, "vdp J reuse: rel err %.3g, every step %.3g", e, ef);
}

/* ---- gradients ---- */

enum { MAXV = 32 };

typedef struct gcase {
    const char *name;
    const nodec_model *m;
    int B, nt;
    const double *th, *z0, *t, *obs;
    double atol;
} gcase;

static double loss_only(const gcase *c, const double *th, const double *z0, const double *t) {
    int nz = c->B * c->m->n_state;
    double z[MAXV * 8], L = 0;
    nodec_solver *s = nodec_create(c->m, c->B);
    nodec_set_method(s, NODEC_RODAS5P);
    nodec_set_tolerances(s, 1e-12, c->atol * 1e-4);
    nodec_set_max_steps(s, 1000000);
    CHECK(nodec_solve(s, th, z0, c->nt, t, z) == 0, "%s", nodec_get_error_message(s));
    for (int i = 0; i < c->nt; i++) L += c->m->loss(c->B, z + i * nz, c->obs + i * nz, NULL);
    nodec_free(s);
    return L / (c->nt * c->B);
}

/* [dL/dθ, dL/dz0, dL/dt] into g; returns its length. */
static int grad(const gcase *c, nodec_method meth, double rtol, double atol, double *g, int print) {
    int P = c->m->n_param, nz = c->B * c->m->n_state, rc;
    double L;
    nodec_solver *s = nodec_create(c->m, c->B);
    nodec_set_method(s, meth);
    nodec_set_tolerances(s, rtol, atol);
    nodec_set_max_steps(s, 1000000);
    CHECK(nodec_get_grad_mode(s) == NODEC_GRAD_CHECKPOINT, "default mode");
    rc = nodec_loss_grad(s, c->th, c->z0, c->nt, c->t, c->obs, &L, g, g + P, g + P + nz, NULL);
    CHECK(rc == 0, "%s %s: %s", c->name, nodec_method_name(meth), nodec_get_error_message(s));
    if (print)
        printf("  %-8s L %.10g; forward %ld steps, %ld f; backward %ld steps, %ld rejected, %ld f, %ld vjp, "
               "%ld jac, %ld LU\n",
               nodec_method_name(meth), L, nodec_get_num_steps(s, 0), nodec_get_num_f_evals(s, 0),
               nodec_get_num_steps(s, 1), nodec_get_num_rejected(s, 1), nodec_get_num_f_evals(s, 1),
               nodec_get_num_vjp_evals(s, 1), nodec_get_num_jac_evals(s, 1), nodec_get_num_lu(s, 1));
    if (print) CHECK(nodec_get_num_stiff_steps(s, 1) > 0, "%s: backward implicit steps", c->name);
    nodec_free(s);
    return P + nz + c->nt;
}

static void fd(const gcase *c, double *g) {
    int P = c->m->n_param, nz = c->B * c->m->n_state, k = 0;
    double th[MAXV], z0[MAXV], t[MAXV], rel = 1e-4;
    memcpy(th, c->th, P * sizeof(double));
    memcpy(z0, c->z0, nz * sizeof(double));
    memcpy(t, c->t, c->nt * sizeof(double));
    for (int q = 0; q < P; q++, k++) {
        double d = rel * fmax(1e-2, fmin(1, fabs(th[q]))), lp, lm;
        th[q] = c->th[q] + d, lp = loss_only(c, th, z0, t);
        th[q] = c->th[q] - d, lm = loss_only(c, th, z0, t);
        th[q] = c->th[q];
        g[k] = (lp - lm) / (2 * d);
    }
    for (int q = 0; q < nz; q++, k++) {
        double d = rel * fmax(1e-2, fmin(1, fabs(z0[q]))), lp, lm;
        z0[q] = c->z0[q] + d, lp = loss_only(c, th, z0, t);
        z0[q] = c->z0[q] - d, lm = loss_only(c, th, z0, t);
        z0[q] = c->z0[q];
        g[k] = (lp - lm) / (2 * d);
    }
    for (int i = 0; i < c->nt; i++, k++) {
        double gap = i + 1 < c->nt ? c->t[i + 1] - c->t[i] : c->t[i] - c->t[i - 1];
        double d = rel * fmin(gap, fmax(1e-2, fabs(t[i]))), lp, lm;
        if (i > 0) d = fmin(d, rel * (c->t[i] - c->t[i - 1]));
        t[i] = c->t[i] + d, lp = loss_only(c, th, z0, t);
        t[i] = c->t[i] - d, lm = loss_only(c, th, z0, t);
        t[i] = c->t[i];
        g[k] = (lp - lm) / (2 * d);
    }
}

static double rel_diff(const double *a, const double *b, int n) {
    double big = 0, d = 0;
    for (int i = 0; i < n; i++) big = fmax(big, fabs(b[i]));
    for (int i = 0; i < n; i++) d = fmax(d, fabs(a[i] - b[i]));
    return d / fmax(big, 1e-300);
}

static void grad_case(const gcase *c, double rtol) {
    double gf[MAXV], gr[MAXV], g[MAXV], er, ef;
    int n;
    printf("%s:\n", c->name);
    fd(c, gf);
    n = grad(c, NODEC_RODAS5P, 1e-12, c->atol * 1e-4, gr, 0);
    grad(c, NODEC_KVAERNO4, rtol, c->atol, g, 1);
    er = rel_diff(g, gr, n);
    ef = rel_diff(g, gf, n);
    printf("  kvaerno4 checkpoint at rtol %.0e: vs rodas5p rtol 1e-12 %.2e, vs differences %.2e "
           "(reference vs differences %.2e)\n",
           rtol, er, ef, rel_diff(gr, gf, n));
    CHECK(er < 1e-5, "%s: vs reference %.3g", c->name, er);
    CHECK(ef < 2e-5, "%s: vs differences %.3g", c->name, ef);
}

static void gradients(void) {
    double A[4] = {-5000.5, 4999.5, 4999.5, -5000.5}, lz0[4] = {1, 0.5, -0.3, 0.8};
    double lt[4] = {0, 0.5, 1, 2},
           lobs[16] = {1, 0.5, -0.3, 0.8, 0.4, 0.3, 0.2, 0.1, 0.3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.0, 0.05};
    gcase lin = {"lin2 (B = 2)", &lin2_model, 2, 4, A, lz0, lt, lobs, 1e-10};
    double lam[1] = {-1e3}, pz0[1] = {0.5}, pt[4] = {0, 0.3, 1, 2}, pobs[4] = {0.4, 0.2, 0.9, 0.8};
    gcase pr = {"pr (lambda -1e3)", &pr_model, 1, 4, lam, pz0, pt, pobs, 1e-10};
    double th[3], rz0[3] = {1, 0, 0}, rt[6] = {0, 0.4, 4, 40, 400, 4e3};
    double robs[18] = {1, 0, 0, 0.98, 3e-5, 0.015, 0.9, 2e-5, 0.1, 0.7, 1e-5, 0.3, 0.45, 3e-6, 0.55, 0.2, 1e-6, 0.8};
    gcase rob = {"robertson log-rates", &rober_model, 1, 6, th, rz0, rt, robs, 1e-14};
    rober_params(th);
    grad_case(&lin, 1e-8);
    grad_case(&pr, 1e-8);
    grad_case(&rob, 1e-8);
}

/* ---- failures and names ---- */

static void failures(void) {
    double th[3], rz0[3] = {1, 0, 0}, rt[3] = {0, 1, 4}, obs[9] = {1, 0, 0, 1, 0, 0, 1, 0, 0}, L, g[3];
    double mu[1] = {1000}, vz0[2] = {2, 0}, vt[2] = {0, 1000}, z[4];
    nodec_solver *s;
    int rc;

    rober_params(th);
    s = nodec_create(&rober_model, 1);
    nodec_set_method(s, NODEC_KVAERNO4);
    CHECK(nodec_get_grad_mode(s) == NODEC_GRAD_CHECKPOINT, "default mode");
    nodec_set_grad_mode(s, NODEC_GRAD_DIRECT); /* test_stiff_direct checks its values */
    rc = nodec_loss_grad(s, th, rz0, 3, rt, obs, &L, g, NULL, NULL, NULL);
    CHECK(rc == 0, "direct + kvaerno4: %d %s", rc, nodec_get_error_message(s));
    nodec_set_grad_mode(s, NODEC_GRAD_ADJOINT);
    rc = nodec_loss_grad(s, th, rz0, 3, rt, obs, &L, g, NULL, NULL, NULL);
    CHECK(rc == NODEC_ILL_INPUT && contains(nodec_get_error_message(s), "checkpoint"), "adjoint + kvaerno4: %d %s", rc,
          nodec_get_error_message(s));
    nodec_free(s);

    /* one fixed step of 1000 through van der Pol's relaxation: the Newton
     * iteration cannot converge */
    s = nodec_create(&vdp_model, 1);
    nodec_set_method(s, NODEC_KVAERNO4);
    nodec_set_fixed_step(s, 1000);
    rc = nodec_solve(s, mu, vz0, 2, vt, z);
    printf("fixed step too large: %s: %s\n", nodec_error_name(rc), nodec_get_error_message(s));
    CHECK(rc != 0 && contains(nodec_get_error_message(s), "Newton"), "Newton failure: %d %s", rc,
          nodec_get_error_message(s));
    nodec_free(s);

    CHECK(nodec_method_from_name("kvaerno4") == NODEC_KVAERNO4, "name");
    CHECK(strcmp(nodec_method_name(NODEC_KVAERNO4), "kvaerno4") == 0, "name back");
    s = nodec_create(&rober_model, 1);
    CHECK(nodec_set_method(s, NODEC_KVAERNO4) == 0, "set");
    CHECK(nodec_set_method(s, (nodec_method)(NODEC_KVAERNO4 + 1)) == NODEC_ILL_INPUT, "past the last");
    nodec_free(s);
}

int main(void) {
    double hp[2] = {1.3, 0.7}, hz0[2] = {0.2, 0.1}, hw[2];
    double lam[1] = {-1}, pz0[1] = {0.5}, pw[1];
    hopf_exact(hz0, hp, 2.0, hw);
    slope("hopf", &hopfj_model, hp, hz0, 2.0, hw);
    pw[0] = pr_exact(lam[0], pz0[0], 2.0);
    slope("pr(-1)", &pr_model, lam, pz0, 2.0, pw);
    adaptive_slope();
    stiff_linear();
    stiff_pr();
    robertson();
    van_der_pol();
    gradients();
    failures();
    return test_summary("test_esdirk");
}
