/* threads_bench.c — issue 14's thread speed-up: one loss gradient of the MLP
 * dz/dt = W3 tanh(W2 tanh(W1 z + b1) + b2) + b3 (mlp_256.nde, H = 256) for
 * B trajectories, 11 times on [0, 1], rk4 at h = 0.05, with 1 and with 2
 * threads (nodec_set_threads); prints the best wall time of each, whether
 * the gradients are the same bits, and CPU times: the caller thread's
 * (the critical path when the cores are free) and the process's (the
 * total work).  run.sh builds and runs it.
 *
 *   threads_bench [B (256)] [reps (5)] [mode: 0 adjoint, 1 checkpoint, 2 direct]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "mlp.h"
#include "nodec.h"
static double cpu(int id) { struct timespec ts; clock_gettime(id, &ts); return ts.tv_sec + 1e-9 * ts.tv_nsec; }
static double now(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec + 1e-9 * ts.tv_nsec; }
int main(int argc, char **argv) {
    int B = argc > 1 ? atoi(argv[1]) : 256, reps = argc > 2 ? atoi(argv[2]) : 5, mode = argc > 3 ? atoi(argv[3]) : 0;
    const nodec_model *m = &mlp_model;
    int P = m->n_param, n = m->n_state, NT = 11;
    double *th = malloc(P * 8), *z0 = malloc(B * n * 8), t[11], *obs = malloc(NT * B * n * 8), *g[3], L[3];
    m->init_params(th, 1);
    for (int b = 0; b < B * n; b++) z0[b] = 0.5 * ((b * 7919) % 1000) / 1000.0 - 0.25;
    for (int i = 0; i < NT; i++) t[i] = 0.1 * i;
    for (int k = 0; k < NT * B * n; k++) obs[k] = 0.1 * ((k * 104729) % 1000) / 1000.0;
    double best[3] = {1e30, 1e30, 1e30}, bmain[3] = {1e30,1e30,1e30}, bproc[3] = {1e30,1e30,1e30};
    for (int r = 0; r < reps; r++)
        for (int T = 1; T <= 2; T++) {
            nodec_solver *s = nodec_create(m, B);
            nodec_set_method(s, NODEC_RK4);
            nodec_set_fixed_step(s, 0.05);
            nodec_set_grad_mode(s, mode);
            nodec_set_threads(s, T);
            if (!g[T]) g[T] = malloc(P * 8);
            double t0 = now(), c0 = cpu(CLOCK_THREAD_CPUTIME_ID), p0 = cpu(CLOCK_PROCESS_CPUTIME_ID);
            int rc = nodec_loss_grad(s, th, z0, NT, t, obs, &L[T], g[T], NULL, NULL, NULL);
            double dt = now() - t0, dc = cpu(CLOCK_THREAD_CPUTIME_ID) - c0, dp = cpu(CLOCK_PROCESS_CPUTIME_ID) - p0;
            if (dc < bmain[T]) bmain[T] = dc; if (dp < bproc[T]) bproc[T] = dp;
            if (rc) { printf("rc %d %s\n", rc, nodec_get_error_message(s)); return 1; }
            if (dt < best[T]) best[T] = dt;
            nodec_free(s);
        }
    printf("B=%d H=256 mode=%d: 1 thread %.1f ms, 2 threads %.1f ms, speed-up %.2fx, same bits: %s\n", B, mode,
           best[1] * 1e3, best[2] * 1e3, best[1] / best[2],
           !memcmp(g[1], g[2], P * 8) && L[1] == L[2] ? "yes" : "NO");
    printf("  cpu: 1 thread %.1f ms; 2 threads: caller %.1f ms, process %.1f ms; 1-thread cpu / caller cpu = %.2fx\n", bmain[1]*1e3, bmain[2]*1e3, bproc[2]*1e3, bmain[1]/bmain[2]);
    return 0;
}
