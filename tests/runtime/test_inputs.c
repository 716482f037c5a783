/* test_inputs.c — models with inputs (`input u[2] = linear | cubic | hold`,
 * DESIGN.md §7): nodec_set_inputs, the interpolants, breakpoints, the
 * gradients through u, u′ and u″, batches, threads and the errors.
 * Hand-written descriptors (ABI 3, nodec_model.inputs):
 *
 *   integ  dz_e/dt = u_e, e = 0, 1, 2 (linear, cubic, hold): z(T) is the
 *          exact integral of each interpolant
 *   drv    x' = v + θ3·u1
 *          v' = −θ0·x − θ1·v + θ2·u0 + θ3·ddt(u0)
 *          a forced oscillator; u0′ and u0″ enter ∂f/∂t, and for linear
 *          or hold u0 f jumps at the knots
 *
 * Checks:
 *   interpolation at and between knots (linear, hold, the natural spline:
 *     interpolates, C² at inner knots, u″ = 0 at the ends), missing
 *     values skipped, held before the first and after the last value, the
 *     piece on a step's end (toward its inside) and outside steps
 *     (the direction of integration);
 *   integ with dopri5, tsit5, bosh3 (rtol 1e-12), also independent
 *     batches: each z_e(T) = the integral of its interpolant (trapezoids,
 *     the spline's, rectangles) to 1e-10, and solved from T back to 0 its
 *     negative, every breakpoint an evaluation
 *     time of f (a step starts there); rk4 on a grid of h = 0.05 through
 *     every knot: exact to 1e-12;
 *   drv, B = 2, dopri5 at rtol 1e-12: adjoint, checkpoint, direct vs each
 *     other and vs differences (4th order, δ = 1e-3) of L in θ, z0, t_i,
 *     1e-7 of the largest entry,
 *     for u0/u1 cubic/cubic, linear/hold, hold/linear; rodas5p, auto
 *     (checkpoint) and kvaerno4 (checkpoint and direct) vs differences;
 *   rk4 and kvaerno4 on a fixed grid (knots inside steps): direct dθ,
 *     dz0 vs the differences (1e-8);
 *   independent batch mode ≈ shared; f_vjp the same bits as f, then vjp;
 *   1 vs 2 threads the same bits (B = 40, chunks of 8 rows);
 *   errors: no nodec_set_inputs, a solve outside the rows, bad rows, an
 *     element without values, an infinite value, a model without inputs.
 */
#include <math.h>
#include <string.h>

#include "internal.h" /* inp_span, inp_eval: the interpolants themselves; chunk_rows */
#include "models.h"
#include "mse.h"

MSE(n2, 2)
MSE(n3, 3)

/* ---- integ: dz_e/dt = u_e ---- */

enum { NI = 3 };
static signed char integ_kind[NI] = {NODEC_INTERP_LINEAR, NODEC_INTERP_CUBIC, NODEC_INTERP_HOLD};
static double seen_t[1 << 16]; /* the times f was called at */
static int n_seen;

static void integ_f(int B, double t, const double *z, const double *u, const double *th, double *dz, double *w) {
    (void)z, (void)th, (void)w;
    if (n_seen < 1 << 16) seen_t[n_seen++] = t;
    for (int b = 0; b < B; b++)
        for (int e = 0; e < NI; e++) dz[b * NI + e] = u[b * 3 * NI + e];
}

static void integ_vjp(int B, double t, const double *z, const double *u, const double *th, const double *a,
                      double *az, double *ath, double *at, double *w) {
    (void)t, (void)z, (void)th, (void)ath, (void)w;
    if (az) memset(az, 0, (size_t)B * NI * sizeof(double));
    if (at) {
        *at = 0;
        for (int b = 0; b < B; b++)
            for (int e = 0; e < NI; e++) *at += a[b * NI + e] * u[b * 3 * NI + NI + e];
    }
}

static const nodec_var integ_states[] = {{"z", 1, {NI, 1}, 0, NI}};
static const nodec_var integ_in[] = {{"u", 1, {NI, 1}, 0, NI}};
static const nodec_inputs integ_inputs = {NI, 1, integ_in, integ_kind, 0, integ_f, integ_vjp, NULL, NULL, NULL};
static const nodec_model integ_model = {
    .abi_version = NODEC_ABI_VERSION, .name = "integ", .source_hash = "0", .n_state = NI,
    .n_state_vars = 1, .state_vars = integ_states, .uses_t = 1, .loss = n3_loss, .loss_grad = n3_loss_grad,
    .inputs = &integ_inputs,
};

/* ---- drv: the forced oscillator ---- */

static signed char drv_kind[2];

/* u row: u0 u1 u0′ u1′ u0″ u1″ */
static void drv_f(int B, double t, const double *z, const double *u, const double *p, double *dz, double *w) {
    (void)t, (void)w;
    for (int b = 0; b < B; b++, z += 2, dz += 2, u += 6) {
        dz[0] = z[1] + p[3] * u[1];
        dz[1] = -p[0] * z[0] - p[1] * z[1] + p[2] * u[0] + p[3] * u[2];
    }
}

