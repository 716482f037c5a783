/* cv_peer.c — CVODES adjoint sensitivity analysis with hand-written
 * right-hand sides, the peer nodec is measured against.  README.md.
 *
 * Math (the same as nodec's, DESIGN.md §1): a(t) = ∂L/∂z(t) solves
 * da/dt = −(∂f/∂z)ᵀ a backwards; dL/dθ = ∫ aᵀ ∂f/∂θ dt, computed as the
 * backward quadrature q' = −aᵀ∂f/∂θ, q(t_N) = 0, so dL/dθ = q(t_0);
 * dL/dz0 = a(t_0).  At each observation time a jumps by ∂ℓ/∂z(t_i)/(n·B):
 * CVodeB stops at t_i, CVodeGetB / CVodeGetQuadB read a and q there, the
 * jump is added and CVodeReInitB / CVodeQuadReInitB restart the backward
 * problem from t_i.
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include "cv_peer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cvodes/cvodes.h>
#include <nvector/nvector_serial.h>
#include <sundials/sundials_context.h>
#include <sunlinsol/sunlinsol_dense.h>
#include <sunmatrix/sunmatrix_dense.h>
#include <sunnonlinsol/sunnonlinsol_fixedpoint.h>

#define H 50 /* spiral hidden width */

/* ---- hand-written models ------------------------------------------------
 * Lotka–Volterra: θ = (α, β, δ, γ), f = (αx − βxy, δxy − γy).
 * Spiral: u = z³, h = tanh(W1 u + b1), f = W2 h + b2; θ = W1[50,2] (row
 * major, at 0), b1[50] (100), W2[2,50] (150), b2[2] (250). */

static void lv_f(int B, const double *restrict th, const double *restrict z,
                 double *restrict out)
{
    const double al = th[0], be = th[1], de = th[2], ga = th[3];
    for (int b = 0; b < B; b++) {
        const double x = z[2 * b], y = z[2 * b + 1];
        out[2 * b] = al * x - be * x * y;
        out[2 * b + 1] = de * x * y - ga * y;
    }
}

static void lv_fB(int B, const double *restrict th, const double *restrict z,
                  const double *restrict a, double *restrict out)
{
    const double al = th[0], be = th[1], de = th[2], ga = th[3];
    for (int b = 0; b < B; b++) {
        const double x = z[2 * b], y = z[2 * b + 1];
        const double ax = a[2 * b], ay = a[2 * b + 1];
        out[2 * b] = -((al - be * y) * ax + de * y * ay);
        out[2 * b + 1] = -(-be * x * ax + (de * x - ga) * ay);
    }
}

static void lv_fQB(int B, const double *restrict z, const double *restrict a,
                   double *restrict q)
{
    double q0 = 0, q1 = 0, q2 = 0, q3 = 0;
    for (int b = 0; b < B; b++) {
        const double x = z[2 * b], y = z[2 * b + 1];
        const double ax = a[2 * b], ay = a[2 * b + 1];
        q0 -= ax * x;
        q1 += ax * x * y;
        q2 -= ay * x * y;
        q3 += ay * y;
    }
    q[0] = q0, q[1] = q1, q[2] = q2, q[3] = q3;
}

/* J (column-major, leading dimension ld) block b: ∂f/∂z at z_b, times sgn */
static void lv_jac(int B, const double *restrict th, const double *restrict z,
                   double sgn, int transpose, double *J, long ld)
{
    const double al = th[0], be = th[1], de = th[2], ga = th[3];
    for (int b = 0; b < B; b++) {
        const double x = z[2 * b], y = z[2 * b + 1];
        double j[2][2] = {{al - be * y, -be * x}, {de * y, de * x - ga}};
        for (int r = 0; r < 2; r++)
            for (int c = 0; c < 2; c++) {
                const double v = sgn * (transpose ? j[c][r] : j[r][c]);
                J[(long)(2 * b + c) * ld + 2 * b + r] = v;
            }
    }
}

