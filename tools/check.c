/* check.c — `nodec check`: every emitted derivative against central finite
 * differences of the emitted f (or ℓ), at seeded random points.
 *
 * z is drawn from [0.2, 1.2] (positive, so models with log or sqrt are
 * defined), θ is the model's initial θ perturbed by a few percent (so zero
 * biases do not hide terms), t from [0, 1], a batch of two states.  Each
 * row reports max_j |g_j − fd_j| / max(‖g‖∞, ‖fd‖∞) over all points.  The
 * identity aᵀ(J v) = (aᵀJ) v checks VJP against JVP independently of
 * finite differences.
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

typedef struct Ctx {
    const nodec_model *m;
    int B, ns, np;
    double t, *z, *th, *a, *v, *work, *f1, *f2;
} Ctx;

static double adot(Ctx *c, const double *a, const double *f) {
    double s = 0;
    for (int i = 0; i < c->B * c->ns; i++) s += a[i] * f[i];
    return s;
}

/* aᵀ f(z, θ, t) for the whole batch. */
static double af(Ctx *c) {
    c->m->f(c->B, c->t, c->z, c->th, c->f1, c->work);
    return adot(c, c->a, c->f1);
}

static void update(Row *r, const double *g, const double *fd, int n) {
    double diff = 0, scale = 0;
    for (int i = 0; i < n; i++) {
        double d = fabs(g[i] - fd[i]);
        if (!(d <= diff)) diff = d; /* NaN propagates */
        if (fabs(g[i]) > scale) scale = fabs(g[i]);
        if (fabs(fd[i]) > scale) scale = fabs(fd[i]);
    }
    double e = scale > 0 ? diff / scale : diff;
    if (!(e <= r->err)) r->err = e;
    r->done = true;
}

static double step(double x) { return 1e-5 * (fabs(x) > 1 ? fabs(x) : 1); }

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

static void check_point(Ctx *c, Rng *r, Row *rows) {
    const nodec_model *m = c->m;
    int B = c->B, ns = c->ns, np = c->np, n = B * ns;
    double *g = calloc((size_t)(n + np + ns * ns + 8), sizeof *g);
    double *fd = calloc((size_t)(n + np + ns * ns + 8), sizeof *fd);
    double *az = calloc((size_t)n, sizeof *az), *ath = calloc((size_t)np + 1, sizeof *ath), at;
    int *idx = malloc(sizeof(int) * (size_t)(n + np + 1));
    for (int i = 0; i < n; i++) c->a[i] = uni(r, -1, 1), c->v[i] = uni(r, -1, 1);

    m->vjp(B, c->t, c->z, c->th, c->a, az, ath, &at, c->work);
    /* aᵀ∂f/∂z */
    int k = pick(r, n, 400, idx);
    for (int q = 0; q < k; q++) {
        int i = idx[q];
        double x = c->z[i], h = step(x);
        c->z[i] = x + h;
        double up = af(c);
        c->z[i] = x - h;
        double dn = af(c);
        c->z[i] = x;
        g[q] = az[i], fd[q] = (up - dn) / (2 * h);
    }
    update(&rows[R_VJP_Z], g, fd, k);
    /* aᵀ∂f/∂θ */
    if (np) {
        k = pick(r, np, 400, idx);
        for (int q = 0; q < k; q++) {
            int i = idx[q];
            double x = c->th[i], h = step(x);
            c->th[i] = x + h;
            double up = af(c);
            c->th[i] = x - h;
            double dn = af(c);
            c->th[i] = x;
            g[q] = ath[i], fd[q] = (up - dn) / (2 * h);
        }
        update(&rows[R_VJP_P], g, fd, k);
    }
    /* aᵀ∂f/∂t */
    {
        double x = c->t, h = step(x);
        c->t = x + h;
        double up = af(c);
        c->t = x - h;
        double dn = af(c);
        c->t = x;
        g[0] = at, fd[0] = (up - dn) / (2 * h);
        update(&rows[R_VJP_T], g, fd, 1);
    }
    /* ∂f/∂z · v */
    double *jv = calloc((size_t)n, sizeof *jv);
    m->jvp(B, c->t, c->z, c->th, c->v, jv, c->work);
    {
        double *z0 = malloc(sizeof(double) * (size_t)n);
        memcpy(z0, c->z, sizeof(double) * (size_t)n);
        double h = 1e-5;
        for (int i = 0; i < n; i++) c->z[i] = z0[i] + h * c->v[i];
        m->f(B, c->t, c->z, c->th, c->f1, c->work);
        for (int i = 0; i < n; i++) c->z[i] = z0[i] - h * c->v[i];
        m->f(B, c->t, c->z, c->th, c->f2, c->work);
        memcpy(c->z, z0, sizeof(double) * (size_t)n);
        for (int i = 0; i < n; i++) fd[i] = (c->f1[i] - c->f2[i]) / (2 * h);
        update(&rows[R_JVP], jv, fd, n);
        free(z0);
    }
    /* aᵀ(J v) against (aᵀJ) v */
    g[0] = adot(c, c->a, jv), fd[0] = adot(c, az, c->v);
    update(&rows[R_DUAL], g, fd, 1);
    /* dense ∂f/∂z of the first state, column by column */
    if (ns <= 200) {
        double *J = calloc((size_t)ns * ns, sizeof *J);
        m->jac_z(c->t, c->z, c->th, J, c->work);
        double *col = fd;
        for (int j = 0; j < ns; j++) {
            double x = c->z[j], h = step(x);
            c->z[j] = x + h;
            m->f(1, c->t, c->z, c->th, c->f1, c->work);
            c->z[j] = x - h;
            m->f(1, c->t, c->z, c->th, c->f2, c->work);
            c->z[j] = x;
            for (int i = 0; i < ns; i++) col[i * ns + j] = (c->f1[i] - c->f2[i]) / (2 * h);
        }
        update(&rows[R_JAC], J, col, ns * ns);
        free(J);
    }
    /* ∂ℓ/∂pred */
    {
        double *pred = malloc(sizeof(double) * (size_t)n), *obs = malloc(sizeof(double) * (size_t)n);
        double *lg = calloc((size_t)n, sizeof *lg);
        for (int i = 0; i < n; i++) pred[i] = uni(r, 0.2, 1.2), obs[i] = uni(r, 0.2, 1.2);
        double L = m->loss_grad(B, pred, obs, lg, c->work);
        double L2 = m->loss(B, pred, obs, c->work);
        g[0] = L, fd[0] = L2;
        update(&rows[R_LOSSV], g, fd, 1);
        for (int i = 0; i < n; i++) {
            double x = pred[i], h = step(x);
            pred[i] = x + h;
            double up = m->loss(B, pred, obs, c->work);
            pred[i] = x - h;
            double dn = m->loss(B, pred, obs, c->work);
            pred[i] = x;
            fd[i] = (up - dn) / (2 * h);
        }
        update(&rows[R_LOSS], lg, fd, n);
        free(pred), free(obs), free(lg);
    }
    /* the batch gives the same rows as one state at a time */
    {
        m->f(B, c->t, c->z, c->th, c->f1, c->work);
        for (int b = 0; b < B; b++) m->f(1, c->t, c->z + b * ns, c->th, c->f2 + b * ns, c->work);
        update(&rows[R_BATCH], c->f1, c->f2, n);
    }
    /* the fused f_vjp gives what f and vjp give */
    if (m->f_vjp) {
        double *az2 = calloc((size_t)n, sizeof *az2), *ath2 = calloc((size_t)np + 1, sizeof *ath2), at2;
        m->f(B, c->t, c->z, c->th, c->f1, c->work);
        m->f_vjp(B, c->t, c->z, c->th, c->a, c->f2, az2, ath2, &at2, c->work);
        update(&rows[R_FVJP], c->f1, c->f2, n);
        update(&rows[R_FVJP], az, az2, n);
        update(&rows[R_FVJP], ath, ath2, np);
        update(&rows[R_FVJP], &at, &at2, 1);
        free(az2), free(ath2);
    }
    free(jv), free(g), free(fd), free(az), free(ath), free(idx);
}

