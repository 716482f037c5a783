/* nd_gemm — the one matrix product of batch-major code (compiler/plan.c,
 * Gemm).  The C emitter copies this text into every emitted source that
 * computes products over a tile of samples; the JIT plugin compiles it and
 * lets JIT code call it.  C99, no allocation.
 *
 *   C[i][j] (+)= Σ_p A(i, p) · B(p, j)    i < m, j < n, p < k
 *
 * A(i, p) is A[i·sai + p·sak] and B(p, j) is B[p·sbp + j·sbj]: one stride
 * of each is 1 (the matrix by rows, or transposed); C's rows are
 * contiguous with stride ldc; acc: add to C, else overwrite it.
 *
 * With ND_CBLAS defined it is one cblas_dgemm call (OpenBLAS, BLIS, …; the
 * embedder links the library).  Otherwise it is register-blocked C that
 * gcc and clang vectorise: B is copied KB rows by 8 columns at a time into
 * a contiguous panel on the stack, and 4 rows of C by those 8 columns are
 * summed in registers over the panel's KB values of p, in order.
 * docs/decisions.md has the measurements. */
#ifdef ND_CBLAS
#include <cblas.h>
#endif

static void nd_gemm(int m, int n, int k, const double *A, long sai, long sak, const double *B, long sbp, long sbj,
                    double *C, long ldc, int acc) {
#ifdef ND_CBLAS
    /* a stride of 1 on the column side means the rows are contiguous; the
     * leading dimension is then the other stride (at least the row length,
     * as BLAS requires even when there is only one row) */
    int ta = sak != 1, tb = sbj != 1;
    long lda = ta ? sak : sai, ldb = tb ? sbj : sbp;
    long mina = ta ? m : k, minb = tb ? k : n;
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0, A,
                (int)(lda > mina ? lda : mina), B, (int)(ldb > minb ? ldb : minb), acc ? 1.0 : 0.0, C, (int)ldc);
#else
    enum { KB = 256 };
    double panel[KB * 8];
    for (int j = 0; j < n; j += 8) {
        int nj = n - j < 8 ? n - j : 8;
        for (int p0 = 0; p0 < k; p0 += KB) {
            int kb = k - p0 < KB ? k - p0 : KB;
            int add = acc || p0 > 0; /* later panels add to the sums so far */
            for (int p = 0; p < kb; p++)
                for (int q = 0; q < 8; q++) panel[p * 8 + q] = q < nj ? B[(p0 + p) * sbp + (j + q) * sbj] : 0;
            int i = 0;
            for (; i + 4 <= m; i += 4) {
                double c[4][8] = {{0}};
                for (int p = 0; p < kb; p++) {
                    const double *b = panel + p * 8;
                    for (int r = 0; r < 4; r++) {
                        const double a = A[(i + r) * sai + (p0 + p) * sak];
                        for (int q = 0; q < 8; q++) c[r][q] += a * b[q];
                    }
                }
                for (int r = 0; r < 4; r++)
                    for (int q = 0; q < nj; q++) {
                        double *d = C + (i + r) * ldc + j + q;
                        *d = add ? *d + c[r][q] : c[r][q];
                    }
            }
            for (; i < m; i++) {
                double c[8] = {0};
                for (int p = 0; p < kb; p++) {
                    const double a = A[i * sai + (p0 + p) * sak], *b = panel + p * 8;
                    for (int q = 0; q < 8; q++) c[q] += a * b[q];
                }
                for (int q = 0; q < nj; q++) {
                    double *d = C + i * ldc + j + q;
                    *d = add ? *d + c[q] : c[q];
                }
            }
        }
    }
#endif
}