static void sp_f(int B, const double *restrict th, const double *restrict z,
                 double *restrict out)
{
    const double *W1 = th, *b1 = th + 100, *W2 = th + 150, *b2 = th + 250;
    for (int b = 0; b < B; b++) {
        const double u0 = z[2 * b] * z[2 * b] * z[2 * b];
        const double u1 = z[2 * b + 1] * z[2 * b + 1] * z[2 * b + 1];
        double h[H];
        for (int k = 0; k < H; k++)
            h[k] = tanh(W1[2 * k] * u0 + W1[2 * k + 1] * u1 + b1[k]);
        double o0 = b2[0], o1 = b2[1];
        for (int k = 0; k < H; k++) {
            o0 += W2[k] * h[k];
            o1 += W2[H + k] * h[k];
        }
        out[2 * b] = o0;
        out[2 * b + 1] = o1;
    }
}

/* the hidden layer and g = (W2ᵀa) ⊙ (1 − h²) for one sample */
static void sp_hidden(const double *restrict th, const double *restrict zb,
                      const double *restrict ab, double *restrict u,
                      double *restrict h, double *restrict g)
{
    const double *W1 = th, *b1 = th + 100, *W2 = th + 150;
    u[0] = zb[0] * zb[0] * zb[0];
    u[1] = zb[1] * zb[1] * zb[1];
    for (int k = 0; k < H; k++)
        h[k] = tanh(W1[2 * k] * u[0] + W1[2 * k + 1] * u[1] + b1[k]);
    for (int k = 0; k < H; k++)
        g[k] = (W2[k] * ab[0] + W2[H + k] * ab[1]) * (1.0 - h[k] * h[k]);
}

static void sp_fB(int B, const double *restrict th, const double *restrict z,
                  const double *restrict a, double *restrict out)
{
    const double *W1 = th;
    for (int b = 0; b < B; b++) {
        double u[2], h[H], g[H];
        sp_hidden(th, z + 2 * b, a + 2 * b, u, h, g);
        double s0 = 0, s1 = 0;
        for (int k = 0; k < H; k++) {
            s0 += W1[2 * k] * g[k];
            s1 += W1[2 * k + 1] * g[k];
        }
        const double z0 = z[2 * b], z1 = z[2 * b + 1];
        out[2 * b] = -3.0 * z0 * z0 * s0;
        out[2 * b + 1] = -3.0 * z1 * z1 * s1;
    }
}

static void sp_fQB(int B, const double *restrict th, const double *restrict z,
                   const double *restrict a, double *restrict q)
{
    memset(q, 0, 252 * sizeof *q);
    for (int b = 0; b < B; b++) {
        double u[2], h[H], g[H];
        const double *ab = a + 2 * b;
        sp_hidden(th, z + 2 * b, ab, u, h, g);
        for (int k = 0; k < H; k++) {
            q[2 * k] -= g[k] * u[0];
            q[2 * k + 1] -= g[k] * u[1];
            q[100 + k] -= g[k];
            q[150 + k] -= ab[0] * h[k];
            q[200 + k] -= ab[1] * h[k];
        }
        q[250] -= ab[0];
        q[251] -= ab[1];
    }
}

static void sp_jac(int B, const double *restrict th, const double *restrict z,
                   double sgn, int transpose, double *J, long ld)
{
    const double *W1 = th, *b1 = th + 100, *W2 = th + 150;
    for (int b = 0; b < B; b++) {
        const double z0 = z[2 * b], z1 = z[2 * b + 1];
        const double u0 = z0 * z0 * z0, u1 = z1 * z1 * z1;
        double j[2][2] = {{0, 0}, {0, 0}};
        for (int k = 0; k < H; k++) {
            const double h = tanh(W1[2 * k] * u0 + W1[2 * k + 1] * u1 + b1[k]);
            const double d = 1.0 - h * h;
            for (int r = 0; r < 2; r++) {
                const double w = W2[r * H + k] * d;
                j[r][0] += w * W1[2 * k];
                j[r][1] += w * W1[2 * k + 1];
            }
        }
        for (int r = 0; r < 2; r++) {
            j[r][0] *= 3.0 * z0 * z0;
            j[r][1] *= 3.0 * z1 * z1;
        }
        for (int r = 0; r < 2; r++)
            for (int c = 0; c < 2; c++) {
                const double v = sgn * (transpose ? j[c][r] : j[r][c]);
                J[(long)(2 * b + c) * ld + 2 * b + r] = v;
            }
    }
}

