/* model_call.h — a model's f, vjp, jvp, jac_z and f_vjp called the same way
 * whether or not it has inputs (tests/jit, tests/tiles).
 *
 * A model with inputs (`input u = cubic`, DESIGN.md §7) has its functions in
 * nodec_model.inputs, taking u after z: per sample a row of 3·n_input
 * doubles (values, u′, u″; nodec_model.h); the others ignore u.  mc_u_len
 * is that row's length, 0 without inputs. */
#ifndef NODEC_TESTS_MODEL_CALL_H
#define NODEC_TESTS_MODEL_CALL_H

#include "nodec_model.h"

static inline int mc_u_len(const nodec_model *m) { return m->inputs ? 3 * m->inputs->n_input : 0; }

static inline void mc_f(const nodec_model *m, int B, double t, const double *z, const double *u, const double *th,
                        double *dz, double *w) {
    if (m->inputs)
        m->inputs->f(B, t, z, u, th, dz, w);
    else
        m->f(B, t, z, th, dz, w);
}

static inline void mc_vjp(const nodec_model *m, int B, double t, const double *z, const double *u, const double *th,
                          const double *a, double *az, double *ath, double *at, double *w) {
    if (m->inputs)
        m->inputs->vjp(B, t, z, u, th, a, az, ath, at, w);
    else
        m->vjp(B, t, z, th, a, az, ath, at, w);
}

static inline void mc_jvp(const nodec_model *m, int B, double t, const double *z, const double *u, const double *th,
                          const double *v, double *out, double *w) {
    if (m->inputs)
        m->inputs->jvp(B, t, z, u, th, v, out, w);
    else
        m->jvp(B, t, z, th, v, out, w);
}

static inline void mc_jac_z(const nodec_model *m, double t, const double *z, const double *u, const double *th,
                            double *J, double *w) {
    if (m->inputs)
        m->inputs->jac_z(t, z, u, th, J, w);
    else
        m->jac_z(t, z, th, J, w);
}

/* The fused f and VJP, whichever the model has (NULL: none). */
static inline bool mc_has_f_vjp(const nodec_model *m) {
    return m->inputs ? m->inputs->f_vjp != NULL : m->f_vjp != NULL;
}

static inline void mc_f_vjp(const nodec_model *m, int B, double t, const double *z, const double *u, const double *th,
                            const double *a, double *dz, double *az, double *ath, double *at, double *w) {
    if (m->inputs)
        m->inputs->f_vjp(B, t, z, u, th, a, dz, az, ath, at, w);
    else
        m->f_vjp(B, t, z, th, a, dz, az, ath, at, w);
}

#endif
