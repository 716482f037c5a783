/* train_bench.c — the spiral demo's training loop through nodec.h's API, to
 * read what `nodec train` does not print: the runtime allocator's peak
 * (nodec_get_mem_peak), max RSS of a process that holds only the runtime and
 * the emitted model, and where the time goes (time inside the model's f,
 * vjp and f_vjp against the runtime around them).
 *
 * It replays `nodec train`'s iterations exactly (runtime/train.c: the same
 * splitmix64 window draws, windows shifted to t = 0 and solved as one batch,
 * rmsprop via nodec_optim_step), so its batch loss and step counts must
 * equal the CLI's JSON with the cc backend; run.sh checks that.
 *
 *   train_bench DATA.csv MODE ITERS [--seed S] [--unfused] [--timers] [--trace F]
 *
 *   --unfused  clear the descriptor's f_vjp: the adjoint's backward pass then
 *              calls f and vjp separately, as it does with the LLVM JIT
 *              backend today (which does not fill f_vjp)
 *   --timers   wrap f, vjp, f_vjp with clock_gettime to split kernel time
 *              from runtime time (adds ~2×25 ns per call)
 *   --trace F  one CSV row per iteration: iter, first window, ms, steps, evals
 *
 * Prints one JSON object.  Built by run.sh against the emitted spiral.c and
 * build-tb/runtime/libnodec.a.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "nodec_tools.h"
#include "nodec.h"
#include "spiral.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- kernel timers ---- */
static double t_f, t_vjp, t_fvjp;
static long n_f, n_vjp, n_fvjp;

static void timed_f(int B, double t, const double *z, const double *th, double *dz, double *w)
{
    double t0 = now();
    spiral_model.f(B, t, z, th, dz, w);
    t_f += now() - t0, n_f++;
}
static void timed_vjp(int B, double t, const double *z, const double *th, const double *a, double *az,
                      double *ath, double *at, double *w)
{
    double t0 = now();
    spiral_model.vjp(B, t, z, th, a, az, ath, at, w);
    t_vjp += now() - t0, n_vjp++;
}
static void timed_f_vjp(int B, double t, const double *z, const double *th, const double *a, double *dz,
                        double *az, double *ath, double *at, double *w)
{
    double t0 = now();
    spiral_model.f_vjp(B, t, z, th, a, dz, az, ath, at, w);
    t_fvjp += now() - t0, n_fvjp++;
}

