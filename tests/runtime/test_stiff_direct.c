/* test_stiff_direct.c — gradient mode direct through kvaerno4's implicit
 * steps (runtime/adjoint.c, esd_stage_solve): each stage k_i = f(t_i, Y_i),
 * Y_i = ψ_i + hγ k_i, differentiated exactly, its cotangent passed through
 * (I − hγJ(t_i, Y_i))⁻ᵀ.
 *
 * Expected values (measured values in docs/runtime.md, kvaerno4 "direct"):
 *   - on a fixed grid (nodec_set_fixed_step, steps not dividing the
 *     intervals, so the grid moves smoothly with t_i; rtol 1e-13 so that
 *     the Newton iteration converges far below the differences' step):
 *     dL/dθ, dL/dz0, dL/dt_i against central differences of fourth order
 *     of the loss that kvaerno4 computes on the same grid, within 1e-8 of
 *     the largest entry — direct is the exact derivative of that discrete
 *     map — on lin2 (eigenvalues −1, −1e4; B = 2), Prothero–Robinson
 *     λ = −1e3 (uses t), van der Pol μ = 100, and within 2e-8 on
 *     Robertson's log-rates over [0, 0.2] (h = 1.37e-4: the Newton
 *     iteration from y0 needs h ≤ 2e-4; the differences of y2(0) = 0,
 *     which peaks at 3.6e-5, are noisier);
 *   - adaptive at rtol 1e-10: the same against the checkpoint gradient of
 *     rodas5p at rtol 1e-12 (the tight-tolerance reference), within 1e-6;
 *     and direct's statistics (a Jacobian and an LU a stage);
 *   - the GMRES path (forced): the transposed solves by GMRES on VJPs,
 *     no Jacobian; against the dense path's direct gradient on the fixed
 *     grids (1e-8) and adaptive at rtol 1e-10 (1e-6), on lin2, van der
 *     Pol and Robertson;
 *   - rodas4, rodas5p and auto still refuse direct, naming checkpoint and
 *     kvaerno4.
 * The inputs' case (a model with inputs, breakpoints inside steps) is in
 * test_inputs.c.
 */
#include <math.h>
#include <string.h>

#include "internal.h" /* s->linsolve: the GMRES path forced; s->xs: its counts */
#include "stiff_models.h"

enum { MAXV = 32 };

static int contains(const char *s, const char *part) { return strstr(s, part) != NULL; }

typedef struct dcase {
    const char *name;
    const nodec_model *m;
    int B, nt;
    const double *th, *z0, *t, *obs;
    double atol, h; /* h: the fixed grid's step */
    double dmin;    /* the smallest scale of a difference's step (1e-2) */
    double fdtol;   /* direct vs differences on the grid (1e-8) */
} dcase;

static nodec_solver *make(const dcase *c, nodec_method meth, double rtol, double atol, double h) {
    nodec_solver *s = nodec_create(c->m, c->B);
    nodec_set_method(s, meth);
    nodec_set_tolerances(s, rtol, atol);
    nodec_set_max_steps(s, 1000000);
    if (h > 0) nodec_set_fixed_step(s, h);
    return s;
}

/* The loss kvaerno4 computes on the fixed grid. */
static double loss_fixed(const dcase *c, const double *th, const double *z0, const double *t) {
    int nz = c->B * c->m->n_state;
    double z[MAXV * 8], L = 0;
    nodec_solver *s = make(c, NODEC_KVAERNO4, 1e-13, c->atol * 1e-3, c->h);
    CHECK(nodec_solve(s, th, z0, c->nt, t, z) == 0, "%s: %s", c->name, nodec_get_error_message(s));
    for (int i = 0; i < c->nt; i++) L += c->m->loss(c->B, z + i * nz, c->obs + i * nz, NULL);
    nodec_free(s);
    return L / (c->nt * c->B);
}

/* [dL/dθ, dL/dz0, dL/dt] into g; returns its length. */
static int grad(const dcase *c, nodec_method meth, nodec_grad_mode mode, double rtol, double atol, double h, double *g,
                int print) {
    int P = c->m->n_param, nz = c->B * c->m->n_state, rc;
    double L;
    nodec_solver *s = make(c, meth, rtol, atol, h);
    nodec_set_grad_mode(s, mode);
    rc = nodec_loss_grad(s, c->th, c->z0, c->nt, c->t, c->obs, &L, g, g + P, g + P + nz, NULL);
    CHECK(rc == 0, "%s %s %s: %s", c->name, nodec_method_name(meth), nodec_grad_mode_name(mode),
          nodec_get_error_message(s));
    if (print) {
        long st = nodec_get_num_steps(s, 0);
        printf("  %-8s %-10s L %.10g; forward %ld steps; backward %ld f, %ld vjp, %ld jac, %ld LU\n",
               nodec_method_name(meth), nodec_grad_mode_name(mode), L, st, nodec_get_num_f_evals(s, 1),
               nodec_get_num_vjp_evals(s, 1), nodec_get_num_jac_evals(s, 1), nodec_get_num_lu(s, 1));
        /* per step: the replay's J and LU, then at most one of each for
         * every implicit stage with a cotangent (4) */
        CHECK(nodec_get_num_jac_evals(s, 1) >= st && nodec_get_num_jac_evals(s, 1) <= 5 * st, "%s: %ld jac, %ld steps",
              c->name, nodec_get_num_jac_evals(s, 1), st);
    }
    nodec_free(s);
    return P + nz + c->nt;
}

