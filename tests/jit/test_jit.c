/* test_jit.c — the LLVM JIT backend against the emitted C, model by model.
 *
 *   test_jit MODEL.nde...
 *
 * Each model is compiled twice: to C built by the system compiler
 * (nc_load_cc) and by LLVM's JIT (nc_load_llvm).  The two descriptors must
 * agree field by field (names, shapes, offsets, work size, uses_t, z0, the
 * optional f_vjp present in both); init_params must give bit-identical θ
 * for several seeds; f, vjp and f_vjp (every combination of NULL outputs),
 * jvp, jac_z, loss and loss_grad must agree within 1e-12 relative at
 * seeded random points with B = 1 and B = 5 — bit for bit, in fact, except
 * where the JIT's loops call libmvec's vector tanh, which differs from
 * scalar tanh by a few ulps (the JIT computes what the emitted C computes,
 * in the same order: docs/jit.md; NODEC_NO_LIBMVEC=1 gives bit-identical
 * results, and the test then requires them).  The fused f_vjp must also give what f
 * and vjp give, within TOL relative: its storage plan differs (a value both
 * halves read is stored, not inlined), which may regroup a sum.  Every
 * output is poisoned with NaN first, so one that is not written shows.
 * Work buffers are exactly work_size doubles, so AddressSanitizer sees an
 * overrun.  Finally check_model (finite differences, compiler/check.c)
 * must pass on the JIT descriptor, a load/unload cycle is repeated, and a
 * fresh load's lazily compiled functions (vjp, jvp, jac_z: docs/jit.md) are
 * first called from several threads at once.  A model with inputs is
 * called through nodec_model.inputs (tests/model_call.h) with random rows
 * of u; both descriptors must describe the inputs alike.
 */
#include "cmd.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../model_call.h" /* models with inputs too */
#include "nodec_model.h"

#define TOL 1e-12 /* relative, elementwise: f_vjp against f and vjp */

static int fails;
static double worst;
static long exact, compared, fused_exact, fused_compared;

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) fails++, printf("  FAIL: " __VA_ARGS__), printf("\n");                                            \
    } while (0)

static unsigned long long rng = 0x9E3779B97F4A7C15ull;
static double uni(double lo, double hi) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (double)(rng >> 11) / 9007199254740992.0;
}

/* c and j agree bit for bit (tol 0: NaN, ±0 and every ulp count), or within
 * tol relative; the first difference beyond that fails. */
static void compare(const char *what, int B, const double *c, const double *j, int n, double tol, long *nexact,
                    long *ncompared) {
    /* an element that cancels to near zero is measured against its vector */
    double vmax = 0;
    for (int i = 0; i < n; i++) vmax = fmax(vmax, fabs(c[i]));
    for (int i = 0; i < n; i++) {
        ++*ncompared;
        if (memcmp(&c[i], &j[i], sizeof(double)) == 0) {
            ++*nexact;
            continue;
        }
        double scale = fmax(fmax(fabs(c[i]), fabs(j[i])), 1e-4 * vmax);
        double rel = fabs(c[i] - j[i]) / (scale > 1e-300 ? scale : 1);
        if (getenv("NODEC_TEST_VERBOSE")) printf("  inexact: %s (B=%d) [%d]: rel %.2g\n", what, B, i, rel);
        if (!(rel <= worst)) worst = rel;
        if (tol == 0 || !(rel <= tol)) {
            fails++;
            printf("  FAIL: %s (B=%d) [%d]: %.17g vs %.17g (rel %.2g)\n", what, B, i, c[i], j[i], rel);
            return;
        }
    }
}

/* The emitted C (c) and the JIT (j): within 1e-12 relative, the issue's
 * requirement, or bit for bit when libmvec is off. */
static void agree(const char *what, int B, const double *c, const double *j, int n) {
    compare(what, B, c, j, n, getenv("NODEC_NO_LIBMVEC") ? 0 : 1e-12, &exact, &compared);
}

/* f_vjp against f and vjp of the same backend: within TOL. */
static void close_to(const char *what, int B, const double *x, const double *y, int n) {
    compare(what, B, x, y, n, TOL, &fused_exact, &fused_compared);
}

static double *alloc(int n) { return malloc(sizeof(double) * (size_t)(n > 0 ? n : 1)); }

