/* rosenbrock.c — the stiff methods: L-stable Rosenbrock methods on the
 * model's ∂f/∂z, their tableaus, one step's stages and their dense output.
 * DESIGN.md §7 "Solvers and gradients".  solver.c drives them (error norm,
 * step control, auto's switching); this file calls only linalg.c, handle.c.
 *
 * A Rosenbrock method linearises the implicit step once: with
 * W = I/(hγ) − J, J = ∂F/∂y at (t0, y0), stage i solves the linear system
 * (Hairer & Wanner, Solving ODEs II §IV.7, eq. (7.4'), the form of rodas.f
 * that needs no matrix–vector product):
 *
 *     W U_i = F(t0 + c_i h, y0 + Σ_{j<i} a_ij U_j) + Σ_{j<i} (C_ij / h) U_j
 *             + h d_i ∂F/∂t(t0, y0)
 *     y1 = y0 + Σ_i b_i U_i,   error estimate Σ_i e_i U_i
 *
 * Both tableaus are stiffly accurate (y1 is the last stage's input plus
 * U_s, and the error estimate is U_s), L-stable, and their dense output is
 *
 *     y(t0 + x h) = (1 − x) y0 + x (y1 + (1 − x)(h1 + x (h2 + x h3))),
 *     h_k = Σ_i H_ki U_i.
 *
 * J is block diagonal, one block per trajectory (rk_ode), so W is
 * factorised block by block: one dense LU per trajectory and step,
 * O(B n³) — the right tool for states up to a few hundred.  Quadrature
 * components (the adjoint's aθ, at) are the last rows of a block lower
 * triangular J: their U follows by substitution, U_q = hγ (rhs_q + J_qx U_x),
 * and since nothing else depends on them, the J_qx U_x terms of all stages
 * are added to y1 (and the error) in one product a step (quad_terms).
 *
 * ∂F/∂t: there is no emitted vector for it, so a central difference in t
 * over a small fraction of the step (rodas.f uses a forward one over
 * √(eps·|t|)), skipped when F is autonomous.
 *
 * A singular W (an eigenvalue of J equal to 1/(hγ), or a J that is not
 * finite) is reported to the caller, which halves h up to four times in a
 * row (as rodas.f) before giving up with NODEC_SINGULAR.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "internal.h"

struct ros_tab {
    int s; /* stages */
    double gamma;
    const double *a, *C; /* strictly lower, packed by rows as RK_A */
    const double *c, *d; /* c_i, and d_i (γ_i) of ∂F/∂t */
    const double *b, *e; /* solution and error weights */
    int nh;              /* rows of H (2 or 3) */
    const double *H;     /* nh × s, dense output */
};

#define ROS(v, i, j) ((v)[(i) * ((i)-1) / 2 + (j)])

/* RODAS of Hairer & Wanner (rodas.f, METH = 1; Solving ODEs II §VI.4),
 * order 4 with an embedded 3rd-order estimate, 6 stages, dense output of
 * order 3.  The coefficients as printed in rodas.f (and, identically, in
 * OrdinaryDiffEq.jl's Rodas4Tableau). */
/* clang-format off */
static const double r4_a[] = {
    1.544,
    0.9466785280815826, 0.2557011698983284,
    3.314825187068521, 2.896124015972201, 0.9986419139977817,
    1.221224509226641, 6.019134481288629, 12.53708332932087, -0.687886036105895,
    1.221224509226641, 6.019134481288629, 12.53708332932087, -0.687886036105895, 1,
};
static const double r4_C[] = {
    -5.6688,
    -2.430093356833875, -0.2063599157091915,
    -0.1073529058151375, -9.594562251023355, -20.47028614809616,
    7.496443313967647, -10.24680431464352, -33.99990352819905, 11.7089089320616,
    8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136,
    -6.058818238834054,
};
static const double r4_c[] = {0, 0.386, 0.21, 0.63, 1, 1};
static const double r4_d[] = {0.25, -0.1043, 0.1035, -0.0362, 0, 0};
static const double r4_b[] = {1.221224509226641, 6.019134481288629,
                              12.53708332932087, -0.687886036105895, 1, 1};
static const double r4_e[] = {0, 0, 0, 0, 0, 1};
static const double r4_H[] = {
    10.12623508344586, -7.487995877610167, -34.80091861555747,
    -7.992771707568823, 1.025137723295662, 0,
    -0.6762803392801253, 6.087714651680015, 16.43084320892478,
    24.76722511418386, -6.594389125716872, 0,
};
const ros_tab ros_rodas4 = {6, 0.25, r4_a, r4_C, r4_c, r4_d, r4_b, r4_e, 2, r4_H};