static void drv_vjp(int B, double t, const double *z, const double *u, const double *p, const double *a, double *az,
                    double *ath, double *at, double *w) {
    (void)t, (void)w;
    if (ath) memset(ath, 0, 4 * sizeof(double));
    if (at) *at = 0;
    for (int b = 0; b < B; b++, z += 2, a += 2, u += 6) {
        if (az) {
            az[2 * b] = -p[0] * a[1];
            az[2 * b + 1] = a[0] - p[1] * a[1];
        }
        if (ath) {
            ath[0] -= a[1] * z[0];
            ath[1] -= a[1] * z[1];
            ath[2] += a[1] * u[0];
            ath[3] += a[0] * u[1] + a[1] * u[2];
        }
        if (at) *at += a[0] * p[3] * u[3] + a[1] * (p[2] * u[2] + p[3] * u[4]);
    }
}

static void drv_jac(double t, const double *z, const double *u, const double *p, double *J, double *w) {
    (void)t, (void)z, (void)u, (void)w;
    J[0] = 0, J[1] = 1, J[2] = -p[0], J[3] = -p[1];
}

static void drv_f_vjp(int B, double t, const double *z, const double *u, const double *p, const double *a,
                      double *dz, double *az, double *ath, double *at, double *w) {
    drv_f(B, t, z, u, p, dz, w);
    drv_vjp(B, t, z, u, p, a, az, ath, at, w);
}

static const nodec_var drv_states[] = {{"x", 0, {1, 1}, 0, 1}, {"v", 0, {1, 1}, 1, 1}};
static const nodec_var drv_params[] = {{"theta", 1, {4, 1}, 0, 4}};
static const nodec_var drv_in[] = {{"F", 0, {1, 1}, 0, 1}, {"G", 0, {1, 1}, 1, 1}};
static const nodec_inputs drv_inputs = {2, 2, drv_in, drv_kind, 1, drv_f, drv_vjp, NULL, drv_jac, NULL};
static const nodec_model drv_model = {
    .abi_version = NODEC_ABI_VERSION, .name = "drv", .source_hash = "0", .n_state = 2, .n_param = 4,
    .n_state_vars = 2, .state_vars = drv_states, .n_param_vars = 1, .param_vars = drv_params, .uses_t = 1,
    .loss = n2_loss, .loss_grad = n2_loss_grad, .inputs = &drv_inputs,
};
/* the same with f_vjp (the adjoint's backward pass calls it) */
static const nodec_inputs drv_inputs_fv = {2, 2, drv_in, drv_kind, 1, drv_f, drv_vjp, NULL, drv_jac, drv_f_vjp};
static const nodec_model drv_fv_model = {
    .abi_version = NODEC_ABI_VERSION, .name = "drv_fv", .source_hash = "0", .n_state = 2, .n_param = 4,
    .n_state_vars = 2, .state_vars = drv_states, .n_param_vars = 1, .param_vars = drv_params, .uses_t = 1,
    .loss = n2_loss, .loss_grad = n2_loss_grad, .inputs = &drv_inputs_fv,
};

/* the same with jvp: kvaerno4's GMRES path takes J·v from it, with u */
static long drv_jvp_calls;
static double drv_jvp_u; /* the u rows are read (ASan: they are the chunk's) */
static void drv_jvp(int B, double t, const double *z, const double *u, const double *p, const double *v, double *out,
                    double *w) {
    (void)t, (void)z, (void)w;
    drv_jvp_calls++;
    for (int b = 0; b < B; b++, v += 2, out += 2, u += 6) {
        drv_jvp_u += u[0] + u[5];
        out[0] = v[1];
        out[1] = -p[0] * v[0] - p[1] * v[1];
    }
}
static const nodec_inputs drv_inputs_jvp = {2, 2, drv_in, drv_kind, 1, drv_f, drv_vjp, drv_jvp, drv_jac, NULL};
static const nodec_model drv_jvp_model = {
    .abi_version = NODEC_ABI_VERSION, .name = "drv_jvp", .source_hash = "0", .n_state = 2, .n_param = 4,
    .n_state_vars = 2, .state_vars = drv_states, .n_param_vars = 1, .param_vars = drv_params, .uses_t = 1,
    .loss = n2_loss, .loss_grad = n2_loss_grad, .inputs = &drv_inputs_jvp,
};

/* ---- the rows: two trajectories, different times, missing values ---- */

enum { R0 = 8, R1 = 7 };
static const double rt0[R0] = {0, 0.5, 1.25, 2, 2.6, 3.5, 4.1, 5};
static const double rt1[R1] = {0, 0.7, 1.5, 2.2, 3, 3.9, 5};
/* three columns (integ uses all, drv the first two) */
static double ru0[R0 * 3], ru1[R1 * 3];

