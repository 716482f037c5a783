/* handle.c — the solver handle: creation, options, statistics, error
 * names and the failure record every module writes (nodec__fail).  The
 * bottom of the runtime with par.c and mem.c: it calls nothing above it.
 * DESIGN.md §4; STYLE.md §10 (CVODES-shaped API).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

nodec_solver *nodec_create(const nodec_model *model, int B) {
    mem_counter mc = {0, 0};
    nodec_solver *s;

    if (!model || B < 1) return NULL;
    s = mem_alloc(&mc, sizeof *s);
    if (!s) return NULL;
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

void nodec_free(nodec_solver *s) {
    mem_counter mc;
    if (!s) return;
    par_release(s);
    inp_free(s);
    if (s->work) mem_free(&s->mem, s->work, (size_t)s->m->work_size * sizeof(double));
    mc = s->mem; /* the counter lives in the block being freed */
    mem_free(&mc, s, sizeof *s);
}

int nodec__fail(nodec_solver *s, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->msg, sizeof s->msg, fmt, ap);
    va_end(ap);
    s->err = code;
    return code;
}

void nodec__append(nodec_solver *s, const char *fmt, ...) {
    size_t len = strlen(s->msg);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->msg + len, sizeof s->msg - len, fmt, ap);
    va_end(ap);
}

void nodec__var_name(const nodec_var *vars, int nvars, int k, const char *whole, char *buf, size_t n) {
    for (int v = 0; vars && v < nvars; v++) {
        const nodec_var *pv = &vars[v];
        int i = k - pv->offset;
        if (i < 0 || i >= pv->size) continue;
        if (pv->rank == 0)
            snprintf(buf, n, "%s", pv->name);
        else if (pv->rank == 1)
            snprintf(buf, n, "%s[%d]", pv->name, i);
        else
            snprintf(buf, n, "%s[%d,%d]", pv->name, i / pv->dim[1], i % pv->dim[1]);
        return;
    }
    snprintf(buf, n, "%s[%d]", whole, k);
}

int nodec__implicit(nodec_method m) {
    return m == NODEC_RODAS4 || m == NODEC_RODAS5P || m == NODEC_AUTO || m == NODEC_KVAERNO4;
}

nodec_grad_mode nodec_get_grad_mode(const nodec_solver *s) {
    if (s->grad_set || !nodec__implicit(s->method)) return s->grad;
    return NODEC_GRAD_CHECKPOINT;
}

/* ---- options ---- */

static int bad(nodec_solver *s, const char *what) {
    if (!s) return NODEC_ILL_INPUT;
    return nodec__fail(s, NODEC_ILL_INPUT, "invalid option: %s", what);
}

int nodec_set_method(nodec_solver *s, nodec_method method) {
    if (!s || method < NODEC_EULER || method > NODEC_KVAERNO4) return bad(s, "unknown method");
    s->method = method;
    return NODEC_SUCCESS;
}

int nodec_set_tolerances(nodec_solver *s, double rtol, double atol) {
    if (!s || !(rtol >= 0) || !(atol >= 0) || !(rtol + atol > 0) || !isfinite(rtol) || !isfinite(atol))
        return bad(s, "rtol and atol must be finite, >= 0, not both 0");
    s->rtol = rtol;
    s->atol = atol;
    return NODEC_SUCCESS;
}

int nodec_set_first_step(nodec_solver *s, double h) {
    if (!s || !(h >= 0) || !isfinite(h)) return bad(s, "first step must be finite and >= 0");
    s->first_step = h;
    return NODEC_SUCCESS;
}

int nodec_set_min_step(nodec_solver *s, double hmin) {
    if (!s || !(hmin >= 0) || !isfinite(hmin)) return bad(s, "min step must be finite and >= 0");
    s->min_step = hmin;
    return NODEC_SUCCESS;
}

int nodec_set_max_steps(nodec_solver *s, long max_steps) {
    if (!s || max_steps < 1) return bad(s, "max steps must be >= 1");
    s->max_steps = max_steps;
    return NODEC_SUCCESS;
}

int nodec_set_fixed_step(nodec_solver *s, double h) {
    if (!s || !(h >= 0) || !isfinite(h)) return bad(s, "fixed step must be finite and >= 0");
    s->fixed_h = h;
    s->num_steps = 0;
    return NODEC_SUCCESS;
}

int nodec_set_num_steps(nodec_solver *s, long n) {
    if (!s || n < 0) return bad(s, "number of steps must be >= 0");
    s->num_steps = n;
    s->fixed_h = 0;
    return NODEC_SUCCESS;
}

int nodec_set_seminorm(nodec_solver *s, int on) {
    if (!s) return NODEC_ILL_INPUT;
    s->seminorm = on != 0;
    return NODEC_SUCCESS;
}

int nodec_set_batch_mode(nodec_solver *s, nodec_batch_mode mode) {
    if (!s || (mode != NODEC_BATCH_SHARED && mode != NODEC_BATCH_INDEPENDENT)) return bad(s, "unknown batch mode");
    s->batch = mode;
    return NODEC_SUCCESS;
}