/* Rodas5P of Steinebach (2023), "Construction of Rosenbrock–Wanner method
 * Rodas5P and numerical benchmarks within the Julia Differential Equations
 * package", BIT 63:27: order 5 with an embedded 4th-order estimate, 8
 * stages, dense output of order 4.  Coefficients as in OrdinaryDiffEq.jl's
 * Rodas5PTableau (the paper's, to double precision). */
static const double r5_a[] = {
    3.0,
    2.849394379747939, 0.45842242204463923,
    -6.954028509809101, 2.489845061869568, -10.358996098473584,
    2.8029986275628964, 0.5072464736228206, -0.3988312541770524,
    -0.04721187230404641,
    -7.502846399306121, 2.561846144803919, -11.627539656261098,
    -0.18268767659942256, 0.030198172008377946,
    -7.502846399306121, 2.561846144803919, -11.627539656261098,
    -0.18268767659942256, 0.030198172008377946, 1,
    -7.502846399306121, 2.561846144803919, -11.627539656261098,
    -0.18268767659942256, 0.030198172008377946, 1, 1,
};
static const double r5_C[] = {
    -14.155112264123755,
    -17.97296035885952, -2.859693295451294,
    147.12150275711716, -1.41221402718213, 71.68940251302358,
    165.43517024871676, -0.4592823456491126, 42.90938336958603,
    -5.961986721573306,
    24.854864614690072, -3.0009227002832186, 47.4931110020768,
    5.5814197821558125, -0.6610691825249471,
    30.91273214028599, -3.1208243349937974, 77.79954646070892,
    34.28646028294783, -19.097331116725623, -28.087943162872662,
    37.80277123390563, -3.2571969029072276, 112.26918849496327,
    66.9347231244047, -40.06618937091002, -54.66780262877968, -9.48861652309627,
};
static const double r5_c[] = {0, 0.6358126895828704, 0.4095798393397535,
                              0.9769306725060716, 0.4288403609558664, 1, 1, 1};
static const double r5_d[] = {0.21193756319429014, -0.42387512638858027,
                              -0.3384627126235924, 1.8046452872882734,
                              2.325825639765069, 0, 0, 0};
static const double r5_b[] = {-7.502846399306121, 2.561846144803919,
                              -11.627539656261098, -0.18268767659942256,
                              0.030198172008377946, 1, 1, 1};
static const double r5_e[] = {0, 0, 0, 0, 0, 0, 0, 1};
static const double r5_H[] = {
    25.948786856663858, -2.5579724845846235, 10.433815404888879,
    -2.3679251022685204, 0.524948541321073, 1.1241088310450404,
    0.4272876194431874, -0.17202221070155493,
    -9.91568850695171, -0.9689944594115154, 3.0438037242978453,
    -24.495224566215796, 20.176138334709044, 15.98066361424651,
    -6.789040303419874, -6.710236069923372,
    11.419903575922262, 2.8879645146136994, 72.92137995996029,
    80.12511834622643, -52.072871366152654, -59.78993625266729,
    -0.15582684282751913, 4.883087185713722,
};
/* clang-format on */
const ros_tab ros_rodas5p = {8, 0.21193756319429014, r5_a, r5_C, r5_c, r5_d, r5_b, r5_e, 3, r5_H};

/* J and, unless F is autonomous, ∂F/∂t at (t, y); k_0 = F(t, y) is valid. */
static int jacobian(rk *r, double h) {
    rk_ode *o = r->o;
    int n = o->n, rc;
    long nj = (long)o->nblk * o->blk * o->blk;
    if ((rc = o->jac(o, r->t, r->y, r->J))) return rc;
    r->xs->jac_evals++;
    if (!rk_all_finite(r->J, nj))
        return nodec__fail(r->s, NODEC_NONFINITE,
                           "the Jacobian df/dz is not finite at t = %.6g (%s "
                           "pass): check the model's jac_z and the state for "
                           "NaN/Inf",
                           r->t, r->pass);
    if (!o->autonomous) {
        /* Central difference, δ = eps^(1/3)·|h|: F varies in t on the
         * scale the step resolves, and the adjoint's F is a polynomial in
         * (t − t0)/h_forward that must not be extrapolated far.  Dividing
         * by the representable tp − tm keeps the rounding of t out. */
        double d = fmax(cbrt(DBL_EPSILON) * fabs(h), 16 * DBL_EPSILON * fabs(r->t));
        double tp = r->t + d, tm = r->t - d, *fm = r->ytmp;
        if ((rc = o->rhs(o, tp, r->y, r->ft)) || (rc = o->rhs(o, tm, r->y, fm))) return rc;
        for (int p = 0; p < n; p++) r->ft[p] = (r->ft[p] - fm[p]) / (tp - tm);
    }
    r->jok = 1;
    r->wfac = 0;
    return NODEC_SUCCESS;
}

