/* check.c — `nodec check`: every emitted derivative against central finite
 * differences of the emitted f (or ℓ), at seeded random points.
 *
 * Where.  Each state variable has a scale S, the largest |z0| of its
 * default initial state (1 where that is 0 or absent), and each coordinate
 * of z is drawn as ±S·10^(−3u), u uniform in [0, 1]: either sign, with
 * magnitudes spread evenly over the three decades below S, so that
 * features near 0 down to S/1000 are visited (a contact force
 * sigmoid(−1000 x) with S = 1 switches at |x| < 0.005: a quarter of the
 * draws).  Where f is not finite at most of 20 such draws (a log or sqrt
 * of a state), the signs are dropped; where it still is not, z comes from
 * S·[0.2, 1.2], the range of earlier versions.  θ is the model's initial
 * θ perturbed by a few percent (so zero biases do not hide terms), t from
 * [0, 1], a batch of two states; pred and obs of the loss from [0.2, 1.2].
 *
 * How.  A coordinate x steps by h = 1e-5·s, with s = max(|x|, S/1000)
 * for a state (features at 0 — 1/x, log x, a switch — scale with |x|
 * there) and max(|x|, 1) for θ, t and pred; the JVP's direction v has
 * components of size s.  Where a central difference disagrees with the
 * emitted derivative, it is refined by Ridders' extrapolation of D(h),
 * D(h/2), … (a Jacobian column's from 16h: its columns of many values
 * are where rounding at the smallest steps showed, 7e-7 of a 1e-6
 * tolerance on tests/cli/input_check.nde, now 1e-8) (Numerical Recipes
 * §5.7): a stencil wider than the function's
 * features (sigmoid(−1000 x) near 0, cos(1/x) at small x) then converges
 * too, while a wrong derivative stays wrong.
 *
 * The measure.  Each row reports max_j |g_j − fd_j| / max(‖g‖∞, ‖fd‖∞,
 * floor_j) over all points.  The absolute floor is FLOOR_REL·Φ/s_j, with Φ
 * the size of the values differenced (Σ|a_i f_i| for aᵀf, ‖f‖∞, |ℓ|): a
 * central difference resolves a derivative only to about 1e-10·Φ/s_j
 * (rounding in Φ over the step), so a row whose derivatives are all far
 * below that (a contact force where the contact is off) is measured
 * against the floor instead of against its own rounding noise.  The
 * identity aᵀ(J v) = (aᵀJ) v checks VJP against JVP independently of
 * finite differences, relative to the magnitudes it sums.
 *
 * Inputs.  A model with inputs (`input u = cubic`) is called through
 * nodec_model.inputs with a row of u per state: its values, u′ and u″ each
 * uniform in [−1, 1].  ∂f/∂z, ∂f/∂θ and the JVP hold u fixed; the
 * difference in t moves the row along its Taylor expansion, u(t + δ) =
 * u + u′δ + u″δ²/2 and u′(t + δ) = u′ + u″δ, so it checks aᵀ∂f/∂t with
 * the chain through u and ddt(u) that the VJP includes.
 */
#include "cmd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct Rng {
    uint64_t s;
} Rng;

static double rnd(Rng *r) { return rng_uniform(&r->s); }

static double uni(Rng *r, double lo, double hi) { return lo + (hi - lo) * rnd(r); }

typedef struct Row {
    const char *name;
    double err;
    bool done;
} Row;

enum { R_VJP_Z, R_VJP_P, R_VJP_T, R_JVP, R_JAC, R_DUAL, R_LOSS, R_LOSSV, R_BATCH, R_FVJP, R_COUNT };
static const char *const row_names[] = {
    "a'df/dz     (vjp, state)", "a'df/dtheta (vjp, params)", "a'df/dt     (vjp, time)", "df/dz v     (jvp)",
    "df/dz       (jac_z)",      "a'(J v) = (a'J) v",         "dl/dpred    (loss_grad)", "loss = loss_grad value",
    "batch = one by one",       "f_vjp = f and vjp",
};

/* The floor of the measure, in units of Φ/s (above).  A difference's
 * rounding noise, ε·Φ over a step of 1e-5·s times a few, is about
 * 1e-10·Φ/s: 1e-7 of the floor, a tenth of the default tolerance. */
