/* tests/embed/in_tree.c — nodec_add_model() in nodec's own build tree
 * (tests/embed/CMakeLists.txt): the emitted names are the ones the function
 * worked out, and the models solve to their exact solutions through the
 * runtime.  Exit status 1 on a mismatch. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp_decay.h"           /* decay.nde, `model exp_decay`, in gen-decay/ */
#include "harmonic_oscillator.h" /* harmonic-oscillator.nde */
#include "nodec.h"

static int failures;

static void check(const char *what, double got, double want, double tol) {
    int ok = fabs(got - want) <= tol * fmax(1, fabs(want));
    printf("%-36s %.15f %.15f %s\n", what, got, want, ok ? "ok" : "MISMATCH");
    failures += !ok;
}

/* z(t) of every model at t = 0 and 1.5, against the exact solution. */
static void solve(const nodec_model *m, const double *exact) {
    double theta[16], t[2] = {0, 1.5}, z[2 * 8];
    m->init_params(theta, 1);
    nodec_solver *s = nodec_create(m, 1);
    nodec_set_tolerances(s, 1e-12, 1e-14);
    int rc = nodec_solve(s, theta, m->z0, 2, t, z);
    if (rc != NODEC_SUCCESS) {
        printf("%s: %s %s\n", m->name, nodec_error_name(rc), nodec_get_error_message(s));
        failures++;
    }
    for (int k = 0; k < m->n_state && !rc; k++) {
        char what[64];
        snprintf(what, sizeof what, "%s: z%d(1.5)", m->name, k);
        check(what, z[m->n_state + k], exact[k], 1e-9);
    }
    nodec_free(s);
}

int main(void) {
    failures += strcmp(harmonic_oscillator_model.name, "harmonic_oscillator") != 0;
    failures += strcmp(exp_decay_model.name, "exp_decay") != 0;
    failures += strcmp(EXP_DECAY_NODEC_VERSION, HARMONIC_OSCILLATOR_NODEC_VERSION) != 0;
    double osc[2] = {cos(2 * 1.5), -2 * sin(2 * 1.5)};
    double decay[3] = {exp(-0.5 * 1.5), 2 * exp(-1.5), 3 * exp(-2 * 1.5)};
    solve(&harmonic_oscillator_model, osc);
    solve(&exp_decay_model, decay);
    printf(failures ? "%d checks FAILED\n" : "all checks passed\n", failures);
    return failures != 0;
}
