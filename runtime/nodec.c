/* nodec.c — the façade: the two entry points, nodec_solve and
 * nodec_loss_grad, which check their inputs and split a batch into
 * independent solves when asked.  It calls down into adjoint.c and
 * solver.c; nothing below calls back up (docs/map.md).
 * DESIGN.md §4.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* ---- input checks shared by the entry points ---- */

/* The name of θ[k], e.g. "W1[1,0]", for messages. */
static void param_name(const nodec_model *m, int k, char *buf, size_t n) {
    nodec__var_name(m->param_vars, m->n_param_vars, k, "theta", buf, n);
}

static int check_inputs(nodec_solver *s, const double *theta, const double *z0, int n_times, const double *t,
                        int need_increasing) {
    const nodec_model *m = s->m;
    long nz = (long)s->B * m->n_state;
    char name[96];

    s->err = 0;
    s->msg[0] = 0;
    memset(&s->stats, 0, sizeof s->stats);
    memset(s->xs, 0, sizeof s->xs);
    s->xs[0].method = s->xs[1].method = s->method == NODEC_AUTO ? NODEC_DOPRI5 : s->method;
    s->in_b0 = 0;
    if (m->abi_version != NODEC_ABI_VERSION || (m->inputs ? !m->inputs->f : !m->f) || m->n_state < 1 || m->n_param < 0)
        return nodec__fail(s, NODEC_BAD_MODEL,
                           "model '%s' has ABI version %d (runtime expects %d) "
                           "or lacks f: rebuild it with this nodec",
                           m->name ? m->name : "?", m->abi_version, NODEC_ABI_VERSION);
    if (m->inputs && !m->uses_t) /* nodec_model.h: a model with inputs depends on t */
        return nodec__fail(s, NODEC_BAD_MODEL, "model '%s' has inputs but uses_t = 0: its f depends on t through them",
                           m->name ? m->name : "?");
    if ((!theta && m->n_param > 0) || !z0 || !t || n_times < 1)
        return nodec__fail(s, NODEC_ILL_INPUT, "missing theta, z0 or t, or n_times < 1");
    for (int i = 0; i < n_times; i++)
        if (!isfinite(t[i])) return nodec__fail(s, NODEC_ILL_INPUT, "t[%d] is not finite", i);
    for (int i = 1; i < n_times; i++) {
        int inc = t[i] > t[0] || n_times == 1;
        if ((need_increasing && !inc) || (inc ? !(t[i] > t[i - 1]) : !(t[i] < t[i - 1])))
            return nodec__fail(s, NODEC_ILL_INPUT, "times must be strictly %s: t[%d] = %g, t[%d] = %g",
                               need_increasing ? "increasing" : "monotonic", i - 1, t[i - 1], i, t[i]);
    }
    for (int k = 0; k < m->n_param; k++)
        if (!isfinite(theta[k])) {
            param_name(m, k, name, sizeof name);
            return nodec__fail(s, NODEC_NONFINITE,
                               "parameter %s (theta[%d]) is %g: check the "
                               "parameters and the learning rate",
                               name, k, theta[k]);
        }
    for (long k = 0; k < nz; k++)
        if (!isfinite(z0[k]))
            return nodec__fail(s, NODEC_NONFINITE, "initial state z0[%ld] (batch %ld) is %g", k % m->n_state,
                               k / m->n_state, z0[k]);
    if (nodec__implicit(s->method) && (m->inputs ? !m->inputs->jac_z : !m->jac_z))
        return nodec__fail(s, NODEC_BAD_MODEL,
                           "model '%s' has no jac_z: the implicit method %s "
                           "needs df/dz; rebuild the model with this nodec",
                           m->name ? m->name : "?", nodec_method_name(s->method));
    if (m->inputs && !s->in)
        return nodec__fail(s, NODEC_ILL_INPUT, "model '%s' has inputs: call nodec_set_inputs first",
                           m->name ? m->name : "?");
    if (m->inputs && inp_check_range(s, n_times, t)) return s->err;
    if (fwd_is_fixed(s) && s->fixed_h <= 0 && s->num_steps <= 0)
        return nodec__fail(s, NODEC_ILL_INPUT,
                           "fixed-step method %s needs a step size: call "
                           "nodec_set_fixed_step or nodec_set_num_steps",
                           nodec_method_name(s->method));
    return NODEC_SUCCESS;
}

/* ---- entry points ---- */

static void add_stats(nodec_pass_stats *a, const nodec_pass_stats *b) {
    a->steps += b->steps;
    a->rejected += b->rejected;
    a->f_evals += b->f_evals;
    a->vjp_evals += b->vjp_evals;
}

