/* test_tiles.c — batch-major code (compiler/plan.c, tiles and nd_gemm)
 * against the same model computed one sample at a time.
 *
 *   test_tiles MODEL.nde...
 *
 * Each model is compiled once and loaded three ways: the emitted C with
 * tiles (the default), the emitted C with every function one sample at a
 * time (Ir.no_tiles), and, when nodec has the LLVM backend, the JIT with
 * tiles.  The model must actually be tiled (its f_vjp plan has tile
 * products, else the test is void and fails).  f, vjp (and each
 * combination of NULL outputs), f_vjp and jvp must agree with the
 * one-sample form within 1e-11 relative (TOL, below) at seeded random points
 * for batches of 1, 5, 63, 64, 65 and 150 samples: one tile, a full tile,
 * a tile and one, a partial last tile.  Outputs are poisoned with NaN
 * first; work buffers are exactly work_size doubles (ASan sees overruns);
 * check_model (finite differences) must pass on the tiled C.  The JIT runs
 * without libmvec's tanh (NODEC_NO_LIBMVEC): its few ulps, amplified by
 * cancellation, are tests/jit's business, not the tiles'.
 */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "cmd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../model_call.h" /* models with inputs too */
#include "nodec_model.h"

/* A sum over a tile is added in another order (by BLAS, in blocks), which
 * changes it by a few ulps of the sum of its terms' magnitudes: relative to
 * a result that cancels, more. */
#define TOL 1e-11
#define FLOOR 1e-3 /* of the vector's largest element */

static int fails;
static double worst;

static unsigned long long rng = 0x2545F4914F6CDD1Dull;
static double uni(double lo, double hi) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (double)(rng >> 11) / 9007199254740992.0;
}

static double *alloc(int n) { return malloc(sizeof(double) * (size_t)(n > 0 ? n : 1)); }

static void poison(double *p, int n) {
    for (int i = 0; i < n; i++) p[i] = NAN;
}

/* x (tiled) against r (one sample at a time): within TOL relative to the
 * element, or to FLOOR of the vector's largest (an element that cancels). */
static void agree(const char *who, const char *what, int B, const double *r, const double *x, int n) {
    double vmax = 0;
    for (int i = 0; i < n; i++) vmax = fmax(vmax, fabs(r[i]));
    for (int i = 0; i < n; i++) {
        double scale = fmax(fmax(fabs(r[i]), fabs(x[i])), FLOOR * vmax);
        double rel = r[i] == x[i] ? 0 : fabs(r[i] - x[i]) / (scale > 1e-300 ? scale : 1);
        if (!(rel <= worst)) worst = rel;
        if (!(rel <= TOL)) {
            fails++;
            printf("  FAIL: %s %s (B=%d) [%d]: %.17g one at a time, %.17g tiled (rel %.2g)\n", who, what, B, i, r[i],
                   x[i], rel);
            return;
        }
    }
}

/* Every batched function of m against ref at one random point. */
static void compare_at(const char *who, const nodec_model *ref, const nodec_model *m, const double *th0, int B) {
    int ns = m->n_state, np = m->n_param, n = B * ns;
    double *z = alloc(n), *a = alloc(n), *v = alloc(n), *th = alloc(np);
    double *wr = alloc(ref->work_size), *wm = alloc(m->work_size);
    double *o1 = alloc(n), *o2 = alloc(n), *d1 = alloc(n), *d2 = alloc(n), *g1 = alloc(np), *g2 = alloc(np);
    double *u = alloc(B * mc_u_len(m)), t1, t2;
    for (int i = 0; i < n; i++) z[i] = uni(-1.5, 1.5), a[i] = uni(-1, 1), v[i] = uni(-1, 1);
    for (int i = 0; i < B * mc_u_len(m); i++) u[i] = uni(-1, 1);
    for (int i = 0; i < np; i++) th[i] = th0[i] * (1 + 0.1 * uni(-1, 1)) + 0.05 * uni(-1, 1);
    double t = uni(0, 2);

    poison(o1, n), poison(o2, n);
    mc_f(ref, B, t, z, u, th, o1, wr), mc_f(m, B, t, z, u, th, o2, wm);
    agree(who, "f", B, o1, o2, n);

    poison(o1, n), poison(o2, n), poison(g1, np), poison(g2, np), t1 = t2 = NAN;
    mc_vjp(ref, B, t, z, u, th, a, o1, g1, &t1, wr), mc_vjp(m, B, t, z, u, th, a, o2, g2, &t2, wm);
    agree(who, "vjp az", B, o1, o2, n), agree(who, "vjp atheta", B, g1, g2, np), agree(who, "vjp at", B, &t1, &t2, 1);
    for (int mask = 1; mask < 8; mask++) {
        double *az = alloc(n), *ath = alloc(np), at = NAN;
        poison(az, n), poison(ath, np);
        mc_vjp(m, B, t, z, u, th, a, mask & 1 ? NULL : az, mask & 2 ? NULL : ath, mask & 4 ? NULL : &at, wm);
        if (!(mask & 1)) agree(who, "vjp az (some NULL)", B, o1, az, n);
        if (!(mask & 2)) agree(who, "vjp atheta (some NULL)", B, g1, ath, np);
        if (!(mask & 4)) agree(who, "vjp at (some NULL)", B, &t1, &at, 1);
        free(az), free(ath);
    }

    poison(o1, n), poison(o2, n), poison(d1, n), poison(d2, n), poison(g1, np), poison(g2, np), t1 = t2 = NAN;
    mc_f_vjp(ref, B, t, z, u, th, a, d1, o1, g1, &t1, wr), mc_f_vjp(m, B, t, z, u, th, a, d2, o2, g2, &t2, wm);
    agree(who, "f_vjp dzdt", B, d1, d2, n), agree(who, "f_vjp az", B, o1, o2, n);
    agree(who, "f_vjp atheta", B, g1, g2, np), agree(who, "f_vjp at", B, &t1, &t2, 1);

    poison(o1, n), poison(o2, n);
    mc_jvp(ref, B, t, z, u, th, v, o1, wr), mc_jvp(m, B, t, z, u, th, v, o2, wm);
    agree(who, "jvp", B, o1, o2, n);

    free(z), free(a), free(v), free(th), free(wr), free(wm), free(o1), free(o2), free(d1), free(d2), free(g1), free(g2);
    free(u);
}