/* ---- the stiff problems (B = 1) ---------------------------------------- */

static void rober_f(const double *th, const double *y, double *out)
{
    const double k1 = exp(th[0]), k2 = exp(th[1]), k3 = exp(th[2]);
    const double r1 = k1 * y[0], r2 = k2 * y[1] * y[1], r3 = k3 * y[1] * y[2];
    out[0] = -r1 + r3;
    out[1] = r1 - r2 - r3;
    out[2] = r2;
}

static void rober_J(const double *th, const double *y, double *J)
{
    const double k1 = exp(th[0]), k2 = exp(th[1]), k3 = exp(th[2]);
    J[0] = -k1, J[1] = k3 * y[2], J[2] = k3 * y[1];
    J[3] = k1, J[4] = -2 * k2 * y[1] - k3 * y[2], J[5] = -k3 * y[1];
    J[6] = 0, J[7] = 2 * k2 * y[1], J[8] = 0;
}

static void rober_P(const double *th, const double *y, double *P)
{
    const double r1 = exp(th[0]) * y[0], r2 = exp(th[1]) * y[1] * y[1];
    const double r3 = exp(th[2]) * y[1] * y[2];
    P[0] = -r1, P[1] = 0, P[2] = r3;
    P[3] = r1, P[4] = -r2, P[5] = -r3;
    P[6] = 0, P[7] = r2, P[8] = 0;
}

static void vdp_f(const double *th, const double *z, double *out)
{
    out[0] = z[1];
    out[1] = th[0] * (1 - z[0] * z[0]) * z[1] - z[0];
}

static void vdp_J(const double *th, const double *z, double *J)
{
    J[0] = 0, J[1] = 1;
    J[2] = -2 * th[0] * z[0] * z[1] - 1, J[3] = th[0] * (1 - z[0] * z[0]);
}

static void vdp_P(const double *z, double *P)
{
    P[0] = 0;
    P[1] = (1 - z[0] * z[0]) * z[1];
}

static int stiff_kind(const problem *p)
{
    return p->kind == KIND_ROBER || p->kind == KIND_VDP;
}

void hw_jac_dense(const problem *p, const double *z, double *J)
{
    if (p->kind == KIND_ROBER)
        rober_J(p->theta, z, J);
    else
        vdp_J(p->theta, z, J);
}

void hw_dfdp(const problem *p, const double *z, double *P)
{
    if (p->kind == KIND_ROBER)
        rober_P(p->theta, z, P);
    else
        vdp_P(z, P);
}

/* −Jᵀa and −aᵀP for the stiff kinds */
static void stiff_fB(const problem *p, const double *z, const double *a,
                     double *out)
{
    double J[9];
    const int n = p->ns;
    hw_jac_dense(p, z, J);
    for (int j = 0; j < n; j++) {
        double s = 0;
        for (int i = 0; i < n; i++)
            s += a[i] * J[i * n + j];
        out[j] = -s;
    }
}

static void stiff_fQB(const problem *p, const double *z, const double *a,
                      double *q)
{
    double P[9];
    const int n = p->ns, np = p->np;
    hw_dfdp(p, z, P);
    for (int j = 0; j < np; j++) {
        double s = 0;
        for (int i = 0; i < n; i++)
            s += a[i] * P[i * np + j];
        q[j] = -s;
    }
}

