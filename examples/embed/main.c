/* examples/embed/main.c — a model's emitted C and nodec's runtime, used
 * from another program.  CMakeLists.txt emits lotka_volterra.c and .h from
 * lotka_volterra.nde at build time (nodec_add_model).
 *
 *   1. The emitted f and VJP, called directly on a batch of two states,
 *      against the model's equations differentiated by hand.
 *   2. The runtime: observations z(t_i) from the model's own θ*; at a θ
 *      off θ*, the loss and its gradient by the adjoint (nodec_loss_grad),
 *      against central differences of that same loss.  Along the way, the
 *      Lotka–Volterra invariant δx − γ ln x + βy − α ln y must stay put.
 *
 * Every line printed is a check, with its tolerance; exit status 1 when
 * one fails.  docs/embedding.md walks through this file.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "lotka_volterra.h" /* emitted: lotka_volterra_f, _vjp, …, _model */
#include "nodec.h"          /* the runtime: nodec_create, nodec_loss_grad, … */

enum { NS = LOTKA_VOLTERRA_N_STATE, NP = LOTKA_VOLTERRA_N_PARAM, NT = 11 };

static int failures;

static void check(const char *what, double got, double want, double tol) {
    double err = fabs(got - want) / fmax(1.0, fabs(want));
    int ok = err <= tol;
    printf("%-24s %21.14e %21.14e  err %.1e (tol %.0e) %s\n", what, got, want, err, tol, ok ? "ok" : "MISMATCH");
    failures += !ok;
}

/* 1. f and aᵀ∂f/∂z, aᵀ∂f/∂θ for B = 2 states, row-major B × n_state. */
static void direct_calls(void) {
    const double th[NP] = {1.5, 1.0, 1.0, 3.0}; /* alpha beta delta gamma */
    const double z[2 * NS] = {1.0, 2.0, 0.5, 0.25};
    const double a[2 * NS] = {0.3, -0.7, 1.1, 0.2};
    double dz[2 * NS], az[2 * NS], ath[NP], at;
    double work[LOTKA_VOLTERRA_WORK_SIZE]; /* enough for any B */
    lotka_volterra_f(2, 0.0, z, th, dz, work);
    lotka_volterra_vjp(2, 0.0, z, th, a, az, ath, &at, work);
    double want_ath[NP] = {0};
    for (int b = 0; b < 2; b++) {
        double x = z[b * NS], y = z[b * NS + 1], ax = a[b * NS], ay = a[b * NS + 1];
        check("f: dx/dt", dz[b * NS], th[0] * x - th[1] * x * y, 1e-15);
        check("f: dy/dt", dz[b * NS + 1], th[2] * x * y - th[3] * y, 1e-15);
        check("vjp: a'df/dx", az[b * NS], ax * (th[0] - th[1] * y) + ay * th[2] * y, 1e-15);
        check("vjp: a'df/dy", az[b * NS + 1], -ax * th[1] * x + ay * (th[2] * x - th[3]), 1e-15);
        want_ath[0] += ax * x, want_ath[1] -= ax * x * y, want_ath[2] += ay * x * y, want_ath[3] -= ay * y;
    }
    for (int i = 0; i < NP; i++) {
        char what[64];
        snprintf(what, sizeof what, "vjp: sum a'df/d%s", lotka_volterra_model.param_vars[i].name);
        check(what, ath[i], want_ath[i], 1e-15);
    }
    check("vjp: a'df/dt", at, 0.0, 0.0);
}

static double invariant(const double *th, const double *z) {
    return th[2] * z[0] - th[3] * log(z[0]) + th[1] * z[1] - th[0] * log(z[1]);
}

/* 2. Loss and gradient through the runtime's public API. */
static int through_the_runtime(void) {
    const nodec_model *m = &lotka_volterra_model;
    double t[NT], obs[NT * NS], zs[NT * NS], th_true[NP], th[NP], z0[NS];
    for (int i = 0; i < NT; i++) t[i] = 0.5 * i;
    for (int k = 0; k < NS; k++) z0[k] = m->z0[k]; /* x = y = 1 */
    m->init_params(th_true, 0);                    /* 1.5 1 1 3, from the model file */

    nodec_solver *s = nodec_create(m, 1);
    if (!s) return fprintf(stderr, "nodec_create failed\n"), 1;
    nodec_set_tolerances(s, 1e-11, 1e-13);
    int rc = nodec_solve(s, th_true, z0, NT, t, obs);
    if (rc != NODEC_SUCCESS) goto fail;
    for (int i = 1; i < NT; i++) {
        char what[64];
        snprintf(what, sizeof what, "invariant at t=%g", t[i]);
        check(what, invariant(th_true, obs + i * NS), invariant(th_true, z0), 1e-9);
    }

    /* Off θ*: the loss (mean squared error over times, the model's default)
     * and dL/dθ, dL/dz0 by the adjoint method. */
    const double scale[NP] = {1.05, 0.95, 1.02, 0.97};
    for (int i = 0; i < NP; i++) th[i] = th_true[i] * scale[i];
    double L, dth[NP], dz0[NS];
    rc = nodec_loss_grad(s, th, z0, NT, t, obs, &L, dth, dz0, NULL, zs);
    if (rc != NODEC_SUCCESS) goto fail;
    printf("loss %.14e; forward %ld steps, backward %ld steps, %ld VJPs\n", L,
           nodec_get_num_steps(s, NODEC_PASS_FORWARD), nodec_get_num_steps(s, NODEC_PASS_BACKWARD),
           nodec_get_num_vjp_evals(s, NODEC_PASS_BACKWARD));
    double L0;
    rc = nodec_loss_grad(s, th_true, z0, NT, t, obs, &L0, NULL, NULL, NULL, NULL);
    if (rc != NODEC_SUCCESS) goto fail;
    check("loss at theta*", L0, 0.0, 1e-20);

    /* Central differences of the loss itself: a relative step of 1e-4
     * keeps both the truncation error and the solver's 1e-11 noise below
     * the 1e-6 tolerance. */
    for (int i = 0; i < NP + NS; i++) {
        double *x = i < NP ? &th[i] : &z0[i - NP], x0 = *x, h = 1e-4 * fabs(x0), Lp, Lm;
        *x = x0 + h;
        rc = nodec_loss_grad(s, th, z0, NT, t, obs, &Lp, NULL, NULL, NULL, NULL);
        *x = x0 - h;
        if (!rc) rc = nodec_loss_grad(s, th, z0, NT, t, obs, &Lm, NULL, NULL, NULL, NULL);
        *x = x0;
        if (rc != NODEC_SUCCESS) goto fail;
        char what[64];
        if (i < NP) snprintf(what, sizeof what, "dL/d%s", m->param_vars[i].name);
        else snprintf(what, sizeof what, "dL/d%s(0)", m->state_vars[i - NP].name);
        check(what, i < NP ? dth[i] : dz0[i - NP], (Lp - Lm) / (2 * h), 1e-6);
    }
    nodec_free(s);
    return 0;
fail:
    fprintf(stderr, "%s: %s\n", nodec_error_name(rc), nodec_get_error_message(s));
    nodec_free(s);
    return 1;
}

int main(void) {
    printf("%s, emitted by nodec %s (model source %s)\n", lotka_volterra_model.name, LOTKA_VOLTERRA_NODEC_VERSION,
           lotka_volterra_model.source_hash);
    direct_calls();
    if (through_the_runtime()) return 1;
    printf(failures ? "%d checks FAILED\n" : "all checks passed\n", failures);
    return failures ? 1 : 0;
}