#define FLOOR_REL 1e-3
/* The relative step of the differences, and Ridders' halvings of it. */
#define FD_STEP 1e-5
enum { RIDDERS_LEVELS = 10 };
/* Ridders starts a Jacobian column this many steps wide: its halvings then
 * reach below the step instead of far below it, where rounding grows. */
#define RIDDERS_WIDEN 16
/* A difference is refined where it disagrees by this fraction of --tol. */
#define REFINE_AT 1e-2

/* Where z is drawn (the file's comment): either sign, positive, legacy. */
enum { Z_SIGNED, Z_POSITIVE, Z_LEGACY, Z_GIVEN };
static const char *const z_regime[] = {
    "either sign, |z| log-uniform in S·[1e-3, 1]",
    "positive (f is not finite at negative states), z log-uniform in S·[1e-3, 1]",
    "z uniform in S·[0.2, 1.2] (f is not finite at smaller states)",
    "z uniform in the range of --z-range",
};

typedef struct Ctx {
    const nodec_model *m;
    int B, ns, np;
    int nu;         /* 3·n_input: a row of u (values, u′, u″), 0 without inputs */
    double *u, *uc; /* B rows of u, and u saved while t moves */
    double t, *z, *th, *a, *v, *work, *f1, *f2;
    double *scale;        /* S per state coordinate (ns) */
    double *zc, *up, *dn; /* z saved; the two sides of a difference (n each) */
    double *rt;           /* Ridders' tableau: 2 columns of RIDDERS_LEVELS per value */
    double *pred, *obs;   /* the loss's arguments (n each) */
    double tol;
    double z_lo, z_hi; /* --z-range */
} Ctx;

/* The model's functions, with the sample rows of u from u0 on when it has
 * inputs (nodec_model.inputs), else its own. */
static void call_f(Ctx *c, int B, const double *z, const double *u0, double *out) {
    const nodec_model *m = c->m;
    if (m->inputs)
        m->inputs->f(B, c->t, z, u0, c->th, out, c->work);
    else
        m->f(B, c->t, z, c->th, out, c->work);
}

static void call_vjp(Ctx *c, double *az, double *ath, double *at) {
    const nodec_model *m = c->m;
    if (m->inputs)
        m->inputs->vjp(c->B, c->t, c->z, c->u, c->th, c->a, az, ath, at, c->work);
    else
        m->vjp(c->B, c->t, c->z, c->th, c->a, az, ath, at, c->work);
}

static void call_jvp(Ctx *c, double *out) {
    const nodec_model *m = c->m;
    if (m->inputs)
        m->inputs->jvp(c->B, c->t, c->z, c->u, c->th, c->v, out, c->work);
    else
        m->jvp(c->B, c->t, c->z, c->th, c->v, out, c->work);
}

static void call_jac(Ctx *c, double *J) {
    const nodec_model *m = c->m;
    if (m->inputs)
        m->inputs->jac_z(c->t, c->z, c->u, c->th, J, c->work);
    else
        m->jac_z(c->t, c->z, c->th, J, c->work);
}

/* The fused f and VJP, when the model has one; false otherwise. */
static bool call_f_vjp(Ctx *c, double *dz, double *az, double *ath, double *at) {
    const nodec_model *m = c->m;
    if (m->inputs && m->inputs->f_vjp)
        m->inputs->f_vjp(c->B, c->t, c->z, c->u, c->th, c->a, dz, az, ath, at, c->work);
    else if (!m->inputs && m->f_vjp)
        m->f_vjp(c->B, c->t, c->z, c->th, c->a, dz, az, ath, at, c->work);
    else
        return false;
    return true;
}

/* Moves the rows of u from t to t + d along their Taylor expansion (the
 * file's comment); u″ stays. */
static void move_u(Ctx *c, double d) {
    int ni = c->nu / 3;
    for (int b = 0; b < c->B; b++) {
        const double *r0 = c->uc + (size_t)b * c->nu;
        double *r = c->u + (size_t)b * c->nu;
        for (int i = 0; i < ni; i++) {
            double u1 = r0[ni + i], u2 = r0[2 * ni + i];
            r[i] = r0[i] + u1 * d + u2 * d * d / 2, r[ni + i] = u1 + u2 * d;
        }
    }
}

