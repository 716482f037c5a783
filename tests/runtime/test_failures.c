/* test_failures.c — failures are return values with a code and a message
 * that names the time and what to try; nothing crashes (DESIGN.md §4).
 *
 *   z' = z², z0 = 1 (blow-up at t = 1), asked for t = 2:
 *       dopri5 → NODEC_STEP_UNDERFLOW, message "t = 1" (within 1e-3),
 *       in nodec_solve and in every gradient mode;
 *       rk4 at h = 0.01 → NODEC_NONFINITE naming a time in [1, 2]
 *   Lotka–Volterra on [0, 100] with max_steps 50 → NODEC_TOO_MUCH_WORK
 *   θ with a NaN → NODEC_NONFINITE naming the parameter ("beta")
 *   observations with a NaN → NODEC_NONFINITE naming the time
 *   bad input → NODEC_ILL_INPUT; wrong ABI → NODEC_BAD_MODEL
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models.h"

/* The number after the first "t = " in msg, or NAN. */
static double msg_time(const char *msg)
{
    const char *p = strstr(msg, "t = ");
    return p ? strtod(p + 4, NULL) : NAN;
}

static void blowup(void)
{
    double p = 1, z0 = 1, t[3] = {0, 0.5, 2.0}, z[3], obs[3] = {0, 0, 0}, L, g[1];
    nodec_solver *s = nodec_create(&sq_model, 1);
    int rc = nodec_solve(s, &p, &z0, 3, t, z);
    const char *msg = nodec_get_error_message(s);
    printf("blow-up, dopri5: %s: %s\n", nodec_error_name(rc), msg);
    CHECK(rc == NODEC_STEP_UNDERFLOW, "code %s", nodec_error_name(rc));
    CHECK(fabs(msg_time(msg) - 1) < 1e-3, "time in '%s'", msg);
    CHECK(strstr(msg, "rtol") != NULL, "advice in '%s'", msg);
    for (int mo = 0; mo < 3; mo++) {
        nodec_set_grad_mode(s, mo);
        rc = nodec_loss_grad(s, &p, &z0, 3, t, obs, &L, g, g, NULL, NULL);
        CHECK(rc == NODEC_STEP_UNDERFLOW, "mode %d: %s", mo, nodec_error_name(rc));
        CHECK(fabs(msg_time(nodec_get_error_message(s)) - 1) < 1e-3, "'%s'",
              nodec_get_error_message(s));
    }
    nodec_set_method(s, NODEC_RK4);
    nodec_set_fixed_step(s, 0.01);
    rc = nodec_solve(s, &p, &z0, 3, t, z);
    msg = nodec_get_error_message(s);
    printf("blow-up, rk4: %s: %s\n", nodec_error_name(rc), msg);
    CHECK(rc == NODEC_NONFINITE, "code %s", nodec_error_name(rc));
    CHECK(msg_time(msg) >= 0.99 && msg_time(msg) <= 2, "time in '%s'", msg);
    nodec_free(s);
}

static void step_limit(void)
{
    double th[4] = {1.5, 1, 1, 3}, z0[2] = {1, 1}, t[2] = {0, 100}, z[4];
    nodec_solver *s = nodec_create(&lv_model, 1);
    int rc;
    nodec_set_max_steps(s, 50);
    rc = nodec_solve(s, th, z0, 2, t, z);
    printf("step limit: %s: %s\n", nodec_error_name(rc), nodec_get_error_message(s));
    CHECK(rc == NODEC_TOO_MUCH_WORK, "code %s", nodec_error_name(rc));
    CHECK(strstr(nodec_get_error_message(s), "max_steps = 50") != NULL, "msg");
    CHECK(msg_time(nodec_get_error_message(s)) > 0, "time");
    CHECK(nodec_get_num_steps(s, NODEC_PASS_FORWARD) +
              nodec_get_num_rejected(s, NODEC_PASS_FORWARD) == 50,
          "attempts %ld", nodec_get_num_steps(s, NODEC_PASS_FORWARD));
    nodec_free(s);
}

