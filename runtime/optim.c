/* optim.c — the optimizers of the trainer: SGD with momentum, Adam, RMSprop,
 * AdamW; gradient-norm clipping; learning-rate schedules with warm-up.
 *
 * Each update is the one torch.optim computes (PyTorch 2.x,
 * `_single_tensor_*` in torch/optim/{sgd,adam,adamw,rmsprop}.py; weight
 * decay as there), operation for operation where the order changes the
 * rounding, so a run can be checked against PyTorch.  Clipping is
 * torch.nn.utils.clip_grad_norm_; the schedules are the closed forms of
 * torch.optim.lr_scheduler's StepLR, ExponentialLR and CosineAnnealingLR
 * (PyTorch steps them recursively, which can differ in the last bits).
 * tests/train/test_optim.c checks them on quadratics, Rosenbrock's
 * function and values worked by hand.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nodec.h"

static const char *const names[] = {"sgd", "adam", "rmsprop", "adamw"};
enum { N_KINDS = sizeof names / sizeof *names };

int nodec_optim_from_name(const char *name) {
    for (int i = 0; i < N_KINDS; i++)
        if (!strcmp(name, names[i])) return i;
    return -1;
}

const char *nodec_optim_name(nodec_optim_kind kind) { return (unsigned)kind < N_KINDS ? names[kind] : "unknown"; }

int nodec_optim_init(nodec_optim *o, nodec_optim_kind kind, int n, double lr) {
    memset(o, 0, sizeof *o);
    if (n < 0 || (unsigned)kind >= N_KINDS || !(lr > 0) || !isfinite(lr)) return NODEC_ILL_INPUT;
    o->kind = kind;
    o->n = n;
    o->lr = lr;
    o->momentum = 0.9;
    o->beta1 = 0.9, o->beta2 = 0.999;
    o->alpha = 0.99;
    o->eps = 1e-8;
    o->weight_decay = kind == NODEC_OPT_ADAMW ? 1e-2 : 0;
    o->m = calloc((size_t)n + 1, sizeof *o->m);
    o->v = calloc((size_t)n + 1, sizeof *o->v);
    if (!o->m || !o->v) {
        nodec_optim_free(o);
        return NODEC_MEM_FAIL;
    }
    return NODEC_SUCCESS;
}

void nodec_optim_free(nodec_optim *o) {
    free(o->m), free(o->v);
    o->m = o->v = NULL;
}

/* The gradient with PyTorch's (coupled) weight decay: g + wd·θ. */
static double decayed(const nodec_optim *o, const double *theta, const double *g, int i) {
    return o->weight_decay != 0 && o->kind != NODEC_OPT_ADAMW ? g[i] + o->weight_decay * theta[i] : g[i];
}

void nodec_optim_step(nodec_optim *o, double *theta, const double *grad) {
    o->step++;
    switch (o->kind) {
    case NODEC_OPT_SGD:
        /* torch.optim.SGD, dampening 0: the buffer starts as a copy of g */
        for (int i = 0; i < o->n; i++) {
            double g = decayed(o, theta, grad, i), d = g;
            if (o->momentum != 0) {
                o->m[i] = o->step == 1 ? g : o->momentum * o->m[i] + g;
                d = o->m[i];
            }
            theta[i] -= o->lr * d;
        }
        break;
    case NODEC_OPT_ADAM:
    case NODEC_OPT_ADAMW: {
        /* torch.optim.Adam: m.lerp_(g, 1-β1); v = β2·v + (1-β2)·g²;
         * θ -= lr/(1-β1^t) · m / (√v/√(1-β2^t) + ε).  AdamW first decays
         * θ apart from the gradient: θ *= 1 - lr·wd (Loshchilov & Hutter) */
        double bc1 = 1 - pow(o->beta1, (double)o->step);
        double bc2_sqrt = sqrt(1 - pow(o->beta2, (double)o->step));
        double step_size = o->lr / bc1;
        for (int i = 0; i < o->n; i++) {
            double g = decayed(o, theta, grad, i);
            if (o->kind == NODEC_OPT_ADAMW) theta[i] *= 1 - o->lr * o->weight_decay;
            o->m[i] += (g - o->m[i]) * (1 - o->beta1);
            o->v[i] = o->v[i] * o->beta2 + (1 - o->beta2) * g * g;
            double denom = sqrt(o->v[i]) / bc2_sqrt + o->eps;
            theta[i] += -step_size * (o->m[i] / denom);
        }
        break;
    }
    case NODEC_OPT_RMSPROP:
        /* torch.optim.RMSprop, not centred, no momentum: ε outside the root */
        for (int i = 0; i < o->n; i++) {
            double g = decayed(o, theta, grad, i);
            o->v[i] = o->v[i] * o->alpha + (1 - o->alpha) * g * g;
            double avg = sqrt(o->v[i]) + o->eps;
            theta[i] += -o->lr * (g / avg);
        }
        break;
    }
}