static void make_rows(void) {
    for (int i = 0; i < R0; i++) {
        ru0[i * 3] = sin(1.3 * rt0[i]) + 0.2 * i;
        ru0[i * 3 + 1] = cos(0.9 * rt0[i]) - 0.1 * i * i;
        ru0[i * 3 + 2] = 0.5 + ((i * 7) % 5) * 0.3;
    }
    for (int i = 0; i < R1; i++) {
        ru1[i * 3] = 0.3 * rt1[i] * rt1[i] - rt1[i];
        ru1[i * 3 + 1] = exp(-0.4 * rt1[i]);
        ru1[i * 3 + 2] = (i % 2 ? -1.0 : 1.0) * (1 + 0.1 * i);
    }
    ru0[2 * 3 + 1] = NAN; /* trajectory 0: u1 missing at t = 1.25 and 4.1 */
    ru0[6 * 3 + 1] = NAN;
    ru1[0 * 3 + 2] = NAN; /* trajectory 1: u2 missing at t = 0 (held back to it) and 2.2 */
    ru1[3 * 3 + 2] = NAN;
}

/* Rows of trajectory b restricted to columns c0 … c0+n−1 of the three. */
static int set_rows(nodec_solver *s, int B, int ncol) {
    static double cu[2][R0 * 3];
    const double *tt[64], *uu[64];
    int nr[64];
    for (int b = 0; b < B; b++) {
        int k = b % 2, r = k ? R1 : R0;
        const double *src = k ? ru1 : ru0;
        for (int i = 0; i < r; i++)
            for (int e = 0; e < ncol; e++) cu[k][i * ncol + e] = src[i * 3 + e];
        nr[b] = r;
        tt[b] = k ? rt1 : rt0;
        uu[b] = cu[k];
    }
    return nodec_set_inputs(s, nr, tt, uu);
}

/* u, u′, u″ of element e of trajectory b at t on the span [t0, t1], dir. */
static void at(nodec_solver *s, int b, int e, double t, double t0, double t1, int dir, double *v) {
    int n = s->in->n;
    s->in_b0 = 0;
    inp_span(s, t0, t1, dir);
    inp_eval(s, b, b + 1, t);
    for (int k = 0; k < 3; k++) v[k] = s->in->u[(long)b * 3 * n + k * n + e];
}

/* The knots of element e of trajectory b (the rows with a value). */
static int knots(int b, int e, double *x, double *y) {
    int r = b ? R1 : R0, n = 0;
    const double *tt = b ? rt1 : rt0, *uu = b ? ru1 : ru0;
    for (int i = 0; i < r; i++)
        if (!isnan(uu[i * 3 + e])) x[n] = tt[i], y[n++] = uu[i * 3 + e];
    return n;
}