int check_model(const nodec_model *m, const CheckOpts *o, FILE *out) {
    Ctx c = {.m = m, .B = 2, .ns = m->n_state, .np = m->n_param};
    int n = c.B * c.ns;
    c.z = calloc((size_t)n, sizeof(double));
    c.a = calloc((size_t)n, sizeof(double));
    c.v = calloc((size_t)n, sizeof(double));
    c.f1 = calloc((size_t)n, sizeof(double));
    c.f2 = calloc((size_t)n, sizeof(double));
    c.th = calloc((size_t)c.np + 1, sizeof(double));
    double *th0 = calloc((size_t)c.np + 1, sizeof(double));
    c.work = calloc((size_t)m->work_size + 1, sizeof(double));
    Row rows[R_COUNT] = {{0}};
    Rng r = {o->seed * 0x2545F4914F6CDD1Dull + 1};
    m->init_params(th0, o->seed);
    int bad_points = 0;
    for (int p = 0; p < o->points; p++) {
        /* draw until f is finite there */
        int tries = 0;
        do {
            for (int i = 0; i < n; i++) c.z[i] = uni(&r, 0.2, 1.2);
            for (int i = 0; i < c.np; i++) c.th[i] = th0[i] * (1 + 0.1 * uni(&r, -1, 1)) + 0.01 * uni(&r, -1, 1);
            c.t = uni(&r, 0, 1);
            m->f(c.B, c.t, c.z, c.th, c.f1, c.work);
        } while (!finite_all(c.f1, n) && ++tries < 50);
        if (tries == 50) {
            bad_points++;
            continue;
        }
        check_point(&c, &r, rows);
    }
    int fails = 0;
    fprintf(out, "nodec check: %s (%d points, batch %d, seed %llu)\n", m->name, o->points, c.B, o->seed);
    if (bad_points) {
        fprintf(out, "  f is not finite at %d of the sampled points (z in [0.2, 1.2], t in [0, 1])\n", bad_points);
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
    free(c.z), free(c.a), free(c.v), free(c.f1), free(c.f2), free(c.th), free(th0), free(c.work);
    return fails;
}