double nodec_clip_grad_norm(double *g, int n, double max_norm) {
    /* torch.nn.utils.clip_grad_norm_: g *= min(max_norm / (‖g‖ + 1e-6), 1) */
    double sum = 0;
    for (int i = 0; i < n; i++) sum += g[i] * g[i];
    double norm = sqrt(sum), coef = max_norm / (norm + 1e-6);
    if (coef < 1)
        for (int i = 0; i < n; i++) g[i] *= coef;
    return norm;
}

double nodec_lr_at(const nodec_lr_schedule *s, double lr, long k) {
    if (k < 1) k = 1;
    if (s->warmup > 0 && k <= s->warmup) return lr * (double)k / (double)s->warmup;
    long t = k - 1 - (s->warmup > 0 ? s->warmup : 0); /* updates since the warm-up */
    switch (s->kind) {
    case NODEC_LR_STEP: /* StepLR */ return s->every > 0 ? lr * pow(s->gamma, (double)(t / s->every)) : lr;
    case NODEC_LR_EXP: /* ExponentialLR */ return lr * pow(s->gamma, (double)t);
    case NODEC_LR_COSINE: { /* CosineAnnealingLR, T_max = the updates after the warm-up */
        long T = s->total - (s->warmup > 0 ? s->warmup : 0);
        if (T < 1) return lr;
        if (t >= T) return s->min_lr; /* past the end: stays at the minimum */
        return s->min_lr + (lr - s->min_lr) * (1 + cos(3.14159265358979323846 * (double)t / (double)T)) / 2;
    }
    default: return lr;
    }
}

/* ---- L-BFGS: torch/optim/lbfgs.py (LBFGS.step, _strong_wolfe,
 * _cubic_interpolate), statement for statement ---------------------------- */

int nodec_lbfgs_init(nodec_lbfgs *o, int n, double lr, int history) {
    memset(o, 0, sizeof *o);
    if (n < 1 || history < 1 || !(lr > 0) || !isfinite(lr)) return NODEC_ILL_INPUT;
    o->n = n, o->history = history, o->lr = lr;
    o->tol_grad = 1e-7, o->tol_change = 1e-9;
    o->h_diag = 1;
    size_t N = (size_t)n, H = (size_t)history;
    o->d = calloc(N, sizeof(double)), o->prev_g = calloc(N, sizeof(double));
    o->dirs = calloc(H * N, sizeof(double)), o->stps = calloc(H * N, sizeof(double));
    o->ro = calloc(H, sizeof(double)), o->al = calloc(H, sizeof(double));
    o->x0 = calloc(N, sizeof(double)), o->gn = calloc(N, sizeof(double)), o->gp = calloc(N, sizeof(double));
    o->bg = calloc(2 * N, sizeof(double));
    if (!o->d || !o->prev_g || !o->dirs || !o->stps || !o->ro || !o->al || !o->x0 || !o->gn || !o->gp || !o->bg) {
        nodec_lbfgs_free(o);
        return NODEC_MEM_FAIL;
    }
    return NODEC_SUCCESS;
}

void nodec_lbfgs_free(nodec_lbfgs *o) {
    free(o->d), free(o->prev_g), free(o->dirs), free(o->stps), free(o->ro), free(o->al);
    free(o->x0), free(o->gn), free(o->gp), free(o->bg);
    o->d = o->prev_g = o->dirs = o->stps = o->ro = o->al = o->x0 = o->gn = o->gp = o->bg = NULL;
}

static double dot(const double *a, const double *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static double max_abs(const double *a, int n) {
    double m = 0;
    for (int i = 0; i < n; i++) m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}

/* The minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), within
 * the bounds (the interval between x1 and x2 when bounded is 0).  Python's
 * min(max(…)) spelled out, so NaN goes where it goes there. */
static double cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2, int bounded,
                                double lo, double hi) {
    if (!bounded) lo = x1 <= x2 ? x1 : x2, hi = x1 <= x2 ? x2 : x1;
    double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
    double d2_square = d1 * d1 - g1 * g2;
    if (d2_square >= 0) {
        double d2 = sqrt(d2_square), min_pos;
        if (x1 <= x2)
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2));
        else
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
        double v = lo > min_pos ? lo : min_pos;
        return hi < v ? hi : v;
    }
    return (lo + hi) / 2.0;
}