static void poison(double *p, int n) {
    for (int i = 0; i < n; i++) p[i] = NAN;
}

static void same_vars(const char *what, const nodec_var *a, const nodec_var *b, int n) {
    for (int i = 0; i < n; i++) {
        CHECK(!strcmp(a[i].name, b[i].name) && a[i].rank == b[i].rank && a[i].dim[0] == b[i].dim[0] &&
                  a[i].dim[1] == b[i].dim[1] && a[i].offset == b[i].offset && a[i].size == b[i].size,
              "%s %d: %s differs", what, i, a[i].name);
    }
}

static void same_descriptor(const nodec_model *c, const nodec_model *j) {
    CHECK(j->abi_version == NODEC_ABI_VERSION, "abi_version %d", j->abi_version);
    CHECK(!strcmp(c->name, j->name), "name %s vs %s", c->name, j->name);
    CHECK(!strcmp(c->source_hash, j->source_hash), "source_hash %s vs %s", c->source_hash, j->source_hash);
    CHECK(c->n_state == j->n_state && c->n_param == j->n_param, "sizes");
    CHECK(c->n_state_vars == j->n_state_vars && c->n_param_vars == j->n_param_vars, "variable counts");
    CHECK((c->param_vars == NULL) == (j->param_vars == NULL), "param_vars NULL-ness");
    if (c->n_state_vars == j->n_state_vars) same_vars("state", c->state_vars, j->state_vars, c->n_state_vars);
    if (c->n_param_vars == j->n_param_vars) same_vars("param", c->param_vars, j->param_vars, c->n_param_vars);
    /* the same storage plan: the buffers below are exactly this size, so
     * ASan sees an overrun */
    CHECK(c->work_size == j->work_size, "work_size: C %d, JIT %d", c->work_size, j->work_size);
    CHECK(c->uses_t == j->uses_t, "uses_t C %d, JIT %d", c->uses_t, j->uses_t);
    CHECK((c->z0 == NULL) == (j->z0 == NULL), "z0 NULL-ness");
    if (c->z0 && j->z0) CHECK(!memcmp(c->z0, j->z0, sizeof(double) * (size_t)c->n_state), "z0 values");
    CHECK(j->loss && j->loss_grad && j->init_params, "null function");
    CHECK((c->inputs == NULL) == (j->inputs == NULL), "inputs: C %s, JIT %s", c->inputs ? "set" : "NULL",
          j->inputs ? "set" : "NULL");
    if (c->inputs && j->inputs) { /* the functions are there, the descriptor's own NULL (nodec_model.h) */
        const nodec_inputs *ci = c->inputs, *ji = j->inputs;
        CHECK(ci->n_input == ji->n_input && ci->n_input_vars == ji->n_input_vars && ci->uses_ddt == ji->uses_ddt,
              "input sizes");
        if (ci->n_input_vars == ji->n_input_vars) same_vars("input", ci->input_vars, ji->input_vars, ci->n_input_vars);
        if (ci->n_input == ji->n_input) CHECK(!memcmp(ci->interp, ji->interp, (size_t)ci->n_input), "interp");
        CHECK(ji->f && ji->vjp && ji->jvp && ji->jac_z && ji->f_vjp && ci->f_vjp, "null input function");
        CHECK(!j->f && !j->vjp && !j->jvp && !j->jac_z && !j->f_vjp, "the descriptor's own functions are set");
        CHECK(j->uses_t == 1, "uses_t %d with inputs", j->uses_t);
    } else {
        CHECK(j->f && j->vjp && j->jvp && j->jac_z, "null function");
        CHECK(c->f_vjp && j->f_vjp, "f_vjp: C %s, JIT %s", c->f_vjp ? "set" : "NULL", j->f_vjp ? "set" : "NULL");
    }
}

