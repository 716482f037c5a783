/* test_linear.c — dz/dt = A z against its closed form, solution and
 * gradient, in every gradient mode (dopri5, rtol 1e-10, atol 1e-12).
 *
 * z_b(t) = e^{A(t − t_0)} z0_b.  With g_ib = ∂L/∂z_b(t_i), τ_i = t_i − t_0:
 *   dL/dz0_b  = Σ_i e^{Aτ_i}ᵀ g_ib
 *   dL/dA_jk  = Σ_i Σ_b g_ibᵀ D(Aτ_i; τ_i E_jk) z0_b, D the Fréchet
 *               derivative of expm: the upper right block of
 *               expm([[X, E], [0, X]]) (Higham, Functions of Matrices, 3.2)
 *   dL/dt_i   = Σ_b g_ibᵀ A z_b(t_i)  (i ≥ 1),  dL/dt_0 = −Σ_{i≥1} dL/dt_i.
 * Expected: z(t_i) within 1e-8 (relative to the largest), L within 1e-8,
 * every gradient within 1e-7 relative to its largest entry.
 */
#include <math.h>
#include <string.h>

#include "models.h"

enum { B = 2, NT = 5 };

/* e^X for an n×n X (n ≤ 4): scaling and squaring of a 24-term Taylor sum. */
static void expm(int n, const double *X, double *E)
{
    double S[16], T[16], P[16], nrm = 0;
    int sq = 0;
    for (int i = 0; i < n * n; i++)
        nrm = fmax(nrm, fabs(X[i]));
    while (nrm * n > 0.25) {
        nrm /= 2;
        sq++;
    }
    for (int i = 0; i < n * n; i++) {
        S[i] = X[i] / ldexp(1, sq);
        E[i] = T[i] = (i % (n + 1) == 0);
    }
    for (int k = 1; k <= 24; k++) {
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double acc = 0;
                for (int l = 0; l < n; l++)
                    acc += T[i * n + l] * S[l * n + j];
                P[i * n + j] = acc / k;
            }
        memcpy(T, P, n * n * sizeof(double));
        for (int i = 0; i < n * n; i++)
            E[i] += T[i];
    }
    for (; sq > 0; sq--) {
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double acc = 0;
                for (int l = 0; l < n; l++)
                    acc += E[i * n + l] * E[l * n + j];
                P[i * n + j] = acc;
            }
        memcpy(E, P, n * n * sizeof(double));
    }
}

int main(void)
{
    double A[4] = {-0.1, 2.0, -2.0, -0.3}, z0[B * 2] = {1.0, 0.5, -0.3, 0.8};
    double t[NT] = {0.3, 0.8, 1.5, 2.2, 3.0}, obs[NT * B * 2], zx[NT * B * 2];
    double g[NT * B * 2], dz0x[B * 2] = {0}, dAx[4] = {0}, dtx[NT] = {0}, Lx = 0;
    static const char *names[] = {"adjoint", "checkpoint", "direct"};

    for (int k = 0; k < NT * B * 2; k++)
        obs[k] = 0.4 * cos(0.9 * k);
    /* closed form */
    for (int i = 0; i < NT; i++) {
        double tau = t[i] - t[0], X[4], E[4];
        for (int q = 0; q < 4; q++)
            X[q] = A[q] * tau;
        expm(2, X, E);
        for (int b = 0; b < B; b++) {
            double *z = zx + (i * B + b) * 2, *gi = g + (i * B + b) * 2;
            const double *y = obs + (i * B + b) * 2, *z0b = z0 + 2 * b;
            z[0] = E[0] * z0b[0] + E[1] * z0b[1];
            z[1] = E[2] * z0b[0] + E[3] * z0b[1];
            Lx += ((z[0] - y[0]) * (z[0] - y[0]) + (z[1] - y[1]) * (z[1] - y[1])) / 2;
            for (int q = 0; q < 2; q++)
                gi[q] = 2 * (z[q] - y[q]) / 2 / (NT * B);
            dz0x[2 * b] += E[0] * gi[0] + E[2] * gi[1];
            dz0x[2 * b + 1] += E[1] * gi[0] + E[3] * gi[1];
            if (i >= 1) {
                double d = gi[0] * (A[0] * z[0] + A[1] * z[1]) +
                           gi[1] * (A[2] * z[0] + A[3] * z[1]);
                dtx[i] += d;
                dtx[0] -= d;
            }
        }
        for (int jk = 0; jk < 4; jk++) {
            double M[16] = {0}, F[16];
            for (int r = 0; r < 2; r++)
                for (int c = 0; c < 2; c++) {
                    M[r * 4 + c] = M[(r + 2) * 4 + c + 2] = X[r * 2 + c];
                }
            M[(jk / 2) * 4 + 2 + jk % 2] = tau; /* E_jk scaled by τ */
            expm(4, M, F);
            for (int b = 0; b < B; b++) {
                const double *gi = g + (i * B + b) * 2, *z0b = z0 + 2 * b;
                for (int r = 0; r < 2; r++)
                    dAx[jk] += gi[r] * (F[r * 4 + 2] * z0b[0] + F[r * 4 + 3] * z0b[1]);
            }
        }
    }
    Lx /= NT * B;

    for (int mo = 0; mo < 3; mo++) {
        nodec_solver *s = nodec_create(&linear_model, B);
        double L, dA[4], dz0[B * 2], dt[NT], z[NT * B * 2];
        char lab[96];
        int rc;
        nodec_set_tolerances(s, 1e-10, 1e-12);
        nodec_set_grad_mode(s, mo);
        rc = nodec_loss_grad(s, A, z0, NT, t, obs, &L, dA, dz0, dt, z);
        CHECK(rc == 0, "%s: %s", nodec_error_name(rc), nodec_get_error_message(s));
        printf("%-10s L = %.12f (exact %.12f), dL/dA = %.9f %.9f %.9f %.9f "
               "(exact %.9f %.9f %.9f %.9f)\n",
               names[mo], L, Lx, dA[0], dA[1], dA[2], dA[3], dAx[0], dAx[1],
               dAx[2], dAx[3]);
        snprintf(lab, sizeof lab, "%s z(t_i)", names[mo]);
        check_vec(lab, z, zx, NT * B * 2, 1e-8, 0);
        snprintf(lab, sizeof lab, "%s L", names[mo]);
        check_close(lab, L, Lx, 1e-8, 0);
        snprintf(lab, sizeof lab, "%s dL/dA", names[mo]);
        check_vec(lab, dA, dAx, 4, 1e-7, 0);
        snprintf(lab, sizeof lab, "%s dL/dz0", names[mo]);
        check_vec(lab, dz0, dz0x, B * 2, 1e-7, 0);
        snprintf(lab, sizeof lab, "%s dL/dt", names[mo]);
        check_vec(lab, dt, dtx, NT, 1e-7, 0);
        nodec_free(s);
    }
    return test_summary("test_linear");
}