static void test_interp(void) {
    nodec_solver *s = nodec_create(&integ_model, 2);
    double v[3], w[3], x[8], y[8];
    CHECK(set_rows(s, 2, NI) == 0, "set_inputs: %s", nodec_get_error_message(s));
    for (int b = 0; b < 2; b++) {
        /* linear: values at knots, slopes between, held outside */
        int n = knots(b, 0, x, y);
        for (int j = 0; j + 1 < n; j++) {
            double tm = 0.3 * x[j] + 0.7 * x[j + 1], sl = (y[j + 1] - y[j]) / (x[j + 1] - x[j]);
            at(s, b, 0, tm, tm, tm, 1, v);
            check_close("linear between", v[0], 0.3 * y[j] + 0.7 * y[j + 1], 1e-14, 1e-14);
            check_close("linear slope", v[1], sl, 1e-13, 1e-13);
            check_close("linear u''", v[2], 0, 0, 0);
            at(s, b, 0, x[j], x[j], x[j], 1, v);
            check_close("linear at knot", v[0], y[j], 0, 0);
        }
        at(s, b, 0, x[n - 1] + 1, x[n - 1], x[n - 1], 1, v);
        CHECK(v[0] == y[n - 1] && v[1] == 0 && v[2] == 0, "linear held after the last knot");
        /* a step [x1 − 0.1, x1] takes the left piece at x1 even a bit past it */
        at(s, b, 0, x[1] + 1e-9, x[1] - 0.1, x[1], 1, v);
        check_close("step end: left slope", v[1], (y[1] - y[0]) / (x[1] - x[0]), 1e-13, 1e-13);
        at(s, b, 0, x[1] - 1e-9, x[1], x[1] + 0.1, 1, v);
        check_close("step start: right slope", v[1], (y[2] - y[1]) / (x[2] - x[1]), 1e-13, 1e-13);
        at(s, b, 0, x[1], x[1], x[1], -1, v);
        check_close("no step, backward: left slope", v[1], (y[1] - y[0]) / (x[1] - x[0]), 1e-13, 1e-13);

        /* hold: the last value at or before t; missing values skipped */
        n = knots(b, 2, x, y);
        CHECK(n == (b ? R1 - 2 : R0), "hold knots %d", n);
        for (int j = 0; j + 1 < n; j++) {
            at(s, b, 2, 0.5 * (x[j] + x[j + 1]), x[j], x[j + 1], 1, v);
            CHECK(v[0] == y[j] && v[1] == 0 && v[2] == 0, "hold between knots %d", j);
            at(s, b, 2, x[j + 1], x[j + 1], x[j + 1], 1, v);
            CHECK(v[0] == y[j + 1], "hold at a knot (forward)");
            at(s, b, 2, x[j + 1], x[j + 1] - 0.05, x[j + 1], 1, v);
            CHECK(v[0] == y[j], "hold at a step's end: the step's value");
        }
        at(s, b, 2, -1, -1, -1, 1, v);
        CHECK(v[0] == y[0], "hold before the first knot: %g", v[0]);

        /* cubic: interpolates, C² inside, natural ends, missing skipped */
        n = knots(b, 1, x, y);
        CHECK(n == (b ? R1 : R0 - 2), "cubic knots %d", n);
        for (int j = 0; j < n; j++) {
            at(s, b, 1, x[j], x[j], x[j], 1, v);
            at(s, b, 1, x[j], x[j], x[j], -1, w);
            check_close("spline interpolates (right)", v[0], y[j], 0, 1e-15);
            check_close("spline interpolates (left)", w[0], y[j], 0, 1e-15);
            if (j > 0 && j < n - 1) {
                check_close("spline u' continuous", v[1], w[1], 1e-12, 1e-12);
                check_close("spline u'' continuous", v[2], w[2], 1e-12, 1e-12);
            }
        }
        at(s, b, 1, x[0], x[0], x[0], 1, v);
        at(s, b, 1, x[n - 1], x[n - 1], x[n - 1], -1, w);
        CHECK(fabs(v[2]) < 1e-15 && fabs(w[2]) < 1e-15, "natural ends: u'' %g %g", v[2], w[2]);
        /* u′ is the derivative of u; u″ of u′ */
        {
            double tm = 0.4 * x[1] + 0.6 * x[2], d = 1e-6, vp[3], vm[3];
            at(s, b, 1, tm, tm, tm, 1, v);
            at(s, b, 1, tm + d, tm, tm, 1, vp);
            at(s, b, 1, tm - d, tm, tm, 1, vm);
            check_close("spline u' = du/dt", v[1], (vp[0] - vm[0]) / (2 * d), 1e-8, 1e-8);
            check_close("spline u'' = du'/dt", v[2], (vp[1] - vm[1]) / (2 * d), 1e-7, 1e-7);
        }
    }
    nodec_free(s);
}

/* ---- integ: z(T) = the integrals ---- */

static int seen(double t) {
    for (int i = 0; i < n_seen; i++)
        if (seen_t[i] == t) return 1;
    return 0;
}

/* h > 0: a fixed grid (each stage on the piece its time is in) through
 * every row's time (the outputs' times: fixed grids end on them). */
static void test_integral(nodec_method meth, nodec_batch_mode batch, double h, double tol) {
    static const double t_all[] = {0, 0.5, 0.7, 1.25, 1.5, 2, 2.2, 2.6, 3, 3.5, 3.9, 4.1, 5};
    enum { NA = sizeof t_all / sizeof *t_all };
    nodec_solver *s = nodec_create(&integ_model, 2);
    double z0[2 * NI] = {0}, zo[NA * 2 * NI], t[2] = {0, 5}, x[8], y[8], M[8], v[3], *z;
    int rc, nt = h > 0 ? NA : 2;
    nodec_set_method(s, meth);
    nodec_set_tolerances(s, 1e-12, 1e-14);
    nodec_set_batch_mode(s, batch);
    if (h > 0) nodec_set_fixed_step(s, h);
    set_rows(s, 2, NI);
    n_seen = 0;
    rc = nodec_solve(s, NULL, z0, nt, h > 0 ? t_all : t, zo);
    z = zo + (nt - 2) * 2 * NI; /* z[2·NI …]: z(5) */
    CHECK(rc == 0, "integ %s: %s", nodec_method_name(meth), nodec_get_error_message(s));
    for (int b = 0; b < 2; b++) {
        double lin = 0, cub = 0, hold = 0;
        int n = knots(b, 0, x, y);
        for (int j = 0; j + 1 < n; j++) lin += (x[j + 1] - x[j]) * (y[j] + y[j + 1]) / 2;
        for (int j = 0; j < n; j++) CHECK(seen(x[j]), "linear knot %g of trajectory %d: no step starts there", x[j], b);
        n = knots(b, 2, x, y);
        hold = y[0] * (x[0] - 0); /* held back to t = 0 */
        for (int j = 0; j + 1 < n; j++) hold += (x[j + 1] - x[j]) * y[j];
        for (int j = 0; j < n; j++) CHECK(seen(x[j]), "hold knot %g of trajectory %d: no step starts there", x[j], b);
        n = knots(b, 1, x, y);
        for (int j = 0; j < n; j++) {
            at(s, b, 1, x[j], x[j], x[j], 1, v);
            M[j] = v[2];
        }
        for (int j = 0; j + 1 < n; j++) {
            double h = x[j + 1] - x[j];
            cub += h * (y[j] + y[j + 1]) / 2 - h * h * h * (M[j] + M[j + 1]) / 24;
        }
        cub += y[n - 1] * (5 - x[n - 1]); /* held after the last value */
        check_close("integral of linear", z[2 * NI + b * NI + 0], lin, 0, tol);
        check_close("integral of the spline", z[2 * NI + b * NI + 1], cub, 0, tol);
        check_close("integral of hold", z[2 * NI + b * NI + 2], hold, 0, tol);
    }
    if (h == 0) { /* backwards from t = 5: −the integrals, on the same pieces */
        double tb[2] = {5, 0}, zb[2 * 2 * NI];
        CHECK(nodec_solve(s, NULL, z0, 2, tb, zb) == 0, "backwards: %s", nodec_get_error_message(s));
        for (int p = 0; p < 2 * NI; p++) check_close("integral backwards", -zb[2 * NI + p], z[2 * NI + p], 0, tol);
    }
    printf("integ %s%s: %ld steps, %ld rejected, %ld f\n", nodec_method_name(meth),
           batch == NODEC_BATCH_INDEPENDENT ? " (independent)" : "", nodec_get_num_steps(s, 0),
           nodec_get_num_rejected(s, 0), nodec_get_num_f_evals(s, 0));
    nodec_free(s);
}

