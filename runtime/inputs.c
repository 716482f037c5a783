/* inputs.c — the inputs of a model that declares them (`input u[2] =
 * linear | cubic | hold`): nodec_set_inputs checks and copies each
 * trajectory's rows into the knots of each element, solves for the natural
 * cubic splines and collects the breakpoints; inp_check_range checks that
 * a solve lies within the rows.  DESIGN.md §7; docs/runtime.md "Inputs";
 * docs/decisions.md "Inputs".  interp.c evaluates what this builds.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v[0..n) and drops repeats; returns how many are left. */
static long sort_unique(double *v, long n) {
    long m = 0;
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    for (long j = 0; j < n; j++)
        if (m == 0 || v[j] != v[m - 1]) v[m++] = v[j];
    return m;
}

/* The natural cubic spline through n knots: u″ = 0 at both ends, the
 * tridiagonal system for the inner ones by elimination (c: n scratch). */
static void spline(const double *x, const double *y, int n, double *m2, double *c) {
    m2[0] = m2[n - 1] = 0;
    if (n < 3) return;
    /* row i: h_{i−1} M_{i−1} + 2(h_{i−1} + h_i) M_i + h_i M_{i+1} = r_i */
    c[0] = 0;
    for (int i = 1; i < n - 1; i++) {
        double hl = x[i] - x[i - 1], hr = x[i + 1] - x[i];
        double r = 6 * ((y[i + 1] - y[i]) / hr - (y[i] - y[i - 1]) / hl);
        double d = 2 * (hl + hr) - hl * c[i - 1];
        c[i] = hr / d;
        m2[i] = (r - hl * m2[i - 1]) / d;
    }
    for (int i = n - 3; i >= 1; i--) m2[i] -= c[i] * m2[i + 1];
}

static int ill(nodec_solver *s, int b, int e, const char *what) {
    char name[96];
    const nodec_inputs *mi = s->m->inputs;
    nodec__var_name(mi->input_vars, mi->n_input_vars, e, "u", name, sizeof name);
    return nodec__fail(s, NODEC_ILL_INPUT, "input %s %s in trajectory %d", name, what, b);
}

/* Checks the rows; *knots gets the number of values. */
static int check_rows(nodec_solver *s, const int *n_rows, const double *const *t, const double *const *u, long *knots) {
    int n = s->m->inputs->n_input;
    *knots = 0;
    for (int b = 0; b < s->B; b++) {
        int nr = n_rows[b];
        if (nr < 0) return nodec__fail(s, NODEC_ILL_INPUT, "trajectory %d has %d input rows", b, nr);
        if (nr > 0 && (!t[b] || !u[b]))
            return nodec__fail(s, NODEC_ILL_INPUT, "trajectory %d: its input times or values are NULL", b);
        for (int i = 0; i < nr; i++)
            if (!isfinite(t[b][i]) || (i > 0 && !(t[b][i] > t[b][i - 1])))
                return nodec__fail(s, NODEC_ILL_INPUT,
                                   "trajectory %d: input times must be finite and strictly increasing: "
                                   "row %d has t = %g%s",
                                   b, i, t[b][i], i > 0 ? " after a time not below it" : "");
        for (int e = 0; e < n; e++) {
            long have = 0;
            for (int i = 0; i < nr; i++) {
                double v = u[b][(long)i * n + e];
                if (isinf(v)) {
                    char what[64];
                    snprintf(what, sizeof what, "is %g at t = %g (row %d)", v, t[b][i], i);
                    return ill(s, b, e, what);
                }
                have += !isnan(v);
            }
            if (have == 0) return ill(s, b, e, "has no value");
            *knots += have;
        }
    }
    return NODEC_SUCCESS;
}

