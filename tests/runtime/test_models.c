/* test_models.c — the hand-written VJPs of models.c against central finite
 * differences of f: the gradient tests rest on them.  Expected: every
 * component within 1e-7 relative (difference step 1e-6, f smooth).
 */
#include <math.h>
#include <stdlib.h>

#include "models.h"

static void check_model(const nodec_model *m, const double *theta, double t)
{
    enum { B = 2 };
    int n = m->n_state, P = m->n_param, nz = B * n;
    double z[B * 8] = {0}, a[B * 8] = {0}, az[B * 8], ath[64], at, fp[B * 8], fm[B * 8];
    double th[64] = {0}, eps = 1e-6;
    char what[96];

    for (int i = 0; i < nz; i++) {
        z[i] = 0.3 + 0.4 * sin(1.3 * i + 0.5);
        a[i] = cos(0.7 * i + 0.2);
    }
    for (int k = 0; k < P; k++)
        th[k] = theta[k];
    m->vjp(B, t, z, th, a, az, ath, &at, NULL);
    /* ∂/∂z: row b of az against the difference of f in z_b. */
    for (int i = 0; i < nz; i++) {
        double s = 0, zi = z[i];
        z[i] = zi + eps;
        m->f(B, t, z, th, fp, NULL);
        z[i] = zi - eps;
        m->f(B, t, z, th, fm, NULL);
        z[i] = zi;
        for (int j = 0; j < nz; j++)
            s += a[j] * (fp[j] - fm[j]) / (2 * eps);
        snprintf(what, sizeof what, "%s az[%d]", m->name, i);
        check_close(what, az[i], s, 1e-7, 1e-9);
    }
    for (int k = 0; k < P; k++) {
        double s = 0;
        th[k] = theta[k] + eps;
        m->f(B, t, z, th, fp, NULL);
        th[k] = theta[k] - eps;
        m->f(B, t, z, th, fm, NULL);
        th[k] = theta[k];
        for (int j = 0; j < nz; j++)
            s += a[j] * (fp[j] - fm[j]) / (2 * eps);
        snprintf(what, sizeof what, "%s atheta[%d]", m->name, k);
        check_close(what, ath[k], s, 1e-7, 1e-9);
    }
    {
        double s = 0;
        m->f(B, t + eps, z, th, fp, NULL);
        m->f(B, t - eps, z, th, fm, NULL);
        for (int j = 0; j < nz; j++)
            s += a[j] * (fp[j] - fm[j]) / (2 * eps);
        snprintf(what, sizeof what, "%s at", m->name);
        check_close(what, at, s, 1e-7, 1e-9);
    }
}

int main(void)
{
    double A[4] = {-0.1, 2.0, -2.0, -0.1}, lv[4] = {1.5, 1.0, 1.0, 3.0};
    double sq[1] = {1.0}, osc[4] = {4.0, 0.3, 0.7, 1.3}, mlp[64];
    mlp_params(mlp);
    check_model(&linear_model, A, 0.4);
    check_model(&lv_model, lv, 0.4);
    check_model(&mlp_model, mlp, 0.4);
    check_model(&sq_model, sq, 0.4);
    check_model(&osc_model, osc, 0.4);
    return test_summary("test_models");
}
