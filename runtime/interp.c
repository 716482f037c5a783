/* interp.c — the inputs' interpolants: which piece an evaluation at t
 * uses, and the values, first and second time derivatives there.
 * DESIGN.md §7; docs/runtime.md "Inputs"; docs/decisions.md "Inputs".
 *
 * An element's knots x_0 < … < x_{n−1} cut the line into the pieces
 * (−∞, x_0], [x_j, x_{j+1}] and [x_{n−1}, ∞); the outer two hold the end
 * values.  The integrators say which step they are in (inp_span): t is
 * clamped into the step to choose the piece — a stage or a finite
 * difference just past the step's end still uses the step's piece — and a
 * knot on the step's end takes the piece toward the step's inside; outside
 * any step a knot takes the piece in the direction of integration.  The
 * piece's polynomial is then evaluated at t itself.
 *
 * Reads the handle's inputs only; called by par.c for each chunk's rows,
 * so threads never write the same row.  Calls mem.c and nothing else.
 */
#include <float.h>
#include <math.h>

#include "internal.h"

void inp_span(nodec_solver *s, double t0, double t1, int dir) {
    s->in_lo = t0 < t1 ? t0 : t1;
    s->in_hi = t0 < t1 ? t1 : t0;
    s->in_dir = t1 > t0 ? 1 : t1 < t0 ? -1 : dir < 0 ? -1 : 1;
}

/* Knots of x[0..n) below t (incl: at or below). */
static long below(const double *x, long n, double t, int incl) {
    long lo = 0, hi = n;
    while (lo < hi) {
        long mid = (lo + hi) / 2;
        if (incl ? x[mid] <= t : x[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* u, u′, u″ at t (out[0], out[n], out[2n]) of piece j, the one starting
 * at x_j (−1: the one before x_0). */
static void eval_piece(int kind, const double *x, const double *y, const double *m2, int cnt, int j, double t,
                       double *out, int n) {
    double v = 0, d = 0, dd = 0;
    if (j < 0 || j >= cnt - 1 || kind == NODEC_INTERP_HOLD) {
        v = y[j < 0 ? 0 : j];
    } else {
        double h = x[j + 1] - x[j], A = (x[j + 1] - t) / h, B = (t - x[j]) / h, s = (y[j + 1] - y[j]) / h;
        v = A * y[j] + B * y[j + 1];
        d = s;
        if (kind == NODEC_INTERP_CUBIC) {
            double M0 = m2[j], M1 = m2[j + 1];
            v += ((A * A * A - A) * M0 + (B * B * B - B) * M1) * h * h / 6;
            d += (-(3 * A * A - 1) * M0 + (3 * B * B - 1) * M1) * h / 6;
            dd = A * M0 + B * M1;
        }
    }
    out[0] = v;
    out[n] = d;
    out[2 * n] = dd;
}

void inp_eval(const nodec_solver *s, int b0, int b1, double t) {
    const inp_set *in = s->in;
    const signed char *kind = s->m->inputs->interp;
    int n = in->n, side;
    double lo = s->in_lo, hi = s->in_hi, tc = t < lo ? lo : t > hi ? hi : t;
    /* a knot at tc: the piece after it (side 1), or before it (−1) */
    side = lo < hi ? (tc >= hi ? -1 : 1) : s->in_dir;
    for (int b = b0; b < b1; b++) {
        int tr = s->in_b0 + b;
        double *ub = in->u + (long)b * 3 * n;
        for (int e = 0; e < n; e++) {
            long q = (long)tr * n + e, o = in->off[q];
            int cnt = in->cnt[q];
            eval_piece(kind[e], in->x + o, in->y + o, in->m2 + o, cnt, (int)below(in->x + o, cnt, tc, side > 0) - 1, t,
                       ub + e, n);
        }
    }
}

/* The breakpoints of the solve under way (*n of them). */
static const double *breaks(const nodec_solver *s, long *n) {
    const inp_set *in = s->in;
    int j = s->batch == NODEC_BATCH_INDEPENDENT && s->B > 1 ? s->in_b0 : in->B;
    *n = in->boff[j + 1] - in->boff[j];
    return in->brk + in->boff[j];
}

/* The first breakpoint beyond t in direction dir, past roundoff. */
int inp_next_break(const nodec_solver *s, double t, int dir, double *tb) {
    const double *brk;
    long nb;
    if (!s->in) return 0;
    brk = breaks(s, &nb);
    for (long k = below(brk, nb, t, 1) - (dir < 0); k >= 0 && k < nb; k += dir < 0 ? -1 : 1)
        if ((brk[k] - t) * dir > 8 * DBL_EPSILON * fabs(brk[k])) {
            *tb = brk[k];
            return 1;
        }
    return 0;
}

int inp_is_break(const nodec_solver *s, double t) {
    const double *brk;
    long nb, k;
    if (!s->in) return 0;
    brk = breaks(s, &nb);
    k = below(brk, nb, t, 0);
    return k < nb && brk[k] == t;
}

void inp_free(nodec_solver *s) {
    if (s->in) mem_free(&s->mem, s->in, s->in->bytes);
    s->in = NULL;
}
