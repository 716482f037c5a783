/* stiff_models.h — hand-written models with ∂f/∂z (jac_z) for the tests
 * of the implicit methods (test_stiff*.c), in the style of models.h:
 *
 *   rober    Robertson's kinetics, θ = log k (k = 0.04, 3e7, 1e4)
 *   vdp      van der Pol, x'' − μ(1 − x²)x' + x = 0 as (x, x'), θ = μ
 *   lin2     dz/dt = A z, A (2×2) = θ, with jac (closed form: lin2_exact)
 *   pr       Prothero–Robinson, z' = λ(z − sin t) + cos t, θ = λ (uses t)
 *   hopfj    the Hopf normal form of models.h, θ = (ω, λ), with jac
 *   scal     z' = p z, θ = p (a W matrix made singular on purpose)
 *   nanjac   z' = −z whose jac_z returns NaN
 *
 * Each VJP and jac_z is checked against finite differences of f in
 * test_stiff_models.c.
 */
#ifndef TEST_STIFF_MODELS_H
#define TEST_STIFF_MODELS_H

#include "models.h"

extern const nodec_model rober_model, vdp_model, lin2_model, pr_model,
    hopfj_model, scal_model, nanjac_model;

/* θ of rober: log(0.04), log(3e7), log(1e4). */
void rober_params(double *theta);
/* z(t) = expm(A t) z0 for a 2×2 A with real, distinct eigenvalues. */
void lin2_exact(const double *A, const double *z0, double t, double *z);
/* z(t) of pr from z0 at t = 0: sin t + z0 e^{λt}. */
double pr_exact(double lambda, double z0, double t);

#endif
