/* test_stiff_models.c — the hand-written jac_z and VJPs of stiff_models.c
 * against central differences of f, so that the stiff tests rest on them.
 *
 * Expected: every row of jac_z, aᵀ∂f/∂z, aᵀ∂f/∂θ and aᵀ∂f/∂t within 1e-6
 * (relative to the largest entry) of the differences, B = 2.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stiff_models.h"

enum { B = 2, NMAX = 4 };

static void check_model(const nodec_model *m, const double *th, const double *z,
                        double t)
{
    int n = m->n_state, P = m->n_param;
    double a[B * NMAX] = {0}, az[B * NMAX], ath[NMAX], at, J[NMAX * NMAX];
    double fp[B * NMAX], fm[B * NMAX], zz[B * NMAX], tt[NMAX], fd[B * NMAX + NMAX + 1];
    char what[96];
    for (int k = 0; k < B * n; k++)
        a[k] = 0.3 + 0.7 * sin(1.3 * k + 0.2);
    m->vjp(B, t, z, th, a, az, ath, &at, NULL);
    /* aᵀ∂f/∂z by differences in z */
    for (int k = 0; k < B * n; k++) {
        double h = 1e-6 * fmax(1, fabs(z[k]));
        memcpy(zz, z, B * n * sizeof(double));
        zz[k] = z[k] + h;
        m->f(B, t, zz, th, fp, NULL);
        zz[k] = z[k] - h;
        m->f(B, t, zz, th, fm, NULL);
        fd[k] = 0;
        for (int i = 0; i < B * n; i++)
            fd[k] += a[i] * (fp[i] - fm[i]) / (2 * h);
    }
    snprintf(what, sizeof what, "%s: a'df/dz", m->name);
    check_vec(what, az, fd, B * n, 1e-6, 1e-9);
    /* aᵀ∂f/∂θ */
    for (int q = 0; q < P; q++) {
        double h = 1e-6 * fmax(1, fabs(th[q]));
        memcpy(tt, th, P * sizeof(double));
        tt[q] = th[q] + h;
        m->f(B, t, z, tt, fp, NULL);
        tt[q] = th[q] - h;
        m->f(B, t, z, tt, fm, NULL);
        fd[q] = 0;
        for (int i = 0; i < B * n; i++)
            fd[q] += a[i] * (fp[i] - fm[i]) / (2 * h);
    }
    snprintf(what, sizeof what, "%s: a'df/dtheta", m->name);
    check_vec(what, ath, fd, P, 1e-6, 1e-9);
    /* aᵀ∂f/∂t */
    m->f(B, t + 1e-6, z, th, fp, NULL);
    m->f(B, t - 1e-6, z, th, fm, NULL);
    fd[0] = 0;
    for (int i = 0; i < B * n; i++)
        fd[0] += a[i] * (fp[i] - fm[i]) / 2e-6;
    snprintf(what, sizeof what, "%s: a'df/dt", m->name);
    check_close(what, at, fd[0], 1e-6, 1e-8);
    /* jac_z of the second state, row by row */
    m->jac_z(t, z + n, th, J, NULL);
    for (int j = 0; j < n; j++) {
        double h = 1e-6 * fmax(1, fabs(z[n + j]));
        memcpy(zz, z + n, n * sizeof(double));
        zz[j] = z[n + j] + h;
        m->f(1, t, zz, th, fp, NULL);
        zz[j] = z[n + j] - h;
        m->f(1, t, zz, th, fm, NULL);
        for (int i = 0; i < n; i++)
            fd[i] = J[i * n + j], fp[i] = (fp[i] - fm[i]) / (2 * h);
        snprintf(what, sizeof what, "%s: jac_z column %d", m->name, j);
        check_vec(what, fd, fp, n, 1e-6, 1e-9);
    }
}

int main(void)
{
    double rk[3], z3[6] = {0.9, 2e-5, 0.1, 0.5, 1e-5, 0.5};
    double vth[1] = {10}, z2[4] = {1.5, -0.3, -0.7, 2.1};
    double A[4] = {-3, 1.5, 0.5, -2}, pr[1] = {-4}, z1[2] = {0.4, -1.2};
    double hp[2] = {1.3, 0.7};
    rober_params(rk);
    check_model(&rober_model, rk, z3, 0.3);
    check_model(&vdp_model, vth, z2, 0.3);
    check_model(&lin2_model, A, z2, 0.3);
    check_model(&pr_model, pr, z1, 0.7);
    check_model(&hopfj_model, hp, z2, 0.3);
    check_model(&scal_model, pr, z1, 0.3);
    return test_summary("test_stiff_models");
}