/* Central differences of fourth order, δ = 1e-3 relative (O(δ⁴) ≈
 * 1e-12; the solve's noise / δ ≈ 1e-12), and 1e-3 of c->dmin for values
 * near 0 (Robertson's y2 peaks at 3.6e-5: its δ is 1e-8). */
static void fd(const dcase *c, double *g) {
    static const double w[4] = {-1, 8, -8, 1}, at_[4] = {2, 1, -1, -2};
    int P = c->m->n_param, nz = c->B * c->m->n_state, n = P + nz + c->nt;
    double th[MAXV], z0[MAXV], t[MAXV];
    for (int k = 0; k < n; k++) {
        double *x = k < P ? th + k : k < P + nz ? z0 + k - P : t + k - P - nz, d;
        const double x0 = k < P ? c->th[k] : k < P + nz ? c->z0[k - P] : c->t[k - P - nz];
        d = 1e-3 * fmax(c->dmin > 0 ? c->dmin : 1e-2, fmin(1, fabs(x0)));
        if (k >= P + nz) { /* a time: within its intervals, and by far less than h */
            int i = k - P - nz;
            double gap = i + 1 < c->nt ? c->t[i + 1] - c->t[i] : c->t[i] - c->t[i - 1];
            d = fmin(1e-3 * gap, 1e-3 * c->h);
        }
        g[k] = 0;
        for (int q = 0; q < 4; q++) {
            memcpy(th, c->th, P * sizeof(double));
            memcpy(z0, c->z0, nz * sizeof(double));
            memcpy(t, c->t, c->nt * sizeof(double));
            *x = x0 + at_[q] * d;
            g[k] += w[q] * loss_fixed(c, th, z0, t) / (12 * d);
        }
    }
}

static double rel_diff(const double *a, const double *b, int n) {
    double big = 0, d = 0;
    for (int i = 0; i < n; i++) big = fmax(big, fabs(b[i]));
    for (int i = 0; i < n; i++) d = fmax(d, fabs(a[i] - b[i]));
    return d / fmax(big, 1e-300);
}

/* On c's fixed grid against differences; adaptive (when adapt) against
 * the reference. */
static void direct_case(const dcase *c, int adapt) {
    double gf[MAXV], gd[MAXV], gr[MAXV], ga[MAXV], ef, er;
    int n;
    printf("%s:\n", c->name);
    fd(c, gf);
    n = grad(c, NODEC_KVAERNO4, NODEC_GRAD_DIRECT, 1e-13, c->atol * 1e-3, c->h, gd, 1);
    ef = rel_diff(gd, gf, n);
    printf("  fixed grid h = %g: direct vs differences %.2e\n", c->h, ef);
    CHECK(ef < (c->fdtol > 0 ? c->fdtol : 1e-8), "%s: fixed direct vs differences %.3g", c->name, ef);
    if (!adapt) return;
    grad(c, NODEC_RODAS5P, NODEC_GRAD_CHECKPOINT, 1e-12, c->atol * 1e-4, 0, gr, 0);
    grad(c, NODEC_KVAERNO4, NODEC_GRAD_DIRECT, 1e-10, c->atol, 0, ga, 1);
    er = rel_diff(ga, gr, n);
    printf("  adaptive rtol 1e-10: direct vs rodas5p checkpoint at 1e-12 %.2e\n", er);
    CHECK(er < 1e-6, "%s: adaptive direct vs reference %.3g", c->name, er);
}

static void gmres(const dcase *c);

