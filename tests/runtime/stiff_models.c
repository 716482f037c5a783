/* stiff_models.c — the models of stiff_models.h, written by hand: f, the
 * VJP (az = aᵀ∂f/∂z per row, aθ and at summed over the batch), the dense
 * ∂f/∂z of one state (jac_z), the mean-squared-error loss and its gradient.
 */
#include <math.h>
#include <string.h>

#include "stiff_models.h"

#include "mse.h"

MSE(m1, 1)
MSE(m2, 2)
MSE(m3, 3)

/* az_b = aᵀ J(z_b) for B rows from a jac_z: the VJPs' z-part, by rows. */
#define AZ_FROM_JAC(JAC, N, t, z, p, a, az)                                   \
    do {                                                                      \
        double J_[(N) * (N)];                                                 \
        for (int b_ = 0; b_ < B; b_++) {                                      \
            JAC(t, (z) + b_ * (N), p, J_, NULL);                              \
            for (int j_ = 0; j_ < (N); j_++) {                                \
                double s_ = 0;                                                \
                for (int i_ = 0; i_ < (N); i_++)                              \
                    s_ += (a)[b_ * (N) + i_] * J_[i_ * (N) + j_];             \
                (az)[b_ * (N) + j_] = s_;                                     \
            }                                                                 \
        }                                                                     \
    } while (0)

/* ---- rober: Robertson (1966), θ = log k ---- */

static void rober_f(int B, double t, const double *z, const double *p,
                    double *dz, double *w)
{
    double k1 = exp(p[0]), k2 = exp(p[1]), k3 = exp(p[2]);
    (void)t, (void)w;
    for (int b = 0; b < B; b++, z += 3, dz += 3) {
        double r1 = k1 * z[0], r2 = k2 * z[1] * z[1], r3 = k3 * z[1] * z[2];
        dz[0] = -r1 + r3;
        dz[1] = r1 - r3 - r2;
        dz[2] = r2;
    }
}

static void rober_jac(double t, const double *z, const double *p, double *J,
                      double *w)
{
    double k1 = exp(p[0]), k2 = exp(p[1]), k3 = exp(p[2]);
    (void)t, (void)w;
    J[0] = -k1, J[1] = k3 * z[2], J[2] = k3 * z[1];
    J[3] = k1, J[4] = -k3 * z[2] - 2 * k2 * z[1], J[5] = -k3 * z[1];
    J[6] = 0, J[7] = 2 * k2 * z[1], J[8] = 0;
}

static void rober_vjp(int B, double t, const double *z, const double *p,
                      const double *a, double *az, double *ath, double *at,
                      double *w)
{
    double k1 = exp(p[0]), k2 = exp(p[1]), k3 = exp(p[2]);
    (void)w;
    if (az)
        AZ_FROM_JAC(rober_jac, 3, t, z, p, a, az);
    if (ath) {
        memset(ath, 0, 3 * sizeof(double));
        for (int b = 0; b < B; b++) {
            const double *y = z + 3 * b, *ab = a + 3 * b;
            ath[0] += k1 * y[0] * (ab[1] - ab[0]);
            ath[1] += k2 * y[1] * y[1] * (ab[2] - ab[1]);
            ath[2] += k3 * y[1] * y[2] * (ab[0] - ab[1]);
        }
    }
    if (at)
        *at = 0;
}

void rober_params(double *theta)
{
    theta[0] = log(0.04);
    theta[1] = log(3e7);
    theta[2] = log(1e4);
}

static const nodec_var rober_states[] = {{"y1", 0, {1, 1}, 0, 1},
                                         {"y2", 0, {1, 1}, 1, 1},
                                         {"y3", 0, {1, 1}, 2, 1}};
static const nodec_var rober_pv[] = {{"logk1", 0, {1, 1}, 0, 1},
                                     {"logk2", 0, {1, 1}, 1, 1},
                                     {"logk3", 0, {1, 1}, 2, 1}};

const nodec_model rober_model = {
    NODEC_ABI_VERSION, "robertson", "0", 3, 3, 3, rober_states, 3, rober_pv,
    0, 0, NULL, rober_f, rober_vjp, NULL, rober_jac, m3_loss, m3_loss_grad,
    NULL, NULL,
    NULL, /* z0_from */
    NULL, /* noise */
    NULL, /* inputs */
};

/* ---- vdp: x' = v, v' = μ(1 − x²) v − x ---- */

static void vdp_f(int B, double t, const double *z, const double *p,
                  double *dz, double *w)
{
    (void)t, (void)w;
    for (int b = 0; b < B; b++, z += 2, dz += 2) {
        dz[0] = z[1];
        dz[1] = p[0] * (1 - z[0] * z[0]) * z[1] - z[0];
    }
}

static void vdp_jac(double t, const double *z, const double *p, double *J,
                    double *w)
{
    (void)t, (void)w;
    J[0] = 0, J[1] = 1;
    J[2] = -2 * p[0] * z[0] * z[1] - 1, J[3] = p[0] * (1 - z[0] * z[0]);
}

