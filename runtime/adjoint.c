/* adjoint.c — the loss and its gradients in three modes.  DESIGN.md §1, §4.
 *
 * L = scale · Σ_i ℓ(z(t_i), y_i), scale = 1/(n_times·B); g_i = ∂L/∂z(t_i).
 * Conventions (docs/runtime.md): a(t) = ∂L/∂z(t); the time adjoint is
 * carried as at = −aᵀf, torchdiffeq's sign, so that dL/dt_0 = at(t_0):
 *
 *   da/dt = −aᵀ∂f/∂z,  daθ/dt = −aᵀ∂f/∂θ,  dat/dt = −aᵀ∂f/∂t   (t_N → t_0)
 *   at t_i (i ≥ 1): dL/dt_i = g_iᵀ f(z(t_i), t_i)   (= aᵀf after − before
 *                    the jump), at −= dL/dt_i, a += g_i
 *   dL/dθ = aθ(t_0),  dL/dz0 = a(t_0) + g_0,  dL/dt_0 = at(t_0).
 *
 * adjoint     Backsolve (Chen et al. 2018, app. B): [z, a, aθ, at] from t_N
 *             to t_0, z reset to the stored z(t_i) at each observation; the
 *             step size carries over observation times.  The error norm is
 *             max(RMS z, RMS a) — a seminorm leaving out aθ and at (Kidger,
 *             Chen & Lyons 2021) — or also RMS aθ, RMS at when switched off.
 *             Memory O(n_times), none per step.
 * checkpoint  The forward pass records each accepted step's (t0, t1, h) and
 *             the state every k-th step.  Backward, each segment of k steps is
 *             replayed bit for bit from its checkpoint, its dense output kept,
 *             and [a, aθ, at] integrated backward against it, one forward step
 *             at a time: no reverse-solve error.  Memory O(steps) scalars +
 *             O(steps/k + k) states.  The default for the implicit
 *             methods (and the only mode but kvaerno4's direct): the
 *             adjoint a' = −Jᵀa is as stiff as the
 *             forward problem, and is solved with the same implicit method
 *             (its Jacobian is −Jᵀ at the interpolated z(t); aθ and at are
 *             quadratures); under auto each forward step's method is recorded
 *             and the adjoint uses it on that step.
 * direct      Reverse-mode through the forward's discrete steps (and its
 *             dense output), the step sizes the controller chose held
 *             constant — as torchdiffeq's direct backprop, where error ratios
 *             are computed without gradient.  Stages are recomputed from each
 *             step's stored start state.  What depends on the times: fixed
 *             grids split [t_i, t_i+1] in m steps of (t_i+1 − t_i)/m; adaptive
 *             steps start at t_0 + Σ h and the last one ends at t_N.  Memory
 *             O(steps).  Exact for the discrete map: the reference.  Also
 *             through kvaerno4's implicit stages, each differentiated
 *             exactly at its own J (esd_stage_solve; on the GMRES path
 *             by GMRES on VJPs); not through a Rosenbrock step, whose
 *             stages use J itself (that needs ∂J).
 *
 * Tapes (checkpoint, direct) grow geometrically; the integrators' step
 * loops never allocate.
 */
#include <math.h>
#include <string.h>

#include "internal.h"

typedef struct ctx {
    nodec_solver *s;
    const nodec_model *m;
    const double *theta, *t, *obs, *z0;
    int B, N, P; /* N: index of the last time */
    long nz;
    double scale, *loss;
    double *zobs, *g, *fbuf, *dt;
    int want_dt; /* the caller asked for dL/dt_i: jumps evaluate f */
} ctx;