static void nans(void)
{
    double th[4] = {1.5, NAN, 1, 3}, z0[2] = {1, 1}, t[2] = {0, 1}, z[4];
    double obs[4] = {1, 1, 1, NAN}, L, g[4];
    nodec_solver *s = nodec_create(&lv_model, 1);
    int rc = nodec_solve(s, th, z0, 2, t, z);
    printf("NaN parameter: %s: %s\n", nodec_error_name(rc), nodec_get_error_message(s));
    CHECK(rc == NODEC_NONFINITE, "code %s", nodec_error_name(rc));
    CHECK(strstr(nodec_get_error_message(s), "beta") != NULL, "msg");
    rc = nodec_loss_grad(s, th, z0, 2, t, obs, &L, g, NULL, NULL, NULL);
    CHECK(rc == NODEC_NONFINITE, "code %s", nodec_error_name(rc));
    th[1] = 1;
    rc = nodec_loss_grad(s, th, z0, 2, t, obs, &L, g, NULL, NULL, NULL);
    printf("NaN observation: %s: %s\n", nodec_error_name(rc), nodec_get_error_message(s));
    CHECK(rc == NODEC_NONFINITE, "code %s", nodec_error_name(rc));
    CHECK(fabs(msg_time(nodec_get_error_message(s)) - 1) < 1e-12, "msg");
    z0[0] = INFINITY;
    rc = nodec_solve(s, th, z0, 2, t, z);
    CHECK(rc == NODEC_NONFINITE, "code %s", nodec_error_name(rc));
    nodec_free(s);
}

static void bad_input(void)
{
    double th[4] = {1.5, 1, 1, 3}, z0[2] = {1, 1}, t[3] = {0, 1, 1}, z[6];
    double obs[6] = {0}, L;
    nodec_model bad = lv_model;
    nodec_solver *s = nodec_create(&lv_model, 1);
    int rc = nodec_solve(s, th, z0, 3, t, z);
    CHECK(rc == NODEC_ILL_INPUT, "repeated time: %s", nodec_error_name(rc));
    t[2] = 2;
    nodec_set_method(s, NODEC_RK4);
    rc = nodec_solve(s, th, z0, 3, t, z);
    printf("rk4 without a step: %s: %s\n", nodec_error_name(rc), nodec_get_error_message(s));
    CHECK(rc == NODEC_ILL_INPUT, "rk4 without step: %s", nodec_error_name(rc));
    nodec_set_method(s, NODEC_DOPRI5);
    t[0] = 3; /* decreasing: fine for solve, not for gradients */
    rc = nodec_solve(s, th, z0, 3, (double[]){3, 2, 1}, z);
    CHECK(rc == 0, "decreasing solve: %s", nodec_get_error_message(s));
    rc = nodec_loss_grad(s, th, z0, 3, (double[]){3, 2, 1}, obs, &L, NULL, NULL, NULL, NULL);
    CHECK(rc == NODEC_ILL_INPUT, "decreasing grad: %s", nodec_error_name(rc));
    CHECK(nodec_set_tolerances(s, -1, 0) == NODEC_ILL_INPUT, "tolerances");
    CHECK(nodec_set_method(s, (nodec_method)42) == NODEC_ILL_INPUT, "method");
    CHECK(nodec_set_max_steps(s, 0) == NODEC_ILL_INPUT, "max_steps");
    CHECK(nodec_create(NULL, 1) == NULL && nodec_create(&lv_model, 0) == NULL, "create");
    nodec_free(s);
    bad.abi_version = 99;
    s = nodec_create(&bad, 1);
    rc = nodec_solve(s, th, z0, 2, (double[]){0, 1}, z);
    CHECK(rc == NODEC_BAD_MODEL, "abi: %s", nodec_error_name(rc));
    nodec_free(s);
}

static void names(void)
{
    CHECK(strcmp(nodec_error_name(NODEC_STEP_UNDERFLOW), "NODEC_STEP_UNDERFLOW") == 0, "name");
    CHECK(strcmp(nodec_error_name(12345), "NODEC_UNKNOWN_CODE") == 0, "unknown");
    for (int m = NODEC_EULER; m <= NODEC_DOPRI8; m++)
        CHECK(nodec_method_from_name(nodec_method_name(m)) == m, "method %d", m);
    CHECK(nodec_method_from_name("dopri5") == NODEC_DOPRI5, "dopri5");
    CHECK(nodec_method_from_name("rk45") == -1, "unknown method");
    CHECK(nodec_grad_mode_from_name("checkpoint") == NODEC_GRAD_CHECKPOINT, "mode");
    CHECK(nodec_grad_mode_from_name("backprop") == -1, "unknown mode");
}

int main(void)
{
    blowup();
    step_limit();
    nans();
    bad_input();
    names();
    return test_summary("test_failures");
}
