/* optim.c — the optimizers of the trainer: SGD with momentum, Adam, RMSprop.
 *
 * Each update is the one torch.optim computes with its default options
 * (PyTorch 2.x, `_single_tensor_*` in torch/optim/{sgd,adam,rmsprop}.py),
 * operation for operation where the order changes the rounding, so a run
 * can be checked against PyTorch.  tests/train/test_optim.c checks them on
 * quadratics and Rosenbrock's function.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nodec.h"

static const char *const names[] = {"sgd", "adam", "rmsprop"};

int nodec_optim_from_name(const char *name) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, names[i])) return i;
    return -1;
}

const char *nodec_optim_name(nodec_optim_kind kind) { return (unsigned)kind < 3 ? names[kind] : "unknown"; }

int nodec_optim_init(nodec_optim *o, nodec_optim_kind kind, int n, double lr) {
    memset(o, 0, sizeof *o);
    if (n < 0 || (unsigned)kind > NODEC_OPT_RMSPROP || !(lr > 0) || !isfinite(lr)) return NODEC_ILL_INPUT;
    o->kind = kind;
    o->n = n;
    o->lr = lr;
    o->momentum = 0.9;
    o->beta1 = 0.9, o->beta2 = 0.999;
    o->alpha = 0.99;
    o->eps = 1e-8;
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

void nodec_optim_step(nodec_optim *o, double *theta, const double *g) {
    o->step++;
    switch (o->kind) {
    case NODEC_OPT_SGD:
        /* torch.optim.SGD, dampening 0: the buffer starts as a copy of g */
        for (int i = 0; i < o->n; i++) {
            double d = g[i];
            if (o->momentum != 0) {
                o->m[i] = o->step == 1 ? g[i] : o->momentum * o->m[i] + g[i];
                d = o->m[i];
            }
            theta[i] -= o->lr * d;
        }
        break;
    case NODEC_OPT_ADAM: {
        /* torch.optim.Adam: m.lerp_(g, 1-β1); v = β2·v + (1-β2)·g²;
         * θ -= lr/(1-β1^t) · m / (√v/√(1-β2^t) + ε) */
        double bc1 = 1 - pow(o->beta1, (double)o->step);
        double bc2_sqrt = sqrt(1 - pow(o->beta2, (double)o->step));
        double step_size = o->lr / bc1;
        for (int i = 0; i < o->n; i++) {
            o->m[i] += (g[i] - o->m[i]) * (1 - o->beta1);
            o->v[i] = o->v[i] * o->beta2 + (1 - o->beta2) * g[i] * g[i];
            double denom = sqrt(o->v[i]) / bc2_sqrt + o->eps;
            theta[i] += -step_size * (o->m[i] / denom);
        }
        break;
    }
    case NODEC_OPT_RMSPROP:
        /* torch.optim.RMSprop, not centred, no momentum: ε outside the root */
        for (int i = 0; i < o->n; i++) {
            o->v[i] = o->v[i] * o->alpha + (1 - o->alpha) * g[i] * g[i];
            double avg = sqrt(o->v[i]) + o->eps;
            theta[i] += -o->lr * (g[i] / avg);
        }
        break;
    }
}
