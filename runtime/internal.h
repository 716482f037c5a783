/* internal.h — libnodec's one internal header, in sections by the file that
 * defines them (STYLE.md §1).  Internal names carry the prefixes of their
 * module: mem_, rk_, adj_; the handle's helpers are nodec__*.
 *
 * The modules call in one direction (docs/map.md; tests/layout checks it):
 *
 *   nodec.c (façade) → adjoint.c → solver.c → handle.c, mem.c
 *   optim.c stands alone.
 */
#ifndef NODEC_INTERNAL_H
#define NODEC_INTERNAL_H

#include <stddef.h>

#include "nodec.h"

/* ---- mem.c ---- */

/* Every byte the runtime allocates is counted on the handle's counter. */
typedef struct mem_counter {
    size_t cur, peak;
} mem_counter;

void *mem_alloc(mem_counter *mc, size_t bytes);   /* zeroed; NULL on failure */
void *mem_grow(mem_counter *mc, void *p, size_t old_bytes, size_t new_bytes);
void mem_free(mem_counter *mc, void *p, size_t bytes);

/* ---- handle.c ---- */

struct nodec_solver {
    const nodec_model *m;
    int B;
    /* options */
    nodec_method method;
    double rtol, atol, first_step, min_step, fixed_h;
    long max_steps, num_steps;
    int seminorm, ckpt_every;
    nodec_batch_mode batch;
    nodec_grad_mode grad;
    /* results */
    nodec_stats stats;
    int err;
    char msg[320];
    mem_counter mem;
    double *work; /* model->work_size doubles */
};

/* Records code and message on s; returns code. */
int nodec__fail(nodec_solver *s, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ---- solver.c ---- */

/* An explicit Runge–Kutta tableau with s stages k_0 … k_{s-1}.  FSAL
 * tableaus have a[s-1][·] = b and c[s-1] = 1: their last stage is f(t1, y1).
 * `order` is the exponent the controller uses (err ∝ h^order). */
typedef struct rk_tab {
    const char *name;
    int s, order, adaptive, fsal;
    const double *c, *a, *b; /* a: see RK_A */
    const double *e;         /* error weights (b − b̂), NULL if fixed-step */
    const double *mid;       /* weights of y(t0 + h/2), NULL if none */
    const double (*dense)[6];/* continuous extension, or NULL: rk_dense_coefs */
} rk_tab;

/* a is strictly lower and packed by rows: row i holds a[i][0..i-1]. */
#define RK_A(tb, i, j) ((tb)->a[(i) * ((i) - 1) / 2 + (j)])

const rk_tab *rk_tableau(nodec_method m);

/* An ODE system y' = F(t, y) of n doubles, as the integrator sees it.
 * The error norm is the max over groups of the RMS of the scaled error,
 * so a group left out is a seminorm (Kidger, Chen & Lyons 2021). */
typedef struct rk_ode rk_ode;
struct rk_ode {
    int n;
    int (*rhs)(rk_ode *o, double t, const double *y, double *dy);
    int ngroup;
    int goff[4], glen[4];
};

/* The integrator: one system, one tableau, state (t, y), proposed step h. */
typedef struct rk {
    nodec_solver *s;
    const rk_tab *tab;
    rk_ode *o;
    int adaptive;       /* error control on (0: every attempt accepted) */
    const char *pass;   /* "forward" / "backward", for messages */
    nodec_pass_stats *st;
    double t, h;        /* current time; next step (signed) */
    double tprev, hlast;/* the last accepted step went tprev → t, size hlast */
    double *y, *yprev;  /* state now and before the last accepted step */
    double *k;          /* s × n stages of the last attempt */
    double *ytmp, *ynew;
    int kstate;         /* 0: k_0 stale, 1: k_0 = F(t, y), 2: FSAL pending */
    long attempts;
} rk;

int rk_init(rk *r, nodec_solver *s, const rk_tab *tab, rk_ode *o,
            nodec_pass_stats *st, const char *pass);
void rk_release(rk *r);
/* Error ratio of err against y0, y1 (torchdiffeq's _compute_error_ratio). */
double rk_norm(const rk *r, const double *err, const double *y0,
               const double *y1);
/* Hairer's initial step from (r->t, r->y), toward direction dir = ±1. */
int rk_initial_step(rk *r, double dir, double *h);
/* One step attempt from r->t toward t_end, clipped so as not to pass it.
 * On acceptance (t, y) advance and the old ones move to (tprev, yprev);
 * the stages stay in r->k for dense output until the next attempt. */
int rk_attempt(rk *r, double t_end, int *accepted);
/* One step of exactly h to t1, accepted whatever its error (fixed grids and
 * replays of recorded steps).  Ys, if set, receives the stage inputs. */
int rk_take(rk *r, double h, double t1, double *Ys);
/* Make k_0 = F(t, y) valid (after the caller changed y or t). */
int rk_ensure_k0(rk *r);
/* Dense output of the last accepted step: weights w_j(x) and w_j'(x),
 * x ∈ [0, 1], so that y(tprev + x·h) = yprev + h Σ_j w_j(x) k_j
 * (dopri8: its own continuous extension; dopri5, tsit5: torchdiffeq's
 * quartic through y0, y1, y(1/2), f0, f1; bosh3: cubic Hermite). */
void rk_dense_weights(const rk_tab *tab, double x, double *w, double *dw);
/* The same as polynomial coefficients: w_j(x) = Σ_{m=1..6} W[j][m−1] x^m. */
void rk_dense_coefs(const rk_tab *tab, double (*W)[6]);
void rk_dense_eval(const rk *r, double x, double *out);
int rk_all_finite(const double *v, long n);
/* Fixed grid: number of equal steps for an interval of length len. */
long rk_grid_steps(double len, double h);

/* The forward problem of a model as an rk_ode. */
typedef struct fwd_ode {
    rk_ode o;
    nodec_solver *s;
    const double *theta;
    int B;
    nodec_pass_stats *st;
} fwd_ode;
int fwd_rhs(rk_ode *o, double t, const double *y, double *dy);
void fwd_ode_init(fwd_ode *fo, nodec_solver *s, const double *theta, int B,
                  nodec_pass_stats *st);

/* A forward solve of one (sub)batch; records steps for the gradient modes
 * through the optional hook, called after every accepted step. */
typedef struct fwd_hook {
    int (*step)(struct fwd_hook *hk, rk *r, int interval, long j, long m);
} fwd_hook;
int fwd_solve(nodec_solver *s, const double *theta, int B, const double *z0,
              int n_times, const double *t, double *z_out, fwd_hook *hook,
              nodec_pass_stats *st);
int fwd_is_fixed(const nodec_solver *s);
double fwd_fixed_h(const nodec_solver *s, int n_times, const double *t);

/* ---- adjoint.c ---- */

int adj_loss_grad(nodec_solver *s, const double *theta, int B,
                  const double *z0, int n_times, const double *t,
                  const double *obs, double scale, double *loss,
                  double *dtheta, double *dz0, double *dt, double *z_out);

#endif /* NODEC_INTERNAL_H */