/* ---- train.c's window draws ---- */
static uint64_t mix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint64_t below(uint64_t *x, uint64_t n)
{
    uint64_t lim = UINT64_MAX - UINT64_MAX % n, r;
    while ((r = mix64(x)) >= lim) {
    }
    return r % n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: train_bench DATA.csv adjoint|checkpoint|direct ITERS [--seed S] [--unfused] [--timers]\n");
        return 2;
    }
    const char *data = argv[1];
    int mode = nodec_grad_mode_from_name(argv[2]);
    long iters = atol(argv[3]);
    unsigned long long seed = 1;
    int unfused = 0, timers = 0;
    FILE *trace = NULL;
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--unfused"))
            unfused = 1;
        else if (!strcmp(argv[i], "--timers"))
            timers = 1;
        else if (!strcmp(argv[i], "--trace") && i + 1 < argc) {
            if (!(trace = fopen(argv[++i], "w"))) {
                perror(argv[i]);
                return 1;
            }
            fprintf(trace, "iter,min_start,ms,fwd_steps,fwd_rejected,bwd_steps,bwd_rejected,fwd_f,bwd_f,vjp\n");
        }
        else {
            fprintf(stderr, "train_bench: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (mode < 0 || iters < 1) {
        fprintf(stderr, "train_bench: bad mode or iteration count\n");
        return 2;
    }

    nodec_model m = spiral_model; /* a copy, so f_vjp and the timers can be swapped in */
    if (unfused)
        m.f_vjp = NULL;
    if (timers) {
        m.f = timed_f, m.vjp = timed_vjp;
        if (m.f_vjp)
            m.f_vjp = timed_f_vjp;
    }

    enum { B = 20, K = 10 };
    const int ns = m.n_state, np = m.n_param;
    char err[1024];
    nodec_data d;
    if (nodec_data_load(data, &m, &d, err, sizeof err)) {
        fprintf(stderr, "train_bench: %s\n", err);
        return 1;
    }
    if (d.n_traj != 1 || d.traj[0].n < K + B) {
        fprintf(stderr, "train_bench: expected one trajectory of at least %d rows\n", K + B);
        return 1;
    }
    const nodec_traj *tr = &d.traj[0];
    const int n_pool = tr->n - K + 1;
    int *order = malloc(sizeof(int) * (size_t)n_pool);
    double *theta = malloc(sizeof(double) * (size_t)np), *grad = malloc(sizeof(double) * (size_t)np);
    double z0[B * 2], obs[K * B * 2], t[K], *ms = malloc(sizeof(double) * (size_t)iters);
    if (!order || !theta || !grad || !ms || ns != 2)
        return 1;
    m.init_params(theta, seed);

    nodec_optim opt;
    nodec_optim_init(&opt, NODEC_OPT_RMSPROP, np, 1e-3);
    nodec_solver *s = nodec_create(&m, B);
    nodec_set_method(s, NODEC_DOPRI5);
    nodec_set_tolerances(s, 1e-7, 1e-9);
    nodec_set_grad_mode(s, (nodec_grad_mode)mode);

    nodec_stats acc = {{0, 0, 0, 0}, {0, 0, 0, 0}};
    double L = 0, t_all0 = now();
    for (long it = 1; it <= iters; it++) {
        double t0 = now();
        /* sample(): partial Fisher–Yates seeded by (seed, it) */
        uint64_t x = (uint64_t)seed * 0x9e3779b97f4a7c15ull ^ (uint64_t)it;
        mix64(&x);
        for (int i = 0; i < n_pool; i++)
            order[i] = i;
        for (int i = 0; i < B; i++) {
            int j = i + (int)below(&x, (uint64_t)(n_pool - i)), tmp = order[i];
            order[i] = order[j], order[j] = tmp;
        }
        /* an even grid: every window's shifted times agree, one batch;
         * the group's times are those of its first window */
        const double *t_first = tr->t + order[0];
        for (int i = 0; i < K; i++)
            t[i] = t_first[i] - t_first[0];
        for (int b = 0; b < B; b++) {
            const double *z = tr->z + (size_t)order[b] * ns;
            memcpy(z0 + b * ns, z, sizeof(double) * (size_t)ns);
            for (int i = 0; i < K; i++)
                memcpy(obs + ((size_t)i * B + b) * ns, z + (size_t)i * ns, sizeof(double) * (size_t)ns);
        }
        int rc = nodec_loss_grad(s, theta, z0, K, t, obs, &L, grad, NULL, NULL, NULL);
        if (rc != NODEC_SUCCESS) {
            fprintf(stderr, "train_bench: iteration %ld: %s: %s\n", it, nodec_error_name(rc),
                    nodec_get_error_message(s));
            return 1;
        }
        nodec_stats st;
        nodec_get_stats(s, &st);
        acc.forward.steps += st.forward.steps, acc.forward.f_evals += st.forward.f_evals;
        acc.backward.steps += st.backward.steps, acc.backward.f_evals += st.backward.f_evals;
        acc.forward.rejected += st.forward.rejected, acc.backward.rejected += st.backward.rejected;
        acc.backward.vjp_evals += st.backward.vjp_evals;
        nodec_optim_step(&opt, theta, grad);
        ms[it - 1] = 1e3 * (now() - t0);
        if (trace) {
            int lo = order[0];
            for (int b = 1; b < B; b++)
                lo = order[b] < lo ? order[b] : lo;
            fprintf(trace, "%ld,%d,%.4f,%ld,%ld,%ld,%ld,%ld,%ld,%ld\n", it, lo, ms[it - 1], st.forward.steps,
                    st.forward.rejected, st.backward.steps, st.backward.rejected, st.forward.f_evals,
                    st.backward.f_evals, st.backward.vjp_evals);
        }
    }
    double wall = now() - t_all0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double mean = 1e3 * wall / (double)iters;
    qsort(ms, (size_t)iters, sizeof(double), cmp_double);
    double per = 1.0 / (double)iters;

    printf("{\"mode\": \"%s\", \"fused_f_vjp\": %d, \"timers\": %d, \"iters\": %ld, \"seed\": %llu,\n", argv[2],
           m.f_vjp != NULL, timers, iters, seed);
    printf(" \"batch_loss\": %.10g, \"ms_per_iter\": %.4g, \"ms_iter_median\": %.4g, \"ms_iter_p90\": %.4g,\n", L,
           mean, ms[iters / 2], ms[iters * 9 / 10]);
    printf(" \"per_iter\": {\"forward_steps\": %.4g, \"forward_rejected\": %.4g, \"backward_steps\": %.4g, "
           "\"backward_rejected\": %.4g, \"forward_f_evals\": %.4g, \"backward_f_evals\": %.4g, \"vjp_evals\": %.4g},\n",
           acc.forward.steps * per, acc.forward.rejected * per, acc.backward.steps * per,
           acc.backward.rejected * per, acc.forward.f_evals * per, acc.backward.f_evals * per,
           acc.backward.vjp_evals * per);
    printf(" \"mem_peak_bytes\": %zu, \"mem_current_bytes\": %zu, \"maxrss_kb\": %ld", nodec_get_mem_peak(s),
           nodec_get_mem_current(s), ru.ru_maxrss);
    if (timers) {
        double kern = t_f + t_vjp + t_fvjp;
        printf(",\n \"kernels\": {\"f_calls\": %.4g, \"f_us\": %.4g, \"vjp_calls\": %.4g, \"vjp_us\": %.4g, "
               "\"f_vjp_calls\": %.4g, \"f_vjp_us\": %.4g, \"kernel_ms_per_iter\": %.4g, \"kernel_share\": %.3f}",
               n_f * per, n_f ? 1e6 * t_f / n_f : 0.0, n_vjp * per, n_vjp ? 1e6 * t_vjp / n_vjp : 0.0,
               n_fvjp * per, n_fvjp ? 1e6 * t_fvjp / n_fvjp : 0.0, 1e3 * kern * per, kern / wall);
    }
    printf("}\n");
    if (trace)
        fclose(trace);
    nodec_free(s);
    nodec_optim_free(&opt);
    nodec_data_free(&d);
    free(order), free(theta), free(grad), free(ms);
    return 0;
}
