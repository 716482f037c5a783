/* cv_sens.c — CVODES forward sensitivity analysis (CVodeSens) with a hand-
 * written sensitivity RHS, the second CVODES peer of the stiff benchmark
 * (bench_stiff.c).  README.md.
 *
 * s_j = ∂z/∂θ_j solves s_j' = J s_j + ∂f/∂θ_j, s_j(t_0) = 0; the loss
 * gradient is dL/dθ = 1/n Σ_i ∂ℓ/∂z(t_i) · s(t_i), read with CVodeGetSens
 * at each observation time.  BDF, Newton with the dense linear solver and
 * the hand-written Jacobian (shared by the state and the sensitivities);
 * the sensitivities are in the local error test (CVodeSetSensErrCon), with
 * the state's rtol and atol.
 */
#include "cv_peer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cvodes/cvodes.h>
#include <nvector/nvector_serial.h>
#include <sundials/sundials_context.h>
#include <sunlinsol/sunlinsol_dense.h>
#include <sunmatrix/sunmatrix_dense.h>

struct cv_sens {
    const problem *p;
    int ism, N, np;
    SUNContext ctx;
    void *mem;
    N_Vector y, *yS;
    SUNMatrix A;
    SUNLinearSolver LS;
    long nfS, njac;
    double *gl, *abstolS;
};

static int cs_f(realtype t, N_Vector y, N_Vector ydot, void *ud)
{
    cv_sens *c = ud;
    (void)t;
    hw_f(c->p, N_VGetArrayPointer(y), N_VGetArrayPointer(ydot));
    return 0;
}

static int cs_jac(realtype t, N_Vector y, N_Vector fy, SUNMatrix J, void *ud,
                  N_Vector t1, N_Vector t2, N_Vector t3)
{
    cv_sens *c = ud;
    double Jr[9];
    const int n = c->N;
    (void)t, (void)fy, (void)t1, (void)t2, (void)t3;
    c->njac++;
    hw_jac_dense(c->p, N_VGetArrayPointer(y), Jr);
    for (int r = 0; r < n; r++)
        for (int k = 0; k < n; k++)
            SM_ELEMENT_D(J, r, k) = Jr[r * n + k];
    return 0;
}

/* all sensitivities at once: ySdot_j = J yS_j + P[:, j] */
static int cs_fS(int Ns, realtype t, N_Vector y, N_Vector ydot, N_Vector *yS,
                 N_Vector *ySdot, void *ud, N_Vector tmp1, N_Vector tmp2)
{
    cv_sens *c = ud;
    double J[9], P[9];
    const int n = c->N, np = c->np;
    const double *z = N_VGetArrayPointer(y);
    (void)t, (void)ydot, (void)tmp1, (void)tmp2;
    c->nfS++;
    hw_jac_dense(c->p, z, J);
    hw_dfdp(c->p, z, P);
    for (int j = 0; j < Ns; j++) {
        const double *s = N_VGetArrayPointer(yS[j]);
        double *o = N_VGetArrayPointer(ySdot[j]);
        for (int r = 0; r < n; r++) {
            double v = P[r * np + j];
            for (int k = 0; k < n; k++)
                v += J[r * n + k] * s[k];
            o[r] = v;
        }
    }
    return 0;
}