/* Every function of both descriptors at one random point with batch B. */
static void compare_at(const nodec_model *mc, const nodec_model *mj, const double *th0, int B) {
    int ns = mc->n_state, np = mc->n_param, n = B * ns;
    double *z = alloc(n), *a = alloc(n), *v = alloc(n), *obs = alloc(n), *th = alloc(np);
    double *wc = alloc(mc->work_size), *wj = alloc(mj->work_size);
    double *oc = alloc(n), *oj = alloc(n), *gc = alloc(np), *gj = alloc(np), *jc = alloc(ns * ns), *jj = alloc(ns * ns);
    double *u = alloc(B * mc_u_len(mc)), tc, tj;
    for (int i = 0; i < n; i++) z[i] = uni(0.2, 1.2), a[i] = uni(-1, 1), v[i] = uni(-1, 1), obs[i] = uni(0.2, 1.2);
    for (int i = 0; i < B * mc_u_len(mc); i++) u[i] = uni(-1, 1);
    for (int i = 0; i < np; i++) th[i] = th0[i] * (1 + 0.1 * uni(-1, 1)) + 0.01 * uni(-1, 1);
    double t = uni(0, 1);

    poison(oc, n), poison(oj, n);
    mc_f(mc, B, t, z, u, th, oc, wc), mc_f(mj, B, t, z, u, th, oj, wj);
    agree("f", B, oc, oj, n);

    /* vjp: outputs are overwritten, not accumulated */
    poison(oc, n), poison(oj, n), poison(gc, np), poison(gj, np), tc = tj = NAN;
    mc_vjp(mc, B, t, z, u, th, a, oc, gc, &tc, wc), mc_vjp(mj, B, t, z, u, th, a, oj, gj, &tj, wj);
    agree("vjp az", B, oc, oj, n), agree("vjp atheta", B, gc, gj, np), agree("vjp at", B, &tc, &tj, 1);
    /* each combination of NULL outputs gives the same numbers for the rest */
    for (int mask = 0; mask < 8; mask++) {
        double *az = alloc(n), *ath = alloc(np), at = NAN;
        poison(az, n), poison(ath, np);
        mc_vjp(mj, B, t, z, u, th, a, mask & 1 ? NULL : az, mask & 2 ? NULL : ath, mask & 4 ? NULL : &at, wj);
        if (!(mask & 1)) agree("vjp az (some NULL)", B, oj, az, n);
        if (!(mask & 2)) agree("vjp atheta (some NULL)", B, gj, ath, np);
        if (!(mask & 4)) agree("vjp at (some NULL)", B, &tj, &at, 1);
        free(az), free(ath);
    }

    /* f_vjp: the same as the emitted C's, and as f and vjp (oj, gj, tj) */
    if (mc_has_f_vjp(mc) && mc_has_f_vjp(mj)) {
        double *fc = alloc(n), *fj = alloc(n), *fj1 = alloc(n), *ac = alloc(n), *aj = alloc(n), *hc = alloc(np),
               *hj = alloc(np), uc = NAN, uj = NAN;
        poison(fc, n), poison(fj, n), poison(ac, n), poison(aj, n), poison(hc, np), poison(hj, np);
        mc_f_vjp(mc, B, t, z, u, th, a, fc, ac, hc, &uc, wc), mc_f_vjp(mj, B, t, z, u, th, a, fj, aj, hj, &uj, wj);
        agree("f_vjp dzdt", B, fc, fj, n), agree("f_vjp az", B, ac, aj, n);
        agree("f_vjp atheta", B, hc, hj, np), agree("f_vjp at", B, &uc, &uj, 1);
        poison(fj1, n);
        mc_f(mj, B, t, z, u, th, fj1, wj);
        close_to("f_vjp dzdt vs f", B, fj1, fj, n), close_to("f_vjp az vs vjp", B, oj, aj, n);
        close_to("f_vjp atheta vs vjp", B, gj, hj, np), close_to("f_vjp at vs vjp", B, &tj, &uj, 1);
        for (int mask = 0; mask < 8; mask++) {
            double *dz = alloc(n), *az = alloc(n), *ath = alloc(np), at = NAN;
            poison(dz, n), poison(az, n), poison(ath, np);
            mc_f_vjp(mj, B, t, z, u, th, a, dz, mask & 1 ? NULL : az, mask & 2 ? NULL : ath, mask & 4 ? NULL : &at,
                     wj);
            agree("f_vjp dzdt (some NULL)", B, fj, dz, n);
            if (!(mask & 1)) agree("f_vjp az (some NULL)", B, aj, az, n);
            if (!(mask & 2)) agree("f_vjp atheta (some NULL)", B, hj, ath, np);
            if (!(mask & 4)) agree("f_vjp at (some NULL)", B, &uj, &at, 1);
            free(dz), free(az), free(ath);
        }
        free(fc), free(fj), free(fj1), free(ac), free(aj), free(hc), free(hj);
    }

    poison(oc, n), poison(oj, n);
    mc_jvp(mc, B, t, z, u, th, v, oc, wc), mc_jvp(mj, B, t, z, u, th, v, oj, wj);
    agree("jvp", B, oc, oj, n);

    poison(jc, ns * ns), poison(jj, ns * ns);
    mc_jac_z(mc, t, z, u, th, jc, wc), mc_jac_z(mj, t, z, u, th, jj, wj);
    agree("jac_z", 1, jc, jj, ns * ns);

    double lc = mc->loss(B, z, obs, wc), lj = mj->loss(B, z, obs, wj);
    agree("loss", B, &lc, &lj, 1);
    poison(oc, n), poison(oj, n);
    lc = mc->loss_grad(B, z, obs, oc, wc), lj = mj->loss_grad(B, z, obs, oj, wj);
    agree("loss_grad value", B, &lc, &lj, 1), agree("loss_grad", B, oc, oj, n);

    free(z), free(a), free(v), free(obs), free(th), free(wc), free(wj);
    free(oc), free(oj), free(gc), free(gj), free(jc), free(jj), free(u);
}