/* Batch element b of a time-major (n_times × B × n) block, copied out or in. */
static void gather(double *dst, const double *src, int n_times, int B, int n, int b) {
    for (int i = 0; i < n_times; i++) memcpy(dst + (long)i * n, src + ((long)i * B + b) * n, n * sizeof(double));
}

static void scatter(double *dst, const double *src, int n_times, int B, int n, int b) {
    for (int i = 0; i < n_times; i++) memcpy(dst + ((long)i * B + b) * n, src + (long)i * n, n * sizeof(double));
}

static int solve(nodec_solver *s, const double *theta, const double *z0, int n_times, const double *t, double *z_out) {
    int n, rc;
    double *zb;
    size_t bytes;

    if ((rc = check_inputs(s, theta, z0, n_times, t, 0))) return rc;
    if (!z_out) return nodec__fail(s, NODEC_ILL_INPUT, "z_out is NULL");
    if (s->batch == NODEC_BATCH_SHARED || s->B == 1)
        return fwd_solve(s, theta, s->B, z0, n_times, t, z_out, NULL, &s->stats.forward);
    n = s->m->n_state;
    bytes = (size_t)n_times * n * sizeof(double);
    if (!(zb = mem_alloc(&s->mem, bytes))) return nodec__fail(s, NODEC_MEM_FAIL, "out of memory");
    for (int b = 0; b < s->B && rc == 0; b++) {
        nodec_pass_stats st = {0};
        s->in_b0 = b; /* trajectory b's inputs */
        rc = fwd_solve(s, theta, 1, z0 + (long)b * n, n_times, t, zb, NULL, &st);
        add_stats(&s->stats.forward, &st);
        if (rc == 0)
            scatter(z_out, zb, n_times, s->B, n, b);
        else
            snprintf(s->msg + strlen(s->msg), sizeof s->msg - strlen(s->msg), " (batch element %d)", b);
    }
    mem_free(&s->mem, zb, bytes);
    return rc;
}

static int loss_grad(nodec_solver *s, const double *theta, const double *z0, int n_times, const double *t,
                     const double *obs, double *loss, double *dtheta, double *dz0, double *dt, double *z_out) {
    const nodec_model *m;
    int n, P, B, rc;
    double scale, *buf, *ob, *zb, *dtb, *dthb, Lb;
    size_t bytes;

    if ((rc = check_inputs(s, theta, z0, n_times, t, 1))) return rc;
    m = s->m;
    if (!obs || !loss) return nodec__fail(s, NODEC_ILL_INPUT, "obs or loss is NULL");
    if (!m->loss_grad || ((dtheta || dz0 || dt) && (m->inputs ? !m->inputs->vjp : !m->vjp)))
        return nodec__fail(s, NODEC_BAD_MODEL, "model '%s' lacks loss_grad or vjp", m->name);
    /* direct through kvaerno4's implicit stages needs J at each stage (adjoint.c);
     * through a Rosenbrock step, whose stages use J itself, it needs ∂J */
    if (nodec__implicit(s->method) && nodec_get_grad_mode(s) != NODEC_GRAD_CHECKPOINT &&
        !(nodec_get_grad_mode(s) == NODEC_GRAD_DIRECT && s->method == NODEC_KVAERNO4))
        return nodec__fail(s, NODEC_ILL_INPUT,
                           nodec_get_grad_mode(s) == NODEC_GRAD_DIRECT
                               ? "gradient mode direct cannot differentiate through the steps "
                                 "of the Rosenbrock method %s (its stages use df/dz, so that "
                                 "needs second derivatives of f, which nodec does not emit; "
                                 "auto's stiff method is rodas5p): use mode checkpoint, the "
                                 "default for implicit methods, or the method kvaerno4, "
                                 "which supports direct"
                               : "gradient mode adjoint (backsolve) cannot run with the "
                                 "implicit method %s: it integrates z backwards in time, "
                                 "which is unstable for stiff problems, and an implicit "
                                 "backsolve would need second derivatives of f: use mode "
                                 "checkpoint, the default for implicit methods",
                           nodec_method_name(s->method));
    B = s->B;
    n = m->n_state;
    P = m->n_param;
    scale = 1.0 / ((double)n_times * B);
    if (s->batch == NODEC_BATCH_SHARED || B == 1)
        return adj_loss_grad(s, theta, B, z0, n_times, t, obs, scale, loss, dtheta, dz0, dt, z_out);

    /* Independent solves: each batch element gets its own steps; the
     * per-element results add up to the batch's. */
    bytes = ((size_t)2 * n_times * n + n_times + P) * sizeof(double);
    if (!(buf = mem_alloc(&s->mem, bytes))) return nodec__fail(s, NODEC_MEM_FAIL, "out of memory");
    ob = buf;
    zb = ob + (size_t)n_times * n;
    dtb = zb + (size_t)n_times * n;
    dthb = dtb + n_times;
    *loss = 0;
    if (dtheta) memset(dtheta, 0, P * sizeof(double));
    if (dt) memset(dt, 0, n_times * sizeof(double));
    for (int b = 0; b < B && rc == 0; b++) {
        nodec_stats sum = s->stats;
        memset(&s->stats, 0, sizeof s->stats);
        gather(ob, obs, n_times, B, n, b);
        s->in_b0 = b;
        rc = adj_loss_grad(s, theta, 1, z0 + (long)b * n, n_times, t, ob, scale, &Lb, dtheta ? dthb : NULL,
                           dz0 ? dz0 + (long)b * n : NULL, dt ? dtb : NULL, z_out ? zb : NULL);
        add_stats(&sum.forward, &s->stats.forward);
        add_stats(&sum.backward, &s->stats.backward);
        s->stats = sum;
        if (rc) {
            snprintf(s->msg + strlen(s->msg), sizeof s->msg - strlen(s->msg), " (batch element %d)", b);
            break;
        }
        *loss += Lb;
        for (int k = 0; dtheta && k < P; k++) dtheta[k] += dthb[k];
        for (int i = 0; dt && i < n_times; i++) dt[i] += dtb[i];
        if (z_out) scatter(z_out, zb, n_times, B, n, b);
    }
    mem_free(&s->mem, buf, bytes);
    return rc;
}