static double dot(const double *a, const double *b, long n) {
    double acc = 0;
    for (long i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

static int oom(nodec_solver *s) { return nodec__fail(s, NODEC_MEM_FAIL, "out of memory"); }

/* Doubles the capacity of *p (elements of `elem` bytes) until it holds need. */
static int grow(nodec_solver *s, void **p, long *cap, long need, size_t elem) {
    long nc = *cap ? *cap : 64;
    void *q;
    if (need <= *cap) return NODEC_SUCCESS;
    while (nc < need) nc *= 2;
    q = mem_grow(&s->mem, *p, (size_t)*cap * elem, (size_t)nc * elem);
    if (!q) return oom(s);
    *p = q;
    *cap = nc;
    return NODEC_SUCCESS;
}

/* L and g_i = scale·∂ℓ/∂z(t_i) for every observation. */
static int losses(ctx *c) {
    double scale = c->scale, *L = c->loss;
    *L = 0;
    for (int i = 0; i <= c->N; i++) {
        double *gi = c->g + (long)i * c->nz;
        double li = c->m->loss_grad(c->B, c->zobs + (long)i * c->nz, c->obs + (long)i * c->nz, gi, c->s->work);
        if (!isfinite(li))
            return nodec__fail(c->s, NODEC_NONFINITE,
                               "the loss is not finite at t = %.6g (t[%d]): "
                               "check the observations for NaN/Inf",
                               c->t[i], i);
        *L += li;
        for (long p = 0; p < c->nz; p++) gi[p] *= scale;
    }
    *L *= scale;
    return NODEC_SUCCESS;
}

/* The jump at observation i of the adjoint a and the time adjoint *at. */
static void jump(ctx *c, int i, double *a, double *at, nodec_pass_stats *st) {
    const double *gi = c->g + (long)i * c->nz;
    if (i >= 1 && c->want_dt) { /* dL/dt_i = g_i·f(z(t_i)): only when asked */
        /* inputs: f(t_i⁻), as the direct mode's */
        inp_span(c->s, c->t[i], c->t[i], -1);
        par_f(c->s, c->B, c->t[i], c->zobs + (long)i * c->nz, c->theta, c->fbuf);
        st->f_evals++;
        c->dt[i] = dot(gi, c->fbuf, c->nz);
        *at -= c->dt[i];
    }
    for (long p = 0; p < c->nz; p++) a[p] += gi[p];
}

/* Crossing an inputs' breakpoint τ backwards, where f may jump (hold,
 * ddt(u)): at = −aᵀf holds along the exact solution (between the jumps
 * above), so at gains −aᵀ(f(τ⁻) − f(τ⁺)), the Dirac of ∂f/∂t that the
 * quadrature between the pieces cannot see.  Only where dL/dt is asked
 * and f can jump; two f.  Not at t_0: dL/dt_0 is f's on the first step's
 * piece, as the direct mode's. */
static void break_jump(ctx *c, double tau, const double *z, const double *a, double *at, nodec_pass_stats *st) {
    double fa[2];
    if (!c->want_dt || !c->s->in || !c->s->in->jumps || tau == c->t[0] || !inp_is_break(c->s, tau)) return;
    for (int side = 0; side < 2; side++) {
        inp_span(c->s, tau, tau, side ? 1 : -1);
        par_f(c->s, c->B, tau, z, c->theta, c->fbuf);
        st->f_evals++;
        fa[side] = dot(a, c->fbuf, c->nz);
    }
    *at -= fa[0] - fa[1];
}

/* ---- adjoint: backsolve of the augmented system ---- */

typedef struct aug_ode {
    rk_ode o;
    ctx *c;
} aug_ode;

static int aug_rhs(rk_ode *o, double t, const double *y, double *dy) {
    ctx *c = ((aug_ode *)o)->c;
    long nz = c->nz;
    /* f_vjp when the model has one: the forward values are shared */
    par_vjp(c->s, c->B, t, y, c->theta, y + nz, dy, dy + nz, dy + 2 * nz, dy + 2 * nz + c->P);
    c->s->stats.backward.f_evals++;
    c->s->stats.backward.vjp_evals++;
    for (long p = nz; p < o->n; p++) dy[p] = -dy[p];
    return NODEC_SUCCESS;
}

static void set_groups(rk_ode *o, nodec_solver *s, int nstate_groups, long nz, int P) {
    o->ngroup = 0;
    for (int g = 0; g < nstate_groups; g++) {
        o->goff[o->ngroup] = (int)(g * nz);
        o->glen[o->ngroup++] = (int)nz;
    }
    if (!s->seminorm) {
        o->goff[o->ngroup] = (int)(nstate_groups * nz);
        o->glen[o->ngroup++] = P;
        o->goff[o->ngroup] = (int)(nstate_groups * nz + P);
        o->glen[o->ngroup++] = 1;
    }
}

static int backsolve(ctx *c, double *dtheta, double *dz0) {
    nodec_solver *s = c->s;
    long nz = c->nz;
    int P = c->P, N = c->N, rc = 0, fixed = fwd_is_fixed(s);
    double H = fwd_fixed_h(s, N + 1, c->t);
    aug_ode ao = {{0}, c};
    rk r;

    ao.o.n = (int)(2 * nz + P + 1);
    ao.o.rhs = aug_rhs;
    set_groups(&ao.o, s, 2, nz, P);
    if ((rc = rk_init(&r, s, rk_tableau(s->method), &ao.o, &s->stats.backward, "backward"))) return rc;
    memset(r.y, 0, ao.o.n * sizeof(double));
    memcpy(r.y, c->zobs + N * nz, nz * sizeof(double));
    c->dt[N] = 0;
    jump(c, N, r.y + nz, r.y + 2 * nz + P, &s->stats.backward);
    r.t = c->t[N];
    if (fixed)
        r.adaptive = 0;
    else if (s->first_step > 0)
        r.h = -s->first_step;
    else
        rc = rk_initial_step(&r, -1, &r.h);
    for (int i = N - 1; i >= 0 && rc == 0; i--) {
        if (fixed) {
            long m = rk_grid_steps(c->t[i + 1] - c->t[i], H);
            double hs = (c->t[i + 1] - c->t[i]) / m;
            for (long j = 0; j < m && rc == 0; j++) {
                r.t = c->t[i + 1] - j * hs;
                rc = rk_take(&r, -hs, j == m - 1 ? c->t[i] : c->t[i + 1] - (j + 1) * hs, NULL);
            }
        } else {
            int acc;
            while (rc == 0 && r.t > c->t[i])
                if ((rc = rk_attempt(&r, c->t[i], &acc)) == 0 && acc)
                    break_jump(c, r.t, r.y, r.y + nz, r.y + 2 * nz + P, &s->stats.backward);
        }
        if (rc) break;
        /* Reset z to the forward's value: no drift from the reverse solve. */
        memcpy(r.y, c->zobs + (long)i * nz, nz * sizeof(double));
        jump(c, i, r.y + nz, r.y + 2 * nz + P, &s->stats.backward);
        rk_restart(&r);
    }
    if (rc == NODEC_STEP_UNDERFLOW || rc == NODEC_TOO_MUCH_WORK)
        nodec__append(s, ". The backsolve (gradient mode adjoint) runs z "
                         "backwards in time, which fails when the problem is "
                         "stiff, and this one looks stiff: use mode checkpoint "
                         "(--mode checkpoint), with an implicit method (--method "
                         "auto or rodas5p) if the forward pass is slow too");
    if (rc == 0) {
        if (dz0) memcpy(dz0, r.y + nz, nz * sizeof(double));
        if (dtheta) memcpy(dtheta, r.y + 2 * nz, P * sizeof(double));
        c->dt[0] = r.y[2 * nz + P];
    }
    rk_release(&r);
    return rc;
}

/* ---- the tape of accepted forward steps (checkpoint and direct) ---- */

typedef struct tape {
    fwd_hook hk;
    ctx *c;
    int every;     /* store the state every `every` steps */
    long n, cap;   /* steps */
    double *step;  /* 3 per step: t0, t1, h */
    long *grid;    /* 3 per step: interval, j, m (fixed grids) */
    long ns, scap; /* stored states */
    double *y;
    long mcap; /* auto: the method of each step (1: implicit) */
    unsigned char *meth;
} tape;

static int tape_step(fwd_hook *hk, rk *r, int interval, long j, long m) {
    tape *tp = (tape *)hk;
    nodec_solver *s = tp->c->s;
    long k = tp->n, nz = tp->c->nz, cap = tp->cap;
    int rc;
    if ((rc = grow(s, (void **)&tp->step, &cap, k + 1, 3 * sizeof(double)))) return rc;
    cap = tp->cap;
    if ((rc = grow(s, (void **)&tp->grid, &cap, k + 1, 3 * sizeof(long)))) return rc;
    tp->cap = cap;
    tp->step[3 * k] = r->tprev;
    tp->step[3 * k + 1] = r->t;
    tp->step[3 * k + 2] = r->hlast;
    tp->grid[3 * k] = interval;
    tp->grid[3 * k + 1] = j;
    tp->grid[3 * k + 2] = m;
    if (s->method == NODEC_AUTO) {
        if ((rc = grow(s, (void **)&tp->meth, &tp->mcap, k + 1, 1))) return rc;
        tp->meth[k] = RK_IMPLICIT(r->tab);
    }
    if (k % tp->every == 0) {
        if ((rc = grow(s, (void **)&tp->y, &tp->scap, tp->ns + 1, nz * sizeof(double)))) return rc;
        memcpy(tp->y + tp->ns * nz, r->yprev, nz * sizeof(double));
        tp->ns++;
    }
    tp->n++;
    return NODEC_SUCCESS;
}

static void tape_free(tape *tp) {
    mem_counter *mc = &tp->c->s->mem;
    mem_free(mc, tp->step, (size_t)tp->cap * 3 * sizeof(double));
    mem_free(mc, tp->grid, (size_t)tp->cap * 3 * sizeof(long));
    mem_free(mc, tp->y, (size_t)tp->scap * tp->c->nz * sizeof(double));
    mem_free(mc, tp->meth, (size_t)tp->mcap);
}

/* The tableau of recorded step k for integrator r (auto: as recorded). */
static const rk_tab *tape_tab(const tape *tp, const rk *r, long k) {
    if (!tp->meth) return r->tab;
    return tp->meth[k] ? r->stiff : r->expl;
}

/* ---- checkpoint: adjoint against the replayed forward's dense output ---- */

enum { NCOEF = 7 }; /* y0 and C1..C6 per step */

typedef struct cadj_ode {
    rk_ode o;
    ctx *c;
    const double *seg;  /* the segment's pieces: y0, C1..C6 (7 × nz) each */
    const double *step; /* the tape's t0, t1, h of each step */
    long first;         /* the step of the segment's piece 0 */
    long lo, hi, cur;   /* the pieces z(t) may use; the last one used */
    double *z;          /* scratch: z(t) */
    double *fz, *K;     /* scratch: f(z(t)); B invariants, then B scratch */
    int proj, kset;     /* cadj_project on; K is set (since the last jump) */
    double *w, *a;      /* the integrator's y holds a/w (cadj_scale); scratch a */
} cadj_ode;

/* z(t) from the piece of [lo, hi] whose step contains t (linear search
 * from the last piece used; the current piece on ties, and the end pieces
 * extrapolate).  z(t) is continuous across the pieces, not smooth. */
static void dense_z(cadj_ode *co, double t, double *z) {
    long nz = co->c->nz, k;
    const double *st = co->step + 3 * co->first, *C;
    double x;
    while (co->cur > co->lo && t < st[3 * co->cur]) co->cur--;
    while (co->cur < co->hi && t > st[3 * co->cur + 1]) co->cur++;
    k = co->cur;
    x = (t - st[3 * k]) / st[3 * k + 2];
    C = co->seg + k * NCOEF * nz;
    for (long p = 0; p < nz; p++) {
        double v = 0;
        for (int q = NCOEF - 1; q >= 1; q--) v = v * x + C[q * nz + p];
        z[p] = C[p] + x * v;
    }
}

/* How far back a step from t may reach: the backward step controller
 * sees z(t) only at its stages, so a step over a layer that the forward
 * resolved in many small steps can miss it entirely (the quadratures of
 * −aᵀ∂f/∂θ along a fast transient of z: lin2's gradient was off by 3e-3
 * with 64 steps a segment and no bound).  A step may span no more than
 * CADJ_RHO times the smallest forward step it covers, and always t's own
 * piece; the bound is a target for rk_attempt, which keeps a larger
 * proposal for the step after. */
enum { CADJ_RHO = 2 };
static double cadj_reach(const cadj_ode *co, double t, double stop) {
    const double *st = co->step + 3 * co->first;
    long k = co->cur;
    double hmin = HUGE_VAL;
    while (k > co->lo && t <= st[3 * k]) k--;
    while (k < co->hi && t > st[3 * k + 1]) k++;
    for (; k >= co->lo; k--) {
        double lim;
        hmin = fmin(hmin, st[3 * k + 2]);
        lim = t - CADJ_RHO * hmin;
        if (lim >= st[3 * k] || k == co->lo) return fmax(stop, fmax(lim, st[3 * k]));
    }
    return stop;
}

/* a = w ⊙ y over the adjoint's components (cadj_scale). */
static const double *cadj_a(cadj_ode *co, const double *y) {
    for (long p = 0; p < co->c->nz; p++) co->a[p] = co->w[p] * y[p];
    return co->a;
}

static int cadj_rhs(rk_ode *o, double t, const double *y, double *dy) {
    cadj_ode *co = (cadj_ode *)o;
    ctx *c = co->c;
    long nz = c->nz;
    dense_z(co, t, co->z);
    par_vjp(c->s, c->B, t, co->z, c->theta, cadj_a(co, y), NULL, dy, dy + nz, dy + nz + c->P);
    c->s->stats.backward.vjp_evals++;
    for (long p = 0; p < nz; p++) dy[p] = -dy[p] / co->w[p];
    for (long p = nz; p < o->n; p++) dy[p] = -dy[p];
    return NODEC_SUCCESS;
}

/* ∂F/∂a = −Jᵀ per trajectory, J = ∂f/∂z at the interpolated z(t); in
 * the scaled y = a/w, −diag(w)⁻¹ Jᵀ diag(w). */
static int cadj_jac(rk_ode *o, double t, const double *y, double *J) {
    cadj_ode *co = (cadj_ode *)o;
    ctx *c = co->c;
    int n = c->m->n_state;
    (void)y;
    dense_z(co, t, co->z);
    fwd_jac_z(c->s, c->theta, c->B, t, co->z, J);
    for (int b = 0; b < c->B; b++) {
        double *Jb = J + (long)b * n * n;
        const double *wb = co->w + (long)b * n;
        for (int i = 0; i < n; i++) {
            Jb[(long)i * n + i] = -Jb[(long)i * n + i];
            for (int j = i + 1; j < n; j++) {
                double u = Jb[(long)i * n + j];
                Jb[(long)i * n + j] = -Jb[(long)j * n + i] * wb[j] / wb[i];
                Jb[(long)j * n + i] = -u * wb[i] / wb[j];
            }
        }
    }
    return NODEC_SUCCESS;
}

/* The quadratures' rows of ∂F/∂y times v: aθ' = −aᵀ∂f/∂θ and at' = −aᵀ∂f/∂t
 * are linear in a, so their derivative along v is the same VJP with v. */
static int cadj_jvq(rk_ode *o, double t, const double *y, const double *v, double *out) {
    cadj_ode *co = (cadj_ode *)o;
    ctx *c = co->c;
    (void)y;
    dense_z(co, t, co->z);
    par_vjp(c->s, c->B, t, co->z, c->theta, cadj_a(co, v), NULL, NULL, out, out + c->P);
    c->s->stats.backward.vjp_evals++;
    for (int p = 0; p <= c->P; p++) out[p] = -out[p];
    return NODEC_SUCCESS;
}

/* ∂F/∂a · v = −Jᵀv per trajectory, exactly: F is linear in a, so this
 * is cadj_rhs's VJP along v, without the quadratures (in the scaled y,
 * −diag(w)⁻¹ Jᵀ diag(w) v, as cadj_jac). */
static int cadj_jvp(rk_ode *o, double t, const double *y, const double *v, double *out) {
    cadj_ode *co = (cadj_ode *)o;
    ctx *c = co->c;
    (void)y;
    dense_z(co, t, co->z);
    par_vjp(c->s, c->B, t, co->z, c->theta, cadj_a(co, v), NULL, out, NULL, NULL);
    c->s->stats.backward.vjp_evals++;
    for (long p = 0; p < c->nz; p++) out[p] = -out[p] / co->w[p];
    return NODEC_SUCCESS;
}

/* The adjoint's invariant.  Along the exact z(t), d(aᵀf)/dt = aᵀ∂f/∂t,
 * so between observations aᵀf + at is constant, and so is a_bᵀf_b alone
 * for each trajectory b when f is autonomous.  Through a relaxation jump
 * (van der Pol, μ = 1000: |f| ≈ 1e6) the terms of aᵀf cancel — a_x f_x ≈
 * 300 against a_v f_v ≈ −300, aᵀf ≈ 7e-4 — and that small sum is what the
 * gradient with respect to anything that moves the jump in time is made
 * of: an error of a at rtol 1e-10 changes aᵀf by up to 3e-5 per step, and
 * dL/dμ came out 1e-3 off at every tolerance (ill-conditioned, not under-
 * resolved: tightening either pass did not help).  So after each accepted
 * step, where the sum cancels by more than CADJ_ILL (Σ_p |a_p f_p| >
 * CADJ_ILL·|aᵀf|), a is projected back onto the invariant along f (the
 * smallest change in a that restores it).  Elsewhere the invariant is only
 * followed: it is evaluated at the interpolated z(t), and where aᵀf does
 * not cancel that value is no better than a (on a slow manifold inside a
 * long forward step the interpolant's stiff components are off by far
 * more than rtol, and J amplifies them in f).  A projection that would
 * move a by more than CADJ_MOVE·(rtol|a| + atol) is not taken either:
 * then the interpolant, not a, is what is off.  (Chosen on van der Pol
 * μ = 1000 and 100 and Robertson, test_stiff_jump, test_stiff_grad and
 * bench/cvodes: measured with |a||f| instead of Σ|a_p f_p|, the fast
 * transient of a_2 after each of Robertson's observations, orthogonal to
 * f, looked like cancellation and its projections put 1e-7 … 1e-5 into
 * the gradient at rtol 1e-8; with CADJ_ILL = 1e3 van der Pol kept errors
 * up to 4e-4 at some tolerances.) */
enum { CADJ_ILL = 10, CADJ_MOVE = 100 };

static void cadj_invariants(cadj_ode *co, double t, const double *y, double *K) {
    ctx *c = co->c;
    int nb = c->m->uses_t ? 1 : c->B;
    long len = c->m->uses_t ? c->nz : c->m->n_state;
    dense_z(co, t, co->z);
    inp_span(c->s, t, t, -1); /* the piece the next step uses */
    par_f(c->s, c->B, t, co->z, c->theta, co->fz);
    c->s->stats.backward.f_evals++;
    cadj_a(co, y);
    for (int b = 0; b < nb; b++) K[b] = dot(co->a + b * len, co->fz + b * len, len);
    if (c->m->uses_t) K[0] += y[c->nz + c->P];
}

/* After an accepted step of r: project a onto K, or follow K (above). */
static void cadj_project(cadj_ode *co, rk *r) {
    ctx *c = co->c;
    int nb = c->m->uses_t ? 1 : c->B, moved = 0;
    long len = c->m->uses_t ? c->nz : c->m->n_state;
    double rtol = c->s->rtol, atol = c->s->atol, *Kt = co->K + c->B;
    cadj_invariants(co, r->t, r->y, Kt);
    for (int b = 0; b < nb; b++) {
        const double *ab = co->a + b * len, *fb = co->fz + b * len, *wb = co->w + b * len;
        double *yb = r->y + b * len;
        double ff = dot(fb, fb, len), na = sqrt(dot(ab, ab, len)), sum = 0;
        double lam = ff > 0 ? (Kt[b] - co->K[b]) / ff : 0;
        for (long p = 0; p < len; p++) sum += fabs(ab[p] * fb[p]);
        if (!co->kset || !(sum > CADJ_ILL * fabs(Kt[b])) || !(fabs(lam) * sqrt(ff) <= CADJ_MOVE * (rtol * na + atol))) {
            co->K[b] = Kt[b];
            continue;
        }
        for (long p = 0; p < len; p++) yb[p] -= lam * fb[p] / wb[p];
        moved = moved || lam != 0;
    }
    co->kset = 1;
    if (moved) rk_restart(r); /* k_0 (FSAL) was F at the old a */
}

/* The adjoint's error test, per component, against the adjoint's size at
 * the last jump.  Each observation adds g_i to a, and the part of g_i
 * along J's fast modes relaxes at their rate (Robertson: a_2 by ~1e5 in
 * ~1e-3, then a slow drift for ~1e3); a relative test on a component
 * decaying through its transient asks for rtol of what is left, so the
 * steps stay at hλ ≈ 0.2 until it has died out (≈ 80 steps per
 * observation on Robertson, 6× the forward's steps).  An error made in
 * the transient decays with it, so what matters is its size against the
 * transient's: the adjoint gets absolute tolerances of their own at each
 * jump, atol_p = max(atol, rtol·|a_p|) — as CVODES' vector atol — by
 * integrating y = a/w with w_p = atol_p/atol (the Rosenbrock and RK
 * methods are invariant under such a scaling; the relative test on y is
 * atol·w_p + rtol·|a_p| on a).  Robertson at rtol 1e-8: 40 % fewer
 * backward steps and VJPs, the gradient unchanged (1e-9).  Off for the
 * explicit methods and fixed grids (w = 1, the bits of before). */
static void cadj_scale(cadj_ode *co, rk *r, int on) {
    ctx *c = co->c;
    double rtol = c->s->rtol, atol = c->s->atol;
    for (long p = 0; p < c->nz; p++) {
        double a = co->w[p] * r->y[p], w = atol > 0 ? rtol * fabs(a) / atol : 1;
        co->w[p] = on && w > 1 && isfinite(w) ? w : 1; /* atol = 0: purely relative already */
        r->y[p] = a / co->w[p];
    }
}

/* Observation i on the way back: the jump of a (unscaled), the new
 * tolerances, and — the old step being far too long for the transient
 * that starts now — Hairer's initial step when it is shorter (one VJP;
 * Robertson: 3.6 rejected attempts less per observation). */
static int cadj_jump(cadj_ode *co, rk *r, int i) {
    ctx *c = co->c;
    double h0;
    int rc;
    cadj_scale(co, r, 0);
    jump(c, i, r->y, r->y + c->nz + c->P, &c->s->stats.backward);
    cadj_scale(co, r, co->proj);
    rk_restart(r);
    co->kset = 0;
    if (!co->proj || c->s->first_step > 0) return NODEC_SUCCESS;
    if ((rc = rk_initial_step(r, -1, &h0))) return rc;
    if (fabs(h0) < fabs(r->h)) r->h = h0;
    return NODEC_SUCCESS;
}

/* Replays the accepted steps first..last from their checkpoint, writing
 * each step's dense output as polynomial coefficients in x ∈ [0, 1]:
 * z = y0 + Σ_m C_m x^m, C_m = h Σ_j W[j][m−1] k_j (rk_dense_coefs); for
 * the fixed-step tableaus, which are not FSAL, cubic Hermite with f1 =
 * f(t1, y1), which is also the next step's k_0. */
static int replay(ctx *c, tape *tp, rk *rr, long first, long last, double *seg, double *f0) {
    const rk_tab *tb = NULL;
    long nz = c->nz;
    int s = 0, rc;
    double W[16][6];

    rr->t = tp->step[3 * first];
    memcpy(rr->y, tp->y + (first / tp->every) * nz, nz * sizeof(double));
    rk_restart(rr);
    for (long k = first; k <= last; k++) {
        double *C = seg + (k - first) * NCOEF * nz, h = tp->step[3 * k + 2];
        rk_use(rr, tape_tab(tp, rr, k));
        if (rr->tab != tb) {
            tb = rr->tab;
            s = tb->s;
            if (tb->fsal || tb->ros) rk_dense_coefs(tb, W);
        }
        if ((rc = rk_take(rr, h, tp->step[3 * k + 1], NULL))) return rc;
        memcpy(C, rr->yprev, nz * sizeof(double));
        memset(C + nz, 0, (NCOEF - 1) * nz * sizeof(double));
        if (tb->fsal || tb->ros) { /* Rosenbrock stages are increments */
            for (int j = 0; j < s; j++)
                for (int m = 1; m < NCOEF; m++) {
                    double wm = (tb->ros ? 1 : h) * W[j][m - 1];
                    const double *kj = rr->k + (size_t)j * nz;
                    if (wm == 0) continue;
                    for (long p = 0; p < nz; p++) C[m * nz + p] += wm * kj[p];
                }
        } else {
            memcpy(f0, rr->k, nz * sizeof(double));
            if ((rc = rk_ensure_k0(rr))) /* f1, and the next step's k_0 */
                return rc;
            for (long p = 0; p < nz; p++) {
                double d = rr->y[p] - rr->yprev[p], f1 = rr->k[p];
                C[nz + p] = h * f0[p];
                C[2 * nz + p] = 3 * d - 2 * h * f0[p] - h * f1;
                C[3 * nz + p] = -2 * d + h * f0[p] + h * f1;
            }
            if (inp_is_break(c->s, rr->t)) rk_restart(rr); /* f1 was the left piece's */
        }
    }
    return NODEC_SUCCESS;
}

static int checkpoint(ctx *c, double *dtheta, double *dz0) {
    nodec_solver *s = c->s;
    long nz = c->nz, K = s->ckpt_every;
    int P = c->P, N = c->N, rc, i = N, fixed = fwd_is_fixed(s), started = 0;
    tape tp = {{tape_step}, c, (int)K, 0, 0, NULL, NULL, 0, 0, NULL, 0, NULL};
    nodec_pass_stats rst = {0};
    nodec_xstats rxs = {0};
    fwd_ode fo;
    cadj_ode co = {{0}, c, NULL, NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0, NULL, NULL};
    rk r = {0}, rr = {0};
    double *seg = NULL, *at;
    size_t segbytes = (((size_t)K * NCOEF + 5) * nz + 2 * (size_t)c->B) * sizeof(double);

    rc = fwd_solve(s, c->theta, c->B, c->z0, N + 1, c->t, c->zobs, &tp.hk, &s->stats.forward);
    if (rc == 0) rc = losses(c);
    if (rc == 0 && !(seg = mem_alloc(&s->mem, segbytes))) rc = oom(s);
    co.z = seg ? seg + (size_t)K * NCOEF * nz : NULL;
    co.fz = seg ? co.z + 2 * nz : NULL; /* after the replay's f0 */
    co.K = seg ? co.fz + nz : NULL;
    co.w = seg ? co.K + 2 * c->B : NULL;
    co.a = seg ? co.w + nz : NULL;
    /* the invariant's projection: for the methods meant for stiff
     * problems, where the jumps are (explicit methods would pay an f per
     * step for nothing) */
    co.proj = nodec__implicit(s->method) && !fixed;
    co.o.n = (int)(nz + P + 1);
    co.o.rhs = cadj_rhs;
    set_groups(&co.o, s, 1, nz, P);
    co.o.nblk = c->B;
    co.o.blk = c->m->n_state;
    co.o.jac = cadj_jac;
    co.o.jvq = cadj_jvq;
    co.o.jvp = cadj_jvp;
    fwd_ode_init(&fo, s, c->theta, c->B, &rst);
    if (rc == 0) rc = rk_init(&rr, s, rk_tableau(s->method), &fo.o, &rst, "backward");
    if (rc == 0) rc = rk_init(&r, s, rk_tableau(s->method), &co.o, &s->stats.backward, "backward");
    if (rc) goto done;
    rr.adaptive = 0;
    rr.xs = &rxs; /* the replay's steps are not the backward pass's */
    memset(r.y, 0, co.o.n * sizeof(double));
    for (long p = 0; p < nz; p++) co.w[p] = 1;
    c->dt[N] = 0;
    jump(c, N, r.y, r.y + nz + P, &s->stats.backward);
    cadj_scale(&co, &r, co.proj);
    r.t = c->t[N];
    if (fixed) r.adaptive = 0;

    for (long cp = (tp.n - 1) / K; cp >= 0 && rc == 0; cp--) {
        long first = cp * K, last = first + K - 1 < tp.n - 1 ? first + K - 1 : tp.n - 1;
        rst.f_evals = 0;
        rxs.jac_evals = rxs.lu = 0;
        rc = replay(c, &tp, &rr, first, last, seg, seg + (size_t)K * NCOEF * nz + nz);
        s->stats.backward.f_evals += rst.f_evals;
        s->xs[1].jac_evals += rxs.jac_evals;
        s->xs[1].lu += rxs.lu;
        co.seg = seg;
        co.step = tp.step;
        co.first = first;
        /* Adaptive: one integration across each run of pieces with the
         * same method (auto switches rarely), restarting only there, at
         * the segment's start and at the jumps.  Fixed grids: one step per
         * piece, the forward's. */
        for (long hi = last; hi >= first && rc == 0;) {
            const rk_tab *tb = tape_tab(&tp, &r, hi);
            long lo = hi;
            double t0;
            if (!fixed)
                while (lo > first && tape_tab(&tp, &r, lo - 1) == tb) lo--;
            t0 = tp.step[3 * lo];
            co.lo = lo - first;
            co.hi = co.cur = hi - first;
            rk_restart(&r);    /* new piece(s) of z(t) */
            if (tb != r.tab) { /* auto: the forward's method here */
                rk_use(&r, tb);
                if (started) s->xs[1].switches++;
            }
            if (!started && !fixed) {
                if (s->first_step > 0)
                    r.h = -s->first_step;
                else if ((rc = rk_initial_step(&r, -1, &r.h)))
                    break;
            }
            started = 1;
            if (fixed) {
                r.t = tp.step[3 * hi + 1];
                rc = rk_take(&r, -tp.step[3 * hi + 2], t0, NULL);
            }
            while (rc == 0 && r.t > t0) {
                double stop = (i >= 1 && c->t[i - 1] > t0) ? c->t[i - 1] : t0;
                int acc;
                if (co.proj && !co.kset) cadj_project(&co, &r);
                while (rc == 0 && r.t > stop) {
                    rc = rk_attempt(&r, cadj_reach(&co, r.t, stop), &acc);
                    if (rc || !acc) continue;
                    if (c->want_dt && s->in) {
                        dense_z(&co, r.t, co.z);
                        break_jump(c, r.t, co.z, cadj_a(&co, r.y), r.y + nz + P, &s->stats.backward);
                    }
                    if (co.proj) cadj_project(&co, &r);
                }
                if (rc == 0 && i >= 1 && c->t[i - 1] == r.t && r.t > t0) rc = cadj_jump(&co, &r, --i);
            }
            if (rc == 0 && i >= 1 && c->t[i - 1] == t0) rc = cadj_jump(&co, &r, --i);
            hi = lo - 1;
        }
    }
    if (rc == 0 && i != 0) rc = nodec__fail(s, NODEC_ILL_INPUT, "internal: checkpoint backward pass ended at t[%d]", i);
    if (rc == 0) {
        at = r.y + nz + P;
        cadj_scale(&co, &r, 0);
        if (dz0) memcpy(dz0, r.y, nz * sizeof(double));
        if (dtheta) memcpy(dtheta, r.y + nz, P * sizeof(double));
        c->dt[0] = *at;
    }
done:
    rk_release(&r);
    rk_release(&rr);
    mem_free(&s->mem, seg, segbytes);
    tape_free(&tp);
    return rc;
}

/* ---- direct: reverse mode through the discrete steps ---- */

typedef struct rev {
    ctx *c;
    const rk_tab *tb;
    double *Ys, *kb, *Yb, *thb, *ye; /* s×nz, s×nz, nz, P, nz */
    double *dth;                     /* accumulated dL/dθ */
    double *M;                       /* kvaerno4: B blocks of (I − hγJ)ᵀ's LU */
    int *piv;
    rk *kt; /* kvaerno4 on the GMRES path: the transposed solves' GMRES */
} rev;

/* Jᵀv at (t, y) by the VJP: the system of the GMRES path's transposed
 * stage solves (esd_stage_solve), which has no Jacobian. */
typedef struct vjp_ode {
    rk_ode o;
    ctx *c;
} vjp_ode;

static int vjp_jvp(rk_ode *o, double t, const double *y, const double *v, double *out) {
    ctx *c = ((vjp_ode *)o)->c;
    par_vjp(c->s, c->B, t, y, c->theta, v, NULL, out, NULL, NULL);
    c->s->stats.backward.vjp_evals++;
    return NODEC_SUCCESS;
}

static int vjp_nojac(rk_ode *o, double t, const double *y, double *J) {
    (void)o, (void)t, (void)y, (void)J;
    return NODEC_ILL_INPUT; /* rk_init wants one; the GMRES path never calls it */
}

/* Adjoint of y(x) = y0 + h Σ_j w_j(x) k_j at x = (t_i − t0)/h for the
 * cotangent pb = g_i. */
static void interp_reverse(rev *v, const double *k, double t0, double h, int i, double *taub, double *hb) {
    ctx *c = v->c;
    long nz = c->nz;
    int s = v->tb->s;
    double w[16], dw[16], x = (c->t[i] - t0) / h, xb = 0;
    const double *pb = c->g + (long)i * nz;
    rk_dense_weights(v->tb, x, w, dw);
    for (int j = 0; j < s; j++) {
        double pk = dot(pb, k + (size_t)j * nz, nz);
        xb += h * dw[j] * pk;
        *hb += w[j] * pk;
        for (long p = 0; p < nz; p++) v->kb[(size_t)j * nz + p] += h * w[j] * pb[p];
    }
    *hb -= xb * x / h;
    c->dt[i] += xb / h;
    *taub -= xb / h;
    for (long p = 0; p < nz; p++) v->ye[p] += pb[p];
}

static int all_zero(const double *v, long n) {
    for (long i = 0; i < n; i++)
        if (v[i] != 0) return 0;
    return 1;
}

/* kvaerno4's stage inputs after the replayed step: Y_1 = y0, Y_i = y0 +
 * h Σ_{j<i} a_ij k_j + hγ k_i (the Newton iteration's, which rk_take
 * does not store). */
static void esd_stage_inputs(const rk_tab *tb, const double *y0, const double *k, double h, long nz, double *Ys) {
    double hg = h * tb->esd->gamma;
    memcpy(Ys, y0, nz * sizeof(double));
    for (int i = 1; i < tb->s; i++) {
        double *Y = Ys + (size_t)i * nz;
        const double *ki = k + (size_t)i * nz;
        rk_combine(Y, y0, h, &RK_A(tb, i, 0), k, i, (int)nz);
        for (long p = 0; p < nz; p++) Y[p] += hg * ki[p];
    }
}

/* kvaerno4's implicit stage k = f(t_j, Y_j), Y_j = ψ_j + hγ k, is
 * differentiated exactly (implicit function theorem): dk = (I − hγJ)⁻¹ ×
 * (J dψ_j + ∂f/∂t dt_j + ∂f/∂θ dθ) with J = ∂f/∂z at the stage's own
 * (t_j, Y_j) — not the Newton iteration's J, which is the step start's or
 * an older one.  So the cotangent g of k becomes λ = (I − hγJ)⁻ᵀ g (in
 * place), and the VJP of f with λ gives ψ_j's, θ's and t_j's.  One J and
 * one LU per trajectory a stage; on the GMRES path, GMRES on VJPs for
 * (I/(hγ) − Jᵀ) λ = g/(hγ), to 1e-10 of g's RMS. */
static int esd_stage_solve(rev *v, double tj, const double *Y, double hg, double *g) {
    ctx *c = v->c;
    int n = c->m->n_state;
    if (v->kt) {
        v->kt->t = tj;
        memcpy(v->kt->y, Y, c->nz * sizeof(double));
        for (long p = 0; p < c->nz; p++) g[p] /= hg;
        return esd_krylov_solve(v->kt, 1 / hg, g, 1e-10);
    }
    fwd_jac_z(c->s, c->theta, c->B, tj, Y, v->M);
    c->s->xs[1].jac_evals++;
    c->s->xs[1].lu++;
    for (int b = 0; b < c->B; b++) {
        double *M = v->M + (size_t)b * n * n;
        int *piv = v->piv + (size_t)b * n, col;
        for (int p = 0; p < n; p++) /* M = I − hγJᵀ */
            for (int q = p; q < n; q++) {
                double jpq = M[p * n + q], jqp = M[q * n + p];
                M[p * n + q] = (p == q) - hg * jqp;
                M[q * n + p] = (p == q) - hg * jpq;
            }
        if ((col = la_lu(n, M, piv)))
            return nodec__fail(c->s, NODEC_SINGULAR,
                               "the matrix I - h*gamma*df/dz of a stage of the "
                               "implicit method %s is singular or not finite at "
                               "t = %.6g (backward pass of gradient mode direct, "
                               "h*gamma = %.3g, trajectory %d, column %d): check "
                               "the model's jac_z, or use mode checkpoint",
                               v->tb->name, tj, hg, b, col - 1);
        la_lu_solve(n, M, piv, g + (size_t)b * n);
    }
    return NODEC_SUCCESS;
}

/* Adjoint of one step: yb holds ȳ1 on entry and ȳ0 on exit; v->kb holds
 * the stages' cotangents from the dense output.  An explicit tableau's
 * stages k_j = f(t_j, Y_j) are reversed with one VJP each; kvaerno4's
 * implicit ones (j ≥ 1) first pass their cotangent through
 * esd_stage_solve, and Y_j's hγ k_j adds to h's. */
static int step_reverse(rev *v, const double *k, double t0, double t1, double h, double *yb, double *taub, double *hb) {
    ctx *c = v->c;
    const rk_tab *tb = v->tb;
    long nz = c->nz;
    int s = tb->s, P = c->P, rc;

    for (int j = 0; j < s; j++) {
        if (tb->b[j] == 0) continue;
        for (long p = 0; p < nz; p++) v->kb[(size_t)j * nz + p] += h * tb->b[j] * yb[p];
        *hb += tb->b[j] * dot(yb, k + (size_t)j * nz, nz);
    }
    for (int j = s - 1; j >= 0; j--) {
        double *kbj = v->kb + (size_t)j * nz, tb_ = 0;
        double tj = tb->c[j] == 1 ? t1 : t0 + tb->c[j] * h;
        const double *Yj = v->Ys + (size_t)j * nz;
        if (all_zero(kbj, nz)) continue;
        if (tb->esd && j > 0 && (rc = esd_stage_solve(v, tj, Yj, h * tb->esd->gamma, kbj))) return rc;
        par_vjp(c->s, c->B, tj, Yj, c->theta, kbj, NULL, v->Yb, v->thb, &tb_);
        c->s->stats.backward.vjp_evals++;
        for (int q = 0; q < P; q++) v->dth[q] += v->thb[q];
        *taub += tb_;
        *hb += tb->c[j] * tb_;
        if (tb->esd && j > 0) *hb += tb->esd->gamma * dot(v->Yb, k + (size_t)j * nz, nz);
        for (long p = 0; p < nz; p++) yb[p] += v->Yb[p];
        for (int l = 0; l < j; l++) {
            double al = RK_A(tb, j, l);
            if (al == 0) continue;
            for (long p = 0; p < nz; p++) v->kb[(size_t)l * nz + p] += h * al * v->Yb[p];
            *hb += al * dot(v->Yb, k + (size_t)l * nz, nz);
        }
    }
    return NODEC_SUCCESS;
}

static int direct(ctx *c, double *dtheta, double *dz0) {
    nodec_solver *s = c->s;
    const rk_tab *tb = rk_tableau(s->method);
    long nz = c->nz;
    int P = c->P, N = c->N, rc, fixed = fwd_is_fixed(s), i = N - 1, st = tb->s;
    long first_break = 0; /* adaptive: the first step that ends on a breakpoint, else the last */
    tape tp = {{tape_step}, c, 1, 0, 0, NULL, NULL, 0, 0, NULL, 0, NULL};
    nodec_pass_stats rst = {0};
    fwd_ode fo;
    rk rr = {0}, kt = {0};
    vjp_ode vo = {{0}, c};
    rev v = {c, tb, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    double *buf = NULL, *yb;
    int kry, dense;
    size_t nm, bytes;

    fwd_ode_init(&fo, s, c->theta, c->B, &rst);
    kry = tb->esd && esd_krylov(s, &fo.o);
    dense = tb->esd && !kry;
    /* kvaerno4, dense: one (I − hγJ)ᵀ per trajectory and its pivots */
    nm = dense ? (size_t)nz * c->m->n_state : 0;
    bytes = ((size_t)2 * st * nz + 3 * nz + 2 * (size_t)P + nm) * sizeof(double) + (dense ? nz : 0) * sizeof(int);
    rc = fwd_solve(s, c->theta, c->B, c->z0, N + 1, c->t, c->zobs, &tp.hk, &s->stats.forward);
    if (rc == 0) rc = losses(c);
    if (rc == 0 && !(buf = mem_alloc(&s->mem, bytes))) rc = oom(s);
    if (rc == 0) rc = rk_init(&rr, s, tb, &fo.o, &rst, "backward");
    if (rc == 0 && kry) {
        vo.o = fo.o;
        vo.o.jac = vjp_nojac;
        vo.o.jvp = vjp_jvp;
        rc = rk_init(&kt, s, tb, &vo.o, &s->stats.backward, "backward");
        v.kt = &kt;
    }
    if (rc) goto done;
    rr.adaptive = 0;
    v.Ys = buf;
    v.kb = v.Ys + (size_t)st * nz;
    v.Yb = v.kb + (size_t)st * nz;
    v.ye = v.Yb + nz;
    yb = v.ye + nz;
    v.thb = yb + nz;
    v.dth = v.thb + P;
    if (dense) {
        v.M = v.dth + P;
        v.piv = (int *)(v.M + nm);
    }
    memcpy(yb, c->g + (long)N * nz, nz * sizeof(double));
    while (first_break < tp.n - 1 && !inp_is_break(s, tp.step[3 * first_break + 1])) first_break++;
    for (long k = tp.n - 1; k >= 0 && rc == 0; k--) {
        double t0 = tp.step[3 * k], t1 = tp.step[3 * k + 1], h = tp.step[3 * k + 2];
        double taub = 0, hb = 0;
        long iv = tp.grid[3 * k], j = tp.grid[3 * k + 1], m = tp.grid[3 * k + 2];
        rr.t = t0;
        memcpy(rr.y, tp.y + k * nz, nz * sizeof(double));
        rk_restart(&rr);
        rst.f_evals = 0;
        rc = rk_take(&rr, h, t1, v.Ys);
        s->stats.backward.f_evals += rst.f_evals;
        if (rc) break;
        if (tb->esd) esd_stage_inputs(tb, rr.yprev, rr.k, h, nz, v.Ys);
        memset(v.kb, 0, (size_t)st * nz * sizeof(double));
        memset(v.ye, 0, nz * sizeof(double));
        if (fixed) {
            if (j == m - 1 && iv + 1 < N)
                for (long p = 0; p < nz; p++) yb[p] += c->g[(iv + 1) * nz + p];
        } else {
            for (; i >= 1 && c->t[i] > t0; i--) interp_reverse(&v, rr.k, t0, h, i, &taub, &hb);
        }
        if ((rc = step_reverse(&v, rr.k, t0, t1, h, yb, &taub, &hb))) break;
        for (long p = 0; p < nz; p++) yb[p] += v.ye[p];
        if (fixed) {
            double fj = (double)j / m;
            c->dt[iv] += taub * (1 - fj) - hb / m;
            c->dt[iv + 1] += taub * fj + hb / m;
        } else {
            /* A step starts at t_0 + Σ h until the first that ends on an
             * inputs' breakpoint (h = τ − t0: fixed τ); after it the steps
             * start from τ, and t_0 moves none of them. */
            int from_t0 = k <= first_break;
            if (from_t0) c->dt[0] += taub;
            if (k == tp.n - 1) { /* h = t_N − t0 */
                c->dt[N] += hb;
                if (from_t0) c->dt[0] -= hb;
            } else if (from_t0 && k == first_break) {
                c->dt[0] -= hb;
            }
        }
    }
    if (rc == 0) {
        if (dz0)
            for (long p = 0; p < nz; p++) dz0[p] = yb[p] + c->g[p];
        if (dtheta) memcpy(dtheta, v.dth, P * sizeof(double));
    }
done:
    rk_release(&kt);
    rk_release(&rr);
    mem_free(&s->mem, buf, bytes);
    tape_free(&tp);
    return rc;
}

/* ---- entry ---- */

int adj_loss_grad(nodec_solver *s, const double *theta, int B, const double *z0, int n_times, const double *t,
                  const double *obs, double scale, double *loss, double *dtheta, double *dz0, double *dt,
                  double *z_out) {
    ctx c;
    int rc;
    double *buf;
    size_t bytes;

    c.s = s;
    c.m = s->m;
    c.theta = theta;
    c.t = t;
    c.obs = obs;
    c.z0 = z0;
    c.B = B;
    c.N = n_times - 1;
    c.P = s->m->n_param;
    c.nz = (long)B * s->m->n_state;
    c.scale = scale;
    c.loss = loss;
    c.want_dt = dt != NULL;
    bytes = ((size_t)(z_out ? 1 : 2) * n_times * c.nz + c.nz + n_times) * sizeof(double);
    if (!(buf = mem_alloc(&s->mem, bytes))) return oom(s);
    c.g = buf;
    c.fbuf = c.g + (size_t)n_times * c.nz;
    c.dt = c.fbuf + c.nz; /* zeroed by mem_alloc */
    c.zobs = z_out ? z_out : c.dt + n_times;

    if (n_times == 1) {
        memcpy(c.zobs, z0, c.nz * sizeof(double));
        if ((rc = losses(&c)) == 0) {
            if (dz0) memcpy(dz0, c.g, c.nz * sizeof(double));
            if (dtheta) memset(dtheta, 0, c.P * sizeof(double));
        }
    } else if (nodec_get_grad_mode(s) == NODEC_GRAD_ADJOINT) {
        rc = fwd_solve(s, theta, B, z0, n_times, t, c.zobs, NULL, &s->stats.forward);
        if (rc == 0) rc = losses(&c);
        if (rc == 0) rc = backsolve(&c, dtheta, dz0);
    } else if (nodec_get_grad_mode(s) == NODEC_GRAD_CHECKPOINT) {
        rc = checkpoint(&c, dtheta, dz0);
    } else {
        rc = direct(&c, dtheta, dz0);
    }
    if (rc == 0 && dt) memcpy(dt, c.dt, n_times * sizeof(double));
    mem_free(&s->mem, buf, bytes);
    return rc;
}