/* f and g at x + t·d, into *f and gout. */
static int eval_at(nodec_lbfgs *o, nodec_objective fn, void *ctx, double *theta, double t, const double *d, double *f,
                   double *gout) {
    for (int i = 0; i < o->n; i++) theta[i] = o->x0[i] + t * d[i];
    o->evals++;
    return fn(ctx, theta, f, gout);
}

/* _strong_wolfe with c1 = 1e-4, c2 = 0.9, tolerance_change = 1e-9,
 * max_ls = 25.  On entry θ = x0; on return *t, *f_out and g_out at the point
 * chosen (θ is left at the last trial point: the caller sets it). */
static int strong_wolfe(nodec_lbfgs *o, nodec_objective fn, void *ctx, double *theta, double *t_io, const double *d,
                        double f, const double *g, double gtd, double *f_out, double *g_out) {
    const double c1 = 1e-4, c2 = 0.9, tolerance_change = 1e-9;
    const int max_ls = 25, n = o->n;
    size_t nb = sizeof(double) * (size_t)n;
    double d_norm = max_abs(d, n), t = *t_io, f_new, *gn = o->gn, *gp = o->gp, *bg[2] = {o->bg, o->bg + n};
    int rc = eval_at(o, fn, ctx, theta, t, d, &f_new, gn);
    if (rc) return rc;
    double gtd_new = dot(gn, d, n);
    double t_prev = 0, f_prev = f, gtd_prev = gtd;
    memcpy(gp, g, nb);
    double br[2] = {0, 0}, bf[2] = {0, 0}, bgtd[2] = {0, 0};
    int done = 0, ls_iter = 0;
    while (ls_iter < max_ls) {
        /* PyTorch's order: Armijo (or no decrease), then curvature, then an
         * uphill slope; the first and the last make a bracket [t_prev, t] */
        int no_decrease = f_new > (f + c1 * t * gtd) || (ls_iter > 1 && f_new >= f_prev);
        if (!no_decrease && fabs(gtd_new) <= -c2 * gtd) { /* the strong Wolfe conditions hold at t */
            br[0] = br[1] = t, bf[0] = bf[1] = f_new;
            memcpy(bg[0], gn, nb);
            done = 1;
            break;
        }
        if (no_decrease || gtd_new >= 0) {
            br[0] = t_prev, br[1] = t, bf[0] = f_prev, bf[1] = f_new, bgtd[0] = gtd_prev, bgtd[1] = gtd_new;
            memcpy(bg[0], gp, nb), memcpy(bg[1], gn, nb);
            break;
        }
        /* interpolate, extrapolating at most 10× */
        double min_step = t + 0.01 * (t - t_prev), max_step = t * 10, tmp = t;
        t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, 1, min_step, max_step);
        t_prev = tmp, f_prev = f_new, gtd_prev = gtd_new;
        memcpy(gp, gn, nb);
        if ((rc = eval_at(o, fn, ctx, theta, t, d, &f_new, gn))) return rc;
        gtd_new = dot(gn, d, n);
        ls_iter++;
    }
    if (ls_iter == max_ls) { /* no bracket: [0, t] (and no zoom, as ls_iter is spent) */
        br[0] = 0, br[1] = t, bf[0] = f, bf[1] = f_new;
        memcpy(bg[0], g, nb), memcpy(bg[1], gn, nb);
    }
    /* zoom: shrink the bracket to a point that satisfies the conditions */
    int insuf_progress = 0, low = bf[0] <= bf[1] ? 0 : 1, high = 1 - low;
    if (done) low = 0, high = 1;
    while (!done && ls_iter < max_ls) {
        if (fabs(br[1] - br[0]) * d_norm < tolerance_change) break;
        t = cubic_interpolate(br[0], bf[0], bgtd[0], br[1], bf[1], bgtd[1], 0, 0, 0);
        double bmax = br[0] > br[1] ? br[0] : br[1], bmin = br[0] < br[1] ? br[0] : br[1];
        double eps = 0.1 * (bmax - bmin);
        if ((bmax - t < t - bmin ? bmax - t : t - bmin) < eps) { /* close to an end */
            if (insuf_progress || t >= bmax || t <= bmin) {
                t = fabs(t - bmax) < fabs(t - bmin) ? bmax - eps : bmin + eps;
                insuf_progress = 0;
            } else
                insuf_progress = 1;
        } else
            insuf_progress = 0;
        if ((rc = eval_at(o, fn, ctx, theta, t, d, &f_new, gn))) return rc;
        gtd_new = dot(gn, d, n);
        ls_iter++;
        if (f_new > (f + c1 * t * gtd) || f_new >= bf[low]) {
            /* Armijo fails or no lower than the low end: the new high end */
            br[high] = t, bf[high] = f_new, bgtd[high] = gtd_new;
            memcpy(bg[high], gn, nb);
            low = bf[0] <= bf[1] ? 0 : 1, high = 1 - low;
        } else {
            if (fabs(gtd_new) <= -c2 * gtd)
                done = 1;
            else if (gtd_new * (br[high] - br[low]) >= 0) { /* the old low end becomes the high one */
                br[high] = br[low], bf[high] = bf[low], bgtd[high] = bgtd[low];
                memcpy(bg[high], bg[low], nb);
            }
            br[low] = t, bf[low] = f_new, bgtd[low] = gtd_new;
            memcpy(bg[low], gn, nb);
        }
    }
    *t_io = br[low], *f_out = bf[low];
    memcpy(g_out, bg[low], nb);
    return 0;
}

