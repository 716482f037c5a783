/* test_threads.c — the batch split across threads (runtime/par.c).
 *
 * For batches large enough to be cut into chunks (B ≥ 128):
 *   solves and gradients (adjoint, checkpoint, direct; dopri5 and rk4; a
 *   model that uses t, one with f_vjp and a work buffer, a stiff one with
 *   rodas5p, and with kvaerno4's direct) with 1, 2 and 3 threads and all cores give the same bits
 *   (memcmp of L, dθ, dz0, dt and z);
 *   (the test models are small: the handle's chunk size is set to 64 rows
 *   through internal.h, a white-box switch);
 *   against the handle with chunking off (the same switch): solves the same bits (f is per row), gradients within
 *   1e-12 relative to the largest entry (only ∂θ, ∂t are added in another
 *   order); with the f_vjp model the small batch (B = 20, one chunk) is
 *   the same bits as a handle that never splits;
 *   no two chunks share a work buffer (the model checks a token in it);
 *   during a call at most the threads asked for run, and after it (and
 *   after nodec_free) the process has the threads it had before;
 *   nodec_set_threads refuses n < 0 and n > 1024; nodec_get_threads.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h" /* s->chunk_rows: chunking off for the references */
#include "stiff_models.h"

enum { NT = 4, MAXB = 300 };

/* Threads of this process, from /proc/self/task. */
static int process_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* The threads of this process once it has `want` again: a joined thread
 * can stay listed in /proc/self/task for a moment after pthread_join
 * returns (the kernel reaps it on its own), so wait up to a second. */
static int settle(int want)
{
    int n = process_threads();
    for (int k = 0; k < 100 && n != want; k++) {
        nanosleep(&(struct timespec){0, 10000000}, NULL);
        n = process_threads();
    }
    return n;
}

/* ---- mlp with f_vjp and a work buffer: calls models.c's mlp, and checks
 * that no other call uses its work buffer at the same time ---- */

enum { WS = 8 };
static int max_threads_seen, work_clashes, count_threads;

static void token_in(double *w, const void *p)
{
    for (int i = 0; i < WS; i++)
        w[i] = (double)(uintptr_t)p + i;
}

static void token_out(const double *w, const void *p)
{
    for (int i = 0; i < WS; i++)
        if (w[i] != (double)(uintptr_t)p + i)
            __atomic_add_fetch(&work_clashes, 1, __ATOMIC_RELAXED);
}

static void seen(void)
{
    int n, m;
    if (!__atomic_load_n(&count_threads, __ATOMIC_RELAXED))
        return;
    n = process_threads();
    m = __atomic_load_n(&max_threads_seen, __ATOMIC_RELAXED);
    while (n > m && !__atomic_compare_exchange_n(&max_threads_seen, &m, n, 0,
                                                  __ATOMIC_RELAXED,
                                                  __ATOMIC_RELAXED))
        ;
}

static void w_f(int B, double t, const double *z, const double *p, double *dz,
                double *w)
{
    token_in(w, z);
    seen();
    mlp_model.f(B, t, z, p, dz, NULL);
    token_out(w, z);
}

static void w_vjp(int B, double t, const double *z, const double *p,
                  const double *a, double *az, double *ath, double *at,
                  double *w)
{
    token_in(w, a);
    mlp_model.vjp(B, t, z, p, a, az, ath, at, NULL);
    token_out(w, a);
}

static void w_f_vjp(int B, double t, const double *z, const double *p,
                    const double *a, double *dz, double *az, double *ath,
                    double *at, double *w)
{
    token_in(w, dz);
    seen();
    mlp_model.f(B, t, z, p, dz, NULL);
    mlp_model.vjp(B, t, z, p, a, az, ath, at, NULL);
    token_out(w, dz);
}

static nodec_model wmlp_model;

static void make_wmlp(void)
{
    wmlp_model = mlp_model;
    wmlp_model.name = "spiral_fvjp";
    wmlp_model.work_size = WS;
    wmlp_model.f = w_f;
    wmlp_model.vjp = w_vjp;
    wmlp_model.f_vjp = w_f_vjp;
}

/* ---- one configuration, run with a given thread count ---- */

typedef struct cfg {
    const char *what;
    const nodec_model *m;
    int B;
    nodec_method meth;
    nodec_grad_mode mode;
    double h; /* fixed step, or 0 */
} cfg;

typedef struct out {
    int rc;
    double L, dth[64], dz0[MAXB * 2], dt[NT], z[NT * MAXB * 2];
    int used; /* nodec_get_threads */
} out;

static double theta[64], z0[MAXB * 2], t[NT], obs[NT * MAXB * 2];

