/* examples/embed-plain/main.c — nodec's emitted C with nothing else: no
 * nodec, no runtime, no CMake; lotka_volterra.c and .h are checked in
 * (`nodec emit models/lotka_volterra.nde -o examples/embed-plain`).
 *
 * Integrates three predator–prey populations at once (a batch, B = 3) with
 * classic fixed-step RK4 on the emitted f, and checks what Lotka and
 * Volterra proved: V = δx − γ ln x + βy − α ln y is constant on every
 * trajectory.  Then checks the emitted Jacobian against the VJP, row by
 * row.  Exit status 1 when a check fails.  docs/embedding.md.
 */
#include <math.h>
#include <stdio.h>

#include "lotka_volterra.h"

enum { B = 3, N = LOTKA_VOLTERRA_N_STATE, P = LOTKA_VOLTERRA_N_PARAM };

static double invariant(const double *th, const double *z) {
    return th[2] * z[0] - th[3] * log(z[0]) + th[1] * z[1] - th[0] * log(z[1]);
}

int main(void) {
    double th[P], z[B * N] = {1.0, 1.0, 2.0, 0.5, 0.5, 3.0};
    double k[4][B * N], tmp[B * N];
    double work[LOTKA_VOLTERRA_WORK_SIZE]; /* any B; one buffer per thread */
    lotka_volterra_init_params(th, 0);     /* alpha 1.5, beta 1, delta 1, gamma 3 */
    double v0[B];
    for (int b = 0; b < B; b++) v0[b] = invariant(th, z + b * N);

    /* RK4, 10 000 steps of 1e-3 to t = 10 (about six cycles). */
    const double h = 1e-3;
    double t = 0;
    for (int step = 0; step < 10000; step++, t = step * h) {
        lotka_volterra_f(B, t, z, th, k[0], work);
        for (int i = 0; i < B * N; i++) tmp[i] = z[i] + 0.5 * h * k[0][i];
        lotka_volterra_f(B, t + 0.5 * h, tmp, th, k[1], work);
        for (int i = 0; i < B * N; i++) tmp[i] = z[i] + 0.5 * h * k[1][i];
        lotka_volterra_f(B, t + 0.5 * h, tmp, th, k[2], work);
        for (int i = 0; i < B * N; i++) tmp[i] = z[i] + h * k[2][i];
        lotka_volterra_f(B, t + h, tmp, th, k[3], work);
        for (int i = 0; i < B * N; i++) z[i] += h / 6 * (k[0][i] + 2 * k[1][i] + 2 * k[2][i] + k[3][i]);
    }
    int failures = 0;
    for (int b = 0; b < B; b++) {
        double v = invariant(th, z + b * N), err = fabs(v - v0[b]) / fabs(v0[b]);
        int ok = err < 1e-10;
        printf("trajectory %d: z(%g) = (%.12f, %.12f)  V %.15f -> %.15f  drift %.1e %s\n", b, t, z[b * N],
               z[b * N + 1], v0[b], v, err, ok ? "ok" : "MISMATCH");
        failures += !ok;
    }

    /* Row i of the Jacobian is e_iᵀ ∂f/∂z: the VJP with a = e_i. */
    double J[N * N], e[N], row[N];
    lotka_volterra_jac_z(t, z, th, J, work);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) e[j] = i == j;
        lotka_volterra_vjp(1, t, z, th, e, row, NULL, NULL, work);
        for (int j = 0; j < N; j++) {
            int ok = fabs(row[j] - J[i * N + j]) <= 1e-15 * fmax(1, fabs(J[i * N + j]));
            printf("J[%d][%d] = %+.15f  vjp %+.15f %s\n", i, j, J[i * N + j], row[j], ok ? "ok" : "MISMATCH");
            failures += !ok;
        }
    }
    printf(failures ? "%d checks FAILED\n" : "all checks passed\n", failures);
    return failures ? 1 : 0;
}
