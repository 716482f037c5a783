/* esdirk.c — the ESDIRK method: Kværnø's 4(3), five stages, L-stable and
 * stiffly accurate, its tableau and one step's stages by simplified Newton
 * iteration on the model's ∂f/∂z.  DESIGN.md §7 "Solvers and gradients".
 * solver.c drives it (error norm, step control, dense output: the stages
 * are derivatives k_i, as an explicit tableau's); this file calls
 * rosenbrock.c (the factorisation of W), linalg.c, handle.c and mem.c.
 * For large states the linear solves are GMRES on J·v instead of the LU
 * ("the GMRES path" below; the switch is esd_krylov).  On the dense path
 * J is kept across steps while the iteration converges fast ("Jacobian
 * reuse", at the end).
 *
 * A. Kværnø, "Singly diagonally implicit Runge–Kutta methods with an
 * explicit first stage", BIT 44 (2004) 489–502: the 4/3 pair that advances
 * with the 4th-order last stage, γ = 0.5728160625, every coefficient a
 * rational function of γ (the formulas as in Diffrax's kvaerno4.py; the
 * values below are those formulas evaluated in 40-digit arithmetic, and
 * they satisfy the eight order-4 conditions to 1e-40 and the embedded
 * method's four order-3 conditions; R(∞) = −7e-11, from γ's ten digits).
 *
 *     Y_1 = y0,                  k_1 = F(t0, y0)  (the last step's k_5)
 *     Y_i = y0 + h Σ_{j<i} a_ij k_j + hγ F(t0 + c_i h, Y_i),   i = 2 … 5
 *     y1 = Y_5 (stiffly accurate), the embedded 3rd-order y1 = Y_4, so the
 *     error estimate is Y_5 − Y_4 = h Σ_j e_j k_j — both stiffly accurate,
 *     so it needs no filtering on stiff components.
 *
 * Each implicit stage solves z = Y_i − ψ_i, ψ_i = y0 + h Σ_{j<i} a_ij k_j,
 * by simplified Newton with W = I/(hγ) − J, J = ∂F/∂y at (t0, y0), one
 * LU per trajectory (rosenbrock.c's ros_factor) for all four stages and
 * every iteration of the step (J is also kept across the rejected
 * attempts of a step and, while it serves, across accepted steps; W is
 * refactored when h changes):
 *
 *     W Δ = F(t_i, ψ_i + z) − z/(hγ),   z += Δ.
 *
 * The stage's derivative is then k_i = z/(hγ), not F at the last iterate
 * (F would multiply the iteration's error by the stiff eigenvalues;
 * Hairer & Wanner, Solving ODEs II §IV.8), so y1 = ψ_5 + z_5 = y0 +
 * h Σ b_j k_j and the cubic Hermite dense output through y0, y1, k_1, k_5
 * (solver.c, as bosh3's) is consistent with the step.  The start guess of
 * z is hγ k_{i−1}.
 *
 * Convergence (Hairer & Wanner §IV.8, radau5): θ = ‖Δ_m‖/‖Δ_{m−1}‖,
 * η = θ/(1 − θ) (before a second iterate: η of the last stage, raised to
 * 0.8, or 1 before the integrator's first rate); converged when
 * η‖Δ‖ ≤ κ = 0.01 in the error norm (1 = the tolerance).  Failed, and
 * the step is rejected with h halved (solver.c), when θ ≥ 1, when the
 * rate predicts no convergence within NEWT_MAX iterations, or when F is
 * not finite at an iterate.
 *
 * Quadratures (the adjoint's aθ, at; see rk_ode): their F depends on the
 * blocks' components only, so their stage equation is explicit once the
 * blocks' Y_i is known: k_q,i = F_q(t_i, Y_x,i), taken from the last
 * iteration's F plus J_qx Δ (one jvq a stage: F_q is linear in the block
 * components, the adjoint a).
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "internal.h"

#define KV_G 0.5728160625
/* clang-format off */
static const double kv_c[] = {0, 2 * KV_G, 0.59710498768061222570, 1, 1};
/* a_ij, j < i (the diagonal is γ), packed by rows as RK_A */
static const double kv_a[] = {
    KV_G,
    0.16723546204189927490, -0.14294653686128718421,
    0.26260329027397754545, -0.31190432741478537121, 0.47648497464080782576,
    0.19721654832102848117, 0.17684378390661340372, 0.81544218140355149615,
    -0.76231857613119338104,
};
static const double kv_b[] = {0.19721654832102848117, 0.17684378390661340372,
                              0.81544218140355149615, -0.76231857613119338104,
                              KV_G};