/* ---- drv: gradients ---- */

enum { B = 2, NT = 4, NP = 4 };
static double theta[NP] = {1.7, 0.3, 0.8, 0.45}, z0[B * 2] = {0.4, -0.2, -0.3, 0.5};
static const double t_obs[NT] = {0.1, 1.4, 2.9, 4.45};
static double obs[NT * B * 2];

typedef struct g_out {
    double L, dth[NP], dz0[B * 2], dt[NT];
} g_out;

static const nodec_model *grad_model = &drv_model;
static double grad_h;     /* > 0: a fixed grid */
static int grad_linsolve; /* s->linsolve (kvaerno4's GMRES path) */

static int grad(nodec_method meth, nodec_grad_mode mode, nodec_batch_mode batch, const double *th, const double *zz,
                const double *tt, g_out *g, int want) {
    nodec_solver *s = nodec_create(grad_model, B);
    int rc;
    nodec_set_method(s, meth);
    if (grad_h > 0) nodec_set_fixed_step(s, grad_h);
    s->linsolve = grad_linsolve;
    nodec_set_tolerances(s, 1e-12, 1e-14);
    nodec_set_grad_mode(s, mode);
    nodec_set_batch_mode(s, batch);
    nodec_set_max_steps(s, 1000000);
    set_rows(s, B, 2);
    rc = nodec_loss_grad(s, th, zz, NT, tt, obs, &g->L, want ? g->dth : NULL, want ? g->dz0 : NULL,
                         want ? g->dt : NULL, NULL);
    CHECK(rc == 0, "drv %s %s: %s", nodec_method_name(meth), nodec_grad_mode_name(mode), nodec_get_error_message(s));
    nodec_free(s);
    return rc;
}

/* Central differences of fourth order (δ = 1e-3: O(δ⁴) = 1e-12, the
 * solver's noise / δ ≈ 1e-8) of L in θ, z0 and t. */
static void fd(nodec_method meth, nodec_grad_mode mode, g_out *f) {
    static const double w[4] = {-1, 8, -8, 1}, at_[4] = {2, 1, -1, -2};
    const double d = 1e-3;
    double th[NP], zz[B * 2], tt[NT];
    g_out p;
    for (int k = 0; k < NP + B * 2 + NT; k++) {
        double *x = k < NP ? th + k : k < NP + B * 2 ? zz + k - NP : tt + k - NP - B * 2;
        double *out = k < NP ? f->dth + k : k < NP + B * 2 ? f->dz0 + k - NP : f->dt + k - NP - B * 2;
        *out = 0;
        for (int q = 0; q < 4; q++) {
            memcpy(th, theta, sizeof th);
            memcpy(zz, z0, sizeof zz);
            memcpy(tt, t_obs, sizeof tt);
            *x += at_[q] * d;
            grad(meth, mode, NODEC_BATCH_SHARED, th, zz, tt, &p, 0);
            *out += w[q] * p.L / (12 * d);
        }
    }
}

static void compare(const char *what, const g_out *a, const g_out *b, double tol) {
    char w[160];
    snprintf(w, sizeof w, "%s dtheta", what);
    check_vec(w, a->dth, b->dth, NP, tol, tol);
    snprintf(w, sizeof w, "%s dz0", what);
    check_vec(w, a->dz0, b->dz0, B * 2, tol, tol);
    snprintf(w, sizeof w, "%s dt", what);
    check_vec(w, a->dt, b->dt, NT, tol, tol);
}