static double adot(Ctx *c, const double *a, const double *f) {
    double s = 0;
    for (int i = 0; i < c->B * c->ns; i++) s += a[i] * f[i];
    return s;
}

/* aᵀ f(z, θ, t) for the whole batch. */
static double af(Ctx *c) {
    call_f(c, c->B, c->z, c->u, c->f1);
    return adot(c, c->a, c->f1);
}

/* The row's error over n values: max_i |g_i − fd_i| / max(‖g‖∞, ‖fd‖∞,
 * floor_i); floor NULL: no floor. */
static void update(Row *r, const double *g, const double *fd, const double *floor, int n) {
    double scale = 0;
    for (int i = 0; i < n; i++) {
        if (fabs(g[i]) > scale) scale = fabs(g[i]);
        if (fabs(fd[i]) > scale) scale = fabs(fd[i]);
    }
    for (int i = 0; i < n; i++) {
        double d = fabs(g[i] - fd[i]), den = floor && floor[i] > scale ? floor[i] : scale;
        double e = den > 0 ? d / den : d;
        if (!isnan(r->err) && !(e <= r->err)) r->err = e; /* a NaN stays */
    }
    r->done = true;
}

/* The coordinate's own scale: the step is FD_STEP of it. */
static double span(double x, double s) { return fabs(x) > s ? fabs(x) : s; }
/* A state's: its magnitude, but no less than the smallest drawn, S/1000. */
static double zspan(const Ctx *c, int i) { return span(c->z[i], 1e-3 * c->scale[i % c->ns]); }

static bool finite_all(const double *v, int n) {
    for (int i = 0; i < n; i++)
        if (!isfinite(v[i])) return false;
    return true;
}

/* Up to `cap` coordinates of n, chosen at random when n is larger. */
static int pick(Rng *r, int n, int cap, int *idx) {
    if (n <= cap) {
        for (int i = 0; i < n; i++) idx[i] = i;
        return n;
    }
    for (int i = 0; i < cap; i++) idx[i] = (int)(rnd(r) * n) % n;
    return cap;
}

/* ---- differences ------------------------------------------------------- */

/* What a difference moves and what it reads: aᵀf along one coordinate of
 * z, θ or t; f along v (all of z); f of the first state along one of its
 * coordinates (a column of jac_z); ℓ along one coordinate of pred. */
typedef enum { P_Z, P_TH, P_T, P_JVP, P_JAC, P_LOSS } ProbeKind;
typedef struct Probe {
    ProbeKind kind;
    int i;
} Probe;

static int probe_width(const Ctx *c, const Probe *p) {
    return p->kind == P_JVP ? c->B * c->ns : p->kind == P_JAC ? c->ns : 1;
}

static double *probe_var(Ctx *c, const Probe *p) {
    switch (p->kind) {
    case P_Z:
    case P_JAC: return &c->z[p->i];
    case P_TH: return &c->th[p->i];
    case P_T: return &c->t;
    case P_LOSS: return &c->pred[p->i];
    case P_JVP: break;
    }
    return NULL;
}

/* The probe's values at the point moved by s (along v for P_JVP). */
static void probe_at(Ctx *c, const Probe *p, double s, double *out) {
    const nodec_model *m = c->m;
    int n = c->B * c->ns;
    if (p->kind == P_JVP) {
        memcpy(c->zc, c->z, sizeof(double) * (size_t)n);
        for (int i = 0; i < n; i++) c->z[i] = c->zc[i] + s * c->v[i];
        call_f(c, c->B, c->z, c->u, out);
        memcpy(c->z, c->zc, sizeof(double) * (size_t)n);
        return;
    }
    double *x = probe_var(c, p), x0 = *x;
    *x = x0 + s;
    bool moves_u = p->kind == P_T && c->nu;
    if (moves_u) memcpy(c->uc, c->u, sizeof(double) * (size_t)(c->B * c->nu)), move_u(c, *x - x0);
    if (p->kind == P_JAC)
        call_f(c, 1, c->z, c->u, out);
    else if (p->kind == P_LOSS)
        out[0] = m->loss(c->B, c->pred, c->obs, c->work);
    else
        out[0] = af(c);
    *x = x0;
    if (moves_u) memcpy(c->u, c->uc, sizeof(double) * (size_t)(c->B * c->nu));
}