/* b − b̂, b̂ = the 4th stage's row (a_4j and γ) */
static const double kv_e[] = {
    0.19721654832102848117 - 0.26260329027397754545,
    0.17684378390661340372 + 0.31190432741478537121,
    0.81544218140355149615 - 0.47648497464080782576,
    -0.76231857613119338104 - KV_G,
    KV_G,
};
/* clang-format on */
static const esd_tab kv_esd = {KV_G};
const rk_tab esd_kvaerno4 = {"kvaerno4", 5, 4, 1, 1, kv_c, kv_a, kv_b, kv_e, NULL, NULL, NULL, &kv_esd};

enum { NEWT_MAX = 10 };
#define NEWT_KAPPA 0.01
/* … with a J kept from an earlier step (below, "Jacobian reuse") */
#define NEWT_KAPPA_OLD (0.3 * NEWT_KAPPA)

/* J = ∂F/∂y at (t, y) (no ∂F/∂t: the stages need none). */
static int esd_jacobian(rk *r) {
    rk_ode *o = r->o;
    int rc;
    if ((rc = o->jac(o, r->t, r->y, r->J))) return rc;
    r->xs->jac_evals++;
    if (!rk_all_finite(r->J, (long)o->nblk * o->blk * o->blk))
        return nodec__fail(r->s, NODEC_NONFINITE,
                           "the Jacobian df/dz is not finite at t = %.6g (%s "
                           "pass): check the model's jac_z and the state for "
                           "NaN/Inf",
                           r->t, r->pass);
    r->jok = 1;
    r->jkeep = 0;
    r->jage = 0;
    r->wfac = 0;
    return NODEC_SUCCESS;
}

/* ---- the GMRES path (matrix-free Newton–Krylov) ----
 *
 * For large states (n_state > ESD_KRYLOV_N, or s->linsolve = GMRES) W Δ = d
 * is solved by restarted GMRES(KRY_M) with modified Gram–Schmidt and
 * Givens rotations, one Krylov space per trajectory (block), all blocks
 * advancing together so that each iteration costs one product J·V of the
 * whole batch, at (t0, y0) as the simplified Newton iteration's J: the
 * system's exact J·v (rk_ode.jvp: the model's emitted JVP forward, its
 * VJP for the adjoint's −Jᵀv), or, for a model without a JVP, the
 * difference quotient (F(t0, y0 + σ_b v_b) − F(t0, y0))/σ_b per block,
 * k_0 being F(t0, y0), σ_b = √ε (1 + ‖y0_b‖)/‖v_b‖ (its error, ≈ √ε
 * relative, made GMRES take 2.3× the products on Fisher–KPP: test_krylov).
 * No n × n matrix is formed, factored or allocated (rk_init leaves J and
 * W's LU out on this path): the workspace is the basis, O(n).
 * The system is scaled by the error weights w_p = atol + rtol |y0_p|, so
 * GMRES minimises the residual in the units of the Newton test, and a
 * block stops when hγ ‖r̃_b‖_RMS ≤ KRY_TOL = 1e-2 κ (‖W⁻¹‖ ≲ hγ when J is
 * dissipative: the solve's error is then 1e-2 of the Newton target — an
 * inexact Newton; where that bound fails, the Newton rate test rejects the
 * step as for a dense solve).  At most KRY_CYCLES restarts; what is left
 * then is the Newton iteration's to judge. */
