/* test_stiff_grad.c — gradients through the implicit methods: checkpoint
 * mode (their default), the adjoint a' = −Jᵀa solved backwards with the
 * same Rosenbrock method on the stored forward solution.
 *
 * Each case compares dL/dθ, dL/dz0 and dL/dt_i (all entries, as one
 * vector, relative to its largest entry) against
 *   - central differences of L (δ = 1e-4·min(1, |x|), 1e-6 for vdp, whose
 *     L has large third derivatives; each L from rodas5p at rtol 1e-12):
 *     within 2e-5;
 *   - a reference gradient at rtol 1e-12 (rodas5p checkpoint; on the
 *     non-stiff hopf also dopri5's adjoint and checkpoint): within 1e-5;
 * at the case's tolerance (rtol 1e-8 unless stated), for rodas4, rodas5p
 * and auto:
 *   lin2   eigenvalues −1 and −1e4, B = 2, times 0, 0.5, 1, 2;
 *   pr     Prothero–Robinson λ = −1e3 (uses t: ∂f/∂t and the at quadrature);
 *   hopf   non-stiff and nonlinear (−Jᵀ at the interpolated z(t));
 *   rober  Robertson's log-rates, times 0, 0.4, 4, …, 4e4, 1e5 (atol 1e-14);
 *   vdp    van der Pol μ = 100 over [0, 150] (two relaxation jumps), rtol
 *          1e-10.  μ = 1000 is in test_stiff_jump.c.
 * Also: the backward pass reports its work (steps, Jacobians, LUs); lin2
 * with 64 steps a checkpoint segment within 1e-7 of the reference (the
 * bound on how far a backward step spans the forward's).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stiff_models.h"

enum { MAXV = 64 };

typedef struct gcase {
    const char *name;
    const nodec_model *m;
    int B, nt;
    const double *th, *z0, *t, *obs;
    double atol;
    double fdrel; /* relative step of the differences (0: 1e-4) */
} gcase;

/* L by a forward solve: 1/(n_times·B) Σ_i loss(z(t_i), obs_i). */
static double loss_only(const gcase *c, const double *th, const double *z0,
                        const double *t)
{
    int n = c->m->n_state, nz = c->B * n;
    double z[MAXV * 8], L = 0;
    nodec_solver *s = nodec_create(c->m, c->B);
    nodec_set_method(s, NODEC_RODAS5P);
    nodec_set_tolerances(s, 1e-12, c->atol * 1e-4);
    nodec_set_max_steps(s, 1000000);
    CHECK(nodec_solve(s, th, z0, c->nt, t, z) == 0, "%s", nodec_get_error_message(s));
    for (int i = 0; i < c->nt; i++)
        L += c->m->loss(c->B, z + i * nz, c->obs + i * nz, NULL);
    nodec_free(s);
    return L / (c->nt * c->B);
}

static int ckpt_every; /* nodec_set_checkpoint_every when > 0 */

/* [dL/dθ, dL/dz0, dL/dt] into g; returns its length. */
static int grad(const gcase *c, nodec_method meth, nodec_grad_mode mode,
                double rtol, double atol, double *g, int print)
{
    int P = c->m->n_param, nz = c->B * c->m->n_state, rc;
    double L;
    nodec_solver *s = nodec_create(c->m, c->B);
    nodec_set_method(s, meth);
    if (mode != (nodec_grad_mode)-1)
        nodec_set_grad_mode(s, mode);
    nodec_set_tolerances(s, rtol, atol);
    nodec_set_max_steps(s, 1000000);
    if (ckpt_every > 0)
        nodec_set_checkpoint_every(s, ckpt_every);
    rc = nodec_loss_grad(s, c->th, c->z0, c->nt, c->t, c->obs, &L, g, g + P,
                         g + P + nz, NULL);
    CHECK(rc == 0, "%s %s: %s", c->name, nodec_method_name(meth),
          nodec_get_error_message(s));
    if (print)
        printf("  %-8s L %.10g; forward %ld steps; backward %ld steps, %ld "
               "rejected, %ld vjp, %ld jac, %ld LU, %ld switches\n",
               nodec_method_name(meth), L, nodec_get_num_steps(s, 0),
               nodec_get_num_steps(s, 1), nodec_get_num_rejected(s, 1),
               nodec_get_num_vjp_evals(s, 1), nodec_get_num_jac_evals(s, 1),
               nodec_get_num_lu(s, 1), nodec_get_num_switches(s, 1));
    nodec_free(s);
    return P + nz + c->nt;
}

static void fd(const gcase *c, double *g)
{
    int P = c->m->n_param, nz = c->B * c->m->n_state, k = 0;
    double th[MAXV], z0[MAXV], t[MAXV], rel = c->fdrel > 0 ? c->fdrel : 1e-4;
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
        /* a step a tenth of the gaps around t_i, so the order holds */
        double gap = i + 1 < c->nt ? c->t[i + 1] - c->t[i] : c->t[i] - c->t[i - 1];
        double d = rel * fmin(gap, fmax(1e-2, fabs(t[i]))), lp, lm;
        if (i > 0)
            d = fmin(d, rel * (c->t[i] - c->t[i - 1]));
        t[i] = c->t[i] + d, lp = loss_only(c, th, z0, t);
        t[i] = c->t[i] - d, lm = loss_only(c, th, z0, t);
        t[i] = c->t[i];
        g[k] = (lp - lm) / (2 * d);
    }
}