static void stiff_jac(const problem *p, const double *z, double sgn,
                      int transpose, double *Jc, long ld)
{
    double J[9];
    const int n = p->ns;
    hw_jac_dense(p, z, J);
    for (int r = 0; r < n; r++)
        for (int c = 0; c < n; c++)
            Jc[(long)c * ld + r] = sgn * (transpose ? J[c * n + r] : J[r * n + c]);
}

void hw_f(const problem *p, const double *z, double *dzdt)
{
    if (p->kind == KIND_ROBER)
        rober_f(p->theta, z, dzdt);
    else if (p->kind == KIND_VDP)
        vdp_f(p->theta, z, dzdt);
    else if (p->kind == KIND_LV)
        lv_f(p->B, p->theta, z, dzdt);
    else
        sp_f(p->B, p->theta, z, dzdt);
}

void hw_fB(const problem *p, const double *z, const double *a, double *out)
{
    if (stiff_kind(p))
        stiff_fB(p, z, a, out);
    else if (p->kind == KIND_LV)
        lv_fB(p->B, p->theta, z, a, out);
    else
        sp_fB(p->B, p->theta, z, a, out);
}

void hw_fQB(const problem *p, const double *z, const double *a, double *q)
{
    if (stiff_kind(p))
        stiff_fQB(p, z, a, q);
    else if (p->kind == KIND_LV)
        lv_fQB(p->B, z, a, q);
    else
        sp_fQB(p->B, p->theta, z, a, q);
}

/* Lotka–Volterra: the default loss, mean squared error: ℓ = ½Σ d².
 * Spiral: mean(abs(pred − obs)): ℓ = ½Σ|d|, ∂ℓ = ½ sign(d), sign(0) = 0
 * (as in the emitted code). */
double hw_loss(const problem *p, const double *z, const double *y, double *grad)
{
    double s = 0;
    const int n = p->B * p->ns;
    if (p->loss_grad) { /* the stiff problems: the emitted loss */
        double g[16];
        double l = p->loss_grad(p->B, z, y, grad ? grad : g, p->loss_work);
        return l;
    }
    for (int i = 0; i < n; i++) {
        const double d = z[i] - y[i];
        if (p->kind == KIND_LV) {
            s += d * d;
            if (grad)
                grad[i] = d; /* ∂(½d²)/∂d */
        } else {
            s += fabs(d);
            if (grad)
                grad[i] = 0.5 * (double)((d > 0) - (d < 0));
        }
    }
    return 0.5 * s;
}

/* ---- CVODES ------------------------------------------------------------ */

int cv_peer_interp = CV_HERMITE;
int cv_peer_hinit = 0;

struct cv_peer {
    const problem *p;
    int lmm, quad_errcon, initB, which;
    long nd;
    int N;
    SUNContext ctx;
    void *mem;
    N_Vector y, yB, qB;
    SUNMatrix A, AB;
    SUNLinearSolver LS, LSB;
    SUNNonlinearSolver NLS, NLSB;
    int phase; /* 0 forward, 1 backward (f calls are recomputation) */
    cv_counts n;
    double *zs, *gl; /* z(t_i) (n_times × N), loss gradient (N) */
    double rtol, atol;
};

static int cb_f(realtype t, N_Vector y, N_Vector ydot, void *ud)
{
    cv_peer *c = ud;
    (void)t;
    if (c->phase)
        c->n.f_rec++;
    else
        c->n.f_fwd++;
    hw_f(c->p, N_VGetArrayPointer(y), N_VGetArrayPointer(ydot));
    return 0;
}

static int cb_fB(realtype t, N_Vector y, N_Vector yB, N_Vector yBdot, void *ud)
{
    cv_peer *c = ud;
    (void)t;
    c->n.fB++;
    hw_fB(c->p, N_VGetArrayPointer(y), N_VGetArrayPointer(yB),
          N_VGetArrayPointer(yBdot));
    return 0;
}