enum { KRY_M = 20, KRY_CYCLES = 10 };
#define KRY_TOL (1e-2 * NEWT_KAPPA)

typedef struct esd_kry {
    double *V;                       /* KRY_M + 1 basis vectors of nx */
    double *w, *x, *b, *yp, *fp, *u; /* weights, solution, rhs (nx); y0 + σv, F (n); J v (nx) */
    double *H, *cs, *sn, *g, *sig;   /* per block: (M+1)×M, M, M, M+1, 1 */
    int *act, *k, *conv;
    size_t bytes; /* of this struct and its arrays, one block */
} kry;

int esd_krylov(const nodec_solver *s, const rk_ode *o) {
    int ls = s->linsolve;
    return ls == ESD_LINSOLVE_GMRES || (ls == ESD_LINSOLVE_AUTO && o->blk > ESD_KRYLOV_N);
}

/* (KRY_M + 6)·n doubles and small per-block arrays: O(n), once per
 * integrator, so the step loop does not allocate. */
int esd_init(rk *r) {
    const rk_ode *o = r->o;
    size_t n = (size_t)o->n, nb = (size_t)o->nblk, nx = nb * o->blk;
    size_t nd = (KRY_M + 1) * nx + 4 * nx + 2 * n + nb * ((KRY_M + 1) * KRY_M + 3 * KRY_M + 2);
    size_t bytes = sizeof(kry) + nd * sizeof(double) + 3 * nb * sizeof(int);
    kry *K;
    double *p;
    if (!(K = mem_alloc(&r->s->mem, bytes))) return nodec__fail(r->s, NODEC_MEM_FAIL, "out of memory");
    K->bytes = bytes;
    p = (double *)(K + 1);
    K->V = p, p += (KRY_M + 1) * nx;
    K->w = p, p += nx;
    K->x = p, p += nx;
    K->b = p, p += nx;
    K->u = p, p += nx;
    K->yp = p, p += n;
    K->fp = p, p += n;
    K->H = p, p += nb * (KRY_M + 1) * KRY_M;
    K->cs = p, p += nb * KRY_M;
    K->sn = p, p += nb * KRY_M;
    K->g = p, p += nb * (KRY_M + 1);
    K->sig = p, p += nb;
    K->act = (int *)p;
    K->k = K->act + nb;
    K->conv = K->k + nb;
    r->kry = K;
    return NODEC_SUCCESS;
}

void esd_release(rk *r) {
    if (r->kry) mem_free(&r->s->mem, r->kry, r->kry->bytes);
    r->kry = NULL;
}

/* The scaling of a step's solves: the error weights at its start. */
static void kry_weights(rk *r, kry *K) {
    long nx = (long)r->o->nblk * r->o->blk;
    for (long q = 0; q < nx; q++) K->w[q] = r->s->atol + r->s->rtol * fabs(r->y[q]);
}

static double dot(const double *a, const double *b, int m) {
    double acc = 0;
    for (int p = 0; p < m; p++) acc += a[p] * b[p];
    return acc;
}

/* out = W̃ v = fac v − D J D⁻¹ v (D = diag(1/w)) for the blocks with
 * on[b] (the others: out_b = 0). */