/* One thread's first calls of a fresh load's lazy functions, and what the
 * emitted C gives for them. */
enum { NTHREADS = 4 };
typedef struct Racer {
    const nodec_model *mc, *mj;
    const double *th;
    bool same;
} Racer;

/* x and y agree as agree() requires (no counters: threads call this). */
static bool near(const double *x, const double *y, int n) {
    double tol = getenv("NODEC_NO_LIBMVEC") ? 0 : 1e-12, vmax = 0;
    for (int i = 0; i < n; i++) vmax = fmax(vmax, fabs(x[i]));
    for (int i = 0; i < n; i++) {
        if (!memcmp(&x[i], &y[i], sizeof(double))) continue;
        double scale = fmax(fmax(fabs(x[i]), fabs(y[i])), 1e-4 * vmax);
        if (!(fabs(x[i] - y[i]) <= tol * (scale > 1e-300 ? scale : 1))) return false;
    }
    return true;
}

static void *race(void *arg) {
    Racer *r = arg;
    int ns = r->mc->n_state, np = r->mc->n_param;
    double *z = alloc(ns), *a = alloc(ns), *wc = alloc(r->mc->work_size), *wj = alloc(r->mj->work_size);
    double *oc = alloc(ns), *oj = alloc(ns), *gc = alloc(np), *gj = alloc(np), *jc = alloc(ns * ns),
           *jj = alloc(ns * ns), *u = alloc(mc_u_len(r->mc));
    for (int i = 0; i < ns; i++) z[i] = 0.3 + 0.1 * i, a[i] = 1 - 0.2 * i;
    for (int i = 0; i < mc_u_len(r->mc); i++) u[i] = 0.5 - 0.1 * i;
    double tc = NAN, tj = NAN;
    mc_jvp(r->mj, 1, 0.5, z, u, r->th, a, oj, wj), mc_jvp(r->mc, 1, 0.5, z, u, r->th, a, oc, wc);
    r->same = near(oc, oj, ns);
    mc_vjp(r->mj, 1, 0.5, z, u, r->th, a, oj, gj, &tj, wj), mc_vjp(r->mc, 1, 0.5, z, u, r->th, a, oc, gc, &tc, wc);
    r->same &= near(oc, oj, ns) && near(gc, gj, np) && near(&tc, &tj, 1);
    mc_jac_z(r->mj, 0.5, z, u, r->th, jj, wj), mc_jac_z(r->mc, 0.5, z, u, r->th, jc, wc);
    r->same &= near(jc, jj, ns * ns);
    free(z), free(a), free(wc), free(wj), free(oc), free(oj), free(gc), free(gj), free(jc), free(jj), free(u);
    return NULL;
}

