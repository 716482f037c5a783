/* models.c — the test models of models.h, written by hand: f, the VJP
 * (az = aᵀ∂f/∂z per row, aθ and at summed over the batch), the loss and
 * its gradient.  The VJPs are checked against finite differences of f in
 * test_models.c, so the gradient tests rest on them.
 */
#include <math.h>
#include <string.h>

#include "models.h"

/* ---- the shared loss: mean over components of (pred − obs)² ---- */

#include "mse.h"

MSE(n1, 1)
MSE(n2, 2)

/* ---- linear: dz/dt = A z ---- */

static void lin_f(int B, double t, const double *z, const double *A,
                  double *dz, double *w)
{
    (void)t, (void)w;
    for (int b = 0; b < B; b++, z += 2, dz += 2) {
        dz[0] = A[0] * z[0] + A[1] * z[1];
        dz[1] = A[2] * z[0] + A[3] * z[1];
    }
}

static void lin_vjp(int B, double t, const double *z, const double *A,
                    const double *a, double *az, double *ath, double *at,
                    double *w)
{
    (void)t, (void)w;
    if (ath)
        memset(ath, 0, 4 * sizeof(double));
    if (at)
        *at = 0;
    for (int b = 0; b < B; b++, z += 2, a += 2) {
        if (az) {
            az[2 * b] = A[0] * a[0] + A[2] * a[1];
            az[2 * b + 1] = A[1] * a[0] + A[3] * a[1];
        }
        if (ath) {
            ath[0] += a[0] * z[0];
            ath[1] += a[0] * z[1];
            ath[2] += a[1] * z[0];
            ath[3] += a[1] * z[1];
        }
    }
}

static const nodec_var lin_states[] = {{"z", 1, {2, 1}, 0, 2}};
static const nodec_var lin_params[] = {{"A", 2, {2, 2}, 0, 4}};

const nodec_model linear_model = {
    NODEC_ABI_VERSION, "linear", "0", 2, 4, 1, lin_states, 1, lin_params,
    0, 0, NULL, lin_f, lin_vjp, NULL, NULL, n2_loss, n2_loss_grad, NULL, NULL, /* f_vjp */
    NULL, /* z0_from */
    NULL, /* noise */
    NULL, /* inputs */
};

/* ---- Lotka–Volterra ---- */

static void lv_f(int B, double t, const double *z, const double *p,
                 double *dz, double *w)
{
    (void)t, (void)w;
    for (int b = 0; b < B; b++, z += 2, dz += 2) {
        dz[0] = p[0] * z[0] - p[1] * z[0] * z[1];
        dz[1] = p[2] * z[0] * z[1] - p[3] * z[1];
    }
}

static void lv_vjp(int B, double t, const double *z, const double *p,
                   const double *a, double *az, double *ath, double *at,
                   double *w)
{
    (void)t, (void)w;
    if (ath)
        memset(ath, 0, 4 * sizeof(double));
    if (at)
        *at = 0;
    for (int b = 0; b < B; b++, z += 2, a += 2) {
        double x = z[0], y = z[1];
        if (az) {
            az[2 * b] = a[0] * (p[0] - p[1] * y) + a[1] * p[2] * y;
            az[2 * b + 1] = -a[0] * p[1] * x + a[1] * (p[2] * x - p[3]);
        }
        if (ath) {
            ath[0] += a[0] * x;
            ath[1] -= a[0] * x * y;
            ath[2] += a[1] * x * y;
            ath[3] -= a[1] * y;
        }
    }
}

static const nodec_var lv_states[] = {{"x", 0, {1, 1}, 0, 1},
                                      {"y", 0, {1, 1}, 1, 1}};
static const nodec_var lv_params[] = {{"alpha", 0, {1, 1}, 0, 1},
                                      {"beta", 0, {1, 1}, 1, 1},
                                      {"delta", 0, {1, 1}, 2, 1},
                                      {"gamma", 0, {1, 1}, 3, 1}};

const nodec_model lv_model = {
    NODEC_ABI_VERSION, "lotka_volterra", "0", 2, 4, 2, lv_states, 4, lv_params,
    0, 0, NULL, lv_f, lv_vjp, NULL, NULL, n2_loss, n2_loss_grad, NULL, NULL, /* f_vjp */
    NULL, /* z0_from */
    NULL, /* noise */
    NULL, /* inputs */
};

/* ---- mlp: dz/dt = W2 tanh(W1 z³ + b1) + b2 ---- */

enum { HID = 8, W1 = 0, B1 = 2 * HID, W2 = 3 * HID, B2 = 5 * HID, NP = 5 * HID + 2 };