int nodec_set_inputs(nodec_solver *s, const int *n_rows, const double *const *t, const double *const *u) {
    const nodec_inputs *mi;
    inp_set *in;
    long K, nb = 0, k = 0, maxr = 0;
    int n, B, rc, hold = 0;
    size_t bytes;
    double *c;

    if (!s) return NODEC_ILL_INPUT;
    s->err = 0;
    s->msg[0] = 0;
    mi = s->m->inputs;
    if (!mi) return nodec__fail(s, NODEC_ILL_INPUT, "model '%s' has no inputs", s->m->name ? s->m->name : "?");
    if (!n_rows || !t || !u) return nodec__fail(s, NODEC_ILL_INPUT, "n_rows, t or u is NULL");
    if (mi->n_input < 1 || !mi->interp)
        return nodec__fail(s, NODEC_BAD_MODEL, "model '%s' has no input elements", s->m->name ? s->m->name : "?");
    n = mi->n_input;
    B = s->B;
    if ((rc = check_rows(s, n_rows, t, u, &K))) return rc;
    for (int b = 0; b < B; b++) maxr = n_rows[b] > maxr ? n_rows[b] : maxr;
    /* one block: the set, then the doubles, the longs, the ints */
    bytes = (sizeof(inp_set) + 7) / 8 * 8 + ((size_t)5 * K + 2 * B + (size_t)5 * B * n + maxr) * sizeof(double) +
            ((size_t)B * n + B + 2) * sizeof(long) + (size_t)B * n * sizeof(int);
    if (!(in = mem_alloc(&s->mem, bytes))) return nodec__fail(s, NODEC_MEM_FAIL, "out of memory (the inputs)");
    inp_free(s); /* the inputs set before, kept when anything fails */
    in->bytes = bytes;
    in->B = B;
    in->n = n;
    in->x = (double *)((char *)in + (sizeof(inp_set) + 7) / 8 * 8);
    in->y = in->x + K;
    in->m2 = in->y + K;
    in->t0 = in->m2 + K;
    in->t1 = in->t0 + B;
    in->brk = in->t1 + B;
    in->u = in->brk + 2 * (K + (size_t)B * n); /* breakpoints: every knot, two a spline; twice */
    c = in->u + (size_t)3 * B * n;             /* the spline's scratch */
    in->off = (long *)(c + maxr);
    in->boff = in->off + (size_t)B * n;
    in->cnt = (int *)(in->boff + B + 2);
    for (int e = 0; e < n; e++) hold |= mi->interp[e] == NODEC_INTERP_HOLD;
    in->jumps = hold || mi->uses_ddt;
    for (int b = 0; b < B; b++) {
        in->boff[b] = nb;
        in->t0[b] = n_rows[b] ? t[b][0] : 0;
        in->t1[b] = n_rows[b] ? t[b][n_rows[b] - 1] : 0;
        for (int e = 0; e < n; e++) {
            long q = (long)b * n + e, o = k;
            for (int i = 0; i < n_rows[b]; i++) {
                double v = u[b][(long)i * n + e];
                if (isnan(v)) continue;
                in->x[k] = t[b][i];
                in->y[k++] = v;
            }
            in->off[q] = o;
            in->cnt[q] = (int)(k - o);
            if (mi->interp[e] == NODEC_INTERP_CUBIC) {
                spline(in->x + o, in->y + o, in->cnt[q], in->m2 + o, c);
                /* u′ jumps to 0 where the spline ends */
                in->brk[nb++] = in->x[o];
                in->brk[nb++] = in->x[k - 1];
            } else {
                for (long j = o; j < k; j++) in->brk[nb++] = in->x[j];
            }
        }
        nb = in->boff[b] + sort_unique(in->brk + in->boff[b], nb - in->boff[b]);
    }
    in->boff[B] = nb;
    memcpy(in->brk + nb, in->brk, (size_t)nb * sizeof(double)); /* the union */
    in->boff[B + 1] = nb + sort_unique(in->brk + nb, nb);
    s->in = in;
    return NODEC_SUCCESS;
}

int inp_check_range(nodec_solver *s, int n_times, const double *t) {
    double lo = fmin(t[0], t[n_times - 1]), hi = fmax(t[0], t[n_times - 1]);
    for (int b = 0; b < s->B; b++)
        if (lo < s->in->t0[b] || hi > s->in->t1[b])
            return nodec__fail(s, NODEC_ILL_INPUT,
                               "trajectory %d is solved over [%g, %g], outside its input rows' times "
                               "[%g, %g]: inputs are not extrapolated; solve within those times, or give "
                               "rows that cover the solve",
                               b, lo, hi, s->in->t0[b], s->in->t1[b]);
    return NODEC_SUCCESS;
}
