/* check_wrong.c — `nodec check` (tools/check.c, check_model) must be able
 * to fail: a contact model written by hand, once right and then with one
 * deliberate mistake at a time, each of which the row it affects must
 * report as FAIL while the right model passes every row.
 *
 *     dx/dt = v,  dv/dt = −k x σ(−1000 x) − c v      (z0 = (1, 0))
 *
 * The spring acts only where x < 0 and switches on within |x| < 0.005.
 * Two of the mistakes matter only there: dropping the σ′ term of ∂/∂x
 * (wrong by 1000 k x σ(1 − σ), negligible for |x| > 0.02), and the sign of
 * ∂/∂k (−x σ, below 1e-80 for x > 0.2).  States drawn from [0.2, 1.2], as
 * check did before issue 12, never see either; the sampling of states of
 * either sign down to S/1000 must.  20 points, seed 1.
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include "cmd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { RIGHT, NO_SIGMA_PRIME, K_SIGN, JVP_C, LOSS_HALF, N_CASES };
static const char *const case_names[] = {"right", "σ′ term dropped from ∂/∂x", "∂/∂k of the wrong sign",
                                         "jvp: the c v term's sign", "loss_grad halved"};
/* the rows each mistake must fail (all the others must pass) */
static const char *const must_fail[N_CASES][4] = {
    {NULL},
    {"a'df/dz", "df/dz v", "df/dz  ", NULL},
    {"a'df/dtheta", NULL},
    {"df/dz v", "a'(J v)", NULL},
    {"dl/dpred", NULL},
};
static int bug;

static double sig(double u) { return 1 / (1 + exp(-u)); }

static void f(int B, double t, const double *z, const double *p, double *dz, double *w) {
    (void)t, (void)w;
    for (int b = 0; b < B; b++, z += 2, dz += 2) {
        dz[0] = z[1];
        dz[1] = -p[0] * z[0] * sig(-1000 * z[0]) - p[1] * z[1];
    }
}

/* ∂(dv/dt)/∂x */
static double dvdx(const double *z, const double *p) {
    double s = sig(-1000 * z[0]);
    return -p[0] * s + (bug == NO_SIGMA_PRIME ? 0 : 1000 * p[0] * z[0] * s * (1 - s));
}

static void vjp(int B, double t, const double *z, const double *p, const double *a, double *az, double *ath, double *at,
                double *w) {
    (void)t, (void)w;
    if (ath) ath[0] = ath[1] = 0;
    if (at) *at = 0;
    for (int b = 0; b < B; b++, z += 2, a += 2) {
        if (az) az[2 * b] = a[1] * dvdx(z, p), az[2 * b + 1] = a[0] - p[1] * a[1];
        if (ath) {
            double dk = -z[0] * sig(-1000 * z[0]);
            ath[0] += a[1] * (bug == K_SIGN ? -dk : dk);
            ath[1] += -a[1] * z[1];
        }
    }
}

static void jvp(int B, double t, const double *z, const double *p, const double *v, double *out, double *w) {
    (void)t, (void)w;
    for (int b = 0; b < B; b++, z += 2, v += 2, out += 2) {
        out[0] = v[1];
        out[1] = dvdx(z, p) * v[0] + (bug == JVP_C ? p[1] : -p[1]) * v[1];
    }
}

static void jac(double t, const double *z, const double *p, double *J, double *w) {
    (void)t, (void)w;
    J[0] = 0, J[1] = 1, J[2] = dvdx(z, p), J[3] = -p[1];
}

static double loss(int B, const double *pred, const double *obs, double *w) {
    (void)w;
    double L = 0;
    for (int i = 0; i < 2 * B; i++) L += (pred[i] - obs[i]) * (pred[i] - obs[i]) / 2;
    return L;
}

static double loss_grad(int B, const double *pred, const double *obs, double *g, double *w) {
    for (int i = 0; i < 2 * B; i++) g[i] = (bug == LOSS_HALF ? 0.5 : 1) * (pred[i] - obs[i]);
    return loss(B, pred, obs, w);
}

static void init(double *p, unsigned long long seed) {
    (void)seed;
    p[0] = 50, p[1] = 0.5;
}

static const nodec_var states[] = {{"x", 0, {1, 1}, 0, 1}, {"v", 0, {1, 1}, 1, 1}};
static const nodec_var params[] = {{"k", 0, {1, 1}, 0, 1}, {"c", 0, {1, 1}, 1, 1}};
static const double z0[] = {1, 0};
static const nodec_model contact = {
    .abi_version = NODEC_ABI_VERSION,
    .name = "contact",
    .source_hash = "0",
    .n_state = 2,
    .n_param = 2,
    .n_state_vars = 2,
    .state_vars = states,
    .n_param_vars = 2,
    .param_vars = params,
    .z0 = z0,
    .f = f,
    .vjp = vjp,
    .jvp = jvp,
    .jac_z = jac,
    .loss = loss,
    .loss_grad = loss_grad,
    .init_params = init,
};

int main(void) {
    int failures = 0;
    for (bug = RIGHT; bug < N_CASES; bug++) {
        char *table = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&table, &len);
        CheckOpts co = {.seed = 1, .points = 20, .tol = 1e-6};
        int fails = check_model(&contact, &co, mem);
        fclose(mem);
        printf("-- %s: %d row%s failed\n%s", case_names[bug], fails, fails == 1 ? "" : "s", table);
        /* each row: FAIL exactly when this mistake must fail it */
        for (char *line = table; line && *line;) {
            char *end = strchr(line, '\n');
            if (end) *end = 0;
            bool row = strstr(line, " ok") || strstr(line, " FAIL"), failed = strstr(line, "FAIL") != NULL;
            bool want = false;
            for (int k = 0; must_fail[bug][k]; k++) want |= strstr(line, must_fail[bug][k]) == line + 2;
            if (row && failed != want) {
                printf("FAIL: %s: row '%s' should %s\n", case_names[bug], line + 2, want ? "fail" : "pass");
                failures++;
            }
            line = end ? end + 1 : NULL;
        }
        if ((fails == 0) != (bug == RIGHT)) {
            printf("FAIL: %s: check_model returned %d\n", case_names[bug], fails);
            failures++;
        }
        free(table);
    }
    printf(failures ? "%d failures\n" : "check_wrong: every mistake caught, the right model passes\n", failures);
    return failures != 0;
}
