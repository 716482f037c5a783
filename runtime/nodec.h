/* nodec.h — the public API of libnodec, nodec's runtime.  DESIGN.md §1, §4.
 *
 * Shaped like SUNDIALS CVODES (STYLE.md §10): an opaque handle made for one
 * model and batch size; setters for the options; a forward solve; a loss
 * and gradient call; statistics getters; integer return codes that
 * nodec_error_name() names and nodec_get_error_message() explains.  The
 * library never exits or aborts; every failure is a return value.
 *
 *     nodec_solver *s = nodec_create(&spiral_model, B);
 *     nodec_set_tolerances(s, 1e-7, 1e-9);
 *     int rc = nodec_loss_grad(s, theta, z0, N + 1, t, obs,
 *                              &L, dtheta, dz0, dt);
 *     if (rc != NODEC_SUCCESS)
 *         fprintf(stderr, "%s: %s\n", nodec_error_name(rc),
 *                 nodec_get_error_message(s));
 *     nodec_free(s);
 *
 * Layouts follow nodec_model.h: a batch of B states is row-major B × n_state;
 * observations and outputs at N+1 times are N+1 such blocks, time-major.
 * A handle is not thread-safe; use one handle per thread.  A handle splits
 * a large batch across threads of its own (nodec_set_threads).
 * docs/runtime.md documents the conventions and defaults.
 */
#ifndef NODEC_H
#define NODEC_H

#include <stddef.h>

#include "nodec_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Return codes.  Negative values are failures. */
enum {
    NODEC_SUCCESS = 0,
    NODEC_ILL_INPUT = -1,      /* bad argument or option */
    NODEC_MEM_FAIL = -2,       /* out of memory */
    NODEC_TOO_MUCH_WORK = -3,  /* max_steps reached before the end time */
    NODEC_STEP_UNDERFLOW = -4, /* step size fell below min_step / roundoff */
    NODEC_NONFINITE = -5,      /* NaN or Inf in θ, z0, f or the state */
    NODEC_BAD_MODEL = -6,      /* descriptor unusable (ABI, missing fn) */
    NODEC_SINGULAR = -7        /* implicit method: W = I/(hγ) − ∂f/∂z is
                                  singular */
};

typedef enum nodec_method {
    NODEC_EULER,
    NODEC_MIDPOINT,
    NODEC_RK4,
    NODEC_BOSH3,
    NODEC_DOPRI5, /* the default */
    NODEC_TSIT5,
    NODEC_DOPRI8,
    /* Implicit (stiff) methods: L-stable Rosenbrock methods on the model's
     * ∂f/∂z (jac_z), one dense LU per trajectory and step.  Their default
     * gradient mode is checkpoint; adjoint and direct are refused (direct
     * through a Rosenbrock step would need second derivatives of f). */
    NODEC_RODAS4,  /* Hairer & Wanner's RODAS, order 4(3), 6 stages */
    NODEC_RODAS5P, /* Steinebach 2023, order 5(4), 8 stages */
    NODEC_AUTO,    /* dopri5, switching to rodas5p where the problem is
                      stiff and back (Hairer's stiffness test); for a
                      state of more than 512 doubles, to kvaerno4 on
                      GMRES (no dense Jacobian), and not back */
    /* ESDIRK: Kværnø's 4(3) (BIT 44, 2004), 5 stages, L-stable and stiffly
     * accurate, simplified Newton on each stage with one LU of
     * W = I/(hγ) − ∂f/∂z per trajectory and step; cubic Hermite dense
     * output.  Gradient mode checkpoint by default; direct too (each
     * stage differentiated exactly: one jac_z and LU a stage, or on the
     * GMRES path of states over 512 GMRES on VJPs); adjoint refused. */
    NODEC_KVAERNO4
} nodec_method;

typedef enum nodec_grad_mode {
    NODEC_GRAD_ADJOINT,    /* backsolve of [z, a, aθ, at]: memory O(1) in steps */
    NODEC_GRAD_CHECKPOINT, /* re-solve segments forward, adjoint on their
                              dense output: memory O(checkpoints + segment) */
    NODEC_GRAD_DIRECT      /* reverse mode through the discrete steps:
                              memory O(steps); the reference */
} nodec_grad_mode;

typedef enum nodec_batch_mode {
    NODEC_BATCH_SHARED,     /* one system, shared steps, norm over the batch */
    NODEC_BATCH_INDEPENDENT /* B solves, each with its own steps */
} nodec_batch_mode;

enum { NODEC_PASS_FORWARD = 0, NODEC_PASS_BACKWARD = 1 };

typedef struct nodec_pass_stats {
    long steps;     /* accepted steps */
    long rejected;  /* rejected step attempts */
    long f_evals;   /* calls of model->f (each on the whole batch) */
    long vjp_evals; /* calls of model->vjp */
} nodec_pass_stats;

