/* test_stiff_steps.c — the work of the checkpoint gradient's backward pass
 * on a stiff problem with many observations (issue 11): Robertson's
 * log-rates, 41 log-spaced observations 1e-5 … 1e5 and t = 0 (the times
 * of data/robertson.csv), observations off the solution so that every jump
 * of the adjoint starts a fast transient.
 *
 * Each jump adds g_i to a; its part along J's fast modes relaxes in ~1e-4
 * and a relative error test followed it down by orders of magnitude at
 * hλ ≈ 0.2: the backward pass took 4.8× the forward's step attempts here
 * (rodas5p, rtol 1e-8; auto 4.65×; on bench/cvodes' problem, y2's loss
 * weighted 1e4, 5.9×).  With the adjoint's tolerances set at each jump from
 * its size there (runtime/adjoint.c, cadj_scale) and Hairer's initial step
 * after a jump:
 *   - backward step attempts ≤ 4× the forward's, for rodas5p and auto
 *     (measured 3.74× and 3.62×);
 *   - rodas5p's backward pass ≤ 11 VJPs an attempt (measured 10.85: one a
 *     stage and one a step for the quadratures aθ, at — rosenbrock.c,
 *     quad_terms — and Hairer's initial step at the jumps; it was 17.8 with
 *     two VJPs a stage);
 *   - the gradient [dL/dθ, dL/dz0] within 1e-6 of rodas5p at rtol 1e-12
 *     (relative to the largest entry), as it was before the change.
 */
#include <math.h>
#include <string.h>

#include "stiff_models.h"

enum { NT = 42 };

static long vjps; /* of the last grad() */

static long grad(nodec_method meth, double rtol, const double *th,
                 const double *t, const double *obs, double *g, long *fwd)
{
    double z0[3] = {1, 0, 0}, L;
    long bwd;
    nodec_solver *s = nodec_create(&rober_model, 1);
    nodec_set_method(s, meth);
    nodec_set_tolerances(s, rtol, rtol * 1e-6);
    nodec_set_max_steps(s, 10000000);
    CHECK(nodec_loss_grad(s, th, z0, NT, t, obs, &L, g, g + 3, NULL, NULL) == 0,
          "%s: %s", nodec_method_name(meth), nodec_get_error_message(s));
    *fwd = nodec_get_num_steps(s, 0) + nodec_get_num_rejected(s, 0);
    bwd = nodec_get_num_steps(s, 1) + nodec_get_num_rejected(s, 1);
    printf("  %-8s rtol %g: forward %ld attempts, backward %ld (%.2f×), %ld "
           "vjp, %ld jac, %ld LU\n",
           nodec_method_name(meth), rtol, *fwd, bwd, (double)bwd / *fwd,
           nodec_get_num_vjp_evals(s, 1), nodec_get_num_jac_evals(s, 1),
           nodec_get_num_lu(s, 1));
    vjps = nodec_get_num_vjp_evals(s, 1);
    nodec_free(s);
    return bwd;
}

int main(void)
{
    double th[3], t[NT], obs[3 * NT], z[3 * NT], z0[3] = {1, 0, 0}, gr[6], g[6];
    long fwd;
    nodec_solver *s = nodec_create(&rober_model, 1);
    rober_params(th);
    t[0] = 0;
    for (int i = 1; i < NT; i++)
        t[i] = pow(10, -5 + (i - 1) * 0.25);
    /* the solution, each component pushed off it by a few per cent */
    nodec_set_method(s, NODEC_RODAS5P);
    nodec_set_tolerances(s, 1e-12, 1e-18);
    CHECK(nodec_solve(s, th, z0, NT, t, z) == 0, "solve: %s",
          nodec_get_error_message(s));
    nodec_free(s);
    for (int i = 0; i < 3 * NT; i++)
        obs[i] = z[i] * (1 + 0.03 * sin(1.7 * i));
    printf("Robertson, %d observations on [0, 1e5]:\n", NT);
    grad(NODEC_RODAS5P, 1e-12, th, t, obs, gr, &fwd);
    for (nodec_method m = NODEC_RODAS5P; m <= NODEC_AUTO; m++) {
        char what[80];
        long bwd = grad(m, 1e-8, th, t, obs, g, &fwd);
        snprintf(what, sizeof what,
                 "%s: backward attempts %ld <= 4 x forward %ld",
                 nodec_method_name(m), bwd, fwd);
        CHECK(bwd <= 4 * fwd, "%s", what);
        if (m == NODEC_RODAS5P) {
            snprintf(what, sizeof what,
                     "rodas5p: %ld VJPs <= 11 per backward attempt (%ld)", vjps,
                     bwd);
            CHECK(vjps <= 11 * bwd, "%s", what);
        }
        snprintf(what, sizeof what, "%s rtol 1e-8 vs rtol 1e-12",
                 nodec_method_name(m));
        check_vec(what, g, gr, 6, 1e-6, 0);
    }
    return test_summary("test_stiff_steps");
}