/* The central difference of the probe's values with step h. */
static void central(Ctx *c, const Probe *p, double h, double *out) {
    int w = probe_width(c, p);
    double den = 2 * h;
    if (p->kind != P_JVP) { /* the step as it lands in floating point */
        double x0 = *probe_var(c, p);
        den = (x0 + h) - (x0 - h);
    }
    probe_at(c, p, h, c->up);
    probe_at(c, p, -h, c->dn);
    for (int k = 0; k < w; k++) out[k] = (c->up[k] - c->dn[k]) / den;
}

/* Ridders' method (Numerical Recipes §5.7): central differences at h,
 * h/2, h/4, … extrapolated to h → 0 in a Richardson tableau; each value
 * keeps the entry with the smallest error estimate.  All the levels are
 * taken (Numerical Recipes stops when the estimate grows): where h starts
 * wider than the function's features the first levels are noise that can
 * agree by chance. */
static void ridders(Ctx *c, const Probe *p, double h, double *ans) {
    enum { L = RIDDERS_LEVELS };
    int w = probe_width(c, p);
    double *prev = c->rt, *cur = c->rt + (size_t)w * L, *d = c->f2;
    double *err = c->rt + (size_t)2 * w * L;
    central(c, p, h, d);
    for (int k = 0; k < w; k++) prev[k * L] = ans[k] = d[k], err[k] = INFINITY;
    for (int i = 1; i < L; i++) {
        h /= 2;
        central(c, p, h, d);
        for (int k = 0; k < w; k++) {
            double *a0 = prev + k * L, *a1 = cur + k * L, fac = 4;
            a1[0] = d[k];
            for (int j = 1; j <= i; j++, fac *= 4) {
                a1[j] = (a1[j - 1] * fac - a0[j - 1]) / (fac - 1);
                double e = fmax(fabs(a1[j] - a1[j - 1]), fabs(a1[j] - a0[j - 1]));
                if (e <= err[k]) err[k] = e, ans[k] = a1[j];
            }
        }
        double *t = prev;
        prev = cur, cur = t;
    }
}

/* Refines the differences fd of the n probes whose values disagree with
 * g by more than REFINE_AT of the tolerance (one value each): a smooth
 * function's central difference errs by about 1e-10, far below. */
static void refine(Ctx *c, const Probe *p, const double *h, const double *g, double *fd, const double *floor, int n) {
    double scale = 0;
    for (int q = 0; q < n; q++) scale = fmax(scale, fmax(fabs(g[q]), fabs(fd[q])));
    for (int q = 0; q < n; q++)
        if (!(fabs(g[q] - fd[q]) <= REFINE_AT * c->tol * fmax(scale, floor[q]))) ridders(c, &p[q], h[q], &fd[q]);
}

/* The same for a probe of many values (a JVP, a Jacobian column), strided
 * by `stride` in g and fd. */
static void refine_vec(Ctx *c, const Probe *p, double h, const double *g, double *fd, const double *floor, int stride,
                       double scale) {
    int w = probe_width(c, p);
    bool bad = false;
    for (int k = 0; k < w; k++)
        bad |= !(fabs(g[k * stride] - fd[k * stride]) <= REFINE_AT * c->tol * fmax(scale, floor[k * stride]));
    if (!bad) return;
    double *ans = malloc(sizeof(double) * (size_t)w);
    ridders(c, p, h, ans);
    for (int k = 0; k < w; k++) fd[k * stride] = ans[k];
    free(ans);
}

static double vmax(const double *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s = fmax(s, fabs(v[i]));
    return s;
}

