/* bench/vmath/sleef_kern.c — the same rows through SLEEF's explicit vector
 * functions (Debian libsleef-dev): AVX2 4 lanes, AVX-512 8 lanes, and the
 * run-time dispatcher.  n is a multiple of 8 in the bench.  Built with
 * -mavx2 -mfma -mavx512f (sleef.h declares the vector types' functions only
 * then); the bench runs it only on a CPU that has them. */
#include <immintrin.h>
#include <sleef.h>

#define ROW4(name, fn)                                                                                                 \
    void name(int n, const double *restrict x, double *restrict y) {                                                   \
        for (int i = 0; i < n; i += 4) _mm256_storeu_pd(y + i, fn(_mm256_loadu_pd(x + i)));                            \
    }
#define ROW8(name, fn)                                                                                                 \
    void name(int n, const double *restrict x, double *restrict y) {                                                   \
        for (int i = 0; i < n; i += 8) _mm512_storeu_pd(y + i, fn(_mm512_loadu_pd(x + i)));                            \
    }

ROW4(s4_tanh, Sleef_tanhd4_u10avx2)
ROW4(s4_exp, Sleef_expd4_u10avx2)
ROW4(s4_log, Sleef_logd4_u10avx2)
ROW4(s4_log1p, Sleef_log1pd4_u10avx2)
ROW8(s8_tanh, Sleef_tanhd8_u10avx512f)
ROW8(s8_exp, Sleef_expd8_u10avx512f)
ROW8(s8_log, Sleef_logd8_u10avx512f)
ROW8(s8_log1p, Sleef_log1pd8_u10avx512f)
ROW4(sd_tanh, Sleef_tanhd4_u10)
ROW4(sd_exp, Sleef_expd4_u10)
ROW4(sd_log, Sleef_logd4_u10)
ROW4(sd_log1p, Sleef_log1pd4_u10)