static void test_grads(int k0, int k1) {
    static const char *kn[] = {"linear", "cubic", "hold"};
    char what[160];
    g_out f, g[3];
    drv_kind[0] = (signed char)k0;
    drv_kind[1] = (signed char)k1;
    /* observations: the solution at other parameters */
    {
        nodec_solver *s = nodec_create(&drv_model, B);
        double th2[NP] = {1.5, 0.2, 1.0, 0.3}, zo[NT * B * 2];
        nodec_set_tolerances(s, 1e-10, 1e-12);
        set_rows(s, B, 2);
        CHECK(nodec_solve(s, th2, z0, NT, t_obs, zo) == 0, "obs: %s", nodec_get_error_message(s));
        for (int i = 0; i < NT * B * 2; i++) obs[i] = zo[i] + 0.05 * sin(3.0 * i);
        nodec_free(s);
    }
    fd(NODEC_DOPRI5, NODEC_GRAD_ADJOINT, &f);
    for (int mo = 0; mo < 3; mo++) {
        grad(NODEC_DOPRI5, (nodec_grad_mode)mo, NODEC_BATCH_SHARED, theta, z0, t_obs, &g[mo], 1);
        snprintf(what, sizeof what, "%s/%s dopri5 %s vs fd", kn[k0], kn[k1], nodec_grad_mode_name(mo));
        compare(what, &g[mo], &f, 1e-7);
    }
    snprintf(what, sizeof what, "%s/%s adjoint vs direct", kn[k0], kn[k1]);
    compare(what, &g[0], &g[2], 1e-7);
    snprintf(what, sizeof what, "%s/%s checkpoint vs direct", kn[k0], kn[k1]);
    compare(what, &g[1], &g[2], 1e-7);
    printf("%s/%s: dL/dtheta = %.10f %.10f %.10f %.10f, dL/dt = %.8f %.8f %.8f %.8f\n", kn[k0], kn[k1], g[2].dth[0],
           g[2].dth[1], g[2].dth[2], g[2].dth[3], g[2].dt[0], g[2].dt[1], g[2].dt[2], g[2].dt[3]);
    {
        g_out ind;
        grad(NODEC_DOPRI5, NODEC_GRAD_CHECKPOINT, NODEC_BATCH_INDEPENDENT, theta, z0, t_obs, &ind, 1);
        snprintf(what, sizeof what, "%s/%s independent vs shared", kn[k0], kn[k1]);
        compare(what, &ind, &g[1], 1e-7);
        check_close("independent L", ind.L, g[1].L, 1e-10, 1e-12);
    }
    {
        g_out fv;
        grad_model = &drv_fv_model;
        grad(NODEC_DOPRI5, NODEC_GRAD_ADJOINT, NODEC_BATCH_SHARED, theta, z0, t_obs, &fv, 1);
        grad_model = &drv_model;
        CHECK(fv.L == g[0].L && memcmp(fv.dth, g[0].dth, sizeof fv.dth) == 0 && memcmp(fv.dt, g[0].dt, sizeof fv.dt) == 0,
              "%s/%s: the adjoint with f_vjp: not the same bits as f, then vjp", kn[k0], kn[k1]);
    }
}

static void test_stiff_grads(nodec_method meth, double tol) {
    char what[160];
    g_out f, g;
    fd(meth, NODEC_GRAD_CHECKPOINT, &f);
    grad(meth, NODEC_GRAD_CHECKPOINT, NODEC_BATCH_SHARED, theta, z0, t_obs, &g, 1);
    snprintf(what, sizeof what, "%s checkpoint vs fd", nodec_method_name(meth));
    compare(what, &g, &f, tol);
    if (meth == NODEC_KVAERNO4) { /* direct through its implicit steps */
        grad(meth, NODEC_GRAD_DIRECT, NODEC_BATCH_SHARED, theta, z0, t_obs, &g, 1);
        compare("kvaerno4 direct vs fd", &g, &f, tol);
    }
}

/* kvaerno4's GMRES path, forced, on a model with inputs and a jvp: J·v
 * forward is the inputs' jvp with the u rows (par_jvp), backward the VJP;
 * the checkpoint gradient against the dense path's (1e-7). */
static void test_krylov_grads(void) {
    g_out d, g;
    grad(NODEC_KVAERNO4, NODEC_GRAD_CHECKPOINT, NODEC_BATCH_SHARED, theta, z0, t_obs, &d, 1);
    grad_model = &drv_jvp_model;
    grad_linsolve = ESD_LINSOLVE_GMRES;
    drv_jvp_calls = 0;
    grad(NODEC_KVAERNO4, NODEC_GRAD_CHECKPOINT, NODEC_BATCH_SHARED, theta, z0, t_obs, &g, 1);
    grad_model = &drv_model;
    grad_linsolve = ESD_LINSOLVE_AUTO;
    CHECK(drv_jvp_calls > 0 && isfinite(drv_jvp_u), "GMRES on drv_jvp_model: jvp called %ld times, Σu %g",
          drv_jvp_calls, drv_jvp_u);
    compare("kvaerno4 checkpoint GMRES vs dense", &g, &d, 1e-7);
}