static void vdp_vjp(int B, double t, const double *z, const double *p,
                    const double *a, double *az, double *ath, double *at,
                    double *w)
{
    (void)w;
    if (az)
        AZ_FROM_JAC(vdp_jac, 2, t, z, p, a, az);
    if (ath) {
        ath[0] = 0;
        for (int b = 0; b < B; b++)
            ath[0] += a[2 * b + 1] * (1 - z[2 * b] * z[2 * b]) * z[2 * b + 1];
    }
    if (at)
        *at = 0;
}

static const nodec_var vdp_states[] = {{"x", 0, {1, 1}, 0, 1},
                                       {"v", 0, {1, 1}, 1, 1}};
static const nodec_var vdp_pv[] = {{"mu", 0, {1, 1}, 0, 1}};

const nodec_model vdp_model = {
    NODEC_ABI_VERSION, "van_der_pol", "0", 2, 1, 2, vdp_states, 1, vdp_pv,
    0, 0, NULL, vdp_f, vdp_vjp, NULL, vdp_jac, m2_loss, m2_loss_grad,
    NULL, NULL,
    NULL, /* z0_from */
    NULL, /* noise */
    NULL, /* inputs */
};

/* ---- lin2: dz/dt = A z ---- */

static void lin2_f(int B, double t, const double *z, const double *A,
                   double *dz, double *w)
{
    (void)t, (void)w;
    for (int b = 0; b < B; b++, z += 2, dz += 2) {
        dz[0] = A[0] * z[0] + A[1] * z[1];
        dz[1] = A[2] * z[0] + A[3] * z[1];
    }
}

static void lin2_jac(double t, const double *z, const double *A, double *J,
                     double *w)
{
    (void)t, (void)z, (void)w;
    memcpy(J, A, 4 * sizeof(double));
}

static void lin2_vjp(int B, double t, const double *z, const double *A,
                     const double *a, double *az, double *ath, double *at,
                     double *w)
{
    (void)w;
    if (az)
        AZ_FROM_JAC(lin2_jac, 2, t, z, A, a, az);
    if (ath) {
        memset(ath, 0, 4 * sizeof(double));
        for (int b = 0; b < B; b++)
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++)
                    ath[2 * i + j] += a[2 * b + i] * z[2 * b + j];
    }
    if (at)
        *at = 0;
}

/* expm(At) = Σ_k e^{λ_k t} Π_{l≠k} (A − λ_l)/(λ_k − λ_l) (Sylvester). */
void lin2_exact(const double *A, const double *z0, double t, double *z)
{
    double tr = A[0] + A[3], det = A[0] * A[3] - A[1] * A[2];
    double disc = sqrt(tr * tr / 4 - det), l1 = tr / 2 + disc, l2 = tr / 2 - disc;
    double e1 = exp(l1 * t) / (l1 - l2), e2 = exp(l2 * t) / (l2 - l1), E[4];
    E[0] = e1 * (A[0] - l2) + e2 * (A[0] - l1);
    E[1] = (e1 + e2) * A[1];
    E[2] = (e1 + e2) * A[2];
    E[3] = e1 * (A[3] - l2) + e2 * (A[3] - l1);
    z[0] = E[0] * z0[0] + E[1] * z0[1];
    z[1] = E[2] * z0[0] + E[3] * z0[1];
}

static const nodec_var lin2_states[] = {{"z", 1, {2, 1}, 0, 2}};
static const nodec_var lin2_pv[] = {{"A", 2, {2, 2}, 0, 4}};

const nodec_model lin2_model = {
    NODEC_ABI_VERSION, "linear_stiff", "0", 2, 4, 1, lin2_states, 1, lin2_pv,
    0, 0, NULL, lin2_f, lin2_vjp, NULL, lin2_jac, m2_loss, m2_loss_grad,
    NULL, NULL,
    NULL, /* z0_from */
    NULL, /* noise */
    NULL, /* inputs */
};

/* ---- pr: Prothero & Robinson (1974) ---- */

static void pr_f(int B, double t, const double *z, const double *p,
                 double *dz, double *w)
{
    double s = sin(t), c = cos(t);
    (void)w;
    for (int b = 0; b < B; b++)
        dz[b] = p[0] * (z[b] - s) + c;
}

static void pr_jac(double t, const double *z, const double *p, double *J,
                   double *w)
{
    (void)t, (void)z, (void)w;
    J[0] = p[0];
}

static void pr_vjp(int B, double t, const double *z, const double *p,
                   const double *a, double *az, double *ath, double *at,
                   double *w)
{
    double s = sin(t), c = cos(t);
    (void)w;
    if (ath)
        ath[0] = 0;
    if (at)
        *at = 0;
    for (int b = 0; b < B; b++) {
        if (az)
            az[b] = a[b] * p[0];
        if (ath)
            ath[0] += a[b] * (z[b] - s);
        if (at)
            *at += a[b] * (-p[0] * c - s);
    }
}

double pr_exact(double lambda, double z0, double t)
{
    return sin(t) + z0 * exp(lambda * t);
}

