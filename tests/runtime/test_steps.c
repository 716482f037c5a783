/* test_steps.c — dopri5's step counts on torchdiffeq's demo problem, a
 * regression record for the controller (solver.c: torchdiffeq's
 * _select_initial_step and _optimal_step_size, safety 0.9, factors 0.2..10).
 *
 * Problem (torchdiffeq examples/ode_demo.py, the true dynamics):
 *   dz/dt = (z³) A, A = [[-0.1, 2.0], [-2.0, -0.1]], z0 = (2, 0),
 *   t ∈ [0, 25] with 1000 output times, rtol 1e-7, atol 1e-9 (defaults).
 * Outputs come from dense output, so the counts must not depend on how many
 * output times there are: 2 or 1000 times give the same steps.
 * Expected: 329 accepted, 79 rejected, 2450 f evaluations — the same
 * accepted/rejected counts as controller_reference.py, a plain-Python
 * transcription of torchdiffeq's RKAdaptiveStepsizeODESolver loop (torch is
 * not available here to run torchdiffeq itself).  And accepted steps scale
 * like rtol^(-1/5): ×100 in rtol changes them by 100^(1/5) ≈ 2.51, within
 * a factor 1.5.
 */
#include <math.h>

#include "models.h"

#define EXPECT_ACCEPTED 329
#define EXPECT_REJECTED 79

static void cubic_f(int B, double t, const double *z, const double *p,
                    double *dz, double *w)
{
    (void)t, (void)p, (void)w;
    for (int b = 0; b < B; b++, z += 2, dz += 2) {
        double x = z[0] * z[0] * z[0], y = z[1] * z[1] * z[1];
        dz[0] = -0.1 * x - 2.0 * y;
        dz[1] = 2.0 * x - 0.1 * y;
    }
}

static const nodec_model cubic = {
    .abi_version = NODEC_ABI_VERSION, .name = "cubic", .n_state = 2,
    .f = cubic_f,
    NULL, /* z0_from */
    NULL, /* noise */
};

static void count(int nt, double rtol, long *acc, long *rej, long *nf)
{
    static double t[1000], z[2000];
    double z0[2] = {2, 0};
    nodec_solver *s = nodec_create(&cubic, 1);
    int rc;
    for (int i = 0; i < nt; i++)
        t[i] = 25.0 * i / (nt - 1);
    nodec_set_tolerances(s, rtol, rtol * 1e-2);
    rc = nodec_solve(s, NULL, z0, nt, t, z);
    CHECK(rc == 0, "%s", nodec_get_error_message(s));
    *acc = nodec_get_num_steps(s, NODEC_PASS_FORWARD);
    *rej = nodec_get_num_rejected(s, NODEC_PASS_FORWARD);
    *nf = nodec_get_num_f_evals(s, NODEC_PASS_FORWARD);
    nodec_free(s);
}

int main(void)
{
    long a, r, f, a2, r2, f2, a5, r5, f5, a9, r9, f9;
    count(1000, 1e-7, &a, &r, &f);
    count(2, 1e-7, &a2, &r2, &f2);
    count(1000, 1e-5, &a5, &r5, &f5);
    count(1000, 1e-9, &a9, &r9, &f9);
    printf("dopri5, rtol 1e-7: %ld accepted, %ld rejected, %ld f evals "
           "(2 outputs: %ld, %ld, %ld)\n", a, r, f, a2, r2, f2);
    printf("rtol 1e-5: %ld/%ld; rtol 1e-9: %ld/%ld\n", a5, r5, a9, r9);
    CHECK(a == a2 && r == r2, "output times changed the steps");
    CHECK(f == 6 * (a + r) + 2, "FSAL: 6 evals per attempt + 2 for h0");
    CHECK(fabs(log((double)a9 / a / pow(100, 0.2))) < log(1.5) &&
              fabs(log((double)a / a5 / pow(100, 0.2))) < log(1.5),
          "scaling with rtol: %ld %ld %ld", a5, a, a9);
    if (EXPECT_ACCEPTED)
        CHECK(a == EXPECT_ACCEPTED && r == EXPECT_REJECTED,
              "counts changed: %ld/%ld, recorded %d/%d", a, r, EXPECT_ACCEPTED,
              EXPECT_REJECTED);
    return test_summary("test_steps");
}