static void check_point(Ctx *c, Rng *r, Row *rows) {
    const nodec_model *m = c->m;
    int B = c->B, ns = c->ns, np = c->np, n = B * ns, cap = n + np + ns * ns + 8;
    double *g = calloc((size_t)cap, sizeof *g), *fd = calloc((size_t)cap, sizeof *fd);
    double *fl = calloc((size_t)cap, sizeof *fl), *hs = calloc((size_t)cap, sizeof *hs);
    Probe *pr = calloc((size_t)cap, sizeof *pr);
    double *az = calloc((size_t)n, sizeof *az), *ath = calloc((size_t)np + 1, sizeof *ath), at;
    int *idx = malloc(sizeof(int) * (size_t)(n + np + 1));
    for (int i = 0; i < n; i++) c->a[i] = uni(r, -1, 1), c->v[i] = zspan(c, i) * uni(r, -1, 1);

    call_vjp(c, az, ath, &at);
    /* Φ of aᵀf: the magnitudes it sums */
    call_f(c, B, c->z, c->u, c->f1);
    double phi = 0;
    for (int i = 0; i < n; i++) phi += fabs(c->a[i] * c->f1[i]);
    double fmax_all = vmax(c->f1, n), fmax_first = vmax(c->f1, ns);
    /* aᵀ∂f/∂z */
    int k = pick(r, n, 400, idx);
    for (int q = 0; q < k; q++) {
        int i = idx[q];
        double s = zspan(c, i);
        pr[q] = (Probe){P_Z, i}, hs[q] = FD_STEP * s, fl[q] = FLOOR_REL * phi / s, g[q] = az[i];
        central(c, &pr[q], hs[q], &fd[q]);
    }
    refine(c, pr, hs, g, fd, fl, k);
    update(&rows[R_VJP_Z], g, fd, fl, k);
    /* aᵀ∂f/∂θ */
    if (np) {
        k = pick(r, np, 400, idx);
        for (int q = 0; q < k; q++) {
            int i = idx[q];
            double s = span(c->th[i], 1);
            pr[q] = (Probe){P_TH, i}, hs[q] = FD_STEP * s, fl[q] = FLOOR_REL * phi / s, g[q] = ath[i];
            central(c, &pr[q], hs[q], &fd[q]);
        }
        refine(c, pr, hs, g, fd, fl, k);
        update(&rows[R_VJP_P], g, fd, fl, k);
    }
    /* aᵀ∂f/∂t */
    {
        double s = span(c->t, 1);
        pr[0] = (Probe){P_T, 0}, hs[0] = FD_STEP * s, fl[0] = FLOOR_REL * phi / s, g[0] = at;
        central(c, &pr[0], hs[0], &fd[0]);
        refine(c, pr, hs, g, fd, fl, 1);
        update(&rows[R_VJP_T], g, fd, fl, 1);
    }
    /* ∂f/∂z · v, v scaled by S */
    double *jv = calloc((size_t)n, sizeof *jv);
    call_jvp(c, jv);
    {
        Probe p = {P_JVP, 0};
        for (int i = 0; i < n; i++) fl[i] = FLOOR_REL * fmax_all;
        central(c, &p, FD_STEP, fd);
        refine_vec(c, &p, FD_STEP, jv, fd, fl, 1, fmax(vmax(jv, n), vmax(fd, n)));
        update(&rows[R_JVP], jv, fd, fl, n);
    }
    /* aᵀ(J v) against (aᵀJ) v, relative to the magnitudes summed */
    {
        double terms = 0;
        for (int i = 0; i < n; i++) terms += fabs(c->a[i] * jv[i]) + fabs(az[i] * c->v[i]);
        g[0] = adot(c, c->a, jv), fd[0] = adot(c, az, c->v), fl[0] = terms;
        update(&rows[R_DUAL], g, fd, fl, 1);
    }
    /* dense ∂f/∂z of the first state, column by column */
    if (ns <= 200) {
        double *J = calloc((size_t)ns * ns, sizeof *J), *col = malloc(sizeof(double) * (size_t)ns);
        call_jac(c, J);
        for (int j = 0; j < ns; j++) {
            Probe p = {P_JAC, j};
            double s = zspan(c, j);
            central(c, &p, FD_STEP * s, col);
            for (int i = 0; i < ns; i++) fd[i * ns + j] = col[i], fl[i * ns + j] = FLOOR_REL * fmax_first / s;
        }
        double scale = fmax(vmax(J, ns * ns), vmax(fd, ns * ns));
        for (int j = 0; j < ns; j++) {
            Probe p = {P_JAC, j};
            refine_vec(c, &p, RIDDERS_WIDEN * FD_STEP * zspan(c, j), J + j, fd + j, fl + j, ns, scale);
        }
        update(&rows[R_JAC], J, fd, fl, ns * ns);
        free(J), free(col);
    }
    /* ∂ℓ/∂pred */
    {
        double *lg = calloc((size_t)n, sizeof *lg);
        for (int i = 0; i < n; i++) c->pred[i] = uni(r, 0.2, 1.2), c->obs[i] = uni(r, 0.2, 1.2);
        double L = m->loss_grad(B, c->pred, c->obs, lg, c->work);
        double L2 = m->loss(B, c->pred, c->obs, c->work);
        g[0] = L, fd[0] = L2;
        update(&rows[R_LOSSV], g, fd, NULL, 1);
        for (int i = 0; i < n; i++) {
            double s = span(c->pred[i], 1);
            pr[i] = (Probe){P_LOSS, i}, hs[i] = FD_STEP * s, fl[i] = FLOOR_REL * fabs(L) / s;
            central(c, &pr[i], hs[i], &fd[i]);
        }
        refine(c, pr, hs, lg, fd, fl, n);
        update(&rows[R_LOSS], lg, fd, fl, n);
        free(lg);
    }
    /* the batch gives the same rows as one state at a time */
    {
        call_f(c, B, c->z, c->u, c->f1);
        for (int b = 0; b < B; b++) call_f(c, 1, c->z + b * ns, c->u + b * c->nu, c->f2 + b * ns);
        update(&rows[R_BATCH], c->f1, c->f2, NULL, n);
    }
    /* the fused f_vjp gives what f and vjp give */
    double *az2 = calloc((size_t)n, sizeof *az2), *ath2 = calloc((size_t)np + 1, sizeof *ath2), at2;
    call_f(c, B, c->z, c->u, c->f1);
    if (call_f_vjp(c, c->f2, az2, ath2, &at2)) {
        update(&rows[R_FVJP], c->f1, c->f2, NULL, n);
        update(&rows[R_FVJP], az, az2, NULL, n);
        update(&rows[R_FVJP], ath, ath2, NULL, np);
        update(&rows[R_FVJP], &at, &at2, NULL, 1);
    }
    free(az2), free(ath2);
    free(jv), free(g), free(fd), free(fl), free(hs), free(pr), free(az), free(ath), free(idx);
}

