/* internal.h — libnodec's one internal header, in sections by the file that
 * defines them (STYLE.md §1).  Internal names carry the prefixes of their
 * module: mem_, la_, ros_, rk_, fwd_, adj_, inp_; the handle's helpers are
 * nodec__*.
 *
 * The modules call in one direction (docs/map.md; tests/layout checks it):
 *
 *   nodec.c (façade) → adjoint.c → solver.c → [esdirk.c →] rosenbrock.c →
 *                       linalg.c, handle.c, par.c, interp.c, mem.c
 *   (nodec.c → inputs.c → handle.c → par.c → interp.c → mem.c); optim.c
 *   stands alone.
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

void *mem_alloc(mem_counter *mc, size_t bytes); /* zeroed; NULL on failure */
void *mem_grow(mem_counter *mc, void *p, size_t old_bytes, size_t new_bytes);
void mem_free(mem_counter *mc, void *p, size_t bytes);

/* ---- linalg.c ---- */

/* A (n × n, row-major) = P·L·U in place, partial pivoting.  0, or k + 1
 * when column k has no nonzero finite pivot (A singular or not finite). */
int la_lu(int n, double *A, int *piv);
/* b = A⁻¹ b from la_lu's factors. */
void la_lu_solve(int n, const double *LU, const int *piv, double *b);

/* ---- handle.c ---- */

/* Counters of the implicit methods, per pass (nodec_get_num_jac_evals …).
 * Kept out of nodec_stats so that struct keeps its size (ABI). */
typedef struct nodec_xstats {
    long jac_evals;   /* ∂f/∂z evaluations (each over the whole batch) */
    long lu;          /* factorisations of W = I/(hγ) − J (whole batch) */
    long switches;    /* auto: changes between explicit and implicit */
    long stiff_steps; /* accepted steps of the implicit method */
    int method;       /* the method of the last accepted step */
    long krylov;      /* kvaerno4, GMRES path: linear solves (whole batch) */
    long krylov_mv;   /* … and their products W·v (each: one F of the batch) */
} nodec_xstats;

/* kvaerno4's linear solver for W = I/(hγ) − J (nodec_solver.linsolve;
 * esdirk.c): auto takes GMRES when n_state > ESD_KRYLOV_N (measured:
 * docs/runtime.md "The GMRES path"). */
enum { ESD_LINSOLVE_AUTO = 0, ESD_LINSOLVE_DENSE = 1, ESD_LINSOLVE_GMRES = 2, ESD_KRYLOV_N = 512 };

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
    int grad_set;       /* grad was set explicitly (else: by the method) */
    int linsolve;       /* ESD_LINSOLVE_*: kvaerno4's Newton solves (tests set it) */
    int jac_every_step; /* kvaerno4, dense: no J reuse across steps (tests set it, to compare) */
    /* results */
    nodec_stats stats;
    nodec_xstats xs[2]; /* NODEC_PASS_FORWARD, NODEC_PASS_BACKWARD */
    int err;
    char msg[640];
    mem_counter mem;
    double *work; /* model->work_size doubles */
    /* threads (par.c) */
    int threads;           /* asked for; 0: all cores */
    int chunk_rows;        /* rows a chunk at least; 0: par.c's rule (tests set it) */
    struct par_pool *pool; /* the workers, during a call that splits the batch */
    double *par_buf;       /* chunks 1 … nc−1: work, aθ, at each */
    size_t par_bytes;
    /* inputs (inputs.c, interp.c) */
    struct inp_set *in;  /* nodec_set_inputs's copy; NULL before it */
    int in_b0;           /* the trajectory of row 0 of the model's calls (independent batch mode: b) */
    double in_lo, in_hi; /* the current step's interval; lo = hi outside a step */
    int in_dir;          /* its direction, ±1 */
};

