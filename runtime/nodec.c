/* nodec.c — the handle: creation, options, statistics, error reporting and
 * the two entry points that split a batch into independent solves when asked.
 * DESIGN.md §4; STYLE.md §10 (CVODES-shaped API).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

nodec_solver *nodec_create(const nodec_model *model, int B)
{
    mem_counter mc = {0, 0};
    nodec_solver *s;

    if (!model || B < 1)
        return NULL;
    s = mem_alloc(&mc, sizeof *s);
    if (!s)
        return NULL;
    s->mem = mc;
    s->m = model;
    s->B = B;
    s->method = NODEC_DOPRI5;
    s->rtol = 1e-7;
    s->atol = 1e-9;
    s->max_steps = 100000;
    s->seminorm = 1;
    s->ckpt_every = 16;
    s->batch = NODEC_BATCH_SHARED;
    s->grad = NODEC_GRAD_ADJOINT;
    if (model->work_size > 0) {
        s->work = mem_alloc(&s->mem, (size_t)model->work_size * sizeof(double));
        if (!s->work) {
            mem_free(&mc, s, sizeof *s);
            return NULL;
        }
    }
    return s;
}

void nodec_free(nodec_solver *s)
{
    mem_counter mc;
    if (!s)
        return;
    if (s->work)
        mem_free(&s->mem, s->work, (size_t)s->m->work_size * sizeof(double));
    mc = s->mem; /* the counter lives in the block being freed */
    mem_free(&mc, s, sizeof *s);
}

int nodec__fail(nodec_solver *s, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->msg, sizeof s->msg, fmt, ap);
    va_end(ap);
    s->err = code;
    return code;
}

/* ---- options ---- */

static int bad(nodec_solver *s, const char *what)
{
    if (!s)
        return NODEC_ILL_INPUT;
    return nodec__fail(s, NODEC_ILL_INPUT, "invalid option: %s", what);
}

int nodec_set_method(nodec_solver *s, nodec_method method)
{
    if (!s || method < NODEC_EULER || method > NODEC_DOPRI8)
        return bad(s, "unknown method");
    s->method = method;
    return NODEC_SUCCESS;
}

int nodec_set_tolerances(nodec_solver *s, double rtol, double atol)
{
    if (!s || !(rtol >= 0) || !(atol >= 0) || !(rtol + atol > 0) ||
        !isfinite(rtol) || !isfinite(atol))
        return bad(s, "rtol and atol must be finite, >= 0, not both 0");
    s->rtol = rtol;
    s->atol = atol;
    return NODEC_SUCCESS;
}

int nodec_set_first_step(nodec_solver *s, double h)
{
    if (!s || !(h >= 0) || !isfinite(h))
        return bad(s, "first step must be finite and >= 0");
    s->first_step = h;
    return NODEC_SUCCESS;
}

int nodec_set_min_step(nodec_solver *s, double hmin)
{
    if (!s || !(hmin >= 0) || !isfinite(hmin))
        return bad(s, "min step must be finite and >= 0");
    s->min_step = hmin;
    return NODEC_SUCCESS;
}

int nodec_set_max_steps(nodec_solver *s, long max_steps)
{
    if (!s || max_steps < 1)
        return bad(s, "max steps must be >= 1");
    s->max_steps = max_steps;
    return NODEC_SUCCESS;
}

int nodec_set_fixed_step(nodec_solver *s, double h)
{
    if (!s || !(h >= 0) || !isfinite(h))
        return bad(s, "fixed step must be finite and >= 0");
    s->fixed_h = h;
    s->num_steps = 0;
    return NODEC_SUCCESS;
}

int nodec_set_num_steps(nodec_solver *s, long n)
{
    if (!s || n < 0)
        return bad(s, "number of steps must be >= 0");
    s->num_steps = n;
    s->fixed_h = 0;
    return NODEC_SUCCESS;
}

int nodec_set_seminorm(nodec_solver *s, int on)
{
    if (!s)
        return NODEC_ILL_INPUT;
    s->seminorm = on != 0;
    return NODEC_SUCCESS;
}