static void mlp_f(int B, double t, const double *z, const double *p,
                  double *dz, double *w)
{
    (void)t, (void)w;
    for (int b = 0; b < B; b++, z += 2, dz += 2) {
        double u0 = z[0] * z[0] * z[0], u1 = z[1] * z[1] * z[1];
        dz[0] = p[B2];
        dz[1] = p[B2 + 1];
        for (int j = 0; j < HID; j++) {
            double h = tanh(p[W1 + 2 * j] * u0 + p[W1 + 2 * j + 1] * u1 + p[B1 + j]);
            dz[0] += p[W2 + j] * h;
            dz[1] += p[W2 + HID + j] * h;
        }
    }
}

static void mlp_vjp(int B, double t, const double *z, const double *p,
                    const double *a, double *az, double *ath, double *at,
                    double *w)
{
    (void)t, (void)w;
    if (ath)
        memset(ath, 0, NP * sizeof(double));
    if (at)
        *at = 0;
    for (int b = 0; b < B; b++, z += 2, a += 2) {
        double u0 = z[0] * z[0] * z[0], u1 = z[1] * z[1] * z[1], ub0 = 0, ub1 = 0;
        for (int j = 0; j < HID; j++) {
            double h = tanh(p[W1 + 2 * j] * u0 + p[W1 + 2 * j + 1] * u1 + p[B1 + j]);
            double hb = p[W2 + j] * a[0] + p[W2 + HID + j] * a[1];
            double pb = hb * (1 - h * h);
            ub0 += p[W1 + 2 * j] * pb;
            ub1 += p[W1 + 2 * j + 1] * pb;
            if (ath) {
                ath[W1 + 2 * j] += pb * u0;
                ath[W1 + 2 * j + 1] += pb * u1;
                ath[B1 + j] += pb;
                ath[W2 + j] += a[0] * h;
                ath[W2 + HID + j] += a[1] * h;
            }
        }
        if (ath) {
            ath[B2] += a[0];
            ath[B2 + 1] += a[1];
        }
        if (az) {
            az[2 * b] = ub0 * 3 * z[0] * z[0];
            az[2 * b + 1] = ub1 * 3 * z[1] * z[1];
        }
    }
}

void mlp_params(double *p)
{
    /* A fixed, irregular θ so that no symmetry hides a wrong index. */
    for (int i = 0; i < NP; i++)
        p[i] = 0.6 * sin(1.7 * i + 0.3) + 0.1 * cos(3.1 * i);
    p[B2] = -0.05;
    p[B2 + 1] = 0.02;
}

static const nodec_var mlp_states[] = {{"z", 1, {2, 1}, 0, 2}};
static const nodec_var mlp_params_v[] = {{"W1", 2, {HID, 2}, W1, 2 * HID},
                                         {"b1", 1, {HID, 1}, B1, HID},
                                         {"W2", 2, {2, HID}, W2, 2 * HID},
                                         {"b2", 1, {2, 1}, B2, 2}};

const nodec_model mlp_model = {
    NODEC_ABI_VERSION, "spiral", "0", 2, NP, 1, mlp_states, 4, mlp_params_v,
    0, 0, NULL, mlp_f, mlp_vjp, NULL, NULL, n2_loss, n2_loss_grad, NULL, NULL, /* f_vjp */
    NULL, /* z0_from */
    NULL, /* noise */
    NULL, /* inputs */
};

/* ---- sq: dz/dt = p z² ---- */

static void sq_f(int B, double t, const double *z, const double *p,
                 double *dz, double *w)
{
    (void)t, (void)w;
    for (int b = 0; b < B; b++)
        dz[b] = p[0] * z[b] * z[b];
}

static void sq_vjp(int B, double t, const double *z, const double *p,
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
            az[b] = a[b] * 2 * p[0] * z[b];
        if (ath)
            ath[0] += a[b] * z[b] * z[b];
    }
}

static const nodec_var sq_states[] = {{"z", 0, {1, 1}, 0, 1}};
static const nodec_var sq_params[] = {{"p", 0, {1, 1}, 0, 1}};

const nodec_model sq_model = {
    NODEC_ABI_VERSION, "square", "0", 1, 1, 1, sq_states, 1, sq_params,
    0, 0, NULL, sq_f, sq_vjp, NULL, NULL, n1_loss, n1_loss_grad, NULL, NULL, /* f_vjp */
    NULL, /* z0_from */
    NULL, /* noise */
    NULL, /* inputs */
};

/* ---- osc: a forced, damped oscillator ---- */

static void osc_f(int B, double t, const double *z, const double *p,
                  double *dz, double *w)
{
    double force = p[2] * cos(p[3] * t);
    (void)w;
    for (int b = 0; b < B; b++, z += 2, dz += 2) {
        dz[0] = z[1];
        dz[1] = -p[0] * z[0] - p[1] * z[1] + force;
    }
}