/* The number of tile products in f_vjp's plan. */
static int tile_products(Program *pg) {
    Model *md = pg->m;
    Arena *a = arena_new();
    PlanOut *outs = arena_alloc(a, sizeof *outs * (2 * (size_t)md->nstates + (size_t)md->nparams + 2));
    int k = plan_outputs(pg, 2, outs); /* f_vjp */
    Plan p;
    plan_storage(&p, pg->ir, outs, k, true, a);
    int n = p.ngemm;
    arena_free(a);
    return n;
}

static int test_model(const char *path) {
    int fails0 = fails;
    worst = 0;
    Compilation c = {0};
    c.arena = arena_new();
    char err[2048];
    if (!source_read(path, &c.src, c.arena, err, sizeof err)) return printf("FAIL %s: %s\n", path, err), 1;
    c.diag.out = stdout;
    if (!nc_compile(&c, STAGE_C)) return printf("FAIL %s: does not compile\n", path), nc_free(&c), 1;
    EmitOpts o = {c.src.path, fnv1a64(c.src.text, (size_t)c.src.len), false};
    int ng = tile_products(c.prog);
    if (ng == 0) printf("  FAIL: %s has no tile products: the test would compare nothing\n", path), fails++;
    LoadedModel lt, lr, lj = {0};
    if (!nc_load_cc(c.prog, &o, &lt, err, sizeof err)) return printf("FAIL %s: %s\n", path, err), nc_free(&c), 1;
    c.prog->ir->no_tiles = true;
    if (!nc_load_cc(c.prog, &o, &lr, err, sizeof err))
        return printf("FAIL %s: %s\n", path, err), nc_unload(&lt), nc_free(&c), 1;
    c.prog->ir->no_tiles = false;
    bool jit = nc_load(c.prog, &o, "llvm", &lj, err, sizeof err);
    const nodec_model *mt = lt.model, *mr = lr.model;
    printf("%s: %d tile products in f_vjp; work %d doubles tiled, %d one at a time; JIT %s\n", mt->name, ng,
           mt->work_size, mr->work_size, jit ? "too" : "not built");
    if (jit && lj.model->work_size != mt->work_size)
        printf("  FAIL: work_size C %d, JIT %d\n", mt->work_size, lj.model->work_size), fails++;
    double *th = alloc(mt->n_param);
    mt->init_params(th, 7);
    const int batches[] = {1, 5, 63, 64, 65, 150};
    for (int p = 0; p < 2; p++)
        for (int k = 0; k < 6; k++) {
            compare_at("C", mr, mt, th, batches[k]);
            if (jit) compare_at("JIT", mr, lj.model, th, batches[k]);
        }
    printf("  worst relative difference %.2g (tolerance %.0g)\n", worst, TOL);
    CheckOpts co = {.seed = 1, .points = 3, .tol = 1e-5}; /* finite differences of exp(-sigmoid) chains */
    int bad = check_model(mt, &co, stdout);
    if (bad) printf("  FAIL: check_model on the tiled C: %d rows fail\n", bad), fails++;
    free(th);
    if (jit) nc_unload(&lj);
    nc_unload(&lt), nc_unload(&lr), nc_free(&c);
    return fails > fails0;
}

int main(int argc, char **argv) {
    if (argc < 2) return fprintf(stderr, "usage: test_tiles MODEL.nde...\n"), 2;
    setenv("NODEC_NO_LIBMVEC", "1", 1);
    int bad = 0;
    for (int i = 1; i < argc; i++) bad += test_model(argv[i]);
    printf("%s\n", bad ? "FAIL" : "ok");
    return bad ? 1 : 0;
}