static int kry_matvec(rk *r, kry *K, double fac, const double *v, double *out, const int *on) {
    rk_ode *o = r->o;
    int m = o->blk, nb = o->nblk, n = o->n, nx = nb * m, rc;
    const double *y0 = r->y, *f0 = r->k;
    double *s = K->u;
    for (int q = 0; q < nx; q++) s[q] = K->w[q] * v[q];
    for (int b = 0; b < nb; b++)
        if (!on[b]) memset(s + (long)b * m, 0, m * sizeof(double));
    if (o->jvp) { /* exact: the model's JVP (the adjoint's VJP) */
        if ((rc = o->jvp(o, r->t, y0, s, K->fp))) return rc;
        r->xs->krylov_mv++;
        for (int q = 0; q < nx; q++) out[q] = on[q / m] ? fac * v[q] - K->fp[q] / K->w[q] : 0;
        return NODEC_SUCCESS;
    }
    for (int b = 0; b < nb; b++) {
        const double *sb = s + (long)b * m, *yb = y0 + (long)b * m;
        double sn = sqrt(dot(sb, sb, m)), yn = sqrt(dot(yb, yb, m));
        K->sig[b] = sn > 0 ? sqrt(DBL_EPSILON) * (1 + yn) / sn : 0;
    }
    memcpy(K->yp, y0, n * sizeof(double));
    for (int q = 0; q < nx; q++) K->yp[q] += K->sig[q / m] * s[q];
    if ((rc = o->rhs(o, r->t, K->yp, K->fp))) return rc;
    for (int q = 0; q < nx; q++) K->fp[q] = K->sig[q / m] > 0 ? (K->fp[q] - f0[q]) / K->sig[q / m] : 0;
    r->xs->krylov_mv++;
    for (int q = 0; q < nx; q++) out[q] = on[q / m] ? fac * v[q] - K->fp[q] / K->w[q] : 0;
    return NODEC_SUCCESS;
}

/* d (nx) = W⁻¹ d by GMRES, W = fac I − J, until hγ ‖r̃_b‖_RMS ≤ tol in
 * every block (KRY_TOL for the Newton iteration). */
static int kry_solve(rk *r, kry *K, double fac, double *d, double tol) {
    const rk_ode *o = r->o;
    int m = o->blk, nb = o->nblk, nx = nb * m, rc, M = KRY_M;
    double hg = fabs(1 / fac), *V = K->V, *x = K->x, *bt = K->b;
    r->xs->krylov++;
    for (int q = 0; q < nx; q++) {
        bt[q] = d[q] / K->w[q];
        x[q] = 0;
    }
    for (int b = 0; b < nb; b++) K->conv[b] = 0;
    for (int cyc = 0; cyc < KRY_CYCLES; cyc++) {
        int any = 0;
        if (cyc == 0)
            memcpy(V, bt, nx * sizeof(double));
        else { /* the true residual b̃ − W̃ x̃ of the blocks still going */
            for (int b = 0; b < nb; b++) K->act[b] = !K->conv[b];
            if ((rc = kry_matvec(r, K, fac, x, V, K->act))) return rc;
            for (int q = 0; q < nx; q++) V[q] = bt[q] - V[q];
        }
        for (int b = 0; b < nb; b++) {
            double *vb = V + (long)b * m, beta = K->conv[b] ? 0 : sqrt(dot(vb, vb, m));
            K->act[b] = 0;
            K->k[b] = 0;
            if (K->conv[b] || !(hg * beta / sqrt(m) > tol)) {
                K->conv[b] = 1;
                memset(vb, 0, m * sizeof(double));
                continue;
            }
            K->act[b] = any = 1;
            K->g[(long)b * (M + 1)] = beta;
            for (int p = 0; p < m; p++) vb[p] /= beta;
        }
        if (!any) break;
        for (int j = 0; j < M && any; j++) {
            double *vj = V + (size_t)j * nx, *vn = V + (size_t)(j + 1) * nx;
            if ((rc = kry_matvec(r, K, fac, vj, vn, K->act))) return rc;
            any = 0;
            for (int b = 0; b < nb; b++) {
                double *H = K->H + (long)b * (M + 1) * M, *cs = K->cs + (long)b * M, *sn = K->sn + (long)b * M;
                double *g = K->g + (long)b * (M + 1), *wb = vn + (long)b * m, hn;
                if (!K->act[b]) continue;
                for (int i = 0; i <= j; i++) { /* modified Gram–Schmidt */
                    const double *vi = V + (size_t)i * nx + (long)b * m;
                    double h = dot(wb, vi, m);
                    H[i * M + j] = h;
                    for (int p = 0; p < m; p++) wb[p] -= h * vi[p];
                }
                hn = sqrt(dot(wb, wb, m));
                for (int i = 0; i < j; i++) { /* the earlier rotations */
                    double a = H[i * M + j], c = H[(i + 1) * M + j];
                    H[i * M + j] = cs[i] * a + sn[i] * c;
                    H[(i + 1) * M + j] = -sn[i] * a + cs[i] * c;
                }
                {
                    double a = H[j * M + j], den = hypot(a, hn);
                    cs[j] = den > 0 ? a / den : 1;
                    sn[j] = den > 0 ? hn / den : 0;
                    H[j * M + j] = den;
                    g[j + 1] = -sn[j] * g[j];
                    g[j] = cs[j] * g[j];
                }
                K->k[b] = j + 1;
                if (!(hg * fabs(g[j + 1]) / sqrt(m) > tol) || !(hn > 0) || !isfinite(hn)) {
                    K->act[b] = 0;
                    K->conv[b] = 1;
                    memset(wb, 0, m * sizeof(double));
                } else {
                    for (int p = 0; p < m; p++) wb[p] /= hn;
                    any = 1;
                }
            }
        }
        /* x̃_b += V_b y_b, H_b y_b = g_b (upper triangular, k_b × k_b) */
        for (int b = 0; b < nb; b++) {
            const double *H = K->H + (long)b * (M + 1) * M;
            double *g = K->g + (long)b * (M + 1), *xb = x + (long)b * m;
            int kb = K->k[b];
            for (int i = kb - 1; i >= 0; i--) {
                double acc = g[i];
                for (int l = i + 1; l < kb; l++) acc -= H[i * M + l] * g[l];
                g[i] = H[i * M + i] != 0 ? acc / H[i * M + i] : 0;
            }
            for (int i = 0; i < kb; i++) {
                const double *vi = V + (size_t)i * nx + (long)b * m;
                for (int p = 0; p < m; p++) xb[p] += g[i] * vi[p];
            }
        }
    }
    for (int q = 0; q < nx; q++) d[q] = K->w[q] * x[q];
    return NODEC_SUCCESS;
}

