/* test_stiff_jump.c — gradients through relaxation jumps (issue 11): van
 * der Pol with μ = 1000 from (2, 0), whose x jumps from 1 to −2 in ~1e-3
 * at t ≈ 807 (and every ~807 after), where |f| ≈ 1e6.
 *
 * dL/dμ and dL/dz0 of the checkpoint gradient (auto and rodas5p) against
 * an independent reference: forward sensitivities S = ∂z/∂(μ, x0, v0),
 * the 8-state system z' = f, S' = J S + [∂f/∂μ, 0, 0], solved with
 * rodas5p at rtol = atol = 1e-13 (no adjoint, no checkpoints), and
 * dL/dp = 1/n Σ_i ∂ℓ/∂z(t_i)·S(t_i).  The reference agrees with central
 * differences of L (rodas5p at rtol 1e-13, Richardson-extrapolated) to
 * 2e-5 (their own noise).  Errors are relative to the largest entry of
 * [dL/dμ, dL/dz0], and dL/dμ (the entry the jumps make hard) also alone.
 *
 *   jump1   t = 0, 400, 850, 1000 (the first jump), rtol 1e-8 and 1e-10:
 *           within 1e-5 (before the invariant's projection in adjoint.c:
 *           1e-3 at 1e-10, 3e-3 at 1e-8, at every tolerance);
 *   full    [0, 3000], 28 observations (issue 11's problem, as in
 *           bench/cvodes), rtol 1e-10: within 1e-5.
 */
#include <math.h>
#include <string.h>

#include "stiff_models.h"

enum { NT_MAX = 32 };

/* ---- the sensitivity system: (x, v, S) with S 2×3 row-major ---- */

static void sens_f(int B, double t, const double *z, const double *p,
                   double *dz, double *w)
{
    double x = z[0], v = z[1], mu = p[0];
    double j10 = -2 * mu * x * v - 1, j11 = mu * (1 - x * x);
    const double *S = z + 2;
    (void)B, (void)t, (void)w;
    dz[0] = v;
    dz[1] = mu * (1 - x * x) * v - x;
    for (int k = 0; k < 3; k++) {
        dz[2 + k] = S[3 + k];
        dz[5 + k] =
            j10 * S[k] + j11 * S[3 + k] + (k == 0 ? (1 - x * x) * v : 0);
    }
}

static void sens_jac(double t, const double *z, const double *p, double *J,
                     double *w)
{
    double x = z[0], v = z[1], mu = p[0];
    const double *S = z + 2;
    (void)t, (void)w;
    memset(J, 0, 64 * sizeof(double));
    J[0 * 8 + 1] = 1;
    J[1 * 8 + 0] = -2 * mu * x * v - 1;
    J[1 * 8 + 1] = mu * (1 - x * x);
    for (int k = 0; k < 3; k++) {
        double *r0 = J + (2 + k) * 8, *r1 = J + (5 + k) * 8;
        r0[5 + k] = 1;
        r1[0] = -2 * mu * v * S[k] - 2 * mu * x * S[3 + k] -
                (k == 0 ? 2 * x * v : 0);
        r1[1] = -2 * mu * x * S[k] + (k == 0 ? 1 - x * x : 0);
        r1[2 + k] = -2 * mu * x * v - 1;
        r1[5 + k] = mu * (1 - x * x);
    }
}

static void sens_vjp(int B, double t, const double *z, const double *p,
                     const double *a, double *az, double *ath, double *at,
                     double *w)
{
    double J[64];
    (void)B;
    sens_jac(t, z, p, J, w);
    if (az)
        for (int j = 0; j < 8; j++) {
            az[j] = 0;
            for (int i = 0; i < 8; i++)
                az[j] += a[i] * J[i * 8 + j];
        }
    if (ath)
        ath[0] = 0; /* (not used: solves only) */
    if (at)
        *at = 0;
}

static double sens_loss(int B, const double *p, const double *o, double *w)
{
    (void)B, (void)p, (void)o, (void)w;
    return 0;
}

static double sens_loss_grad(int B, const double *p, const double *o, double *g,
                             double *w)
{
    (void)B, (void)p, (void)o, (void)w;
    memset(g, 0, 8 * sizeof(double));
    return 0;
}

static const nodec_var sens_states[] = {
    {"x", 0, {1, 1}, 0, 1}, {"v", 0, {1, 1}, 1, 1}, {"S", 2, {2, 3}, 2, 6}};
static const nodec_var sens_pv[] = {{"mu", 0, {1, 1}, 0, 1}};
static const nodec_model sens_model = {
    NODEC_ABI_VERSION,
    "vdp_sens",
    "0",
    8,
    1,
    3,
    sens_states,
    1,
    sens_pv,
    0,
    0,
    NULL,
    sens_f,
    sens_vjp,
    NULL,
    sens_jac,
    sens_loss,
    sens_loss_grad,
    NULL,
    NULL,
    NULL, /* z0_from */
    NULL, /* noise */
    NULL, /* inputs */
};

/* [dL/dμ, dL/dx0, dL/dv0] from forward sensitivities. */
static void reference(double mu, const double *z0, int nt, const double *t,
                      const double *obs, double *g)
{
    double y0[8] = {z0[0], z0[1], 0, 1, 0, 0, 0, 1}, y[8 * NT_MAX], gi[2];
    nodec_solver *s = nodec_create(&sens_model, 1);
    nodec_set_method(s, NODEC_RODAS5P);
    nodec_set_tolerances(s, 1e-13, 1e-13);
    nodec_set_max_steps(s, 10000000);
    CHECK(nodec_solve(s, &mu, y0, nt, t, y) == 0, "reference: %s",
          nodec_get_error_message(s));
    nodec_free(s);
    memset(g, 0, 3 * sizeof(double));
    for (int i = 0; i < nt; i++) {
        const double *S = y + 8 * i + 2;
        vdp_model.loss_grad(1, y + 8 * i, obs + 2 * i, gi, NULL);
        for (int k = 0; k < 3; k++)
            g[k] += (gi[0] * S[k] + gi[1] * S[3 + k]) / nt;
    }
}

