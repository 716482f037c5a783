/* train.h — training a compiled model on data: `nodec train` and the
 * trainers `nodec build` makes (DESIGN.md §5), and the optimizers they use.
 * docs/training.md documents the options, defaults and file formats.
 *
 *     nodec_optim o;
 *     nodec_optim_init(&o, NODEC_OPT_ADAM, n, 1e-3);    // PyTorch defaults
 *     for (…) { grad = ∇L(θ); nodec_optim_step(&o, θ, grad); }
 *     nodec_optim_free(&o);
 *
 * The optimizers follow PyTorch's torch.optim update rules exactly (no
 * weight decay, no Nesterov, RMSprop neither centred nor with momentum), so
 * a run can be compared step by step with a PyTorch script.  Their whole
 * state is `step` and the buffers m and v, which a saved training state
 * holds, so a resumed run continues bit for bit.
 */
#ifndef NODEC_TRAIN_H
#define NODEC_TRAIN_H

#include "nodec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- optim.c ----------------------------------------------------------- */

typedef enum nodec_optim_kind {
    NODEC_OPT_SGD,    /* buf = μ·buf + g (buf = g at the first step); θ -= lr·buf */
    NODEC_OPT_ADAM,   /* Kingma & Ba, with bias correction, as torch.optim.Adam */
    NODEC_OPT_RMSPROP /* v = α·v + (1-α)·g²; θ -= lr·g / (√v + ε) */
} nodec_optim_kind;

typedef struct nodec_optim {
    nodec_optim_kind kind;
    int n; /* parameters */
    double lr;
    double momentum;     /* sgd: μ (default 0.9; 0 is plain SGD) */
    double beta1, beta2; /* adam: 0.9, 0.999 */
    double alpha;        /* rmsprop: 0.99 */
    double eps;          /* adam, rmsprop: 1e-8 */
    long step;           /* updates taken so far */
    double *m;           /* sgd: momentum buffer; adam: first moment */
    double *v;           /* adam: second moment; rmsprop: square average */
} nodec_optim;

/* Sets the defaults above and allocates zeroed buffers.  Returns
 * NODEC_SUCCESS, NODEC_ILL_INPUT (n < 0, lr not positive and finite) or
 * NODEC_MEM_FAIL. */
int nodec_optim_init(nodec_optim *o, nodec_optim_kind kind, int n, double lr);
/* One update of θ (n values) along grad. */
void nodec_optim_step(nodec_optim *o, double *theta, const double *grad);
void nodec_optim_free(nodec_optim *o);
/* "sgd", "adam", "rmsprop"; -1 when unknown. */
int nodec_optim_from_name(const char *name);
const char *nodec_optim_name(nodec_optim_kind kind);

/* ---- train.c ----------------------------------------------------------- */

/* `nodec train MODEL.nde …` with the arguments after the model file, and
 * the main() of a built trainer.  Prints a JSON summary to stdout and
 * progress to stderr; returns the exit code: 0 success, 1 failure, 2 usage
 * error, 130 interrupted (SIGINT; 143 for SIGTERM) after saving. */
int nodec_cli_train(const nodec_model *m, int argc, char **argv);
extern const char nodec_cli_train_help[];

#ifdef __cplusplus
}
#endif

#endif /* NODEC_TRAIN_H */