/* d (nx) = (fac I − J̃)⁻¹ d, J̃·v the system's jvp at (r->t, r->y), by
 * the same GMRES in unit weights, to a residual of rel times d's RMS: the
 * direct gradient's transposed stage solves (adjoint.c: J̃ = Jᵀ, a VJP),
 * which want far more than the Newton iteration's inexact solves. */
int esd_krylov_solve(rk *r, double fac, double *d, double rel) {
    long nx = (long)r->o->nblk * r->o->blk;
    double ss = 0;
    for (long q = 0; q < nx; q++) {
        r->kry->w[q] = 1;
        ss += d[q] * d[q];
    }
    return kry_solve(r, r->kry, fac, d, rel * sqrt(ss / nx) / fabs(fac));
}

/* d = W⁻¹ d: the LU of each block, or GMRES (the Krylov path). */
static int wsolve(rk *r, double fac, double *d) {
    const rk_ode *o = r->o;
    int m = o->blk;
    if (r->kry) return kry_solve(r, r->kry, fac, d, KRY_TOL);
    for (int b = 0; b < o->nblk; b++) la_lu_solve(m, r->LU + (long)b * m * m, r->piv + (long)b * m, d + (long)b * m);
    return NODEC_SUCCESS;
}

/* Stage i's Newton iteration: Y (r->ynew) from ψ (r->ft); row i of k
 * gets k_i.  ESD_NEWTON when it fails. */
