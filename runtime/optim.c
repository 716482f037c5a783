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
