// tests/embed/cxx_user.cpp — nodec from C++ (tests/embed/cxx.cmake): an
// emitted header and every public runtime header in one C++17 translation
// unit, the emitted functions and the runtime called through them.  The
// link only succeeds if all of them declare C linkage.
#include <cmath>
#include <cstdio>
#include <vector>

#include "nodec_tools.h"
#include "lotka_volterra.h"
#include "nodec.h"

int main() {
    const nodec_model &m = lotka_volterra_model;
    std::vector<double> theta(LOTKA_VOLTERRA_N_PARAM), work(LOTKA_VOLTERRA_WORK_SIZE), dz(m.n_state);
    lotka_volterra_init_params(theta.data(), 0);
    const double z0[2] = {1.0, 1.0};
    lotka_volterra_f(1, 0.0, z0, theta.data(), dz.data(), work.data());
    int failures = dz[0] != 0.5 || dz[1] != -2.0; // 1.5 - 1, 1 - 3

    // x' = 1.5x - xy, y' = xy - 3y keeps δx − γ ln x + βy − α ln y = 2.
    nodec_solver *s = nodec_create(&m, 1);
    nodec_set_tolerances(s, 1e-10, 1e-12);
    const double t[2] = {0.0, 4.0};
    double z[4];
    int rc = nodec_solve(s, theta.data(), z0, 2, t, z);
    double v = z[2] - 3 * std::log(z[2]) + z[3] - 1.5 * std::log(z[3]);
    std::printf("C++: %s, z(4) = (%.10f, %.10f), invariant %.12f (2), %s\n", m.name, z[2], z[3], v,
                nodec_error_name(rc));
    failures += rc != NODEC_SUCCESS || std::fabs(v - 2) > 1e-8;
    nodec_free(s);

    nodec_optim o;
    failures += nodec_optim_init(&o, NODEC_OPT_ADAM, 4, 1e-3) != 0;
    nodec_optim_free(&o);
    nodec_solver_opts so;
    nodec_solver_opts_default(&so);
    char col[16];
    nodec_state_column_name(&m, 1, col, sizeof col);
    std::printf("column 1 is %s; %d failures\n", col, failures);
    return failures != 0;
}
