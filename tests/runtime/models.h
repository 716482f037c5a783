/* models.h — hand-written nodec_model descriptors for the runtime tests, and
 * the helpers the tests share.  The compiler will emit models like these
 * (DESIGN.md §3); until then these exercise the runtime by themselves.
 *
 *   linear   dz/dt = A z, A (2×2) = θ            closed form via expm
 *   lv       Lotka–Volterra, θ = α, β, δ, γ
 *   mlp      dz/dt = W2 tanh(W1 z³ + b1) + b2, hidden 8 (the spiral demo)
 *   sq       dz/dt = p z², blows up at t = 1/(p z0)
 *   osc      x' = v, v' = −k x − c v + F cos(ω t)   (uses t)
 *   hopf     z' = ω(−z2, z1) + λ z (1 − |z|²): nonlinear, known solution
 *
 * Every loss is the mean over components of (pred − obs)², summed over the
 * batch, as nodec's default loss (DESIGN.md §2).
 */
#ifndef TEST_MODELS_H
#define TEST_MODELS_H

#include <stdio.h>

#include "nodec.h"

extern const nodec_model linear_model, lv_model, mlp_model, sq_model,
    osc_model, hopf_model;

/* θ of the mlp model: deterministic, O(1) entries. */
void mlp_params(double *theta);
/* z(t) of hopf from z0 at t = 0, θ = (ω, λ). */
void hopf_exact(const double *z0, const double *theta, double t, double *z);

/* Test bookkeeping: CHECK prints and counts failures; main returns
 * test_summary(). */
extern int test_failures, test_checks;
#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        test_checks++;                                                       \
        if (!(cond)) {                                                       \
            test_failures++;                                                 \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                      \
            printf(__VA_ARGS__);                                             \
            printf("\n");                                                    \
        }                                                                    \
    } while (0)
/* |got − want| <= tol·max(1, |want|)-style check with a label. */
int check_close(const char *what, double got, double want, double rtol,
                double atol);
/* max_i |a_i − b_i| / (atol + rtol·max_i |b_i|) <= 1, reported. */
int check_vec(const char *what, const double *got, const double *want, int n,
              double rtol, double atol);
int test_summary(const char *name);

#endif