/* LU of W = fac·I − J_b for every block. */
int ros_factor(rk *r, double fac) {
    int m = r->o->blk;
    long mm = (long)m * m;
    for (int b = 0; b < r->o->nblk; b++) {
        double *W = r->LU + b * mm;
        const double *J = r->J + b * mm;
        int info;
        for (long q = 0; q < mm; q++) W[q] = -J[q];
        for (int i = 0; i < m; i++) W[(long)i * m + i] += fac;
        if ((info = la_lu(m, W, r->piv + (long)b * m))) {
            r->wfac = 0;
            r->sing_blk = b;
            r->sing_col = info - 1;
            return ROS_SINGULAR;
        }
    }
    r->xs->lu++;
    r->wfac = fac;
    r->nsing = 0;
    return NODEC_SUCCESS;
}

/* x = W⁻¹ x: the blocks, then the quadratures by substitution — or, with
 * jq 0, without their J_qx x term (ros_stages adds it once a step). */
static int wsolve(rk *r, double fac, double *x, int jq_on) {
    rk_ode *o = r->o;
    int m = o->blk, nx = o->nblk * m, rc;
    for (int b = 0; b < o->nblk; b++) la_lu_solve(m, r->LU + (long)b * m * m, r->piv + (long)b * m, x + (long)b * m);
    if (nx < o->n && !jq_on) {
        for (int p = nx; p < o->n; p++) x[p] /= fac;
    } else if (nx < o->n) {
        double *jq = r->ynew; /* scratch until y1 is formed */
        if ((rc = o->jvq(o, r->t, r->y, x, jq))) return rc;
        for (int p = nx; p < o->n; p++) x[p] = (x[p] + jq[p - nx]) / fac;
    }
    return NODEC_SUCCESS;
}

/* out = y + Σ_{j<m} w[j] U_j over rows 1.. of k (y NULL: 0), zeros skipped. */
static void lincomb(double *out, const double *y, const double *w, const double *U, int m, int n) {
    for (int p = 0; p < n; p++) out[p] = y ? y[p] : 0;
    for (int j = 0; j < m; j++) {
        const double *Uj = U + (size_t)j * n;
        if (w[j] == 0) continue;
        for (int p = 0; p < n; p++) out[p] += w[j] * Uj[p];
    }
}

/* The quadratures' share of a step, out_q += hγ J_qx Σ_i β_i U_x,i with
 * β = (I − γC)⁻ᵀ w.  Their stages are U_q,i = hγ(G_i + Σ_{j<i} (C_ij/h) U_q,j
 * + J_qx U_x,i) (G_i: the rest of the right side), linear in the J_qx U_x,j
 * terms, so Σ_i w_i U_q,i needs J_qx once, on one combination of the U_x —
 * one VJP a step for y1 (and one for the error estimate) instead of one a
 * stage: the adjoint's stages cost one VJP, not two.  The stage rows of the
 * quadratures in r->k then lack that term (nothing reads them: the
 * backward pass has no dense output). */
static int quad_terms(rk *r, const double *w, double *out) {
    const ros_tab *rt = r->tab->ros;
    rk_ode *o = r->o;
    int S = rt->s, n = o->n, nx = o->nblk * o->blk, rc;
    double beta[16], *v = r->yd, *jq = r->yd + nx; /* yd: scratch, as in ros_dense_error */
    for (int i = S - 1; i >= 0; i--) {
        beta[i] = w[i];
        for (int k = i + 1; k < S; k++) beta[i] += rt->gamma * ROS(rt->C, k, i) * beta[k];
    }
    memset(v, 0, nx * sizeof(double));
    for (int i = 0; i < S; i++)
        for (int p = 0; p < nx; p++) v[p] += beta[i] * r->k[(size_t)(i + 1) * n + p];
    if ((rc = o->jvq(o, r->t, r->y, v, jq))) return rc;
    for (int p = nx; p < n; p++) out[p] += jq[p - nx] / r->wfac; /* hγ */
    return NODEC_SUCCESS;
}

