/* linalg.c — the integrators' vector kernels (stage combinations, the error
 * norm, the finite test), shared by solver.c, esdirk.c and rosenbrock.c,
 * and dense LU with partial pivoting for the small matrices of the
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

int rk_all_finite(const double *v, long n) {
    for (long i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* RMS per group of v / (atol + rtol·max(|y0|, |y1|)), max over groups;
 * y1 NULL means |y0| alone (the initial step's scale). */
double rk_norm(const rk *r, const double *v, const double *y0, const double *y1) {
    const rk_ode *o = r->o;
    double rtol = r->s->rtol, atol = r->s->atol, worst = 0;
    for (int g = 0; g < o->ngroup; g++) {
        double sum = 0;
        int off = o->goff[g], len = o->glen[g];
        if (len <= 0) continue;
        for (int p = off; p < off + len; p++) {
            double ya = fabs(y0[p]);
            if (y1 && fabs(y1[p]) > ya) ya = fabs(y1[p]);
            double q = v[p] / (atol + rtol * ya);
            sum += q * q;
        }
        sum = sqrt(sum / len);
        if (!(sum <= worst)) /* NaN propagates */
            worst = sum;
    }
    return worst;
}

/* Σ_j in order j = 0, 1, … per component from 0 — the textbook loop's
 * sums — with zero weights (dopri5 has several) skipped; eight components
 * at a time are summed in registers over all stages, rather than through
 * out[] once per stage. */
void rk_combine(double *out, const double *y, double h, const double *w, const double *k, int m, int n) {
    enum { P = 8 };
    int p = 0;
    for (; p + P <= n; p += P) {
        double acc[P] = {0};
        for (int j = 0; j < m; j++) {
            const double wj = w[j], *kj = k + (size_t)j * n + p;
            if (wj == 0) continue;
            for (int q = 0; q < P; q++) acc[q] += wj * kj[q];
        }
        for (int q = 0; q < P; q++) out[p + q] = (y ? y[p + q] : 0) + h * acc[q];
    }
    for (; p < n; p++) {
        double acc = 0;
        for (int j = 0; j < m; j++)
            if (w[j] != 0) acc += w[j] * k[(size_t)j * n + p];
        out[p] = (y ? y[p] : 0) + h * acc;
    }
}

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