static void osc_vjp(int B, double t, const double *z, const double *p,
                    const double *a, double *az, double *ath, double *at,
                    double *w)
{
    double c = cos(p[3] * t), s = sin(p[3] * t);
    (void)w;
    if (ath)
        memset(ath, 0, 4 * sizeof(double));
    if (at)
        *at = 0;
    for (int b = 0; b < B; b++, z += 2, a += 2) {
        if (az) {
            az[2 * b] = -p[0] * a[1];
            az[2 * b + 1] = a[0] - p[1] * a[1];
        }
        if (ath) {
            ath[0] -= a[1] * z[0];
            ath[1] -= a[1] * z[1];
            ath[2] += a[1] * c;
            ath[3] -= a[1] * p[2] * t * s;
        }
        if (at)
            *at -= a[1] * p[2] * p[3] * s;
    }
}

static const nodec_var osc_states[] = {{"x", 0, {1, 1}, 0, 1},
                                       {"v", 0, {1, 1}, 1, 1}};
static const nodec_var osc_params[] = {{"k", 0, {1, 1}, 0, 1},
                                       {"c", 0, {1, 1}, 1, 1},
                                       {"F", 0, {1, 1}, 2, 1},
                                       {"omega", 0, {1, 1}, 3, 1}};

const nodec_model osc_model = {
    NODEC_ABI_VERSION, "forced_oscillator", "0", 2, 4, 2, osc_states, 4,
    osc_params, 0, 1, NULL, osc_f, osc_vjp, NULL, NULL, n2_loss, n2_loss_grad,
    NULL, NULL, /* f_vjp */
    NULL, /* z0_from */
    NULL, /* noise */
    NULL, /* inputs */
};

/* ---- hopf: z' = ω(−z2, z1) + λ z (1 − |z|²), θ = (ω, λ) ---- */

static void hopf_f(int B, double t, const double *z, const double *p,
                   double *dz, double *w)
{
    (void)t, (void)w;
    for (int b = 0; b < B; b++, z += 2, dz += 2) {
        double g = p[1] * (1 - z[0] * z[0] - z[1] * z[1]);
        dz[0] = -p[0] * z[1] + z[0] * g;
        dz[1] = p[0] * z[0] + z[1] * g;
    }
}

/* In polar form r' = λ r(1 − r²), φ' = ω:
 * r² = 1 / (1 + (1/r0² − 1) e^{−2λt}), φ = φ0 + ω t. */
void hopf_exact(const double *z0, const double *p, double t, double *z)
{
    double r0 = hypot(z0[0], z0[1]), ph = atan2(z0[1], z0[0]) + p[0] * t;
    double r = 1 / sqrt(1 + (1 / (r0 * r0) - 1) * exp(-2 * p[1] * t));
    z[0] = r * cos(ph);
    z[1] = r * sin(ph);
}

static const nodec_var hopf_params[] = {{"omega", 0, {1, 1}, 0, 1},
                                        {"lambda", 0, {1, 1}, 1, 1}};

const nodec_model hopf_model = {
    NODEC_ABI_VERSION, "hopf", "0", 2, 2, 1, lin_states, 2, hopf_params,
    0, 0, NULL, hopf_f, NULL, NULL, NULL, n2_loss, n2_loss_grad, NULL, NULL, /* f_vjp */
    NULL, /* z0_from */
    NULL, /* noise */
    NULL, /* inputs */
};

/* ---- test bookkeeping ---- */

int test_failures, test_checks;

int check_close(const char *what, double got, double want, double rtol, double atol)
{
    double err = fabs(got - want), tol = atol + rtol * fabs(want);
    test_checks++;
    if (!(err <= tol)) {
        test_failures++;
        printf("FAIL %s: got %.12g, want %.12g (err %.3g > tol %.3g)\n", what,
               got, want, err, tol);
        return 0;
    }
    return 1;
}

int check_vec(const char *what, const double *got, const double *want, int n,
              double rtol, double atol)
{
    double big = 0, worst = 0;
    int at = 0;
    for (int i = 0; i < n; i++)
        if (fabs(want[i]) > big)
            big = fabs(want[i]);
    for (int i = 0; i < n; i++) {
        double e = fabs(got[i] - want[i]);
        if (!(e <= worst)) {
            worst = e;
            at = i;
        }
    }
    test_checks++;
    if (!(worst <= atol + rtol * big)) {
        test_failures++;
        printf("FAIL %s: [%d] got %.12g, want %.12g (max err %.3g > tol %.3g)\n",
               what, at, got[at], want[at], worst, atol + rtol * big);
        return 0;
    }
    return 1;
}

int test_summary(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, test_checks, test_failures);
    return test_failures != 0;
}