static void cases(void) {
    double A[4] = {-5000.5, 4999.5, 4999.5, -5000.5}, lz0[4] = {1, 0.5, -0.3, 0.8};
    double lt[4] = {0, 0.5, 1, 2},
           lobs[16] = {1, 0.5, -0.3, 0.8, 0.4, 0.3, 0.2, 0.1, 0.3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.0, 0.05};
    dcase lin = {"lin2 (B = 2)", &lin2_model, 2, 4, A, lz0, lt, lobs, 1e-10, 0.013, 0, 0};
    double lam[1] = {-1e3}, pz0[1] = {0.5}, pt[4] = {0, 0.3, 1, 2}, pobs[4] = {0.4, 0.2, 0.9, 0.8};
    dcase pr = {"pr (lambda -1e3)", &pr_model, 1, 4, lam, pz0, pt, pobs, 1e-10, 0.013, 0, 0};
    double mu[1] = {100}, vz0[2] = {2, 0}, vt[4] = {0, 1, 3, 6}, vobs[8] = {2, 0, 1.9, -0.01, 1.85, -0.01, 1.8, -0.01};
    dcase vdp = {"van der Pol mu = 100", &vdp_model, 1, 4, mu, vz0, vt, vobs, 1e-10, 0.013, 0, 0};
    /* Robertson: the Newton iteration from y0 needs h ≤ 2e-4 through the
     * initial transient, so the fixed grid covers [0, 0.2] and the
     * adaptive solve [0, 400] */
    double th[3], rz0[3] = {1, 0, 0}, rt[5] = {0, 0.002, 0.01, 0.05, 0.2}, rta[5] = {0, 0.4, 4, 40, 400};
    double robs[15] = {1, 0, 0, 0.98, 3e-5, 0.015, 0.9, 2e-5, 0.1, 0.8, 1.5e-5, 0.2, 0.7, 1e-5, 0.3};
    dcase rob = {"robertson log-rates [0, 0.2]", &rober_model, 1, 5, th, rz0, rt, robs, 1e-14, 1.37e-4, 1e-3, 2e-8};
    dcase roba = {"robertson log-rates [0, 400]", &rober_model, 1, 5, th, rz0, rta, robs, 1e-14, 0.0137, 0, 0};
    rober_params(th);
    direct_case(&lin, 1);
    direct_case(&pr, 1);
    direct_case(&vdp, 1);
    direct_case(&rob, 0);
    gmres(&lin);
    gmres(&vdp);
    gmres(&rob);
    /* the adaptive case alone */
    {
        double gr[MAXV], ga[MAXV], er;
        int n = grad(&roba, NODEC_RODAS5P, NODEC_GRAD_CHECKPOINT, 1e-12, roba.atol * 1e-4, 0, gr, 0);
        printf("%s:\n", roba.name);
        grad(&roba, NODEC_KVAERNO4, NODEC_GRAD_DIRECT, 1e-10, roba.atol, 0, ga, 1);
        er = rel_diff(ga, gr, n);
        printf("  adaptive rtol 1e-10: direct vs rodas5p checkpoint at 1e-12 %.2e\n", er);
        CHECK(er < 1e-6, "%s: adaptive direct vs reference %.3g", roba.name, er);
    }
}

static void refusals(void) {
    double th[3], rz0[3] = {1, 0, 0}, rt[3] = {0, 1, 4}, obs[9] = {1, 0, 0, 1, 0, 0, 1, 0, 0}, L, g[3];
    nodec_solver *s;
    int rc;
    rober_params(th);
    for (nodec_method m = NODEC_RODAS4; m <= NODEC_AUTO; m++) {
        s = nodec_create(&rober_model, 1);
        nodec_set_method(s, m);
        nodec_set_grad_mode(s, NODEC_GRAD_DIRECT);
        rc = nodec_loss_grad(s, th, rz0, 3, rt, obs, &L, g, NULL, NULL, NULL);
        CHECK(rc == NODEC_ILL_INPUT && contains(nodec_get_error_message(s), "checkpoint") &&
                  contains(nodec_get_error_message(s), "kvaerno4"),
              "direct + %s: %d %s", nodec_method_name(m), rc, nodec_get_error_message(s));
        nodec_free(s);
    }
}

/* The GMRES path (forced): the transposed stage solves by GMRES on VJPs,
 * against the dense path's direct gradient on c's fixed grid (rtol 1e-13:
 * 1e-8) and adaptive (rtol 1e-10: 1e-6; the forward solves differ by the
 * inexact Newton solves). */
static void gmres(const dcase *c) {
    int P = c->m->n_param, nz = c->B * c->m->n_state, n = P + nz + c->nt, rc;
    double gd[MAXV], gk[MAXV], L, e;
    for (int fixed = 1; fixed >= 0; fixed--) {
        double rtol = fixed ? 1e-13 : 1e-10, atol = fixed ? c->atol * 1e-3 : c->atol, h = fixed ? c->h : 0;
        nodec_solver *s = make(c, NODEC_KVAERNO4, rtol, atol, h);
        grad(c, NODEC_KVAERNO4, NODEC_GRAD_DIRECT, rtol, atol, h, gd, 0);
        s->linsolve = ESD_LINSOLVE_GMRES;
        nodec_set_grad_mode(s, NODEC_GRAD_DIRECT);
        rc = nodec_loss_grad(s, c->th, c->z0, c->nt, c->t, c->obs, &L, gk, gk + P, gk + P + nz, NULL);
        CHECK(rc == 0, "%s GMRES: %s", c->name, nodec_get_error_message(s));
        e = rel_diff(gk, gd, n);
        printf("%s, GMRES path, %s: direct vs the dense path's %.2e; backward %ld Krylov solves, %ld products, "
               "%ld jac\n",
               c->name, fixed ? "fixed grid" : "adaptive", e, s->xs[1].krylov, s->xs[1].krylov_mv,
               nodec_get_num_jac_evals(s, 1));
        CHECK(e < (fixed ? 1e-8 : 1e-6), "%s: GMRES direct vs dense %.3g", c->name, e);
        CHECK(nodec_get_num_jac_evals(s, 1) == 0 && s->xs[1].krylov > 0, "%s GMRES: %ld jac, %ld solves", c->name,
              nodec_get_num_jac_evals(s, 1), s->xs[1].krylov);
        nodec_free(s);
    }
}

int main(void) {
    cases();
    refusals();
    return test_summary("test_stiff_direct");
}