/* ---- the points -------------------------------------------------------- */

/* A point of regime how (the file's comment); true when f is finite there. */
static bool draw(Ctx *c, Rng *r, int how, const double *th0) {
    int n = c->B * c->ns;
    for (int i = 0; i < n; i++) {
        double S = c->scale[i % c->ns];
        if (how == Z_GIVEN)
            c->z[i] = uni(r, c->z_lo, c->z_hi);
        else if (how == Z_LEGACY)
            c->z[i] = S * uni(r, 0.2, 1.2);
        else {
            double x = S * pow(10, -3 * rnd(r));
            c->z[i] = how == Z_SIGNED && rnd(r) < 0.5 ? -x : x;
        }
    }
    for (int i = 0; i < c->np; i++) c->th[i] = th0[i] * (1 + 0.1 * uni(r, -1, 1)) + 0.01 * uni(r, -1, 1);
    c->t = uni(r, 0, 1);
    for (int i = 0; i < c->B * c->nu; i++) c->u[i] = uni(r, -1, 1); /* values, u′ and u″ */
    call_f(c, c->B, c->z, c->u, c->f1);
    return finite_all(c->f1, n);
}

/* The first regime where f is finite at 15 of 20 draws (the legacy one
 * whatever happens). */
static int choose_regime(Ctx *c, Rng *r, const double *th0) {
    for (int how = Z_SIGNED; how < Z_LEGACY; how++) {
        int ok = 0;
        for (int k = 0; k < 20; k++) ok += draw(c, r, how, th0);
        if (ok >= 15) return how;
    }
    return Z_LEGACY;
}

/* S of each state variable: its largest |z0|, 1 where that is 0. */
static void state_scales(const nodec_model *m, double *scale) {
    for (int i = 0; i < m->n_state; i++) scale[i] = 1;
    for (int v = 0; v < m->n_state_vars && m->z0; v++) {
        const nodec_var *sv = &m->state_vars[v];
        double S = 0;
        for (int i = 0; i < sv->size; i++) S = fmax(S, fabs(m->z0[sv->offset + i]));
        if (!(S > 0) || !isfinite(S)) S = 1;
        for (int i = 0; i < sv->size; i++) scale[sv->offset + i] = S;
    }
}