typedef struct nodec_stats {
    nodec_pass_stats forward, backward;
} nodec_stats;

typedef struct nodec_solver nodec_solver;

/* Handle.  NULL when out of memory or when B < 1 or the model is NULL;
 * a bad descriptor (ABI version, missing f) is reported by the first solve. */
nodec_solver *nodec_create(const nodec_model *model, int B);
void nodec_free(nodec_solver *s);

/* Options.  Each returns NODEC_SUCCESS or NODEC_ILL_INPUT. */
int nodec_set_method(nodec_solver *s, nodec_method method);
int nodec_set_tolerances(nodec_solver *s, double rtol, double atol);
int nodec_set_first_step(nodec_solver *s, double h);      /* 0: Hairer's guess */
int nodec_set_min_step(nodec_solver *s, double hmin);     /* default 0 */
int nodec_set_max_steps(nodec_solver *s, long max_steps); /* per pass */
/* Fixed stepping.  Each observation interval [t_i, t_i+1] is split into
 * ceil((t_i+1 - t_i) / h) equal steps.  Setting a step size (or a number
 * of steps over [t_0, t_N], which gives h = (t_N - t_0) / n) also runs the
 * adaptive methods at fixed steps, without error control.  0 clears it. */
int nodec_set_fixed_step(nodec_solver *s, double h);
int nodec_set_num_steps(nodec_solver *s, long n);
int nodec_set_seminorm(nodec_solver *s, int on); /* default on */
int nodec_set_batch_mode(nodec_solver *s, nodec_batch_mode mode);
/* Default: adjoint for the explicit methods, checkpoint for the implicit
 * ones (until a mode is set; nodec_get_grad_mode says which applies). */
int nodec_set_grad_mode(nodec_solver *s, nodec_grad_mode mode);
int nodec_set_checkpoint_every(nodec_solver *s, int k); /* default 16 */
/* Threads that share a batch: n ≥ 1, or 0 (the default) for all cores
 * online.  A batch large enough is cut into fixed chunks (2 to 16, each of
 * at least 64 rows and 2^18 / (n_param + 4·n_state + 16) rows: B and the
 * model decide, not n), which the threads share; ∂θ and ∂t are the chunks'
 * partial sums added in chunk order, so the results are the same bits for
 * any n.  The threads live for one call of nodec_solve or nodec_loss_grad,
 * n − 1 besides the caller at most.  Smaller batches, and the independent
 * batch mode (B solves of one state), use one thread. */
int nodec_set_threads(nodec_solver *s, int n); /* 0 … 1024 */
/* Threads a call of this handle uses: min(threads asked, chunks). */
int nodec_get_threads(const nodec_solver *s);

/* Forward solve: z_out (n_times × B × n_state) gets z(t_i) for the given
 * times t_0 < t_1 < … (or all decreasing).  Outputs between steps come from
 * the method's dense output, so they never shorten the steps. */
int nodec_solve(nodec_solver *s, const double *theta, const double *z0, int n_times, const double *t, double *z_out);

/* Loss and gradient.  obs holds n_times blocks of B × n_state;
 * L = 1/(n_times·B) Σ_i Σ_b ℓ(z_b(t_i), obs_i,b), t_0's term included.
 * Outputs (any may be NULL except loss): dtheta (n_param), dz0 (B × n_state),
 * dt (n_times), z_out (n_times × B × n_state, the forward solution).
 * t must increase. */
int nodec_loss_grad(nodec_solver *s, const double *theta, const double *z0, int n_times, const double *t,
                    const double *obs, double *loss, double *dtheta, double *dz0, double *dt, double *z_out);

/* States that start from a param (`state x = x0`, nodec_model.z0_from):
 * nodec_z0_from_theta sets those elements of each of B initial states
 * (B × n_state) from θ; nodec_dz0_to_dtheta adds their dz0 to dθ, which
 * is the rest of dL/dθ.  Neither does anything for other models.  Callers
 * decide which initial states are the model's own (a trajectory's first,
 * not a window's later start). */
void nodec_z0_from_theta(const nodec_model *m, const double *theta, double *z0, int B);
void nodec_dz0_to_dtheta(const nodec_model *m, const double *dz0, int B, double *dtheta);
/* Noises (`noise e[2] = normal | rademacher`, nodec_model.noise): sets those
 * elements of B initial states (B × n_state) to fresh draws, standard
 * normal or ±1, from a generator seeded by seed and each state's index b,
 * so the same seed gives the same draws.  Nothing for other models. */
void nodec_draw_noise(const nodec_model *m, double *z0, int B, unsigned long long seed);