int ros_stages(rk *r, double h, double t1) {
    const ros_tab *rt = r->tab->ros;
    rk_ode *o = r->o;
    int n = o->n, S = rt->s, nx = o->nblk * o->blk, quad = nx < n, rc;
    double fac = 1 / (h * rt->gamma), *U = r->k + n;

    if (!r->jok && (rc = jacobian(r, h))) return rc;
    if (fac != r->wfac && (rc = ros_factor(r, fac))) return rc;
    for (int i = 0; i < S; i++) {
        double *Ui = U + (size_t)i * n;
        if (i == 0) {
            memcpy(Ui, r->k, n * sizeof(double));
        } else {
            double ti = rt->c[i] == 1 ? t1 : r->t + rt->c[i] * h;
            lincomb(r->ytmp, r->y, &ROS(rt->a, i, 0), U, i, n);
            if ((rc = o->rhs(o, ti, r->ytmp, Ui))) return rc;
            for (int j = 0; j < i; j++) {
                double cj = ROS(rt->C, i, j) / h;
                const double *Uj = U + (size_t)j * n;
                for (int p = 0; p < n; p++) Ui[p] += cj * Uj[p];
            }
        }
        if (!o->autonomous && rt->d[i] != 0) {
            double hd = h * rt->d[i];
            for (int p = 0; p < n; p++) Ui[p] += hd * r->ft[p];
        }
        if ((rc = wsolve(r, fac, Ui, !quad))) return rc;
    }
    lincomb(r->ynew, r->y, rt->b, U, S, n);
    if (quad && (rc = quad_terms(r, rt->b, r->ynew))) return rc;
    if (r->adaptive) {
        lincomb(r->ytmp, NULL, rt->e, U, S, n);
        for (int g = 0; quad && g < o->ngroup; g++) /* only if the norm sees them */
            if (o->goff[g] + o->glen[g] > nx) {
                if ((rc = quad_terms(r, rt->e, r->ytmp))) return rc;
                break;
            }
    }
    return NODEC_SUCCESS;
}

/* The residual of the dense output at x = 1/2, ρ = F(t½, y(½)) − y'(½),
 * and its error e ≈ W⁻¹ρ: the interpolant's error solves e' = J e − ρ,
 * so e ≈ −J⁻¹ρ for the stiff components and ≈ h ρ/2 for the others, both
 * of which W⁻¹ = (I/(hγ) − J)⁻¹ approximates (Shampine's filtering of an
 * error estimate through the iteration matrix, as in ode23s). */
int ros_dense_error(rk *r, double h) {
    const rk_tab *tb = r->tab;
    rk_ode *o = r->o;
    int n = o->n, rows = tb->s, rc;
    double W[16][6], w[16], dw[16], *ym = r->yprev, *res = r->yd;
    ros_dense_coefs(tb->ros, W);
    for (int j = 0; j < rows; j++) {
        double v = 0, d = 0;
        for (int m = 6; m >= 1; m--) {
            v = v * 0.5 + W[j][m - 1];
            d = d * 0.5 + m * W[j][m - 1];
        }
        w[j] = v * 0.5;
        dw[j] = d / h;
    }
    lincomb(ym, r->y, w + 1, r->k + n, rows - 1, n);
    if ((rc = o->rhs(o, r->t + 0.5 * h, ym, res))) return rc;
    for (int j = 1; j < rows; j++) {
        const double *Uj = r->k + (size_t)j * n;
        if (dw[j] == 0) continue;
        for (int p = 0; p < n; p++) res[p] -= dw[j] * Uj[p];
    }
    return wsolve(r, r->wfac, res, 1);
}

int ros_singular_fail(rk *r, double h) {
    return nodec__fail(r->s, NODEC_SINGULAR,
                       "the matrix I/(h*gamma) - df/dz of the implicit method "
                       "%s is singular at t = %.6g (%s pass, h = %.3g, "
                       "trajectory %d, column %d): df/dz has the eigenvalue "
                       "1/(h*gamma) = %.6g there, or the model's jac_z is "
                       "wrong; check jac_z, or try another step size or method",
                       r->tab->name, r->t, r->pass, fabs(h), r->sing_blk, r->sing_col,
                       1 / (h * (r->tab->ros ? r->tab->ros->gamma : r->tab->esd->gamma)));
}

/* y = y0 + x Σ b_i U_i + x(1 − x)(h1 + x h2 + x² h3), h_k = Σ_i H_ki U_i:
 * W_i = [b_i + H1_i, H2_i − H1_i, H3_i − H2_i, −H3_i, 0, 0]. */
void ros_dense_coefs(const ros_tab *rt, double (*W)[6]) {
    memset(W[0], 0, sizeof W[0]);
    for (int i = 0; i < rt->s; i++) {
        double h1 = rt->H[i], h2 = rt->H[rt->s + i];
        double h3 = rt->nh > 2 ? rt->H[2 * rt->s + i] : 0;
        double *w = W[i + 1];
        w[0] = rt->b[i] + h1;
        w[1] = h2 - h1;
        w[2] = h3 - h2;
        w[3] = -h3;
        w[4] = w[5] = 0;
    }
}

double ros_jac_norm(const rk *r) {
    int m = r->o->blk;
    double worst = 0;
    for (int b = 0; b < r->o->nblk; b++)
        for (int i = 0; i < m; i++) {
            const double *row = r->J + ((long)b * m + i) * m;
            double sum = 0;
            for (int j = 0; j < m; j++) sum += fabs(row[j]);
            if (sum > worst) worst = sum;
        }
    return worst;
}