static int stage(rk *r, int i, double h, double ti) {
    rk_ode *o = r->o;
    const rk_tab *tb = r->tab;
    int n = o->n, m = o->blk, nx = o->nblk * m, rc;
    double hg = h * tb->esd->gamma, fac = 1 / hg, *k = r->k, *ki = k + (size_t)i * n;
    double *psi = r->ft, *Y = r->ynew, *d = r->yd, dold = 0;
    const double *kp = k + (size_t)(i - 1) * n;
    /* no rate known yet (the integrator's first stage): 1, as radau5's
     * FACCON, so that one iteration is never taken as converged on the
     * strength of η = 0 (Robertson's first stage from y2 = 0 was: k_2
     * 3.5e-5 from f(Y_2), 1 % of dL/dy2(0) in direct mode) */
    double eta = r->eta > 0 ? pow(fmax(r->eta, DBL_EPSILON), 0.8) : 1;

    rk_combine(psi, r->y, h, &RK_A(tb, i, 0), k, i, n);
    for (int p = 0; p < nx; p++) Y[p] = psi[p] + hg * kp[p];
    for (int it = 0;; it++) {
        double dn;
        if (it >= NEWT_MAX) return ESD_NEWTON;
        if ((rc = o->rhs(o, ti, Y, ki))) return rc;
        if (!rk_all_finite(ki, nx)) return ESD_NEWTON;
        for (int p = 0; p < nx; p++) d[p] = ki[p] - (Y[p] - psi[p]) * fac;
        for (int p = nx; p < n; p++) d[p] = 0;
        if ((rc = wsolve(r, fac, d))) return rc;
        for (int p = 0; p < nx; p++) Y[p] += d[p];
        dn = rk_norm(r, d, r->y, NULL);
        if (!isfinite(dn)) return ESD_NEWTON;
        if (it > 0) {
            double th = dn / dold;
            if (!(th < 1)) return ESD_NEWTON;
            if (th > r->thmax) r->thmax = th;
            eta = th / (1 - th);
            /* the rate predicts no convergence within NEWT_MAX iterations */
            if (pow(th, NEWT_MAX - 1 - it) * eta * dn > NEWT_KAPPA) return ESD_NEWTON;
        }
        if (dn == 0 || eta * dn <= (r->jok || r->kry ? NEWT_KAPPA : NEWT_KAPPA_OLD)) break;
        dold = dn;
    }
    r->eta = eta;
    for (int p = 0; p < nx; p++) ki[p] = (Y[p] - psi[p]) * fac;
    if (nx < n) { /* quadratures: F_q at the last iterate + J_qx Δ */
        double *jq = r->ytmp;
        if ((rc = o->jvq(o, ti, Y, d, jq))) return rc;
        for (int p = nx; p < n; p++) ki[p] += jq[p - nx];
    }
    return NODEC_SUCCESS;
}

int esd_stages(rk *r, double h, double t1) {
    const rk_tab *tb = r->tab;
    int n = r->o->n, s = tb->s, rc;
    double fac = 1 / (h * tb->esd->gamma);

    if (r->kry) {
        kry_weights(r, r->kry);
    } else {
        if (!r->jok && !r->jkeep && (rc = esd_jacobian(r))) return rc;
        if (fac != r->wfac && (rc = ros_factor(r, fac))) return rc;
    }
    for (;;) {
        r->thmax = 0;
        for (int i = 1; i < s; i++) {
            double ti = tb->c[i] == 1 ? t1 : r->t + tb->c[i] * h;
            if ((rc = stage(r, i, h, ti))) break;
        }
        /* a kept J that no longer serves: evaluate it at (t, y) and try
         * the same step again (CVODE's retry after a convergence failure
         * with an old Jacobian) */
        if (rc != ESD_NEWTON || r->kry || r->jok) break;
        if ((rc = esd_jacobian(r)) || (rc = ros_factor(r, fac))) return rc;
    }
    if (rc) return rc;
    rk_combine(r->ynew, r->y, h, tb->b, r->k, s, n);
    if (r->adaptive) rk_combine(r->ytmp, NULL, h, tb->e, r->k, s, n);
    return NODEC_SUCCESS;
}

/* The residual of the dense output (cubic Hermite through y0, y1, k_1,
 * k_5: solver.c's, as bosh3's) at x = 1/2, ρ = F(t½, y(½)) − y'(½),
 * filtered through W⁻¹ as rosenbrock.c's ros_dense_error: r->yd ≈ the
 * interpolant's error there.  Forward pass only (no quadratures). */
