/* test_memory.c — the adjoint's heap use does not grow with the number of
 * steps (DESIGN.md §4).  Every runtime allocation goes through the counting
 * allocator (runtime/mem.c), so the handle's peak is all of it.
 *
 * Lotka–Volterra, B = 3, 3 observation times; rk4 with 10² and 10⁵ steps,
 * then dopri5 on [0, 20] and [0, 2000] (rtol 1e-8: ~500 and ~5·10⁴ steps).
 * Expected: adjoint peak bytes exactly equal between the short and long
 * runs.  Checkpoint (every 16 steps) and direct grow, as they must: printed,
 * and checked to be larger on the long run.
 */
#include <string.h>

#include "models.h"

enum { B = 3, NT = 3 };

static size_t peak(nodec_grad_mode mode, nodec_method meth, long nsteps,
                   double T, long *steps)
{
    nodec_solver *s = nodec_create(&lv_model, B);
    double th[4] = {1.5, 1.0, 1.0, 3.0}, z0[B * 2] = {1, 1, 2, 0.5, 0.5, 2};
    double t[NT] = {0, 0.4 * T, T}, obs[NT * B * 2], L, dth[4], dz0[B * 2], dt[NT];
    size_t before, p;
    int rc;
    for (int k = 0; k < NT * B * 2; k++)
        obs[k] = 1.0;
    nodec_set_method(s, meth);
    nodec_set_grad_mode(s, mode);
    nodec_set_max_steps(s, 1000000);
    if (nsteps)
        nodec_set_num_steps(s, nsteps);
    else
        nodec_set_tolerances(s, 1e-8, 1e-10);
    before = nodec_get_mem_current(s);
    nodec_reset_mem_peak(s);
    rc = nodec_loss_grad(s, th, z0, NT, t, obs, &L, dth, dz0, dt, NULL);
    CHECK(rc == 0, "%s", nodec_get_error_message(s));
    p = nodec_get_mem_peak(s) - before;
    *steps = nodec_get_num_steps(s, NODEC_PASS_FORWARD);
    CHECK(nodec_get_mem_current(s) == before, "leak: %zu bytes",
          nodec_get_mem_current(s) - before);
    nodec_free(s);
    return p;
}

int main(void)
{
    static const char *names[] = {"adjoint", "checkpoint", "direct"};
    for (int mo = 0; mo < 3; mo++) {
        long s1, s2, s3, s4;
        size_t a = peak(mo, NODEC_RK4, 100, 10, &s1);
        size_t b = peak(mo, NODEC_RK4, 100000, 10, &s2);
        size_t c = peak(mo, NODEC_DOPRI5, 0, 20, &s3);
        size_t d = peak(mo, NODEC_DOPRI5, 0, 2000, &s4);
        printf("%-10s rk4: %ld steps %zu bytes, %ld steps %zu bytes; "
               "dopri5: %ld steps %zu bytes, %ld steps %zu bytes\n",
               names[mo], s1, a, s2, b, s3, c, s4, d);
        CHECK(s1 == 100 && s2 == 100000 && s4 > 50 * s3, "step counts");
        if (mo == NODEC_GRAD_ADJOINT) {
            CHECK(a == b, "adjoint peak grew with steps: %zu -> %zu", a, b);
            CHECK(c == d, "adjoint peak grew with steps: %zu -> %zu", c, d);
        } else {
            CHECK(b > a && d > c, "%s should store per-step data", names[mo]);
        }
    }
    return test_summary("test_memory");
}