static void run(const gcase *c, double rtol, int all_methods)
{
    double gf[MAXV], gr[MAXV], g[MAXV];
    int n;
    char what[96];
    printf("%s:\n", c->name);
    fd(c, gf);
    n = grad(c, NODEC_RODAS5P, (nodec_grad_mode)-1, 1e-12, c->atol * 1e-4, gr, 0);
    snprintf(what, sizeof what, "%s: reference vs differences", c->name);
    check_vec(what, gr, gf, n, 2e-5, 0);
    for (nodec_method m = all_methods ? NODEC_RODAS4 : NODEC_AUTO; m <= NODEC_AUTO; m++) {
        double e1 = 0, e2 = 0, big = 0;
        grad(c, m, (nodec_grad_mode)-1, rtol, c->atol, g, 1);
        for (int k = 0; k < n; k++)
            big = fmax(big, fabs(gr[k]));
        for (int k = 0; k < n; k++) {
            e1 = fmax(e1, fabs(g[k] - gf[k]) / big);
            e2 = fmax(e2, fabs(g[k] - gr[k]) / big);
        }
        printf("  %-8s vs differences %.2e, vs reference %.2e\n",
               nodec_method_name(m), e1, e2);
        snprintf(what, sizeof what, "%s %s vs differences", c->name, nodec_method_name(m));
        check_vec(what, g, gf, n, 2e-5, 0);
        snprintf(what, sizeof what, "%s %s vs reference", c->name, nodec_method_name(m));
        check_vec(what, g, gr, n, 1e-5, 0);
    }
}

int main(void)
{
    /* lin2 */
    double A[4] = {-5000.5, 4999.5, 4999.5, -5000.5}, lz0[4] = {1, 0.5, -0.3, 0.8};
    double lt[4] = {0, 0.5, 1, 2}, lobs[16];
    /* pr */
    double lam[1] = {-1e3}, pz0[1] = {0.7}, pt[4] = {0, 0.3, 1, 2}, pobs[4] = {0.5, 0.1, 0.9, 0.8};
    /* hopf */
    double hp[2] = {1.3, 0.7}, hz0[2] = {0.2, 0.1}, ht[4] = {0, 0.7, 1.5, 3};
    double hobs[8] = {0.2, 0.1, 0.1, 0.6, -0.5, 0.6, -0.9, -0.2};
    /* rober */
    double rth[3], rz0[3] = {1, 0, 0}, rt[8] = {0, 0.4, 4, 40, 400, 4e3, 4e4, 1e5}, robs[24];
    /* vdp */
    double mu[1] = {100}, vz0[2] = {2, 0}, vt[3] = {0, 80, 150}, vobs[6] = {2, 0, -1.5, 0, 1.9, 0};
    double g1[MAXV], g2[MAXV], g3[MAXV];
    int n;
    for (int k = 0; k < 16; k++)
        lobs[k] = 0.3 * cos(0.7 * k);
    for (int i = 0; i < 8; i++) /* roughly the solution, so every term counts */
        robs[3 * i] = 1 - 0.1 * i, robs[3 * i + 1] = 1e-5, robs[3 * i + 2] = 0.1 * i;
    rober_params(rth);
    {
        gcase c = {"lin2 (eigenvalues -1, -1e4), B = 2", &lin2_model, 2, 4, A, lz0, lt, lobs, 1e-12, 0};
        run(&c, 1e-8, 1);
        /* The backward steps cross the forward's within a segment but span
         * at most twice the smallest: over 64 steps a segment, unbounded,
         * they skipped z's initial layer (θ-gradient 3e-3 off). */
        n = grad(&c, NODEC_RODAS5P, (nodec_grad_mode)-1, 1e-12, c.atol * 1e-4, g1, 0);
        ckpt_every = 64;
        grad(&c, NODEC_RODAS5P, (nodec_grad_mode)-1, 1e-8, c.atol, g2, 1);
        ckpt_every = 0;
        check_vec("lin2 rodas5p, 64 steps a segment, vs reference", g2, g1, n, 1e-7, 0);
    }
    {
        gcase c = {"Prothero-Robinson (lambda -1e3)", &pr_model, 1, 4, lam, pz0, pt, pobs, 1e-10, 0};
        run(&c, 1e-8, 1);
    }
    {
        gcase c = {"hopf", &hopfj_model, 1, 4, hp, hz0, ht, hobs, 1e-10, 0};
        run(&c, 1e-8, 1);
        /* the explicit modes agree with the implicit reference */
        n = grad(&c, NODEC_RODAS5P, (nodec_grad_mode)-1, 1e-12, 1e-14, g1, 0);
        grad(&c, NODEC_DOPRI5, NODEC_GRAD_ADJOINT, 1e-12, 1e-14, g2, 0);
        grad(&c, NODEC_DOPRI5, NODEC_GRAD_CHECKPOINT, 1e-12, 1e-14, g3, 0);
        check_vec("hopf: rodas5p vs dopri5 adjoint", g1, g2, n, 1e-8, 0);
        check_vec("hopf: rodas5p vs dopri5 checkpoint", g1, g3, n, 1e-8, 0);
    }
    {
        gcase c = {"Robertson log-rates", &rober_model, 1, 8, rth, rz0, rt, robs, 1e-14, 0};
        run(&c, 1e-8, 1);
    }
    {
        gcase c = {"van der Pol mu = 100", &vdp_model, 1, 3, mu, vz0, vt, vobs, 1e-10, 1e-6};
        run(&c, 1e-10, 1);
    }
    return test_summary("test_stiff_grad");
}