static int cb_fQB(realtype t, N_Vector y, N_Vector yB, N_Vector qBdot, void *ud)
{
    cv_peer *c = ud;
    (void)t;
    c->n.fQB++;
    hw_fQB(c->p, N_VGetArrayPointer(y), N_VGetArrayPointer(yB),
           N_VGetArrayPointer(qBdot));
    return 0;
}

static void fill_jac(cv_peer *c, const double *z, SUNMatrix J, double sgn,
                     int transpose)
{
    SUNMatZero(J); /* block diagonal for a batch */
    double *d = SUNDenseMatrix_Data(J);
    const long ld = SUNDenseMatrix_LData(J) / SUNDenseMatrix_Columns(J);
    if (stiff_kind(c->p))
        stiff_jac(c->p, z, sgn, transpose, d, ld);
    else if (c->p->kind == KIND_LV)
        lv_jac(c->p->B, c->p->theta, z, sgn, transpose, d, ld);
    else
        sp_jac(c->p->B, c->p->theta, z, sgn, transpose, d, ld);
}

static int cb_jac(realtype t, N_Vector y, N_Vector fy, SUNMatrix J, void *ud,
                  N_Vector t1, N_Vector t2, N_Vector t3)
{
    cv_peer *c = ud;
    (void)t, (void)fy, (void)t1, (void)t2, (void)t3;
    c->n.jac++;
    fill_jac(c, N_VGetArrayPointer(y), J, 1.0, 0);
    return 0;
}

/* ∂fB/∂yB = −(∂f/∂z)ᵀ */
static int cb_jacB(realtype t, N_Vector y, N_Vector yB, N_Vector fyB,
                   SUNMatrix JB, void *ud, N_Vector t1, N_Vector t2,
                   N_Vector t3)
{
    cv_peer *c = ud;
    (void)t, (void)yB, (void)fyB, (void)t1, (void)t2, (void)t3;
    c->n.jacB++;
    fill_jac(c, N_VGetArrayPointer(y), JB, -1.0, 1);
    return 0;
}