static const nodec_var pr_states[] = {{"z", 0, {1, 1}, 0, 1}};
static const nodec_var pr_pv[] = {{"lambda", 0, {1, 1}, 0, 1}};

const nodec_model pr_model = {
    NODEC_ABI_VERSION, "prothero_robinson", "0", 1, 1, 1, pr_states, 1, pr_pv,
    0, 1, NULL, pr_f, pr_vjp, NULL, pr_jac, m1_loss, m1_loss_grad, NULL, NULL,
    NULL, /* z0_from */
    NULL, /* noise */
    NULL, /* inputs */
};

/* ---- hopfj: z' = ω(−z2, z1) + λ z (1 − |z|²), θ = (ω, λ) ---- */

static void hopfj_f(int B, double t, const double *z, const double *p,
                    double *dz, double *w)
{
    (void)t, (void)w;
    for (int b = 0; b < B; b++, z += 2, dz += 2) {
        double g = p[1] * (1 - z[0] * z[0] - z[1] * z[1]);
        dz[0] = -p[0] * z[1] + z[0] * g;
        dz[1] = p[0] * z[0] + z[1] * g;
    }
}

static void hopfj_jac(double t, const double *z, const double *p, double *J,
                      double *w)
{
    double g = p[1] * (1 - z[0] * z[0] - z[1] * z[1]);
    (void)t, (void)w;
    J[0] = g - 2 * p[1] * z[0] * z[0];
    J[1] = -p[0] - 2 * p[1] * z[0] * z[1];
    J[2] = p[0] - 2 * p[1] * z[0] * z[1];
    J[3] = g - 2 * p[1] * z[1] * z[1];
}

static void hopfj_vjp(int B, double t, const double *z, const double *p,
                      const double *a, double *az, double *ath, double *at,
                      double *w)
{
    (void)w;
    if (az)
        AZ_FROM_JAC(hopfj_jac, 2, t, z, p, a, az);
    if (ath) {
        ath[0] = ath[1] = 0;
        for (int b = 0; b < B; b++) {
            const double *y = z + 2 * b, *ab = a + 2 * b;
            double q = 1 - y[0] * y[0] - y[1] * y[1];
            ath[0] += -ab[0] * y[1] + ab[1] * y[0];
            ath[1] += q * (ab[0] * y[0] + ab[1] * y[1]);
        }
    }
    if (at)
        *at = 0;
}

static const nodec_var hopfj_states[] = {{"z", 1, {2, 1}, 0, 2}};
static const nodec_var hopfj_pv[] = {{"omega", 0, {1, 1}, 0, 1},
                                     {"lambda", 0, {1, 1}, 1, 1}};

const nodec_model hopfj_model = {
    NODEC_ABI_VERSION, "hopf_jac", "0", 2, 2, 1, hopfj_states, 2, hopfj_pv,
    0, 0, NULL, hopfj_f, hopfj_vjp, NULL, hopfj_jac, m2_loss, m2_loss_grad,
    NULL, NULL,
    NULL, /* z0_from */
    NULL, /* noise */
    NULL, /* inputs */
};

/* ---- scal: z' = p z; nanjac: z' = −z with a NaN Jacobian ---- */

static void scal_f(int B, double t, const double *z, const double *p,
                   double *dz, double *w)
{
    (void)t, (void)w;
    for (int b = 0; b < B; b++)
        dz[b] = p[0] * z[b];
}

static void scal_jac(double t, const double *z, const double *p, double *J,
                     double *w)
{
    (void)t, (void)z, (void)w;
    J[0] = p[0];
}

static void scal_vjp(int B, double t, const double *z, const double *p,
                     const double *a, double *az, double *ath, double *at,
                     double *w)
{
    (void)t, (void)w;
    if (ath)
        ath[0] = 0;
    if (at)
        *at = 0;
    for (int b = 0; b < B; b++) {
        if (az)
            az[b] = a[b] * p[0];
        if (ath)
            ath[0] += a[b] * z[b];
    }
}

static void nan_jac(double t, const double *z, const double *p, double *J,
                    double *w)
{
    (void)t, (void)z, (void)p, (void)w;
    J[0] = NAN;
}

static const nodec_var scal_pv[] = {{"p", 0, {1, 1}, 0, 1}};

const nodec_model scal_model = {
    NODEC_ABI_VERSION, "scalar", "0", 1, 1, 1, pr_states, 1, scal_pv,
    0, 0, NULL, scal_f, scal_vjp, NULL, scal_jac, m1_loss, m1_loss_grad,
    NULL, NULL,
    NULL, /* z0_from */
    NULL, /* noise */
    NULL, /* inputs */
};

const nodec_model nanjac_model = {
    NODEC_ABI_VERSION, "nan_jacobian", "0", 1, 1, 1, pr_states, 1, scal_pv,
    0, 0, NULL, scal_f, scal_vjp, NULL, nan_jac, m1_loss, m1_loss_grad,
    NULL, NULL,
    NULL, /* z0_from */
    NULL, /* noise */
    NULL, /* inputs */
};
