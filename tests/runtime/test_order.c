/* test_order.c — each method's order of accuracy at fixed steps.
 *
 * Problem: the Hopf normal form z' = ω(−z2, z1) + λ z(1 − |z|²), λ = 1,
 * z0 = (0.5, 0), whose solution is known in closed form (models.c:
 * hopf_exact); ω = 10 on [0, 1], and ω = 1 on [0, 40] for dopri8, whose
 * errors reach roundoff too soon otherwise.  A nonlinear system, so every order condition shows.  The
 * error is the max over 21 output times in [0, T] (step ends, so no dense
 * output enters); n doubles 4 times from n0, in a range where the error
 * is asymptotic and well above roundoff.  The least-squares slope of
 * log(err) against log(h) must be within 0.2 of the method's order:
 *     euler 1, midpoint 2, rk4 4, bosh3 3, dopri5 5, tsit5 5, dopri8 8.
 * (dopri5's 5th-order error constant is small: on gentler problems its
 * slope reads ~5.9 until roundoff, hence ω = 10.)  The adaptive methods
 * also run a tolerance sweep: the error at t = 1 (a step end) at rtol 1e-9
 * (atol 1e-11) must be below the error at rtol 1e-5 and below 1e-7.
 */
#include <math.h>

#include "models.h"

static double run(nodec_method meth, double w, double T, long n, double rtol,
                  int NT)
{
    nodec_solver *s = nodec_create(&hopf_model, 1);
    double th[2] = {w, 1}, z0[2] = {0.5, 0}, t[21], z[2 * 21], ex[2], e = 0;
    int rc;
    for (int i = 0; i < NT; i++)
        t[i] = T * i / (NT - 1);
    nodec_set_method(s, meth);
    if (n > 0)
        nodec_set_num_steps(s, n);
    else
        nodec_set_tolerances(s, rtol, rtol * 1e-2);
    rc = nodec_solve(s, th, z0, NT, t, z);
    CHECK(rc == 0, "%s: %s", nodec_error_name(rc), nodec_get_error_message(s));
    nodec_free(s);
    for (int i = 0; i < NT; i++) {
        hopf_exact(z0, th, t[i], ex);
        e = fmax(e, fmax(fabs(z[2 * i] - ex[0]), fabs(z[2 * i + 1] - ex[1])));
    }
    return e;
}

int main(void)
{
    static const struct {
        nodec_method m;
        int order;
        double w, T;
        long n0; /* smallest n; n doubles K − 1 times */
        int K;
    } cases[] = {
        {NODEC_EULER, 1, 10, 1, 2000, 5},   {NODEC_MIDPOINT, 2, 10, 1, 200, 5},
        {NODEC_RK4, 4, 10, 1, 80, 5},       {NODEC_BOSH3, 3, 10, 1, 80, 5},
        {NODEC_DOPRI5, 5, 10, 1, 80, 5},    {NODEC_TSIT5, 5, 10, 1, 80, 5},
        {NODEC_DOPRI8, 8, 1, 40, 40, 4},
    };
    for (unsigned c = 0; c < sizeof cases / sizeof *cases; c++) {
        double sx = 0, sy = 0, sxx = 0, sxy = 0, slope;
        int K = cases[c].K;
        printf("%-8s", nodec_method_name(cases[c].m));
        for (int k = 0; k < K; k++) {
            long n = cases[c].n0 << k;
            double e = run(cases[c].m, cases[c].w, cases[c].T, n, 0, 21);
            double x = log(cases[c].T / n), y = log(e);
            printf(" %ld:%.2e", n, e);
            sx += x, sy += y, sxx += x * x, sxy += x * y;
        }
        slope = (K * sxy - sx * sy) / (K * sxx - sx * sx);
        printf("  slope %.3f (order %d)\n", slope, cases[c].order);
        CHECK(fabs(slope - cases[c].order) < 0.2, "%s: slope %.3f, order %d",
              nodec_method_name(cases[c].m), slope, cases[c].order);
    }
    for (nodec_method m = NODEC_BOSH3; m <= NODEC_DOPRI8; m++) {
        double e1 = run(m, 10, 1, 0, 1e-5, 2), e2 = run(m, 10, 1, 0, 1e-9, 2);
        printf("%-8s rtol 1e-5: err %.3e; rtol 1e-9: err %.3e\n",
               nodec_method_name(m), e1, e2);
        CHECK(e2 < e1 && e2 < 1e-7, "%s: tolerance sweep %g %g",
              nodec_method_name(m), e1, e2);
    }
    return test_summary("test_order");
}