int esd_dense_error(rk *r, double h) {
    rk_ode *o = r->o;
    int n = o->n, m = o->blk, s = r->tab->s, rc;
    const double *k0 = r->k, *k1 = r->k + (size_t)(s - 1) * n;
    double *ym = r->yprev, *res = r->yd;
    for (int p = 0; p < n; p++) ym[p] = 0.5 * (r->y[p] + r->ynew[p]) + 0.125 * h * (k0[p] - k1[p]);
    if ((rc = o->rhs(o, r->t + 0.5 * h, ym, res))) return rc;
    for (int p = 0; p < n; p++) res[p] -= 1.5 * (r->ynew[p] - r->y[p]) / h - 0.25 * (k0[p] + k1[p]);
    if (r->kry) return kry_solve(r, r->kry, 1 / (h * r->tab->esd->gamma), res, KRY_TOL);
    for (int b = 0; b < o->nblk; b++) la_lu_solve(m, r->LU + (long)b * m * m, r->piv + (long)b * m, res + (long)b * m);
    return NODEC_SUCCESS;
}

int esd_newton_fail(rk *r, double h) {
    return nodec__fail(r->s, NODEC_STEP_UNDERFLOW,
                       "the Newton iteration of the implicit method %s did not "
                       "converge in the step from t = %.6g (%s pass, fixed step "
                       "h = %.3g): the step is too large for the iteration; "
                       "use a smaller step, or an adaptive one",
                       r->tab->name, r->t, r->pass, fabs(h));
}

/* ---- Jacobian reuse (the dense path) ----
 *
 * The simplified Newton iteration only needs W close to I/(hγ) − J(t, y):
 * an old J costs iterations, not accuracy (the residual F(Y) − z/(hγ) is
 * exact).  So, as radau5 and CVODE do, J is kept across accepted steps
 * while the iteration converges fast and for at most ESD_JAC_AGE steps:
 * every rate θ in the step ≤ ESD_JAC_THETA = 0.1, or, for blocks under
 * ESD_JAC_SMALL states, ≤ 0.001 (radau5's advice: small systems' J is
 * cheap next to the iterations an old one costs — Robertson with 0.1:
 * 34 instead of 989 Jacobians but 61 % more f and 1.5× the time; with
 * 0.001: 546, 6 % more f, the same time).  J is evaluated anew when it
 * converges slowly, when a stage fails with the old J (then the step is
 * tried again with the new one before h is cut: esd_stages), and after a
 * restart or a breakpoint (solver.c).  W is refactored only when h
 * changes, and h is held when the controller would grow it by less than
 * ESD_HOLD (radau5's quot1 = 1, quot2 = 1.2): the kept LU then serves the
 * next step too.  With an old J the iteration stops at NEWT_KAPPA_OLD =
 * 0.3 κ: its rate estimate is then less sure, and at κ the small
 * iteration errors added up (van der Pol μ = 1000, rtol 1e-8, θ ≤ 0.1: z(3000)
 * 5.5e-6 off instead of 1.0e-6; at 0.3 κ 5.2e-7).  Measured in
 * docs/runtime.md (kvaerno4). */
#define ESD_JAC_THETA 0.1
#define ESD_JAC_THETA_SMALL 0.001
#define ESD_HOLD 1.2
enum { ESD_JAC_AGE = 50, ESD_JAC_SMALL = 10 };

void esd_accepted(rk *r) {
    r->jage++;
    r->jkeep = r->J && (r->jok || r->jkeep) &&
               r->thmax <= (r->o->blk < ESD_JAC_SMALL ? ESD_JAC_THETA_SMALL : ESD_JAC_THETA) && r->jage < ESD_JAC_AGE &&
               !r->s->jac_every_step;
}

double esd_next_step(const rk *r, double h, double hn) {
    double q = hn / h;
    return r->jkeep && q >= 1 && q <= ESD_HOLD ? h : hn;
}