int nodec_set_grad_mode(nodec_solver *s, nodec_grad_mode mode) {
    if (!s || mode < NODEC_GRAD_ADJOINT || mode > NODEC_GRAD_DIRECT) return bad(s, "unknown gradient mode");
    s->grad = mode;
    s->grad_set = 1;
    return NODEC_SUCCESS;
}

int nodec_set_checkpoint_every(nodec_solver *s, int k) {
    if (!s || k < 1) return bad(s, "checkpoint interval must be >= 1");
    s->ckpt_every = k;
    return NODEC_SUCCESS;
}

int nodec_set_threads(nodec_solver *s, int n) {
    if (!s || n < 0 || n > NODEC_MAX_THREADS) return bad(s, "threads must be 0 (all cores) to 1024");
    s->threads = n;
    return NODEC_SUCCESS;
}

int nodec_get_threads(const nodec_solver *s) {
    int nc = par_chunks(s, s->B), nt = par_threads(s);
    return nt < nc ? nt : nc;
}

/* ---- statistics and memory ---- */

void nodec_get_stats(const nodec_solver *s, nodec_stats *out) { *out = s->stats; }

static const nodec_pass_stats *pass(const nodec_solver *s, int p) {
    return p == NODEC_PASS_BACKWARD ? &s->stats.backward : &s->stats.forward;
}

long nodec_get_num_steps(const nodec_solver *s, int p) { return pass(s, p)->steps; }
long nodec_get_num_rejected(const nodec_solver *s, int p) { return pass(s, p)->rejected; }
long nodec_get_num_f_evals(const nodec_solver *s, int p) { return pass(s, p)->f_evals; }
long nodec_get_num_vjp_evals(const nodec_solver *s, int p) { return pass(s, p)->vjp_evals; }

static const nodec_xstats *xpass(const nodec_solver *s, int p) { return &s->xs[p == NODEC_PASS_BACKWARD]; }

long nodec_get_num_jac_evals(const nodec_solver *s, int p) { return xpass(s, p)->jac_evals; }
long nodec_get_num_lu(const nodec_solver *s, int p) { return xpass(s, p)->lu; }
long nodec_get_num_stiff_steps(const nodec_solver *s, int p) { return xpass(s, p)->stiff_steps; }
long nodec_get_num_switches(const nodec_solver *s, int p) { return xpass(s, p)->switches; }
nodec_method nodec_get_method_in_use(const nodec_solver *s, int p) { return (nodec_method)xpass(s, p)->method; }

size_t nodec_get_mem_current(const nodec_solver *s) { return s->mem.cur; }
size_t nodec_get_mem_peak(const nodec_solver *s) { return s->mem.peak; }
void nodec_reset_mem_peak(nodec_solver *s) { s->mem.peak = s->mem.cur; }

/* ---- errors and names ---- */

const char *nodec_error_name(int code) {
    switch (code) {
    case NODEC_SUCCESS: return "NODEC_SUCCESS";
    case NODEC_ILL_INPUT: return "NODEC_ILL_INPUT";
    case NODEC_MEM_FAIL: return "NODEC_MEM_FAIL";
    case NODEC_TOO_MUCH_WORK: return "NODEC_TOO_MUCH_WORK";
    case NODEC_STEP_UNDERFLOW: return "NODEC_STEP_UNDERFLOW";
    case NODEC_NONFINITE: return "NODEC_NONFINITE";
    case NODEC_BAD_MODEL: return "NODEC_BAD_MODEL";
    case NODEC_SINGULAR: return "NODEC_SINGULAR";
    }
    return "NODEC_UNKNOWN_CODE";
}

const char *nodec_get_error_message(const nodec_solver *s) { return s && s->err ? s->msg : ""; }

static const char *const method_names[] = {
    "euler", "midpoint", "rk4", "bosh3", "dopri5", "tsit5", "dopri8", "rodas4", "rodas5p", "auto", "kvaerno4",
};
static const char *const grad_names[] = {"adjoint", "checkpoint", "direct"};

int nodec_method_from_name(const char *name) {
    for (int i = 0; name && i < (int)(sizeof method_names / sizeof *method_names); i++)
        if (strcmp(name, method_names[i]) == 0) return i;
    return -1;
}

const char *nodec_method_name(nodec_method m) {
    return m >= NODEC_EULER && m <= NODEC_KVAERNO4 ? method_names[m] : "?";
}

int nodec_grad_mode_from_name(const char *name) {
    for (int i = 0; name && i < 3; i++)
        if (strcmp(name, grad_names[i]) == 0) return i;
    return -1;
}

const char *nodec_grad_mode_name(nodec_grad_mode m) {
    return m >= NODEC_GRAD_ADJOINT && m <= NODEC_GRAD_DIRECT ? grad_names[m] : "?";
}