static void problem(const cfg *c)
{
    int n = c->m->n_state;
    if (c->m == &vdp_model)
        theta[0] = 3;
    else if (c->m == &osc_model)
        for (int k = 0; k < 4; k++)
            theta[k] = 0.5 + 0.3 * k;
    else
        mlp_params(theta);
    for (int i = 0; i < NT; i++)
        t[i] = 0.3 * i;
    for (int b = 0; b < c->B; b++)
        for (int p = 0; p < n; p++) {
            z0[b * n + p] = 0.8 * sin(0.37 * b + 1.3 * p + 0.2);
            for (int i = 0; i < NT; i++)
                obs[(i * c->B + b) * n + p] = 0.5 * cos(0.21 * b - 0.7 * p + i);
        }
}

/* threads < 0: chunking off (the reference). */
static void run(const cfg *c, int threads, int grad, out *o)
{
    nodec_solver *s = nodec_create(c->m, c->B);
    memset(o, 0, sizeof *o);
    nodec_set_method(s, c->meth);
    nodec_set_tolerances(s, 1e-8, 1e-10);
    nodec_set_grad_mode(s, c->mode);
    if (c->h > 0)
        nodec_set_fixed_step(s, c->h);
    /* The test models are small: par.c's rule would not cut their batches
     * below 2·3972 rows.  Cut them at 64 rows (the minimum). */
    s->chunk_rows = 64;
    if (threads >= 0)
        CHECK(nodec_set_threads(s, threads) == NODEC_SUCCESS, "set threads");
    else
        s->chunk_rows = 1 << 30;
    o->used = nodec_get_threads(s);
    if (grad)
        o->rc = nodec_loss_grad(s, theta, z0, NT, t, obs, &o->L, o->dth,
                                o->dz0, o->dt, o->z);
    else
        o->rc = nodec_solve(s, theta, z0, NT, t, o->z);
    CHECK(o->rc == 0, "%s: %s %s", c->what, nodec_error_name(o->rc),
          nodec_get_error_message(s));
    nodec_free(s);
}

static int same(const out *a, const out *b, const cfg *c, int grad)
{
    long nz = (long)c->B * c->m->n_state;
    if (memcmp(a->z, b->z, NT * nz * sizeof(double)))
        return 0;
    if (!grad)
        return 1;
    return memcmp(&a->L, &b->L, sizeof a->L) == 0 &&
           memcmp(a->dth, b->dth, c->m->n_param * sizeof(double)) == 0 &&
           memcmp(a->dz0, b->dz0, nz * sizeof(double)) == 0 &&
           memcmp(a->dt, b->dt, NT * sizeof(double)) == 0;
}

static out o1, on, oref;

static void check_cfg(const cfg *c, int grad)
{
    static const int counts[] = {2, 3, 0};
    long nz = (long)c->B * c->m->n_state;
    int before = process_threads();
    problem(c);
    run(c, 1, grad, &o1);
    CHECK(o1.used == 1, "%s: 1 thread asked, %d used", c->what, o1.used);
    for (int i = 0; i < 3; i++) {
        run(c, counts[i], grad, &on);
        CHECK(same(&o1, &on, c, grad), "%s %s: %d threads differ from 1",
              c->what, grad ? "grad" : "solve", counts[i]);
    }
    int after = settle(before);
    CHECK(after == before, "%s: %d threads after the calls, %d before", c->what, after, before);
    run(c, -1, grad, &oref);
    if (!grad) {
        CHECK(same(&o1, &oref, c, 0), "%s solve: chunked differs from unchunked",
              c->what);
        return;
    }
    CHECK(memcmp(o1.z, oref.z, NT * nz * sizeof(double)) == 0,
          "%s grad: z chunked differs from unchunked", c->what);
    check_close("L vs unchunked", o1.L, oref.L, 1e-12, 0);
    check_vec("dtheta vs unchunked", o1.dth, oref.dth, c->m->n_param, 1e-12, 0);
    check_vec("dz0 vs unchunked", o1.dz0, oref.dz0, (int)nz, 1e-12, 0);
    check_vec("dt vs unchunked", o1.dt, oref.dt, NT, 1e-12, 0);
}