/* Records code and message on s; returns code. */
int nodec__fail(nodec_solver *s, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Appends to the recorded message (a hint after the fact). */
void nodec__append(nodec_solver *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* The name of element k of a model's variables, e.g. "W1[1,0]", or
 * whole[k] when no variable holds it. */
void nodec__var_name(const nodec_var *vars, int nvars, int k, const char *whole, char *buf, size_t n);
/* 1 for the methods that use ∂f/∂z (rodas4, rodas5p, auto, kvaerno4). */
int nodec__implicit(nodec_method m);

/* ---- solver.c, rosenbrock.c ---- */

/* An explicit Runge–Kutta tableau with s stages k_0 … k_{s-1}.  FSAL
 * tableaus have a[s-1][·] = b and c[s-1] = 1: their last stage is f(t1, y1).
 * `order` is the exponent the controller uses (err ∝ h^order). */
typedef struct ros_tab ros_tab;
typedef struct esd_tab {
    double gamma; /* the diagonal of A */
} esd_tab;
typedef struct rk_tab {
    const char *name;
    int s, order, adaptive, fsal;
    const double *c, *a, *b;  /* a: see RK_A */
    const double *e;          /* error weights (b − b̂), NULL if fixed-step */
    const double *mid;        /* weights of y(t0 + h/2), NULL if none */
    const double (*dense)[6]; /* continuous extension, or NULL: rk_dense_coefs */
    /* A Rosenbrock method (rosenbrock.c), or NULL.  Then c, a, b, e are
     * unused and the rows of rk.k are F(t, y) and the stages U_1 … U_{s−1}. */
    const ros_tab *ros;
    /* An ESDIRK method (esdirk.c), or NULL.  Then c, a (the strictly lower
     * part; the diagonal is esd's γ), b, e are its tableau and the rows of
     * rk.k its stage derivatives, as an explicit FSAL tableau's. */
    const esd_tab *esd;
} rk_tab;

/* The tableau uses ∂F/∂y (a Rosenbrock or an ESDIRK method). */
#define RK_IMPLICIT(tb) ((tb)->ros != NULL || (tb)->esd != NULL)

/* a is strictly lower and packed by rows: row i holds a[i][0..i-1]. */
#define RK_A(tb, i, j) ((tb)->a[(i) * ((i)-1) / 2 + (j)])

/* The tableau a method starts with (auto: dopri5). */
const rk_tab *rk_tableau(nodec_method m);

/* An ODE system y' = F(t, y) of n doubles, as the integrator sees it.
 * The error norm is the max over groups of the RMS of the scaled error,
 * so a group left out is a seminorm (Kidger, Chen & Lyons 2021).
 *
 * For the implicit methods: ∂F/∂y is block diagonal on the first nblk·blk
 * components (one blk × blk block per trajectory), which jac evaluates;
 * the other components are quadratures, whose F depends on the blocks'
 * components only (the adjoint's aθ and at), and jvq gives their rows of
 * ∂F/∂y times a vector.  jvp, when set, gives the blocks' rows of ∂F/∂y
 * times a vector exactly (the model's JVP forward, its VJP in the
 * adjoint): kvaerno4's Newton–Krylov path uses it, and a difference
 * quotient of rhs without it.  F is autonomous when it does not depend
 * on t. */
typedef struct rk_ode rk_ode;
struct rk_ode {
    int n;
    int (*rhs)(rk_ode *o, double t, const double *y, double *dy);
    int ngroup;
    int goff[4], glen[4];
    int nblk, blk, autonomous;
    int (*jac)(rk_ode *o, double t, const double *y, double *J);
    int (*jvq)(rk_ode *o, double t, const double *y, const double *v, double *out);
    int (*jvp)(rk_ode *o, double t, const double *y, const double *v, double *out); /* nblk·blk of v, out */
};

/* The integrator: one system, one tableau, state (t, y), proposed step h. */
typedef struct rk {
    nodec_solver *s;
    const rk_tab *tab;
    rk_ode *o;
    int adaptive;     /* error control on (0: every attempt accepted) */
    const char *pass; /* "forward" / "backward", for messages */
    nodec_pass_stats *st;
    double t, h;         /* current time; next step (signed) */
    double tprev, hlast; /* the last accepted step went tprev → t, size hlast */
    double *y, *yprev;   /* state now and before the last accepted step */
    double *k;           /* s × n stages of the last attempt */
    double *ytmp, *ynew;
    int kstate; /* 0: k_0 stale, 1: k_0 = F(t, y), 2: FSAL pending */
    long attempts;
    size_t bytes; /* of the block at k */
    nodec_xstats *xs;
    /* implicit methods (rosenbrock.c) */
    const rk_tab *expl, *stiff; /* auto: the two methods; else NULL */
    const rk_tab *next;         /* auto: the method of the next attempt, or NULL */
    int autoswitch;             /* auto: this integrator detects stiffness */
    int nstiff, nnonstiff;      /* auto: readings in a row (Hairer's counters) */
    double *J, *LU;             /* nblk blocks of blk × blk: ∂F/∂y at (t, y); W's LU */
    int *piv;
    double *ft;                    /* ∂F/∂t at (t, y), when not autonomous */
    double *yd;                    /* the dense output's error estimate */
    int dense_check;               /* implicit, adaptive: control the dense output too */
    int jok;                       /* J and ft are those at (t, y) */
    double wfac;                   /* 1/(hγ) of the factored W; 0: none */
    int nsing, sing_blk, sing_col; /* singular W: count in a row, where */
    double eta;                    /* ESDIRK: the Newton iteration's last η */
    /* ESDIRK, dense path: J reused across accepted steps (esdirk.c).  jok
     * says J is at (t, y); jkeep that a J from an earlier step may serve */
    int jkeep, jage;     /* … and jage: the steps accepted since it was evaluated */
    double thmax;        /* the slowest Newton rate θ of the last attempt */
    struct esd_kry *kry; /* ESDIRK, GMRES path: its workspace; then J, LU are NULL */
} rk;

/* Allocates the stages and buffers of tab (with s->method auto: of both
 * of auto's methods; switching is on when the caller sets autoswitch). */
int rk_init(rk *r, nodec_solver *s, const rk_tab *tab, rk_ode *o, nodec_pass_stats *st, const char *pass);
void rk_release(rk *r);
/* Continue with another tableau (auto; replays of auto's steps). */
void rk_use(rk *r, const rk_tab *tab);
/* The caller changed y or t: k_0, ∂F/∂y and ∂F/∂t are stale. */
void rk_restart(rk *r);
/* Error ratio of err against y0, y1 (torchdiffeq's _compute_error_ratio;
 * y1 NULL: y0 alone).  linalg.c, with rk_combine and rk_all_finite: the
 * vector kernels every integrator (solver.c, esdirk.c, rosenbrock.c) uses. */
double rk_norm(const rk *r, const double *err, const double *y0, const double *y1);
/* out = y + h Σ_{j<m} w[j] k_j over n components (y NULL: 0). */
void rk_combine(double *out, const double *y, double h, const double *w, const double *k, int m, int n);
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
 * quartic through y0, y1, y(1/2), f0, f1; bosh3: cubic Hermite;
 * Rosenbrock methods: their own, and without the factor h, as their
 * stages U_j are increments). */
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
/* J (B blocks of n_state × n_state) = ∂f/∂z at each trajectory. */
void fwd_jac_z(nodec_solver *s, const double *theta, int B, double t, const double *z, double *J);
void fwd_ode_init(fwd_ode *fo, nodec_solver *s, const double *theta, int B, nodec_pass_stats *st);

/* A forward solve of one (sub)batch; records steps for the gradient modes
 * through the optional hook, called after every accepted step. */
typedef struct fwd_hook {
    int (*step)(struct fwd_hook *hk, rk *r, int interval, long j, long m);
} fwd_hook;
int fwd_solve(nodec_solver *s, const double *theta, int B, const double *z0, int n_times, const double *t,
              double *z_out, fwd_hook *hook, nodec_pass_stats *st);
int fwd_is_fixed(const nodec_solver *s);
double fwd_fixed_h(const nodec_solver *s, int n_times, const double *t);

/* rosenbrock.c: the stages of one step of a Rosenbrock method from
 * (r->t, r->y) with k_0 = F(t, y) valid: r->ynew gets y1, r->ytmp the error
 * estimate.  Returns NODEC_SUCCESS, a failure, or ROS_SINGULAR when W is
 * singular (r->sing_blk, sing_col say where; no failure recorded yet). */
enum { ROS_SINGULAR = 1, ESD_NEWTON = 2 };
int ros_stages(rk *r, double h, double t1);
/* LU of W = fac·I − J_b for every block (r->LU, r->piv); ROS_SINGULAR. */
int ros_factor(rk *r, double fac);
int ros_singular_fail(rk *r, double h);
/* After ros_stages: r->yd = an estimate of the dense output's error at
 * the step's midpoint (its residual filtered through W⁻¹); uses r->yprev
 * as scratch.  Only for systems without quadratures. */
int ros_dense_error(rk *r, double h);
/* w_j(x) = Σ_m W[j][m−1] x^m for the rows 0 … s−1 of rk.k (row 0: 0). */
void ros_dense_coefs(const ros_tab *rt, double (*W)[6]);
/* max over blocks of ‖J_b‖∞ ≥ the spectral radius of ∂F/∂y. */
double ros_jac_norm(const rk *r);
extern const ros_tab ros_rodas4, ros_rodas5p;

/* esdirk.c: the stages of one ESDIRK step from (r->t, r->y) with k_0 =
 * F(t, y) valid: r->ynew gets y1, r->ytmp the error estimate (adaptive).
 * NODEC_SUCCESS, a failure, ROS_SINGULAR (W singular) or ESD_NEWTON (the
 * Newton iteration of a stage did not converge; nothing recorded). */
int esd_stages(rk *r, double h, double t1);
/* kvaerno4 solves with GMRES (no J, no LU) on system o: n_state >
 * ESD_KRYLOV_N, or s->linsolve says so.  rk_init asks. */
int esd_krylov(const nodec_solver *s, const rk_ode *o);
/* The GMRES path's workspace, allocated once per integrator (rk_init,
 * rk_release); esd_init does nothing on the dense path. */
int esd_init(rk *r);
void esd_release(rk *r);
/* On the GMRES path: d = (fac I − J̃)⁻¹ d, J̃·v = r->o->jvp at (r->t,
 * r->y), to a residual of rel times d's RMS (direct mode's transposed
 * stage solves). */
int esd_krylov_solve(rk *r, double fac, double *d, double rel);
/* After an accepted step: may its J serve the next one (r->jkeep)? */
void esd_accepted(rk *r);
/* The next step hn proposed after accepting h: h itself when J is kept
 * and |hn/h| ∈ [1, ESD_HOLD] (W's LU then serves too, as radau5 does). */
double esd_next_step(const rk *r, double h, double hn);
int esd_newton_fail(rk *r, double h);
/* After esd_stages: r->yd = an estimate of the dense output's error at the
 * step's midpoint, as ros_dense_error (r->yprev is scratch).  Only for
 * systems without quadratures. */
int esd_dense_error(rk *r, double h);
extern const rk_tab esd_kvaerno4;

/* ---- interp.c: the inputs' interpolants ---- */

/* nodec_set_inputs's copy of the inputs (one block of `bytes`): per
 * trajectory b and element e the knots, the rows where e has a value. */
typedef struct inp_set {
    int B, n;           /* trajectories; doubles of one sample's inputs (n_input) */
    int jumps;          /* f may jump at a breakpoint: a hold element, or ddt(·) used */
    int *cnt;           /* B × n: knots of element e in trajectory b */
    long *off;          /* B × n: its first knot in x, y, m2 */
    double *x, *y, *m2; /* knots: times, values; the natural spline's u″ (cubic) */
    double *t0, *t1;    /* B: the times of the trajectory's first and last rows */
    double *brk;        /* breakpoints, increasing: trajectory b's at boff[b] … boff[b+1]−1, */
    long *boff;         /* all B's (the union) at boff[B] … boff[B+1]−1 */
    double *u;          /* B rows of 3n: the u argument of a call */
    size_t bytes;
} inp_set;

/* The piece an evaluation uses: the step from t0 to t1 (t0 = t1: none;
 * then ties go in direction dir).  docs/runtime.md "Inputs". */
void inp_span(nodec_solver *s, double t0, double t1, int dir);
/* Rows b0 … b1−1 of s->in->u at t: trajectory s->in_b0 + b's values,
 * u′ and u″, on the piece the span chooses. */
void inp_eval(const nodec_solver *s, int b0, int b1, double t);
/* The first breakpoint beyond t in direction dir by more than roundoff;
 * 0 when none.  The breakpoints are those of all trajectories, or in the
 * independent batch mode trajectory s->in_b0's. */
int inp_next_break(const nodec_solver *s, double t, int dir, double *tb);
/* 1 when t is a breakpoint. */
int inp_is_break(const nodec_solver *s, double t);
void inp_free(nodec_solver *s);

/* ---- inputs.c ---- */

/* Trajectory b's solve over t (n_times, monotonic) lies within its rows;
 * NODEC_ILL_INPUT otherwise (message set). */
int inp_check_range(nodec_solver *s, int n_times, const double *t);

/* ---- par.c: the batch split across threads ---- */

enum { PAR_ROWS = 64, NODEC_MAX_THREADS = 1024 };
typedef struct par_pool par_pool;
/* Threads a call may use: s->threads, or the cores online for 0. */
int par_threads(const nodec_solver *s);
/* Chunks a call on B states is cut into (1: not cut); B and the model
 * decide, never the thread count. */
int par_chunks(const nodec_solver *s, int B);
/* Around one entry point: the chunks' buffers (kept on the handle) and the
 * workers (joined by par_end).  NODEC_MEM_FAIL when the buffers do not fit;
 * a worker that does not start is one fewer. */
int par_begin(nodec_solver *s);
void par_end(nodec_solver *s);
void par_release(nodec_solver *s); /* nodec_free: par_end and the buffers */
/* The model's functions on B states, split into chunks when B allows:
 * outputs as nodec_model.h says, the same bits for any thread count.
 * par_vjp with dzdt set is f_vjp (or f, then vjp, without one). */
void par_f(nodec_solver *s, int B, double t, const double *z, const double *theta, double *dzdt);
void par_vjp(nodec_solver *s, int B, double t, const double *z, const double *theta, const double *a, double *dzdt,
             double *az, double *atheta, double *at);
/* out = ∂f/∂z · v at each state (v, out: B × n_state), the model's jvp;
 * the caller checks there is one (m->jvp, or m->inputs->jvp). */
void par_jvp(nodec_solver *s, int B, double t, const double *z, const double *theta, const double *v, double *out);
/* J (B blocks of n_state × n_state) = ∂f/∂z at each state. */
void par_jac_z(nodec_solver *s, const double *theta, int B, double t, const double *z, double *J);

/* ---- adjoint.c ---- */

int adj_loss_grad(nodec_solver *s, const double *theta, int B, const double *z0, int n_times, const double *t,
                  const double *obs, double scale, double *loss, double *dtheta, double *dz0, double *dt,
                  double *z_out);

#endif /* NODEC_INTERNAL_H */
