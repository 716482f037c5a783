/* nodec_model.h — the descriptor that connects compiled models to the runtime.
 *
 * Emitted C (nodec emit) and JIT code (nodec's LLVM backend) both fill a
 * `nodec_model`; the runtime only ever sees `const nodec_model *`.  Every
 * header nodec emits carries this same block under the same include guard,
 * so generated code needs nothing but <math.h>.  DESIGN.md §3.
 *
 * Layouts: a batch of B states is row-major, B × n_state; θ is one flat
 * vector of n_param doubles, parameters in declaration order, each
 * row-major.  `work` points to at least `work_size` doubles of scratch,
 * whatever B is; calls on different threads need different work buffers.
 * A function's outputs and work never overlap each other or its inputs
 * (the emitted code declares its pointers `restrict`); inputs may share.
 */
#ifndef NODEC_MODEL_H
#define NODEC_MODEL_H

#define NODEC_ABI_VERSION 3

typedef struct nodec_var {
    const char *name;
    int rank;   /* 0 scalar, 1 vector, 2 matrix */
    int dim[2]; /* dimensions; unused ones are 1 */
    int offset; /* first element in z (states) or θ (params) */
    int size;   /* dim[0] * dim[1] */
} nodec_var;

/* dzdt = f(z, θ, t) for B states. */
typedef void (*nodec_f_fn)(int B, double t, const double *z,
                           const double *theta, double *dzdt, double *work);
/* az = aᵀ∂f/∂z (B × n_state); atheta = Σ_b aᵀ∂f/∂θ (n_param);
 * at = Σ_b aᵀ∂f/∂t (one double).  The outputs are overwritten, not
 * accumulated; a NULL output is skipped. */
typedef void (*nodec_vjp_fn)(int B, double t, const double *z,
                             const double *theta, const double *a, double *az,
                             double *atheta, double *at, double *work);
/* out = ∂f/∂z · v for B states (v and out are B × n_state). */
typedef void (*nodec_jvp_fn)(int B, double t, const double *z,
                             const double *theta, const double *v, double *out,
                             double *work);
/* J = ∂f/∂z at one state, dense n_state × n_state, row-major. */
typedef void (*nodec_jac_fn)(double t, const double *z, const double *theta,
                             double *J, double *work);
/* Σ_b ℓ(pred_b, obs_b) over B rows of n_state values. */
typedef double (*nodec_loss_fn)(int B, const double *pred, const double *obs,
                                double *work);
/* grad = ∂ℓ/∂pred row by row (B × n_state); returns Σ_b ℓ like loss. */
typedef double (*nodec_loss_grad_fn)(int B, const double *pred,
                                     const double *obs, double *grad,
                                     double *work);
/* θ from the model's initializers; the same seed gives the same θ. */
typedef void (*nodec_init_fn)(double *theta, unsigned long long seed);
/* f and the VJP at the same point in one pass, sharing the forward values
 * (the adjoint's backward pass needs both); outputs as for f and vjp. */
typedef void (*nodec_f_vjp_fn)(int B, double t, const double *z,
                               const double *theta, const double *a,
                               double *dzdt, double *az, double *atheta,
                               double *at, double *work);

/* Models with inputs (`input u[2] = linear`, DESIGN.md §7) take one more
 * argument, u, right after z: for each of the B samples a row of
 * 3·n_input doubles, row b going with row b of z — the inputs' values at
 * t, then their first time derivatives, then their second (the last two
 * feed ∂f/∂t: the chain through u(t), and through ddt(u) where the model
 * uses it).  Otherwise these are the functions above. */
typedef void (*nodec_fu_fn)(int B, double t, const double *z, const double *u, const double *theta, double *dzdt,
                            double *work);
typedef void (*nodec_vjpu_fn)(int B, double t, const double *z, const double *u, const double *theta,
                              const double *a, double *az, double *atheta, double *at, double *work);
typedef void (*nodec_jvpu_fn)(int B, double t, const double *z, const double *u, const double *theta,
                              const double *v, double *out, double *work);
typedef void (*nodec_jacu_fn)(double t, const double *z, const double *u, const double *theta, double *J,
                              double *work);
typedef void (*nodec_f_vjpu_fn)(int B, double t, const double *z, const double *u, const double *theta,
                                const double *a, double *dzdt, double *az, double *atheta, double *at,
                                double *work);

/* How the runtime interpolates an input element between its rows. */
enum { NODEC_INTERP_LINEAR = 0, NODEC_INTERP_CUBIC = 1, NODEC_INTERP_HOLD = 2 };

typedef struct nodec_inputs {
    int n_input;                 /* doubles of one sample's inputs (its row of u holds 3·n_input) */
    int n_input_vars;
    const nodec_var *input_vars; /* offset: the first element among the n_input values */
    const signed char *interp;   /* per element (n_input): NODEC_INTERP_* */
    int uses_ddt;                /* 1 when some equation uses ddt(·) of an input */
    nodec_fu_fn f;
    nodec_vjpu_fn vjp;
    nodec_jvpu_fn jvp;
    nodec_jacu_fn jac_z;
    nodec_f_vjpu_fn f_vjp;       /* optional, as nodec_model.f_vjp */
} nodec_inputs;

typedef struct nodec_model {
    int abi_version;           /* NODEC_ABI_VERSION */
    const char *name;          /* model NAME */
    const char *source_hash;   /* FNV-1a 64 of the model source, hex */
    int n_state;               /* doubles per state */
    int n_param;               /* doubles in θ */
    int n_state_vars;
    const nodec_var *state_vars;
    int n_param_vars;
    const nodec_var *param_vars;
    int work_size;             /* doubles of scratch any function needs */
    int uses_t;                /* 1 when f depends on t */
    const double *z0;          /* default initial state, or NULL */
    nodec_f_fn f;
    nodec_vjp_fn vjp;
    nodec_jvp_fn jvp;
    nodec_jac_fn jac_z;
    nodec_loss_fn loss;
    nodec_loss_grad_fn loss_grad;
    nodec_init_fn init_params;
    nodec_f_vjp_fn f_vjp;      /* optional: NULL means call f, then vjp */
    const int *z0_from;        /* per element of z: the index in θ its initial value is (a state that
                                  starts from a param, `state x = x0`), else -1; NULL when none does */
    const signed char *noise;  /* per element of z: NODEC_NOISE_* (`noise e[2] = normal`: a constant
                                  drawn per trajectory, see nodec_draw_noise); NULL when none is */
    const nodec_inputs *inputs; /* NULL for models without inputs; else f, vjp, jvp, jac_z and f_vjp
                                   above are NULL, these are the model's, and uses_t is 1 */
} nodec_model;

/* What nodec_model.noise says of an element of z. */
enum { NODEC_NOISE_NONE = 0, NODEC_NOISE_NORMAL = 1, NODEC_NOISE_RADEMACHER = 2 };

#endif /* NODEC_MODEL_H */