#define CHECK(call)                                                        \
    do {                                                                   \
        int flag_ = (call);                                                \
        if (flag_ < 0) {                                                   \
            fprintf(stderr, "cv_peer: %s failed: %d\n", #call, flag_);     \
            return flag_;                                                  \
        }                                                                  \
    } while (0)
#define CHECKP(call)                                                       \
    do {                                                                   \
        int flag_ = (call);                                                \
        if (flag_ < 0) {                                                   \
            fprintf(stderr, "cv_peer: %s failed: %d\n", #call, flag_);     \
            cv_peer_free(c);                                               \
            return NULL;                                                   \
        }                                                                  \
    } while (0)

cv_peer *cv_peer_create(const problem *p, int lmm, long nd, int quad_errcon)
{
    cv_peer *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->p = p;
    c->lmm = lmm;
    c->nd = nd;
    c->quad_errcon = quad_errcon;
    c->N = p->B * p->ns;
    c->zs = malloc(sizeof(double) * (size_t)(p->n_times * c->N));
    c->gl = malloc(sizeof(double) * (size_t)c->N);
    CHECKP(SUNContext_Create(NULL, &c->ctx));
    c->y = N_VNew_Serial(c->N, c->ctx);
    c->yB = N_VNew_Serial(c->N, c->ctx);
    c->qB = N_VNew_Serial(p->np, c->ctx);
    memcpy(N_VGetArrayPointer(c->y), p->z0, sizeof(double) * (size_t)c->N);
    c->mem = CVodeCreate(lmm, c->ctx);
    if (!c->mem) {
        cv_peer_free(c);
        return NULL;
    }
    CHECKP(CVodeInit(c->mem, cb_f, p->t[0], c->y));
    CHECKP(CVodeSStolerances(c->mem, 1e-6, 1e-6));
    CHECKP(CVodeSetUserData(c->mem, c));
    CHECKP(CVodeSetMaxNumSteps(c->mem, 1000000));
    if (lmm == CV_ADAMS) {
        c->NLS = SUNNonlinSol_FixedPoint(c->y, 0, c->ctx);
        CHECKP(CVodeSetNonlinearSolver(c->mem, c->NLS));
    } else {
        c->A = SUNDenseMatrix(c->N, c->N, c->ctx);
        c->LS = SUNLinSol_Dense(c->y, c->A, c->ctx);
        CHECKP(CVodeSetLinearSolver(c->mem, c->LS, c->A));
        CHECKP(CVodeSetJacFn(c->mem, cb_jac));
    }
    CHECKP(CVodeAdjInit(c->mem, nd, cv_peer_interp));
    CHECKP(CVodeCreateB(c->mem, lmm, &c->which));
    return c;
}

void cv_peer_free(cv_peer *c)
{
    if (!c)
        return;
    if (c->mem)
        CVodeFree(&c->mem); /* frees the adjoint memory and B problems */
    if (c->NLS)
        SUNNonlinSolFree(c->NLS);
    if (c->NLSB)
        SUNNonlinSolFree(c->NLSB);
    if (c->LS)
        SUNLinSolFree(c->LS);
    if (c->LSB)
        SUNLinSolFree(c->LSB);
    if (c->A)
        SUNMatDestroy(c->A);
    if (c->AB)
        SUNMatDestroy(c->AB);
    if (c->y)
        N_VDestroy(c->y);
    if (c->yB)
        N_VDestroy(c->yB);
    if (c->qB)
        N_VDestroy(c->qB);
    if (c->ctx)
        SUNContext_Free(&c->ctx);
    free(c->zs);
    free(c->gl);
    free(c);
}

/* the backward problem's solvers and options, on the first gradient
 * (CVodeInitB needs the forward problem's final time) */
static int init_backward(cv_peer *c, double tN)
{
    void *m = c->mem;
    const int w = c->which;
    CHECK(CVodeInitB(m, w, cb_fB, tN, c->yB));
    CHECK(CVodeSetUserDataB(m, w, c));
    CHECK(CVodeSetMaxNumStepsB(m, w, 1000000));
    if (c->lmm == CV_ADAMS) {
        c->NLSB = SUNNonlinSol_FixedPoint(c->yB, 0, c->ctx);
        CHECK(CVodeSetNonlinearSolverB(m, w, c->NLSB));
    } else {
        c->AB = SUNDenseMatrix(c->N, c->N, c->ctx);
        c->LSB = SUNLinSol_Dense(c->yB, c->AB, c->ctx);
        CHECK(CVodeSetLinearSolverB(m, w, c->LSB, c->AB));
        CHECK(CVodeSetJacFnB(m, w, cb_jacB));
    }
    CHECK(CVodeQuadInitB(m, w, cb_fQB, c->qB));
    CHECK(CVodeSetQuadErrConB(m, w, c->quad_errcon ? SUNTRUE : SUNFALSE));
    c->initB = 1;
    return 0;
}

int cv_peer_grad(cv_peer *c, double rtol, double atol, double *loss,
                 double *dtheta, double *dz0)
{
    const problem *p = c->p;
    const int N = c->N, n = p->n_times;
    const double scale = 1.0 / ((double)n * p->B);
    void *m = c->mem;
    long nst = 0, nfe = 0;

    memset(&c->n, 0, sizeof c->n);
    c->phase = 0;
    /* forward */
    memcpy(N_VGetArrayPointer(c->y), p->z0, sizeof(double) * (size_t)N);
    CHECK(CVodeReInit(m, p->t[0], c->y));
    CHECK(CVodeSStolerances(m, rtol, atol));
    CHECK(CVodeSetStopTime(m, p->t[n - 1]));
    CHECK(CVodeAdjReInit(m));
    memcpy(c->zs, p->z0, sizeof(double) * (size_t)N);
    for (int i = 1; i < n; i++) {
        double tret;
        int ncheck;
        CHECK(CVodeF(m, p->t[i], c->y, &tret, CV_NORMAL, &ncheck));
        memcpy(c->zs + (size_t)i * N, N_VGetArrayPointer(c->y),
               sizeof(double) * (size_t)N);
    }
    CVodeGetNumSteps(m, &c->n.nst);
    CVodeGetNumRhsEvals(m, &c->n.nfe_cv);

    /* loss */
    double L = 0;
    for (int i = 0; i < n; i++)
        L += hw_loss(p, c->zs + (size_t)i * N, p->obs + (size_t)i * N, NULL);
    *loss = L * scale;

    /* backward, interval by interval */
    c->phase = 1;
    double *yB = N_VGetArrayPointer(c->yB);
    hw_loss(p, c->zs + (size_t)(n - 1) * N, p->obs + (size_t)(n - 1) * N,
            c->gl);
    for (int k = 0; k < N; k++)
        yB[k] = scale * c->gl[k];
    N_VConst(0.0, c->qB);
    if (!c->initB) {
        CHECK(init_backward(c, p->t[n - 1]));
    } else {
        CHECK(CVodeReInitB(m, c->which, p->t[n - 1], c->yB));
        CHECK(CVodeQuadReInitB(m, c->which, c->qB));
    }
    if (cv_peer_hinit)
        CHECK(CVodeSetInitStepB(m, c->which, 0.0));
    CHECK(CVodeSStolerancesB(m, c->which, rtol, atol));
    CHECK(CVodeQuadSStolerancesB(m, c->which, rtol, atol));
    void *mB = CVodeGetAdjCVodeBmem(m, c->which);
    for (int i = n - 1; i >= 1; i--) {
        double tret;
        CHECK(CVodeB(m, p->t[i - 1], CV_NORMAL));
        CHECK(CVodeGetB(m, c->which, &tret, c->yB));
        CHECK(CVodeGetQuadB(m, c->which, &tret, c->qB));
        long s, f;
        CVodeGetNumSteps(mB, &s);
        CVodeGetNumRhsEvals(mB, &f);
        nst += s;
        nfe += f;
        yB = N_VGetArrayPointer(c->yB);
        hw_loss(p, c->zs + (size_t)(i - 1) * N,
                p->obs + (size_t)(i - 1) * N, c->gl);
        for (int k = 0; k < N; k++)
            yB[k] += scale * c->gl[k];
        if (i - 1 > 0) {
            double hlast = 0;
            if (cv_peer_hinit)
                CVodeGetLastStep(mB, &hlast);
            CHECK(CVodeReInitB(m, c->which, p->t[i - 1], c->yB));
            CHECK(CVodeQuadReInitB(m, c->which, c->qB));
            /* tuned restart: the last step instead of CVODES' estimate
             * (0 restores the estimate) */
            if (cv_peer_hinit)
                CHECK(CVodeSetInitStepB(m, c->which, hlast));
        }
    }
    c->n.nstB = nst;
    c->n.nfeB_cv = nfe;
    memcpy(dtheta, N_VGetArrayPointer(c->qB), sizeof(double) * (size_t)p->np);
    memcpy(dz0, N_VGetArrayPointer(c->yB), sizeof(double) * (size_t)N);
    return 0;
}

void cv_peer_counts(const cv_peer *c, cv_counts *out) { *out = c->n; }

/* ---- helpers of the drivers ---------------------------------------------- */

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void *bench_xmalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
    return p;
}

double bench_rel_err(const double *g, const double *r, int n)
{
    double num = 0, den = 0;
    for (int i = 0; i < n; i++)
        num += (g[i] - r[i]) * (g[i] - r[i]), den += r[i] * r[i];
    return sqrt(num / (den > 0 ? den : 1));
}

double bench_median(double *x, int n)
{
    for (int i = 1; i < n; i++) /* insertion sort, n small */
        for (int j = i; j > 0 && x[j] < x[j - 1]; j--) {
            double t = x[j];
            x[j] = x[j - 1], x[j - 1] = t;
        }
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}