int nodec_lbfgs_step(nodec_lbfgs *o, double *theta, double *f, double *g, nodec_objective fn, void *ctx) {
    int n = o->n, H = o->history;
    size_t nb = sizeof(double) * (size_t)n;
    if (max_abs(g, n) <= o->tol_grad) return o->stop = "the gradient is below tolerance_grad", 1;
    o->n_iter++;
    double *d = o->d;
    if (o->n_iter == 1) {
        for (int i = 0; i < n; i++) d[i] = -g[i];
        o->num_old = 0, o->h_diag = 1;
    } else {
        /* the history: y = g − g_prev, s = t·d, kept when y·s > 1e-10 */
        double *y = o->gn, *s = o->gp; /* scratch until the line search */
        for (int i = 0; i < n; i++) y[i] = g[i] - o->prev_g[i], s[i] = d[i] * o->t;
        double ys = dot(y, s, n);
        if (ys > 1e-10) {
            if (o->num_old == H) { /* drop the oldest */
                memmove(o->dirs, o->dirs + n, nb * (size_t)(H - 1));
                memmove(o->stps, o->stps + n, nb * (size_t)(H - 1));
                memmove(o->ro, o->ro + 1, sizeof(double) * (size_t)(H - 1));
                o->num_old--;
            }
            memcpy(o->dirs + (size_t)o->num_old * n, y, nb);
            memcpy(o->stps + (size_t)o->num_old * n, s, nb);
            o->ro[o->num_old++] = 1.0 / ys;
            o->h_diag = ys / dot(y, y, n);
        }
        /* the two-loop recursion: d = −H·g */
        for (int i = 0; i < n; i++) d[i] = -g[i];
        for (int k = o->num_old - 1; k >= 0; k--) {
            o->al[k] = dot(o->stps + (size_t)k * n, d, n) * o->ro[k];
            const double *yk = o->dirs + (size_t)k * n;
            for (int i = 0; i < n; i++) d[i] += yk[i] * -o->al[k];
        }
        for (int i = 0; i < n; i++) d[i] = d[i] * o->h_diag;
        for (int k = 0; k < o->num_old; k++) {
            double be = dot(o->dirs + (size_t)k * n, d, n) * o->ro[k];
            const double *sk = o->stps + (size_t)k * n;
            for (int i = 0; i < n; i++) d[i] += sk[i] * (o->al[k] - be);
        }
    }
    memcpy(o->prev_g, g, nb);
    o->prev_loss = *f;
    /* the first step is at most 1/‖g‖₁ long */
    double t = o->lr;
    if (o->n_iter == 1) {
        double l1 = 0;
        for (int i = 0; i < n; i++) l1 += fabs(g[i]);
        t = (1.0 / l1 < 1.0 ? 1.0 / l1 : 1.0) * o->lr;
    }
    double gtd = dot(g, d, n);
    if (gtd > -o->tol_change) return o->stop = "the directional derivative is below tolerance_change", 1;
    memcpy(o->x0, theta, nb);
    double f_new;
    int rc = strong_wolfe(o, fn, ctx, theta, &t, d, *f, g, gtd, &f_new, g);
    if (rc) {
        memcpy(theta, o->x0, nb);
        return rc;
    }
    o->t = t;
    for (int i = 0; i < n; i++) theta[i] = o->x0[i] + t * d[i];
    *f = f_new;
    if (max_abs(g, n) <= o->tol_grad) return o->stop = "the gradient is below tolerance_grad", 1;
    double step = 0;
    for (int i = 0; i < n; i++) step = fabs(d[i] * t) > step ? fabs(d[i] * t) : step;
    if (step <= o->tol_change) return o->stop = "the step is below tolerance_change", 1;
    if (fabs(f_new - o->prev_loss) < o->tol_change) return o->stop = "the change of f is below tolerance_change", 1;
    return 0;
}