int main(void)
{
    const cfg cfgs[] = {
        {"mlp dopri5 adjoint B=300", &mlp_model, 300, NODEC_DOPRI5,
         NODEC_GRAD_ADJOINT, 0},
        {"mlp dopri5 checkpoint B=300", &mlp_model, 300, NODEC_DOPRI5,
         NODEC_GRAD_CHECKPOINT, 0},
        {"mlp dopri5 direct B=300", &mlp_model, 300, NODEC_DOPRI5,
         NODEC_GRAD_DIRECT, 0},
        {"mlp rk4 adjoint B=200", &mlp_model, 200, NODEC_RK4,
         NODEC_GRAD_ADJOINT, 0.05},
        {"osc (uses t) tsit5 adjoint B=256", &osc_model, 256, NODEC_TSIT5,
         NODEC_GRAD_ADJOINT, 0},
        {"osc (uses t) dopri5 direct B=256", &osc_model, 256, NODEC_DOPRI5,
         NODEC_GRAD_DIRECT, 0},
        {"mlp f_vjp+work dopri5 adjoint B=300", &wmlp_model, 300,
         NODEC_DOPRI5, NODEC_GRAD_ADJOINT, 0},
        {"mlp f_vjp+work dopri5 checkpoint B=129", &wmlp_model, 129,
         NODEC_DOPRI5, NODEC_GRAD_CHECKPOINT, 0},
        {"vdp rodas5p checkpoint B=150", &vdp_model, 150, NODEC_RODAS5P,
         NODEC_GRAD_CHECKPOINT, 0},
        {"vdp kvaerno4 direct B=150", &vdp_model, 150, NODEC_KVAERNO4,
         NODEC_GRAD_DIRECT, 0},
    };
    cfg small = {"mlp f_vjp+work B=20", &wmlp_model, 20, NODEC_DOPRI5,
                 NODEC_GRAD_ADJOINT, 0};
    nodec_solver *s;
    nodec_model big;
    int base;

    make_wmlp();
    /* A first call with threads: a sanitizer's helper thread, if any,
     * starts here, before the counts are taken. */
    problem(&cfgs[0]);
    run(&cfgs[0], 2, 0, &on);
    for (size_t i = 0; i < sizeof cfgs / sizeof *cfgs; i++) {
        check_cfg(&cfgs[i], 0);
        check_cfg(&cfgs[i], 1);
    }
    CHECK(work_clashes == 0, "%d calls found their work buffer changed",
          work_clashes);

    /* One chunk: the model is called as without threads. */
    problem(&small);
    run(&small, 0, 1, &on);
    run(&small, -1, 1, &oref);
    CHECK(same(&on, &oref, &small, 1), "B = 20: differs from unchunked");
    CHECK(on.used == 1, "B = 20 uses %d threads", on.used);

    /* At most the threads asked for, during the call. */
    base = process_threads();
    problem(&cfgs[6]);
    for (int n = 1; n <= 3; n++) {
        settle(base); /* the last call's threads are gone */
        max_threads_seen = 0;
        count_threads = 1;
        run(&cfgs[6], n, 1, &on);
        count_threads = 0;
        CHECK(max_threads_seen >= 1 && max_threads_seen <= base - 1 + n,
              "%d threads asked: %d seen", n, max_threads_seen);
        CHECK(on.used == n, "%d threads asked: get_threads %d", n, on.used);
        printf("threads %d: at most %d in the process during the call\n", n,
               max_threads_seen);
    }
    int end = settle(base);
    CHECK(end == base, "%d threads at the end, %d at the start", end, base);

    /* Options. */
    s = nodec_create(&mlp_model, 300);
    CHECK(nodec_set_threads(s, 2) == 0 && nodec_get_threads(s) == 1,
          "B = 300 of a 42-parameter model: not cut by default");
    s->chunk_rows = 64;
    CHECK(nodec_set_threads(s, -1) == NODEC_ILL_INPUT, "threads -1");
    CHECK(nodec_set_threads(s, 1025) == NODEC_ILL_INPUT, "threads 1025");
    CHECK(nodec_set_threads(NULL, 1) == NODEC_ILL_INPUT, "NULL handle");
    CHECK(nodec_set_threads(s, 1024) == NODEC_SUCCESS, "threads 1024");
    CHECK(nodec_get_threads(s) == 4, "B = 300: 4 chunks, %d threads",
          nodec_get_threads(s));
    CHECK(nodec_set_threads(s, 0) == NODEC_SUCCESS, "threads 0");
    CHECK(nodec_get_threads(s) >= 1 && nodec_get_threads(s) <= 4,
          "all cores: %d", nodec_get_threads(s));
    nodec_free(s);
    s = nodec_create(&mlp_model, 5000);
    nodec_set_threads(s, 64);
    CHECK(nodec_get_threads(s) == 1,
          "B = 5000 of 42 parameters (3972 rows a chunk at least): %d",
          nodec_get_threads(s));
    s->chunk_rows = 64;
    CHECK(nodec_get_threads(s) == 16, "B = 5000: at most 16 chunks, %d",
          nodec_get_threads(s));
    nodec_free(s);
    /* The default rule on a model of 67,074 parameters (the MLP of issue
     * 14 at H = 256): 64 rows a chunk. */
    big = mlp_model;
    big.n_param = 67074;
    s = nodec_create(&big, 256);
    nodec_set_threads(s, 8);
    CHECK(nodec_get_threads(s) == 4, "H = 256, B = 256: %d chunks",
          nodec_get_threads(s));
    nodec_free(s);
    s = nodec_create(&big, 127);
    CHECK(nodec_set_threads(s, 8) == 0 && nodec_get_threads(s) == 1,
          "B = 127: one chunk");
    nodec_free(s);
    return test_summary("threads");
}