#define CHECKP(call)                                                       \
    do {                                                                   \
        int flag_ = (call);                                                \
        if (flag_ < 0) {                                                   \
            fprintf(stderr, "cv_sens: %s failed: %d\n", #call, flag_);     \
            cv_sens_free(c);                                               \
            return NULL;                                                   \
        }                                                                  \
    } while (0)
#define CHECK(call)                                                        \
    do {                                                                   \
        int flag_ = (call);                                                \
        if (flag_ < 0) {                                                   \
            fprintf(stderr, "cv_sens: %s failed: %d\n", #call, flag_);     \
            return flag_;                                                  \
        }                                                                  \
    } while (0)

cv_sens *cv_sens_create(const problem *p, int ism)
{
    cv_sens *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->p = p;
    c->ism = ism;
    c->N = p->ns;
    c->np = p->np;
    c->gl = malloc(sizeof(double) * (size_t)c->N);
    c->abstolS = malloc(sizeof(double) * (size_t)c->np);
    CHECKP(SUNContext_Create(NULL, &c->ctx));
    c->y = N_VNew_Serial(c->N, c->ctx);
    memcpy(N_VGetArrayPointer(c->y), p->z0, sizeof(double) * (size_t)c->N);
    c->yS = N_VCloneVectorArray(c->np, c->y);
    for (int j = 0; j < c->np; j++)
        N_VConst(0.0, c->yS[j]);
    c->mem = CVodeCreate(CV_BDF, c->ctx);
    if (!c->mem) {
        cv_sens_free(c);
        return NULL;
    }
    CHECKP(CVodeInit(c->mem, cs_f, p->t[0], c->y));
    CHECKP(CVodeSStolerances(c->mem, 1e-6, 1e-6));
    CHECKP(CVodeSetUserData(c->mem, c));
    CHECKP(CVodeSetMaxNumSteps(c->mem, 10000000));
    c->A = SUNDenseMatrix(c->N, c->N, c->ctx);
    c->LS = SUNLinSol_Dense(c->y, c->A, c->ctx);
    CHECKP(CVodeSetLinearSolver(c->mem, c->LS, c->A));
    CHECKP(CVodeSetJacFn(c->mem, cs_jac));
    CHECKP(CVodeSensInit(c->mem, c->np, ism, cs_fS, c->yS));
    CHECKP(CVodeSetSensErrCon(c->mem, SUNTRUE));
    return c;
}

void cv_sens_free(cv_sens *c)
{
    if (!c)
        return;
    if (c->mem)
        CVodeFree(&c->mem);
    if (c->LS)
        SUNLinSolFree(c->LS);
    if (c->A)
        SUNMatDestroy(c->A);
    if (c->yS)
        N_VDestroyVectorArray(c->yS, c->np);
    if (c->y)
        N_VDestroy(c->y);
    if (c->ctx)
        SUNContext_Free(&c->ctx);
    free(c->gl);
    free(c->abstolS);
    free(c);
}

int cv_sens_grad(cv_sens *c, double rtol, double atol, double *loss,
                 double *dtheta)
{
    const problem *p = c->p;
    const int N = c->N, n = p->n_times, np = c->np;
    const double scale = 1.0 / (double)n;
    void *m = c->mem;
    c->nfS = 0, c->njac = 0;
    memcpy(N_VGetArrayPointer(c->y), p->z0, sizeof(double) * (size_t)N);
    for (int j = 0; j < np; j++)
        N_VConst(0.0, c->yS[j]), c->abstolS[j] = atol;
    CHECK(CVodeReInit(m, p->t[0], c->y));
    CHECK(CVodeSStolerances(m, rtol, atol));
    CHECK(CVodeSensReInit(m, c->ism, c->yS));
    CHECK(CVodeSensSStolerances(m, rtol, c->abstolS));
    CHECK(CVodeSetStopTime(m, p->t[n - 1]));
    /* t_0: s = 0, only the loss */
    double L = hw_loss(p, p->z0, p->obs, c->gl);
    memset(dtheta, 0, sizeof(double) * (size_t)np);
    for (int i = 1; i < n; i++) {
        double tret;
        CHECK(CVode(m, p->t[i], c->y, &tret, CV_NORMAL));
        CHECK(CVodeGetSens(m, &tret, c->yS));
        const double *z = N_VGetArrayPointer(c->y);
        L += hw_loss(p, z, p->obs + (size_t)i * N, c->gl);
        for (int j = 0; j < np; j++) {
            const double *s = N_VGetArrayPointer(c->yS[j]);
            double v = 0;
            for (int k = 0; k < N; k++)
                v += c->gl[k] * s[k];
            dtheta[j] += scale * v;
        }
    }
    *loss = L * scale;
    return 0;
}

void cv_sens_counts(const cv_sens *c, long *nst, long *nfe, long *nfS,
                    long *njac)
{
    CVodeGetNumSteps(c->mem, nst);
    CVodeGetNumRhsEvals(c->mem, nfe);
    *nfS = c->nfS;
    *njac = c->njac;
}