int check_model(const nodec_model *m, const CheckOpts *o, FILE *out) {
    Ctx c = {.m = m, .B = 2, .ns = m->n_state, .np = m->n_param, .tol = o->tol};
    c.nu = m->inputs ? 3 * m->inputs->n_input : 0;
    int n = c.B * c.ns;
    c.u = calloc((size_t)(c.B * c.nu) + 1, sizeof(double));
    c.uc = calloc((size_t)(c.B * c.nu) + 1, sizeof(double));
    c.z = calloc((size_t)n, sizeof(double));
    c.a = calloc((size_t)n, sizeof(double));
    c.v = calloc((size_t)n, sizeof(double));
    c.f1 = calloc((size_t)n, sizeof(double));
    c.f2 = calloc((size_t)n, sizeof(double));
    c.zc = calloc((size_t)n, sizeof(double));
    c.up = calloc((size_t)n, sizeof(double));
    c.dn = calloc((size_t)n, sizeof(double));
    c.pred = calloc((size_t)n, sizeof(double));
    c.obs = calloc((size_t)n, sizeof(double));
    c.rt = calloc((size_t)n * (2 * RIDDERS_LEVELS + 2), sizeof(double));
    c.scale = calloc((size_t)c.ns + 1, sizeof(double));
    c.th = calloc((size_t)c.np + 1, sizeof(double));
    double *th0 = calloc((size_t)c.np + 1, sizeof(double));
    c.work = calloc((size_t)m->work_size + 1, sizeof(double));
    Row rows[R_COUNT] = {{0}};
    Rng r = {o->seed * 0x2545F4914F6CDD1Dull + 1};
    m->init_params(th0, o->seed);
    state_scales(m, c.scale);
    c.z_lo = o->z_lo, c.z_hi = o->z_hi;
    int how = o->z_range ? Z_GIVEN : choose_regime(&c, &r, th0), bad_points = 0;
    for (int p = 0; p < o->points; p++) {
        /* draw until f is finite there */
        int tries = 0;
        while (!draw(&c, &r, how, th0) && ++tries < 50) continue;
        if (tries == 50) {
            bad_points++;
            continue;
        }
        check_point(&c, &r, rows);
    }
    int fails = 0;
    fprintf(out, "nodec check: %s (%d points, batch %d, seed %llu)\n", m->name, o->points, c.B, o->seed);
    if (how == Z_GIVEN)
        fprintf(out, "  states: z uniform in [%g, %g] (--z-range); S:", o->z_lo, o->z_hi);
    else
        fprintf(out, "  states: %s; S:", z_regime[how]);
    for (int v = 0; v < m->n_state_vars && v < 6; v++)
        fprintf(out, "%s %s %g", v ? "," : "", m->state_vars[v].name, c.scale[m->state_vars[v].offset]);
    fprintf(out, "%s\n", m->n_state_vars > 6 ? ", …" : "");
    if (m->inputs)
        fprintf(out,
                "  inputs: %d doubles, values, u' and u'' uniform in [-1, 1]; t moves them along their Taylor "
                "expansion\n",
                m->inputs->n_input);
    if (bad_points) {
        fprintf(out, "  f is not finite at %d of the sampled points (z: %s; t in [0, 1])\n", bad_points, z_regime[how]);
        fails++;
    }
    fprintf(out, "  %-28s %-12s %-8s\n", "derivative", "max rel err", "tol");
    for (int i = 0; i < R_COUNT; i++) {
        if (!rows[i].done) continue;
        /* the value and batch rows compare equal computations: tighter */
        double tol = i == R_LOSSV || i == R_BATCH || i == R_DUAL || i == R_FVJP ? 1e-10 : o->tol;
        bool ok = rows[i].err <= tol;
        fails += !ok;
        fprintf(out, "  %-28s %-12.1e %-8.0e %s\n", row_names[i], rows[i].err, tol, ok ? "ok" : "FAIL");
    }
    fprintf(out, fails ? "%d check%s failed\n" : "all derivatives agree with finite differences\n", fails,
            fails == 1 ? "" : "s");
    free(c.z), free(c.a), free(c.v), free(c.f1), free(c.f2), free(c.zc), free(c.up), free(c.dn), free(c.pred);
    free(c.obs), free(c.rt), free(c.scale), free(c.th), free(th0), free(c.work), free(c.u), free(c.uc);
    return fails;
}
