/* cv_peer.h — the CVODES adjoint peer of bench_cvodes.c.  README.md.
 *
 * A benchmark problem (shared by both peers) and the CVODES side: the
 * hand-written right-hand sides (f, the adjoint RHS −Jᵀλ as a hand-written
 * VJP, the parameter quadrature −λᵀ∂f/∂θ, the dense Jacobian for BDF) and
 * the adjoint driver (CVodeF to every observation time, then CVodeB interval
 * by interval with the loss's jump added to λ and CVodeReInitB at each).
 */
#ifndef CV_PEER_H
#define CV_PEER_H

#include <stddef.h>

enum { KIND_LV, KIND_SPIRAL, KIND_ROBER, KIND_VDP };
/* KIND_ROBER: Robertson, θ = (log k1, log k2, log k3), 3 states;
 * KIND_VDP: van der Pol x' = v, v' = μ(1 − x²)v − x, θ = μ.  Both B = 1,
 * loss from the emitted model (loss_grad below). */

typedef struct problem {
    const char *name;
    int kind;      /* KIND_LV or KIND_SPIRAL */
    int B;         /* batch size */
    int ns;        /* states per sample (2 for both models) */
    int np;        /* parameters */
    int n_times;   /* observation times t_0 … t_{n-1}, t_0 included */
    double *t;     /* n_times */
    double *obs;   /* n_times × B × ns, time-major */
    double *z0;    /* B × ns */
    double *theta; /* np */
    /* the stiff problems: the emitted model's loss_grad (Σ_b ℓ, grad =
     * ∂ℓ/∂pred), used by hw_loss instead of the hand-written losses */
    double (*loss_grad)(int B, const double *pred, const double *obs,
                        double *grad, double *work);
    double *loss_work;
} problem;

/* Counts of the user functions CVODES called during one gradient. */
typedef struct cv_counts {
    long f_fwd;    /* f during CVodeF */
    long f_rec;    /* f during CVodeB: recomputing the forward solution
                      between checkpoints */
    long fB;       /* adjoint RHS −Jᵀλ */
    long fQB;      /* quadrature RHS −λᵀ∂f/∂θ */
    long jac;      /* dense Jacobians, forward (BDF only) */
    long jacB;     /* dense Jacobians, backward (BDF only) */
    long nst, nstB;   /* steps: forward (CVodeF), backward (summed) */
    long nfe_cv, nfeB_cv; /* CVodeGetNumRhsEvals, forward and backward mem */
} cv_counts;

typedef struct cv_peer cv_peer;

/* lmm: CV_ADAMS (functional / fixed-point iteration) or CV_BDF (Newton,
 * dense linear solver, hand-written Jacobian).  nd: steps between
 * checkpoints (CVodeAdjInit).  quad_errcon: include the quadrature in the
 * backward error test (CVODES' default is not to). */
cv_peer *cv_peer_create(const problem *p, int lmm, long nd, int quad_errcon);
/* interpolation for the backward pass: CV_HERMITE (the default) or
 * CV_POLYNOMIAL; set before the first cv_peer_create */
extern int cv_peer_interp;
/* 1: restart each backward interval with the last step size taken
 * (CVodeSetInitStepB) instead of CVODES' initial-step estimate */
extern int cv_peer_hinit;
void cv_peer_free(cv_peer *c);
/* One gradient: L = 1/(n·B) Σ_i Σ_b ℓ, dtheta (np), dz0 (B × ns).
 * Returns 0, or a CVODES error flag (negative) after printing it. */
int cv_peer_grad(cv_peer *c, double rtol, double atol, double *loss,
                 double *dtheta, double *dz0);
void cv_peer_counts(const cv_peer *c, cv_counts *out);

/* The hand-written model, also used by the driver to check the emitted
 * model against it. */
void hw_f(const problem *p, const double *z, double *dzdt);
/* azbar = −(∂f/∂z)ᵀ a per sample (B × ns) */
void hw_fB(const problem *p, const double *z, const double *a, double *out);
/* q = −Σ_b aᵀ ∂f/∂θ (np) */
void hw_fQB(const problem *p, const double *z, const double *a, double *q);
/* the loss: Σ_b ℓ(z_b, y_b) and, if grad, grad = ∂/∂z of it */
double hw_loss(const problem *p, const double *z, const double *y, double *grad);
/* the stiff kinds (B = 1): J = ∂f/∂z row major (ns × ns), P = ∂f/∂θ row
 * major (ns × np) */
void hw_jac_dense(const problem *p, const double *z, double *J);
void hw_dfdp(const problem *p, const double *z, double *P);

/* CVODES forward sensitivities (cv_sens.c): CVodeSensInit with a hand-
 * written sensitivity RHS s_j' = J s_j + ∂f/∂θ_j, one sensitivity per
 * parameter (dL/dθ only), BDF with the dense solver and Jacobian,
 * ism = CV_STAGGERED or CV_SIMULTANEOUS, sensitivities in the error test
 * (CVodeSetSensErrCon), tolerances rtol and atol for all of them.
 * dL/dθ = 1/n Σ_i ∂ℓ/∂z(t_i) · s(t_i). */
typedef struct cv_sens cv_sens;
cv_sens *cv_sens_create(const problem *p, int ism);
void cv_sens_free(cv_sens *c);
int cv_sens_grad(cv_sens *c, double rtol, double atol, double *loss,
                 double *dtheta);
/* steps, f calls, sensitivity-RHS calls, Jacobians, linear setups */
void cv_sens_counts(const cv_sens *c, long *nst, long *nfe, long *nfS,
                    long *njac);

/* Helpers both drivers (bench_cvodes.c, bench_stiff.c) use. */
double bench_now(void);                      /* CLOCK_MONOTONIC, seconds */
void *bench_xmalloc(size_t n);               /* zeroed; exits on failure */
double bench_rel_err(const double *g, const double *r, int n); /* ‖g−r‖/‖r‖ */
double bench_median(double *x, int n);       /* sorts x */

#endif