/* rk4 and kvaerno4 (through its implicit stages) on a fixed grid (h =
 * 0.05; knots inside steps, where f jumps): direct is the derivative of
 * the discrete map, dθ and dz0 as the differences' (the times move the
 * grid across knots: not smooth). */
static void test_fixed_grads(void) {
    static const nodec_method meths[] = {NODEC_RK4, NODEC_KVAERNO4};
    for (int k = 0; k < 2; k++) {
        const char *name = nodec_method_name(meths[k]);
        char what[96];
        g_out f, g;
        grad_h = 0.05;
        fd(meths[k], NODEC_GRAD_DIRECT, &f);
        grad(meths[k], NODEC_GRAD_DIRECT, NODEC_BATCH_SHARED, theta, z0, t_obs, &g, 1);
        grad_h = 0;
        snprintf(what, sizeof what, "%s fixed direct vs fd dtheta", name);
        check_vec(what, g.dth, f.dth, NP, 1e-8, 1e-8);
        snprintf(what, sizeof what, "%s fixed direct vs fd dz0", name);
        check_vec(what, g.dz0, f.dz0, B * 2, 1e-8, 1e-8);
        printf("%s fixed h = 0.05, direct: dL/dtheta = %.10f %.10f %.10f %.10f (differences %.10f %.10f %.10f "
               "%.10f)\n",
               name, g.dth[0], g.dth[1], g.dth[2], g.dth[3], f.dth[0], f.dth[1], f.dth[2], f.dth[3]);
    }
}

/* ---- threads: the same bits ---- */

static void test_threads(void) {
    enum { BT = 40 };
    double zz[BT * 2], zo[2][NT * BT * 2], ob[NT * BT * 2], L[2], dth[2][NP], dt[2][NT], dz[2][BT * 2];
    for (int b = 0; b < BT; b++) zz[2 * b] = 0.1 * b, zz[2 * b + 1] = -0.05 * b;
    for (int i = 0; i < NT * BT * 2; i++) ob[i] = 0.3 * sin(0.7 * i);
    drv_kind[0] = NODEC_INTERP_HOLD;
    drv_kind[1] = NODEC_INTERP_CUBIC;
    for (int th = 1; th <= 2; th++) {
        nodec_solver *s = nodec_create(&drv_model, BT);
        nodec_set_tolerances(s, 1e-8, 1e-10);
        nodec_set_threads(s, th);
        s->chunk_rows = 8; /* five chunks of 8 rows */
        set_rows(s, BT, 2);
        CHECK(nodec_get_threads(s) == th, "threads %d: %d", th, nodec_get_threads(s));
        CHECK(nodec_loss_grad(s, theta, zz, NT, t_obs, ob, &L[th - 1], dth[th - 1], dz[th - 1], dt[th - 1],
                              zo[th - 1]) == 0,
              "threads %d: %s", th, nodec_get_error_message(s));
        nodec_free(s);
    }
    CHECK(memcmp(zo[0], zo[1], sizeof zo[0]) == 0 && L[0] == L[1] && memcmp(dth[0], dth[1], sizeof dth[0]) == 0 &&
              memcmp(dt[0], dt[1], sizeof dt[0]) == 0 && memcmp(dz[0], dz[1], sizeof dz[0]) == 0,
          "1 and 2 threads: not the same bits");
}

/* ---- errors ---- */

static void expect(int rc, nodec_solver *s, const char *want) {
    CHECK(rc == NODEC_ILL_INPUT && strstr(nodec_get_error_message(s), want), "want NODEC_ILL_INPUT '%s', got %s '%s'",
          want, nodec_error_name(rc), nodec_get_error_message(s));
}