static double loss_only(double mu, const double *z0, int nt, const double *t,
                        const double *obs)
{
    double z[2 * NT_MAX], L = 0;
    nodec_solver *s = nodec_create(&vdp_model, 1);
    nodec_set_method(s, NODEC_RODAS5P);
    nodec_set_tolerances(s, 1e-13, 1e-13);
    nodec_set_max_steps(s, 10000000);
    CHECK(nodec_solve(s, &mu, z0, nt, t, z) == 0, "differences: %s",
          nodec_get_error_message(s));
    nodec_free(s);
    for (int i = 0; i < nt; i++)
        L += vdp_model.loss(1, z + 2 * i, obs + 2 * i, NULL);
    return L / nt;
}

/* Central differences in μ, x0, v0, Richardson-extrapolated (δ, δ/2). */
static void differences(double mu, const double *z0, int nt, const double *t,
                        const double *obs, double *g)
{
    for (int k = 0; k < 3; k++) {
        double d = k == 0 ? 1e-3 : 1e-6, dd[2];
        for (int r = 0; r < 2; r++, d /= 2) {
            double p[3] = {mu, z0[0], z0[1]}, m[3] = {mu, z0[0], z0[1]};
            p[k] += d, m[k] -= d;
            dd[r] = (loss_only(p[0], p + 1, nt, t, obs) -
                     loss_only(m[0], m + 1, nt, t, obs)) /
                    (2 * d);
        }
        g[k] = (4 * dd[1] - dd[0]) / 3;
    }
}

static void grad(nodec_method meth, double mu, const double *z0, int nt,
                 const double *t, const double *obs, double rtol, double *g)
{
    double L;
    nodec_solver *s = nodec_create(&vdp_model, 1);
    nodec_set_method(s, meth);
    nodec_set_tolerances(s, rtol, rtol);
    nodec_set_max_steps(s, 10000000);
    CHECK(nodec_loss_grad(s, &mu, z0, nt, t, obs, &L, g, g + 1, NULL, NULL) ==
              0,
          "%s: %s", nodec_method_name(meth), nodec_get_error_message(s));
    printf("  %-8s rtol %g: forward %ld steps, backward %ld steps, %ld vjp\n",
           nodec_method_name(meth), rtol, nodec_get_num_steps(s, 0),
           nodec_get_num_steps(s, 1), nodec_get_num_vjp_evals(s, 1));
    nodec_free(s);
}

static double relerr(const double *g, const double *ref)
{
    double big = 0, e = 0;
    for (int k = 0; k < 3; k++)
        big = fmax(big, fabs(ref[k]));
    for (int k = 0; k < 3; k++)
        e = fmax(e, fabs(g[k] - ref[k]) / big);
    return e;
}

static void run(const char *name, int nt, const double *t, const double *obs,
                const double *rtols, int nr)
{
    double mu = 1000, z0[2] = {2, 0}, gr[3], gf[3], g[3];
    char what[96];
    reference(mu, z0, nt, t, obs, gr);
    differences(mu, z0, nt, t, obs, gf);
    printf("%s: reference dL/dmu %.12g, dL/dz0 (%.8g, %.8g); differences %.2e "
           "from it\n",
           name, gr[0], gr[1], gr[2], relerr(gf, gr));
    snprintf(what, sizeof what, "%s: reference vs differences", name);
    check_vec(what, gf, gr, 3, 2e-5, 0);
    snprintf(what, sizeof what, "%s: reference vs differences, dL/dmu", name);
    check_vec(what, gf, gr, 1, 2e-5, 0);
    for (int k = 0; k < nr; k++)
        for (nodec_method m = NODEC_RODAS5P; m <= NODEC_AUTO; m++) {
            grad(m, mu, z0, nt, t, obs, rtols[k], g);
            printf(
                "  %-8s rtol %g: %.2e from the reference, dL/dmu alone %.2e\n",
                nodec_method_name(m), rtols[k], relerr(g, gr),
                fabs(g[0] - gr[0]) / fabs(gr[0]));
            snprintf(what, sizeof what, "%s %s rtol %g vs reference", name,
                     nodec_method_name(m), rtols[k]);
            check_vec(what, g, gr, 3, 1e-5, 0);
            snprintf(what, sizeof what, "%s %s rtol %g: dL/dmu vs reference",
                     name, nodec_method_name(m), rtols[k]);
            check_vec(what, g, gr, 1, 1e-5, 0);
        }
}

int main(void)
{
    double t1[4] = {0, 400, 850, 1000},
           obs1[8] = {2, 0, 1.5, -0.01, -1.9, 0.01, -1.8, 0};
    double t[NT_MAX], obs[2 * NT_MAX], r1[2] = {1e-8, 1e-10}, r2[1] = {1e-10};
    int nt = 0;
    run("jump1 (t = 0 .. 1000)", 4, t1, obs1, r1, 2);
    /* bench/cvodes' times: 0, 100, …, 3000 but 800, 1600, 2400 (next to
     * the jumps); observations off the solution, so every term counts */
    for (int k = 0; k <= 30; k++)
        if (k % 8 || k == 0) {
            t[nt] = 100 * k;
            obs[2 * nt] = 1.5 * cos(0.3 * nt);
            obs[2 * nt + 1] = 0.1;
            nt++;
        }
    run("full (t = 0 .. 3000, 28 times)", nt, t, obs, r2, 1);
    return test_summary("test_stiff_jump");
}