int nodec_set_batch_mode(nodec_solver *s, nodec_batch_mode mode)
{
    if (!s || (mode != NODEC_BATCH_SHARED && mode != NODEC_BATCH_INDEPENDENT))
        return bad(s, "unknown batch mode");
    s->batch = mode;
    return NODEC_SUCCESS;
}

int nodec_set_grad_mode(nodec_solver *s, nodec_grad_mode mode)
{
    if (!s || mode < NODEC_GRAD_ADJOINT || mode > NODEC_GRAD_DIRECT)
        return bad(s, "unknown gradient mode");
    s->grad = mode;
    return NODEC_SUCCESS;
}

int nodec_set_checkpoint_every(nodec_solver *s, int k)
{
    if (!s || k < 1)
        return bad(s, "checkpoint interval must be >= 1");
    s->ckpt_every = k;
    return NODEC_SUCCESS;
}

/* ---- statistics and memory ---- */

void nodec_get_stats(const nodec_solver *s, nodec_stats *out)
{
    *out = s->stats;
}

static const nodec_pass_stats *pass(const nodec_solver *s, int p)
{
    return p == NODEC_PASS_BACKWARD ? &s->stats.backward : &s->stats.forward;
}

long nodec_get_num_steps(const nodec_solver *s, int p) { return pass(s, p)->steps; }
long nodec_get_num_rejected(const nodec_solver *s, int p) { return pass(s, p)->rejected; }
long nodec_get_num_f_evals(const nodec_solver *s, int p) { return pass(s, p)->f_evals; }
long nodec_get_num_vjp_evals(const nodec_solver *s, int p) { return pass(s, p)->vjp_evals; }

size_t nodec_get_mem_current(const nodec_solver *s) { return s->mem.cur; }
size_t nodec_get_mem_peak(const nodec_solver *s) { return s->mem.peak; }
void nodec_reset_mem_peak(nodec_solver *s) { s->mem.peak = s->mem.cur; }

/* ---- errors and names ---- */

const char *nodec_error_name(int code)
{
    switch (code) {
    case NODEC_SUCCESS: return "NODEC_SUCCESS";
    case NODEC_ILL_INPUT: return "NODEC_ILL_INPUT";
    case NODEC_MEM_FAIL: return "NODEC_MEM_FAIL";
    case NODEC_TOO_MUCH_WORK: return "NODEC_TOO_MUCH_WORK";
    case NODEC_STEP_UNDERFLOW: return "NODEC_STEP_UNDERFLOW";
    case NODEC_NONFINITE: return "NODEC_NONFINITE";
    case NODEC_BAD_MODEL: return "NODEC_BAD_MODEL";
    }
    return "NODEC_UNKNOWN_CODE";
}

const char *nodec_get_error_message(const nodec_solver *s)
{
    return s && s->err ? s->msg : "";
}

static const char *const method_names[] = {
    "euler", "midpoint", "rk4", "bosh3", "dopri5", "tsit5", "dopri8",
};
static const char *const grad_names[] = {"adjoint", "checkpoint", "direct"};

int nodec_method_from_name(const char *name)
{
    for (int i = 0; name && i < (int)(sizeof method_names / sizeof *method_names); i++)
        if (strcmp(name, method_names[i]) == 0)
            return i;
    return -1;
}

const char *nodec_method_name(nodec_method m)
{
    return m >= NODEC_EULER && m <= NODEC_DOPRI8 ? method_names[m] : "?";
}

int nodec_grad_mode_from_name(const char *name)
{
    for (int i = 0; name && i < 3; i++)
        if (strcmp(name, grad_names[i]) == 0)
            return i;
    return -1;
}

const char *nodec_grad_mode_name(nodec_grad_mode m)
{
    return m >= NODEC_GRAD_ADJOINT && m <= NODEC_GRAD_DIRECT ? grad_names[m] : "?";
}

/* ---- input checks shared by the entry points ---- */

