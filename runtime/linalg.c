/* linalg.c — dense LU with partial pivoting for the small matrices of the
 * implicit methods: one n × n block per trajectory (the Rosenbrock matrix
 * W = I/(hγ) − ∂f/∂z).  Row-major, in place, no allocation; the bottom of
 * the runtime with handle.c and mem.c: it calls nothing but libm.
 *
 * Doolittle elimination, right-looking, as LAPACK's dgetf2: column k's
 * largest entry in rows k..n−1 becomes the pivot.  For the state sizes that
 * get a dense Jacobian (up to a few hundred) this is all the speed needed.
 */
#include <math.h>

#include "internal.h"

int la_lu(int n, double *A, int *piv) {
    for (int k = 0; k < n; k++) {
        int p = k;
        double big = fabs(A[(long)k * n + k]);
        for (int i = k + 1; i < n; i++) {
            double v = fabs(A[(long)i * n + k]);
            if (v > big || isnan(v)) {
                big = v;
                p = i;
                if (isnan(v)) break;
            }
        }
        piv[k] = p;
        if (!(big > 0) || !isfinite(big)) /* zero column below k, or NaN/Inf */
            return k + 1;
        if (p != k)
            for (int j = 0; j < n; j++) {
                double t = A[(long)k * n + j];
                A[(long)k * n + j] = A[(long)p * n + j];
                A[(long)p * n + j] = t;
            }
        double inv = 1.0 / A[(long)k * n + k];
        for (int i = k + 1; i < n; i++) {
            double *ri = A + (long)i * n;
            const double *rk = A + (long)k * n;
            double l = ri[k] * inv;
            ri[k] = l;
            if (l == 0) continue;
            for (int j = k + 1; j < n; j++) ri[j] -= l * rk[j];
        }
    }
    return 0;
}

void la_lu_solve(int n, const double *LU, const int *piv, double *b) {
    for (int k = 0; k < n; k++) { /* P b, then L y = P b (unit diagonal) */
        int p = piv[k];
        if (p != k) {
            double t = b[k];
            b[k] = b[p];
            b[p] = t;
        }
    }
    for (int i = 1; i < n; i++) {
        const double *ri = LU + (long)i * n;
        double acc = b[i];
        for (int j = 0; j < i; j++) acc -= ri[j] * b[j];
        b[i] = acc;
    }
    for (int i = n - 1; i >= 0; i--) { /* U x = y */
        const double *ri = LU + (long)i * n;
        double acc = b[i];
        for (int j = i + 1; j < n; j++) acc -= ri[j] * b[j];
        b[i] = acc / ri[i];
    }
}