/* The threads of a call that splits the batch (par.c) live as long as it. */
int nodec_solve(nodec_solver *s, const double *theta, const double *z0, int n_times, const double *t, double *z_out) {
    int rc;
    if (!s) return NODEC_ILL_INPUT;
    if (par_begin(s)) return nodec__fail(s, NODEC_MEM_FAIL, "out of memory (the batch's chunks)");
    rc = solve(s, theta, z0, n_times, t, z_out);
    par_end(s);
    return rc;
}

int nodec_loss_grad(nodec_solver *s, const double *theta, const double *z0, int n_times, const double *t,
                    const double *obs, double *loss, double *dtheta, double *dz0, double *dt, double *z_out) {
    int rc;
    if (!s) return NODEC_ILL_INPUT;
    if (par_begin(s)) return nodec__fail(s, NODEC_MEM_FAIL, "out of memory (the batch's chunks)");
    rc = loss_grad(s, theta, z0, n_times, t, obs, loss, dtheta, dz0, dt, z_out);
    par_end(s);
    return rc;
}

void nodec_z0_from_theta(const nodec_model *m, const double *theta, double *z0, int B) {
    if (!m || !m->z0_from) return;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < m->n_state; i++)
            if (m->z0_from[i] >= 0) z0[(long)b * m->n_state + i] = theta[m->z0_from[i]];
}

void nodec_dz0_to_dtheta(const nodec_model *m, const double *dz0, int B, double *dtheta) {
    if (!m || !m->z0_from) return;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < m->n_state; i++)
            if (m->z0_from[i] >= 0) dtheta[m->z0_from[i]] += dz0[(long)b * m->n_state + i];
}

/* splitmix64 (Steele, Lea, Flood 2014), as the emitted init_params uses */
static unsigned long long next_u64(unsigned long long *s) {
    unsigned long long x = (*s += 0x9E3779B97F4A7C15ull);
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* uniform in (0, 1): never 0, so log is finite */
static double open01(unsigned long long *s) { return ((double)(next_u64(s) >> 11) + 0.5) / 9007199254740992.0; }

void nodec_draw_noise(const nodec_model *m, double *z0, int B, unsigned long long seed) {
    if (!m || !m->noise) return;
    for (int b = 0; b < B; b++) {
        unsigned long long s = seed ^ next_u64(&(unsigned long long){(unsigned long long)b + 0x6E6F697365ull});
        for (int i = 0; i < m->n_state; i++) {
            double *x = z0 + (long)b * m->n_state + i;
            if (m->noise[i] == NODEC_NOISE_RADEMACHER)
                *x = next_u64(&s) >> 63 ? 1.0 : -1.0;
            else if (m->noise[i] == NODEC_NOISE_NORMAL) /* Box-Muller */
                *x = sqrt(-2 * log(open01(&s))) * cos(6.283185307179586 * open01(&s));
        }
    }
}