/* The name of θ[k], e.g. "W1[1,0]", for messages. */
static void param_name(const nodec_model *m, int k, char *buf, size_t n)
{
    for (int v = 0; m->param_vars && v < m->n_param_vars; v++) {
        const nodec_var *pv = &m->param_vars[v];
        int i = k - pv->offset;
        if (i < 0 || i >= pv->size)
            continue;
        if (pv->rank == 0)
            snprintf(buf, n, "%s", pv->name);
        else if (pv->rank == 1)
            snprintf(buf, n, "%s[%d]", pv->name, i);
        else
            snprintf(buf, n, "%s[%d,%d]", pv->name, i / pv->dim[1], i % pv->dim[1]);
        return;
    }
    snprintf(buf, n, "theta[%d]", k);
}

int nodec__check_inputs(nodec_solver *s, const double *theta, const double *z0,
                        int n_times, const double *t, int need_increasing)
{
    const nodec_model *m = s->m;
    long nz = (long)s->B * m->n_state;
    char name[96];

    s->err = 0;
    s->msg[0] = 0;
    memset(&s->stats, 0, sizeof s->stats);
    if (m->abi_version != NODEC_ABI_VERSION || !m->f || m->n_state < 1 ||
        m->n_param < 0)
        return nodec__fail(s, NODEC_BAD_MODEL,
                           "model '%s' has ABI version %d (runtime expects %d) "
                           "or lacks f: rebuild it with this nodec",
                           m->name ? m->name : "?", m->abi_version,
                           NODEC_ABI_VERSION);
    if ((!theta && m->n_param > 0) || !z0 || !t || n_times < 1)
        return nodec__fail(s, NODEC_ILL_INPUT,
                           "missing theta, z0 or t, or n_times < 1");
    for (int i = 0; i < n_times; i++)
        if (!isfinite(t[i]))
            return nodec__fail(s, NODEC_ILL_INPUT, "t[%d] is not finite", i);
    for (int i = 1; i < n_times; i++) {
        int inc = t[i] > t[0] || n_times == 1;
        if ((need_increasing && !inc) || (inc ? !(t[i] > t[i - 1]) : !(t[i] < t[i - 1])))
            return nodec__fail(s, NODEC_ILL_INPUT,
                               "times must be strictly %s: t[%d] = %g, t[%d] = %g",
                               need_increasing ? "increasing" : "monotonic",
                               i - 1, t[i - 1], i, t[i]);
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
            return nodec__fail(s, NODEC_NONFINITE,
                               "initial state z0[%ld] (batch %ld) is %g",
                               k % m->n_state, k / m->n_state, z0[k]);
    if (fwd_is_fixed(s) && s->fixed_h <= 0 && s->num_steps <= 0)
        return nodec__fail(s, NODEC_ILL_INPUT,
                           "fixed-step method %s needs a step size: call "
                           "nodec_set_fixed_step or nodec_set_num_steps",
                           nodec_method_name(s->method));
    return NODEC_SUCCESS;
}

/* ---- entry points ---- */

static void add_stats(nodec_pass_stats *a, const nodec_pass_stats *b)
{
    a->steps += b->steps;
    a->rejected += b->rejected;
    a->f_evals += b->f_evals;
    a->vjp_evals += b->vjp_evals;
}

/* Batch element b of a time-major (n_times × B × n) block, copied out or in. */
static void gather(double *dst, const double *src, int n_times, int B, int n, int b)
{
    for (int i = 0; i < n_times; i++)
        memcpy(dst + (long)i * n, src + ((long)i * B + b) * n, n * sizeof(double));
}

static void scatter(double *dst, const double *src, int n_times, int B, int n, int b)
{
    for (int i = 0; i < n_times; i++)
        memcpy(dst + ((long)i * B + b) * n, src + (long)i * n, n * sizeof(double));
}

int nodec_solve(nodec_solver *s, const double *theta, const double *z0,
                int n_times, const double *t, double *z_out)
{
    int n, rc;
    double *zb;
    size_t bytes;

    if (!s)
        return NODEC_ILL_INPUT;
    if ((rc = nodec__check_inputs(s, theta, z0, n_times, t, 0)))
        return rc;
    if (!z_out)
        return nodec__fail(s, NODEC_ILL_INPUT, "z_out is NULL");
    if (s->batch == NODEC_BATCH_SHARED || s->B == 1)
        return fwd_solve(s, theta, s->B, z0, n_times, t, z_out, NULL,
                         &s->stats.forward);
    n = s->m->n_state;
    bytes = (size_t)n_times * n * sizeof(double);
    if (!(zb = mem_alloc(&s->mem, bytes)))
        return nodec__fail(s, NODEC_MEM_FAIL, "out of memory");
    for (int b = 0; b < s->B && rc == 0; b++) {
        nodec_pass_stats st = {0};
        rc = fwd_solve(s, theta, 1, z0 + (long)b * n, n_times, t, zb, NULL, &st);
        add_stats(&s->stats.forward, &st);
        if (rc == 0)
            scatter(z_out, zb, n_times, s->B, n, b);
        else
            snprintf(s->msg + strlen(s->msg), sizeof s->msg - strlen(s->msg),
                     " (batch element %d)", b);
    }
    mem_free(&s->mem, zb, bytes);
    return rc;
}

int nodec_loss_grad(nodec_solver *s, const double *theta, const double *z0,
                    int n_times, const double *t, const double *obs,
                    double *loss, double *dtheta, double *dz0, double *dt,
                    double *z_out)
{
    const nodec_model *m;
    int n, P, B, rc;
    double scale, *buf, *ob, *zb, *dtb, *dthb, Lb;
    size_t bytes;

    if (!s)
        return NODEC_ILL_INPUT;
    if ((rc = nodec__check_inputs(s, theta, z0, n_times, t, 1)))
        return rc;
    m = s->m;
    if (!obs || !loss)
        return nodec__fail(s, NODEC_ILL_INPUT, "obs or loss is NULL");
    if (!m->loss_grad || ((dtheta || dz0 || dt) && !m->vjp))
        return nodec__fail(s, NODEC_BAD_MODEL,
                           "model '%s' lacks loss_grad or vjp", m->name);
    B = s->B;
    n = m->n_state;
    P = m->n_param;
    scale = 1.0 / ((double)n_times * B);
    if (s->batch == NODEC_BATCH_SHARED || B == 1)
        return adj_loss_grad(s, theta, B, z0, n_times, t, obs, scale, loss,
                             dtheta, dz0, dt, z_out);

    /* Independent solves: each batch element gets its own steps; the
     * per-element results add up to the batch's. */
    bytes = ((size_t)2 * n_times * n + n_times + P) * sizeof(double);
    if (!(buf = mem_alloc(&s->mem, bytes)))
        return nodec__fail(s, NODEC_MEM_FAIL, "out of memory");
    ob = buf;
    zb = ob + (size_t)n_times * n;
    dtb = zb + (size_t)n_times * n;
    dthb = dtb + n_times;
    *loss = 0;
    if (dtheta)
        memset(dtheta, 0, P * sizeof(double));
    if (dt)
        memset(dt, 0, n_times * sizeof(double));
    for (int b = 0; b < B && rc == 0; b++) {
        nodec_stats sum = s->stats;
        memset(&s->stats, 0, sizeof s->stats);
        gather(ob, obs, n_times, B, n, b);
        rc = adj_loss_grad(s, theta, 1, z0 + (long)b * n, n_times, t, ob, scale,
                           &Lb, dtheta ? dthb : NULL, dz0 ? dz0 + (long)b * n : NULL,
                           dt ? dtb : NULL, z_out ? zb : NULL);
        add_stats(&sum.forward, &s->stats.forward);
        add_stats(&sum.backward, &s->stats.backward);
        s->stats = sum;
        if (rc) {
            snprintf(s->msg + strlen(s->msg), sizeof s->msg - strlen(s->msg),
                     " (batch element %d)", b);
            break;
        }
        *loss += Lb;
        for (int k = 0; dtheta && k < P; k++)
            dtheta[k] += dthb[k];
        for (int i = 0; dt && i < n_times; i++)
            dt[i] += dtb[i];
        if (z_out)
            scatter(z_out, zb, n_times, B, n, b);
    }
    mem_free(&s->mem, buf, bytes);
    return rc;
}
