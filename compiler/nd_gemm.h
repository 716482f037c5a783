/* nd_gemm — the one matrix product of batch-major code (compiler/plan.c,
 * Gemm).  The C emitter copies this text into every emitted source that
 * computes products over a tile of samples; the JIT plugin compiles it and
 * lets JIT code call it.  C99, no allocation.
 *
 *   C[i][j] (+)= Σ_p A(i, p) · B[p][j]    i < m, j < n, p < k
 *
 * A(i, p) is A[i·sai + p·sak]: either stride is 1 (A by rows, or A
 * transposed); B's and C's rows are contiguous with strides ldb and ldc;
 * acc: add to C, else overwrite it.
 *
 * With ND_CBLAS defined it is one cblas_dgemm call (OpenBLAS, BLIS, …; the
 * embedder links the library).  Otherwise it is register-blocked C: 4 rows
 * of C by 8 columns summed in registers over all of k, every sum in order
 * p = 0, 1, …, k−1 from 0, so the result does not depend on m or on the
 * blocking.  docs/decisions.md has the measurements. */
#ifdef ND_CBLAS
#include <cblas.h>
#endif

static void nd_gemm(int m, int n, int k, const double *A, long sai, long sak, const double *B, long ldb, double *C,
                    long ldc, int acc) {
#ifdef ND_CBLAS
    if (sak == 1)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0, A, (int)(sai > k ? sai : k), B, (int)ldb,
                    acc ? 1.0 : 0.0, C, (int)ldc);
    else
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, k, 1.0, A, (int)(sak > m ? sak : m), B, (int)ldb,
                    acc ? 1.0 : 0.0, C, (int)ldc);
#else
    int m4 = m - m % 4, n8 = n - n % 8;
    for (int j = 0; j < n8; j += 8) {
        for (int i = 0; i < m4; i += 4) {
            double c[4][8] = {{0}};
            for (int p = 0; p < k; p++) {
                const double *b = B + p * ldb + j;
                for (int r = 0; r < 4; r++) {
                    const double a = A[(i + r) * sai + p * sak];
                    for (int q = 0; q < 8; q++) c[r][q] += a * b[q];
                }
            }
            for (int r = 0; r < 4; r++)
                for (int q = 0; q < 8; q++) {
                    double *d = C + (i + r) * ldc + j + q;
                    *d = acc ? *d + c[r][q] : c[r][q];
                }
        }
        for (int i = m4; i < m; i++) {
            double c[8] = {0};
            for (int p = 0; p < k; p++) {
                const double a = A[i * sai + p * sak], *b = B + p * ldb + j;
                for (int q = 0; q < 8; q++) c[q] += a * b[q];
            }
            for (int q = 0; q < 8; q++) {
                double *d = C + i * ldc + j + q;
                *d = acc ? *d + c[q] : c[q];
            }
        }
    }
    for (int j = n8; j < n; j++)
        for (int i = 0; i < m; i++) {
            double c = 0;
            for (int p = 0; p < k; p++) c += A[i * sai + p * sak] * B[p * ldb + j];
            double *d = C + i * ldc + j;
            *d = acc ? *d + c : c;
        }
#endif
}