/* Inputs of a model that declares them (nodec_model.inputs): the signal
 * of each of the B trajectories, trajectory b's n_rows[b] rows at times
 * t[b][0] < t[b][1] < … with values u[b] (n_rows[b] × n_input, row-major;
 * NaN: missing).  The rows are copied.  Each element is interpolated
 * through the rows where it has a value, as the model says: linear, the
 * natural cubic spline, or hold (the last value at or before t); before
 * its first such row and after its last it keeps that row's value.
 * Linear and hold rows are breakpoints: adaptive steps end on them and
 * never cross one.  A solve must lie within each trajectory's rows'
 * times.  Returns NODEC_ILL_INPUT (message set) for a model without
 * inputs, times that do not increase or are not finite, an element with
 * no value in a trajectory, a value that is infinite; NODEC_MEM_FAIL.
 * The independent batch mode solves trajectory b with trajectory b's
 * inputs. */
int nodec_set_inputs(nodec_solver *s, const int *n_rows, const double *const *t, const double *const *u);

/* Statistics of the last solve or loss_grad call. */
void nodec_get_stats(const nodec_solver *s, nodec_stats *out);
long nodec_get_num_steps(const nodec_solver *s, int pass);
long nodec_get_num_rejected(const nodec_solver *s, int pass);
long nodec_get_num_f_evals(const nodec_solver *s, int pass);
long nodec_get_num_vjp_evals(const nodec_solver *s, int pass);
/* Implicit methods, per pass: ∂f/∂z evaluations and factorisations of
 * W = I/(hγ) − ∂f/∂z (each over the whole batch), accepted implicit steps,
 * auto's switches between explicit and implicit, and the method of the
 * last accepted step (auto: NODEC_DOPRI5, NODEC_RODAS5P or NODEC_KVAERNO4). */
long nodec_get_num_jac_evals(const nodec_solver *s, int pass);
long nodec_get_num_lu(const nodec_solver *s, int pass);
long nodec_get_num_stiff_steps(const nodec_solver *s, int pass);
long nodec_get_num_switches(const nodec_solver *s, int pass);
nodec_method nodec_get_method_in_use(const nodec_solver *s, int pass);
/* The gradient mode nodec_loss_grad uses (see nodec_set_grad_mode). */
nodec_grad_mode nodec_get_grad_mode(const nodec_solver *s);

/* Heap bytes the handle holds now and at most since creation or the last
 * reset; every allocation of the runtime goes through one counting
 * allocator. */
size_t nodec_get_mem_current(const nodec_solver *s);
size_t nodec_get_mem_peak(const nodec_solver *s);
void nodec_reset_mem_peak(nodec_solver *s);

/* Errors. */
const char *nodec_error_name(int code);                     /* "NODEC_STEP_UNDERFLOW" */
const char *nodec_get_error_message(const nodec_solver *s); /* "" if none */

/* Names, for the command line.  -1 when unknown. */
int nodec_method_from_name(const char *name); /* "dopri5" */
const char *nodec_method_name(nodec_method method);
int nodec_grad_mode_from_name(const char *name); /* "adjoint" */
const char *nodec_grad_mode_name(nodec_grad_mode mode);

/* ---- optim.c: optimizers ------------------------------------------------
 *
 *     nodec_optim o;
 *     nodec_optim_init(&o, NODEC_OPT_ADAM, n, 1e-3);    // PyTorch defaults
 *     for (…) { grad = ∇L(θ); nodec_optim_step(&o, θ, grad); }
 *     nodec_optim_free(&o);
 *
 * The optimizers follow PyTorch's torch.optim update rules exactly (no
 * Nesterov, RMSprop neither centred nor with momentum; weight decay as
 * PyTorch's), so a run can be compared step by step with a PyTorch script.
 * Their whole state is `step` and the buffers m and v, which a saved
 * training state holds, so a resumed run continues bit for bit.  The
 * caller may change `lr` between steps (a schedule: nodec_lr_at) and clip
 * the gradient first (nodec_clip_grad_norm).
 */

typedef enum nodec_optim_kind {
    NODEC_OPT_SGD,     /* buf = μ·buf + g (buf = g at the first step); θ -= lr·buf */
    NODEC_OPT_ADAM,    /* Kingma & Ba, with bias correction, as torch.optim.Adam */
    NODEC_OPT_RMSPROP, /* v = α·v + (1-α)·g²; θ -= lr·g / (√v + ε) */
    NODEC_OPT_ADAMW    /* θ *= 1 - lr·wd, then Adam: torch.optim.AdamW */
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
    double weight_decay; /* adamw: decoupled (default 1e-2); the others: g + wd·θ,
                            PyTorch's weight_decay (default 0) */
} nodec_optim;

/* Sets the defaults above and allocates zeroed buffers.  Returns
 * NODEC_SUCCESS, NODEC_ILL_INPUT (n < 0, lr not positive and finite) or
 * NODEC_MEM_FAIL. */