static void test_errors(void) {
    nodec_solver *s = nodec_create(&drv_model, B);
    double z[NT * B * 2], L, t_out[2] = {-0.5, 3}, t_late[2] = {1, 5.5};
    double bad_t[3] = {0, 2, 2}, nan_t[3] = {0, NAN, 2}, u3[6] = {1, 2, NAN, 4, 5, 6}, u_nan[6] = {NAN, 2, NAN, 3, NAN, 4};
    double u_inf[6] = {1, 2, INFINITY, 4, 5, 6}, good_t[3] = {0, 1, 2};
    const double *tt[2] = {good_t, good_t}, *uu[2] = {u3, u3};
    int nr[2] = {3, 3};
    size_t bare = nodec_get_mem_current(s), held;
    drv_kind[0] = drv_kind[1] = NODEC_INTERP_LINEAR;
    expect(nodec_solve(s, theta, z0, NT, t_obs, z), s, "call nodec_set_inputs first");
    expect(nodec_loss_grad(s, theta, z0, NT, t_obs, obs, &L, NULL, NULL, NULL, NULL), s,
           "call nodec_set_inputs first");
    set_rows(s, B, 2);
    held = nodec_get_mem_current(s);
    CHECK(held > bare, "the inputs are counted: %zu → %zu bytes", bare, held);
    CHECK(set_rows(s, B, 2) == 0 && nodec_get_mem_current(s) == held, "replaced, not added: %zu bytes",
          nodec_get_mem_current(s));
    expect(nodec_solve(s, theta, z0, 2, t_out, z), s, "trajectory 0 is solved over [-0.5, 3]");
    expect(nodec_solve(s, theta, z0, 2, t_late, z), s, "outside its input rows' times [0, 5]");
    tt[1] = bad_t;
    expect(nodec_set_inputs(s, nr, tt, uu), s, "trajectory 1: input times must be finite and strictly increasing");
    tt[1] = nan_t;
    expect(nodec_set_inputs(s, nr, tt, uu), s, "row 1 has t = nan");
    tt[1] = good_t;
    uu[1] = u_nan;
    expect(nodec_set_inputs(s, nr, tt, uu), s, "input F has no value in trajectory 1");
    uu[1] = u_inf;
    expect(nodec_set_inputs(s, nr, tt, uu), s, "input F is inf at t = 1 (row 1) in trajectory 1");
    /* the failed calls kept the last good inputs, in the handle's bytes */
    CHECK(nodec_solve(s, theta, z0, NT, t_obs, z) == 0, "after failed sets: %s", nodec_get_error_message(s));
    CHECK(nodec_get_mem_current(s) == held, "after failed sets: %zu bytes", nodec_get_mem_current(s));
    /* replaced: now rows up to t = 2 */
    uu[1] = u3;
    CHECK(nodec_set_inputs(s, nr, tt, uu) == 0, "replace: %s", nodec_get_error_message(s));
    expect(nodec_solve(s, theta, z0, NT, t_obs, z), s, "outside its input rows' times [0, 2]");
    nodec_free(s);
    s = nodec_create(&linear_model, 1);
    expect(nodec_set_inputs(s, nr, tt, uu), s, "has no inputs");
    nodec_free(s);
    {   /* inputs without f; without jac_z for an implicit method */
        nodec_inputs in = drv_inputs;
        nodec_model m = drv_model;
        int rc;
        m.inputs = &in;
        in.f = NULL;
        s = nodec_create(&m, B);
        set_rows(s, B, 2);
        rc = nodec_solve(s, theta, z0, NT, t_obs, z);
        CHECK(rc == NODEC_BAD_MODEL, "inputs without f: %s", nodec_error_name(rc));
        in.f = drv_f;
        in.jac_z = NULL;
        nodec_set_method(s, NODEC_RODAS5P);
        rc = nodec_solve(s, theta, z0, NT, t_obs, z);
        CHECK(rc == NODEC_BAD_MODEL && strstr(nodec_get_error_message(s), "jac_z"), "inputs without jac_z: %s",
              nodec_error_name(rc));
        nodec_set_method(s, NODEC_DOPRI5);
        CHECK(nodec_solve(s, theta, z0, NT, t_obs, z) == 0, "dopri5 needs no jac_z: %s", nodec_get_error_message(s));
        m.uses_t = 0; /* nodec_model.h: a model with inputs says it uses t */
        rc = nodec_solve(s, theta, z0, NT, t_obs, z);
        CHECK(rc == NODEC_BAD_MODEL && strstr(nodec_get_error_message(s), "uses_t = 0"), "inputs, uses_t 0: %s",
              nodec_error_name(rc));
        nodec_free(s);
    }
}

int main(void) {
    make_rows();
    test_interp();
    test_integral(NODEC_DOPRI5, NODEC_BATCH_SHARED, 0, 1e-10);
    test_integral(NODEC_TSIT5, NODEC_BATCH_SHARED, 0, 1e-10);
    test_integral(NODEC_DOPRI5, NODEC_BATCH_INDEPENDENT, 0, 1e-10);
    test_integral(NODEC_BOSH3, NODEC_BATCH_SHARED, 0, 1e-10);
    /* rk4 on a grid through every knot: Simpson's rule on each piece,
     * exact for these polynomials of degree ≤ 3 */
    test_integral(NODEC_RK4, NODEC_BATCH_SHARED, 0.05, 1e-12);
    test_grads(NODEC_INTERP_CUBIC, NODEC_INTERP_CUBIC);
    test_grads(NODEC_INTERP_LINEAR, NODEC_INTERP_HOLD);
    test_grads(NODEC_INTERP_HOLD, NODEC_INTERP_LINEAR);
    drv_kind[0] = NODEC_INTERP_LINEAR;
    drv_kind[1] = NODEC_INTERP_HOLD;
    test_stiff_grads(NODEC_RODAS5P, 1e-7);
    test_stiff_grads(NODEC_AUTO, 1e-7);
    test_stiff_grads(NODEC_KVAERNO4, 1e-7);
    test_krylov_grads();
    test_fixed_grads();
    test_threads();
    test_errors();
    return test_summary("test_inputs");
}