static int test_model(const char *path) {
    int fails0 = fails;
    worst = 0, exact = compared = fused_exact = fused_compared = 0;
    Compilation c = {0};
    c.arena = arena_new();
    char err[2048];
    if (!source_read(path, &c.src, c.arena, err, sizeof err)) {
        printf("FAIL %s: %s\n", path, err);
        return 1;
    }
    c.diag.out = stdout;
    if (!nc_compile(&c, STAGE_C)) {
        printf("FAIL %s: does not compile\n", path);
        return nc_free(&c), 1;
    }
    EmitOpts o = {c.src.path, fnv1a64(c.src.text, (size_t)c.src.len), false};
    LoadedModel lc, lj;
    if (!nc_load_cc(c.prog, &o, &lc, err, sizeof err)) {
        printf("FAIL %s: nc_load_cc: %s\n", path, err);
        return nc_free(&c), 1;
    }
    if (!nc_load_llvm(c.prog, &o, &lj, err, sizeof err)) {
        printf("FAIL %s: nc_load_llvm: %s\n", path, err);
        return nc_unload(&lc), nc_free(&c), 1;
    }
    const nodec_model *mc = lc.model, *mj = lj.model;
    printf("%s: n_state %d, n_param %d, work %d\n", mc->name, mc->n_state, mc->n_param, mc->work_size);
    same_descriptor(mc, mj);

    /* the same seed gives bit-identical θ */
    int np = mc->n_param;
    double *thc = alloc(np), *thj = alloc(np);
    const unsigned long long seeds[] = {0, 1, 42, 0xFFFFFFFFFFFFFFFFull};
    for (int s = 0; s < 4; s++) {
        poison(thc, np), poison(thj, np);
        mc->init_params(thc, seeds[s]), mj->init_params(thj, seeds[s]);
        CHECK(!memcmp(thc, thj, sizeof(double) * (size_t)np), "init_params(seed %llu) differs", seeds[s]);
    }

    for (int p = 0; p < 3; p++) {
        compare_at(mc, mj, thc, 1);
        compare_at(mc, mj, thc, 5);
    }
    printf("  C against JIT: %ld values compared, %ld bit-identical (%s)\n", compared, exact,
           getenv("NODEC_NO_LIBMVEC") ? "all required" : "the rest within 1e-12");
    printf("  f_vjp against f and vjp: %ld values compared, %ld bit-identical, worst relative difference %.2g "
           "(tolerance %.0g)\n",
           fused_compared, fused_exact, worst, TOL);

    CheckOpts co = {.seed = 1, .points = 3, .tol = 1e-6};
    int bad = check_model(mj, &co, stdout);
    CHECK(bad == 0, "check_model on the JIT descriptor: %d rows fail", bad);

    /* unloading frees everything; loading again works */
    nc_unload_llvm(&lj);
    CHECK(lj.jit == NULL && lj.model == NULL, "nc_unload_llvm leaves lm->jit or lm->model set");
    nc_unload(&lj);
    for (int k = 0; k < 2; k++) {
        if (!nc_load_llvm(c.prog, &o, &lj, err, sizeof err)) {
            CHECK(false, "second nc_load_llvm: %s", err);
            break;
        }
        poison(thj, np);
        lj.model->init_params(thj, 1);
        mc->init_params(thc, 1);
        CHECK(!memcmp(thc, thj, sizeof(double) * (size_t)np), "reloaded init_params differs");
        nc_unload_llvm(&lj);
    }
    /* the first calls of the lazy functions, from several threads at once */
    if (nc_load_llvm(c.prog, &o, &lj, err, sizeof err)) {
        pthread_t th[NTHREADS];
        Racer r[NTHREADS];
        for (int k = 0; k < NTHREADS; k++) {
            r[k] = (Racer){mc, lj.model, thc, false};
            CHECK(!pthread_create(&th[k], NULL, race, &r[k]), "pthread_create");
        }
        for (int k = 0; k < NTHREADS; k++) {
            pthread_join(th[k], NULL);
            CHECK(r[k].same, "thread %d: first calls of jvp, vjp, jac_z differ from the C", k);
        }
        nc_unload_llvm(&lj);
    } else {
        CHECK(false, "third nc_load_llvm: %s", err);
    }
    free(thc), free(thj);
    nc_unload(&lc), nc_free(&c);
    printf("%s %s\n", fails == fails0 ? "ok" : "FAIL", path);
    return fails != fails0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_jit MODEL.nde...\n");
        return 2;
    }
    int bad = 0;
    for (int i = 1; i < argc; i++) bad += test_model(argv[i]);
    return bad ? 1 : 0;
}