int nodec_optim_init(nodec_optim *o, nodec_optim_kind kind, int n, double lr);
/* One update of θ (n values) along grad. */
void nodec_optim_step(nodec_optim *o, double *theta, const double *grad);
void nodec_optim_free(nodec_optim *o);
/* "sgd", "adam", "rmsprop", "adamw"; -1 when unknown. */
int nodec_optim_from_name(const char *name);
const char *nodec_optim_name(nodec_optim_kind kind);

/* torch.nn.utils.clip_grad_norm_: scales g (n values) by
 * max_norm / (‖g‖₂ + 1e-6) when that is below 1.  Returns ‖g‖₂ before. */
double nodec_clip_grad_norm(double *g, int n, double max_norm);

/* Learning-rate schedules, the closed forms of torch.optim.lr_scheduler's,
 * after an optional linear warm-up.  Update k = 1, 2, … uses
 *     lr·k/warmup                                     k ≤ warmup
 *     lr·sched(t), t = k − 1 − warmup                 after it
 * with sched(t) = 1 (constant), γ^⌊t/every⌋ (step), γ^t (exp), or for
 * cosine min_lr/lr + (1 − min_lr/lr)(1 + cos(π t/T))/2 with
 * T = total − warmup (min_lr once t ≥ T). */
typedef enum nodec_lr_kind { NODEC_LR_CONSTANT, NODEC_LR_STEP, NODEC_LR_EXP, NODEC_LR_COSINE } nodec_lr_kind;
typedef struct nodec_lr_schedule {
    nodec_lr_kind kind;
    long every;    /* step: updates between decays */
    double gamma;  /* step, exp: the factor */
    double min_lr; /* cosine: the last learning rate */
    long total;    /* cosine: updates in all, warm-up included */
    long warmup;   /* updates of linear warm-up; 0: none */
} nodec_lr_schedule;
/* The learning rate of update k (from 1) for base rate lr. */
double nodec_lr_at(const nodec_lr_schedule *s, double lr, long k);

/* L-BFGS with a strong-Wolfe line search: torch.optim.LBFGS(lr, history_size,
 * line_search_fn="strong_wolfe"), one of its inner iterations per call, on
 * a deterministic objective (the whole batch: the line search compares
 * losses of one function).  Running nodec_lbfgs_step until it returns 1 is
 * PyTorch's step(closure) with max_iter that large and no max_eval.
 *
 *     nodec_lbfgs o;
 *     nodec_lbfgs_init(&o, n, 1.0, 10);
 *     fn(ctx, θ, &f, g);                                // f and g at θ
 *     while (nodec_lbfgs_step(&o, θ, &f, g, fn, ctx) == 0) {}
 *     nodec_lbfgs_free(&o);
 *
 * The objective returns 0, or a nonzero code that the step passes on (θ
 * then as it was before the step). */
typedef int (*nodec_objective)(void *ctx, const double *theta, double *f, double *grad);

typedef struct nodec_lbfgs {
    int n, history;            /* parameters; pairs kept (PyTorch: 100; here 10) */
    double lr;                 /* the initial step length (1) */
    double tol_grad;           /* stop when max |g| ≤ this (1e-7) */
    double tol_change;         /* stop when a step or the change of f is below this (1e-9) */
    long n_iter;               /* inner iterations taken */
    long evals;                /* objective evaluations by the line search */
    int num_old;               /* pairs held */
    double t, h_diag;          /* the last step length; the initial inverse Hessian's scale */
    double prev_loss;          /* f where the last iteration started */
    double *d, *prev_g;        /* the last direction; g where it started */
    double *dirs, *stps;       /* history × n: y = Δg and s = Δθ, oldest first */
    double *ro, *al;           /* history: 1/(y·s); the two-loop recursion's α */
    double *x0, *gn, *gp, *bg; /* line-search scratch: θ, g at trial points, bracket (2n) */
    const char *stop;          /* why the last step returned 1 */
} nodec_lbfgs;

/* Allocates the history; NODEC_SUCCESS, NODEC_ILL_INPUT (n < 1, history < 1,
 * lr not positive and finite) or NODEC_MEM_FAIL. */
int nodec_lbfgs_init(nodec_lbfgs *o, int n, double lr, int history);
/* One iteration from θ with f = f(θ) and g = ∇f(θ) (n values): a direction
 * from the history, a strong-Wolfe line search along it, θ, f and g moved
 * to the point found.  Returns 0 to go on, 1 when converged (o->stop says
 * why: the gradient, the directional derivative, the step or the change of
 * f below its tolerance; θ may have moved), or the objective's code. */
int nodec_lbfgs_step(nodec_lbfgs *o, double *theta, double *f, double *g, nodec_objective fn, void *ctx);
void nodec_lbfgs_free(nodec_lbfgs *o);

#ifdef __cplusplus
}
#endif

#endif /* NODEC_H */
