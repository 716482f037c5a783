/* test_optim.c — the optimizers of optim.c on problems with known minima.
 *
 *   test_optim <name>        runs one test; exit 0 when it passes
 *
 * quadratic:  f(x) = ½ Σ a_i (x_i − c_i)², a = (1, 10, 0.1), minimum at c;
 *             ill-conditioned (κ = 100) so momentum and the adaptive
 *             scalings matter.
 * rosenbrock: f(x, y) = (1 − x)² + 100 (y − x²)² from (−1.2, 1), the
 *             classic start; minimum at (1, 1).
 * first_steps: the first updates against PyTorch's formulas worked by hand.
 * weight_decay: AdamW's decoupled decay and the others' g + wd·θ, by hand.
 * clip:       clip_grad_norm_'s scaling, by hand.
 * schedules:  step, exp and cosine learning rates and the warm-up, by hand.
 * lbfgs_*:    L-BFGS (history 10, strong Wolfe, lr 1) on the quadratic and
 *             Rosenbrock's function, to convergence; its iterates are those
 *             of torch.optim.LBFGS (lbfgs_rosenbrock prints them).
 * Each test states its step count, learning rate and tolerance; the
 * tolerances have a margin of 10× or more over the measured errors.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nodec.h"

static const double qa[3] = {1, 10, 0.1}, qc[3] = {1.5, -2, 0.25};

static void quad_grad(const double *x, double *g) {
    for (int i = 0; i < 3; i++) g[i] = qa[i] * (x[i] - qc[i]);
}

static void rosen_grad(const double *x, double *g) {
    g[0] = -2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] * x[0]);
    g[1] = 200 * (x[1] - x[0] * x[0]);
}

/* Runs `steps` updates; returns the largest distance to the minimum over
 * the last 10 steps (adaptive methods with a constant lr hover around it). */
static double run(nodec_optim_kind kind, double lr, long steps, int rosen) {
    int n = rosen ? 2 : 3;
    double x[3] = {0, 0, 0}, g[3];
    const double *xmin = qc;
    static const double one[2] = {1, 1};
    if (rosen) x[0] = -1.2, x[1] = 1, xmin = one;
    nodec_optim o;
    if (nodec_optim_init(&o, kind, n, lr)) return INFINITY;
    double worst = 0;
    for (long s = 0; s < steps; s++) {
        (rosen ? rosen_grad : quad_grad)(x, g);
        nodec_optim_step(&o, x, g);
        if (s >= steps - 10)
            for (int i = 0; i < n; i++) worst = fmax(worst, fabs(x[i] - xmin[i]));
    }
    nodec_optim_free(&o);
    printf("%s on %s: lr %g, %ld steps: max |x - x*| over the last 10 steps = %.3g\n", nodec_optim_name(kind),
           rosen ? "rosenbrock" : "quadratic", lr, steps, worst);
    return worst;
}

static int check(const char *what, double got, double tol) {
    int ok = got <= tol;
    printf("%s: %.3g %s %.3g\n", what, got, ok ? "<=" : "> (FAIL)", tol);
    return ok;
}

static int close_to(const char *what, double got, double want, double rtol) {
    int ok = fabs(got - want) <= rtol * fabs(want);
    printf("%s: %.17g, want %.17g%s\n", what, got, want, ok ? "" : " (FAIL)");
    return ok;
}

/* The first updates, from PyTorch's update rules worked by hand. */
static int first_steps(void) {
    int ok = 1;
    nodec_optim o;
    double x[2], g0[2] = {0.5, -4}, g1[2] = {-1, 2};
    /* SGD, μ = 0.9: the buffer starts as g0, then μ·g0 + g1 */
    nodec_optim_init(&o, NODEC_OPT_SGD, 2, 0.1);
    x[0] = x[1] = 1;
    nodec_optim_step(&o, x, g0);
    ok &= close_to("sgd step 1", x[1], 1 - 0.1 * -4, 1e-15);
    nodec_optim_step(&o, x, g1);
    ok &= close_to("sgd step 2", x[1], 1.4 - 0.1 * (0.9 * -4 + 2), 1e-15);
    o.momentum = 0; /* plain SGD */
    nodec_optim_step(&o, x, g1);
    ok &= close_to("sgd step 3, momentum 0", x[1], 1.56 - 0.2, 1e-15);
    nodec_optim_free(&o);
    /* Adam: with bias correction, the first step is lr·g/(|g| + ε) */
    nodec_optim_init(&o, NODEC_OPT_ADAM, 2, 0.01);
    x[0] = x[1] = 1;
    nodec_optim_step(&o, x, g0);
    ok &= close_to("adam step 1", x[0], 1 - 0.01 * 0.5 / (0.5 + 1e-8), 1e-15);
    nodec_optim_step(&o, x, g1);
    {
        double m = 0.9 * 0.1 * 0.5 + 0.1 * -1, v = 0.999 * 0.001 * 0.25 + 0.001 * 1;
        double mh = m / (1 - 0.81), vh = v / (1 - 0.999 * 0.999);
        ok &= close_to("adam step 2", x[0], 1 - 0.01 * 0.5 / (0.5 + 1e-8) - 0.01 * mh / (sqrt(vh) + 1e-8), 1e-14);
    }
    nodec_optim_free(&o);
    /* RMSprop: v = (1−α)g², step lr·g/(√v + ε) = lr·g/(0.1|g| + ε) */
    nodec_optim_init(&o, NODEC_OPT_RMSPROP, 2, 0.001);
    x[0] = x[1] = 1;
    nodec_optim_step(&o, x, g0);
    ok &= close_to("rmsprop step 1", x[1], 1 + 0.001 * 4 / (sqrt(0.01 * 16) + 1e-8), 1e-15);
    nodec_optim_step(&o, x, g1);
    ok &= close_to("rmsprop step 2", x[1],
                   1 + 0.001 * 4 / (sqrt(0.01 * 16) + 1e-8) - 0.001 * 2 / (sqrt(0.99 * 0.16 + 0.01 * 4) + 1e-8), 1e-14);
    ok &= o.step == 2;
    nodec_optim_free(&o);
    /* bad options are refused */
    ok &= nodec_optim_init(&o, NODEC_OPT_ADAM, 2, 0) == NODEC_ILL_INPUT;
    ok &= nodec_optim_init(&o, NODEC_OPT_ADAM, 2, NAN) == NODEC_ILL_INPUT;
    ok &= nodec_optim_from_name("adam") == NODEC_OPT_ADAM && nodec_optim_from_name("lbfgs") == -1;
    return ok;
}

/* AdamW: θ *= 1 − lr·wd, then Adam; Adam, SGD, RMSprop: g += wd·θ. */
static int weight_decay(void) {
    int ok = 1;
    nodec_optim o;
    double x[1], g[1] = {0.5};
    nodec_optim_init(&o, NODEC_OPT_ADAMW, 1, 0.1);
    ok &= close_to("adamw default weight decay", o.weight_decay, 1e-2, 0);
    x[0] = 2;
    nodec_optim_step(&o, x, g);
    /* 2·(1 − 0.1·0.01) = 1.998; Adam's first step lr·g/(|g| + ε) */
    ok &= close_to("adamw step 1", x[0], 1.998 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-15);
    nodec_optim_step(&o, x, g);
    {
        double th = 1.998 - 0.1 * 0.5 / (0.5 + 1e-8);
        double m = 0.9 * 0.05 + 0.1 * 0.5, v = 0.999 * 0.00025 + 0.001 * 0.25; /* m = 0.095, v = 0.00049975 */
        double mh = m / (1 - 0.81), vh = v / (1 - 0.999 * 0.999);
        ok &= close_to("adamw step 2", x[0], th * 0.999 - 0.1 * mh / (sqrt(vh) + 1e-8), 1e-14);
    }
    nodec_optim_free(&o);
    /* Adam with wd 0.5: g' = 0.5 + 0.5·2 = 1.5, first step lr·g'/(|g'| + ε) */
    nodec_optim_init(&o, NODEC_OPT_ADAM, 1, 0.1);
    o.weight_decay = 0.5, x[0] = 2;
    nodec_optim_step(&o, x, g);
    ok &= close_to("adam wd step 1", x[0], 2 - 0.1 * 1.5 / (1.5 + 1e-8), 1e-15);
    nodec_optim_free(&o);
    /* SGD without momentum, wd 0.5: θ -= lr·(g + wd·θ) = 2 − 0.1·1.5 */
    nodec_optim_init(&o, NODEC_OPT_SGD, 1, 0.1);
    o.weight_decay = 0.5, o.momentum = 0, x[0] = 2;
    nodec_optim_step(&o, x, g);
    ok &= close_to("sgd wd step 1", x[0], 1.85, 1e-15);
    nodec_optim_free(&o);
    /* RMSprop, wd 0.5: v = 0.01·1.5², θ -= lr·1.5/(0.15 + ε) */
    nodec_optim_init(&o, NODEC_OPT_RMSPROP, 1, 0.001);
    o.weight_decay = 0.5, x[0] = 2;
    nodec_optim_step(&o, x, g);
    ok &= close_to("rmsprop wd step 1", x[0], 2 - 0.001 * 1.5 / (sqrt(0.01 * 2.25) + 1e-8), 1e-15);
    nodec_optim_free(&o);
    ok &= nodec_optim_from_name("adamw") == NODEC_OPT_ADAMW && !strcmp(nodec_optim_name(NODEC_OPT_ADAMW), "adamw");
    return ok;
}

/* clip_grad_norm_: (3, 4) has norm 5; max 1 scales it by 1/(5 + 1e-6);
 * max 10 leaves it as it was, bit for bit. */
static int clip(void) {
    int ok = 1;
    double g[2] = {3, 4};
    ok &= close_to("norm", nodec_clip_grad_norm(g, 2, 1), 5, 0);
    ok &= close_to("clipped g[0]", g[0], 3 / (5 + 1e-6), 1e-15);
    ok &= close_to("clipped g[1]", g[1], 4 / (5 + 1e-6), 1e-15);
    double h[2] = {3, 4};
    nodec_clip_grad_norm(h, 2, 10);
    ok &= h[0] == 3 && h[1] == 4;
    printf("max 10: unchanged %s\n", h[0] == 3 && h[1] == 4 ? "yes" : "no (FAIL)");
    return ok;
}

/* The learning rate of update k for each schedule, worked by hand. */
static int schedules(void) {
    int ok = 1;
    const double lr = 0.1;
    nodec_lr_schedule c = {NODEC_LR_CONSTANT, 0, 0, 0, 0, 0};
    ok &= close_to("constant, k = 7", nodec_lr_at(&c, lr, 7), 0.1, 0);
    nodec_lr_schedule st = {NODEC_LR_STEP, 10, 0.5, 0, 0, 0};
    ok &= close_to("step:10:0.5, k = 1", nodec_lr_at(&st, lr, 1), 0.1, 0);
    ok &= close_to("step:10:0.5, k = 10", nodec_lr_at(&st, lr, 10), 0.1, 0);
    ok &= close_to("step:10:0.5, k = 11", nodec_lr_at(&st, lr, 11), 0.05, 1e-15);
    ok &= close_to("step:10:0.5, k = 21", nodec_lr_at(&st, lr, 21), 0.025, 1e-15);
    nodec_lr_schedule ex = {NODEC_LR_EXP, 0, 0.9, 0, 0, 0};
    ok &= close_to("exp:0.9, k = 1", nodec_lr_at(&ex, lr, 1), 0.1, 0);
    ok &= close_to("exp:0.9, k = 3", nodec_lr_at(&ex, lr, 3), 0.081, 1e-15);
    nodec_lr_schedule co = {NODEC_LR_COSINE, 0, 0, 0.01, 100, 0};
    ok &= close_to("cosine:0.01 over 100, k = 1", nodec_lr_at(&co, lr, 1), 0.1, 1e-15);
    ok &= close_to("cosine:0.01 over 100, k = 51 (halfway)", nodec_lr_at(&co, lr, 51), 0.055, 1e-15);
    /* k = 100: t = 99, cos(0.99π) = −0.99950656… */
    ok &= close_to("cosine:0.01 over 100, k = 100", nodec_lr_at(&co, lr, 100),
                   0.01 + 0.09 * (1 - 0.99950656036573160) / 2, 1e-12);
    ok &= close_to("cosine:0.01 over 100, k = 101 (past the end)", nodec_lr_at(&co, lr, 101), 0.01, 0);
    /* warm-up 4: lr/4, lr/2, 3lr/4, lr; then the schedule from t = 0 */
    nodec_lr_schedule wu = {NODEC_LR_COSINE, 0, 0, 0, 104, 4};
    ok &= close_to("warmup 4, k = 1", nodec_lr_at(&wu, lr, 1), 0.025, 1e-15);
    ok &= close_to("warmup 4, k = 3", nodec_lr_at(&wu, lr, 3), 0.075, 1e-15);
    ok &= close_to("warmup 4, k = 4", nodec_lr_at(&wu, lr, 4), 0.1, 0);
    ok &= close_to("warmup 4 + cosine over 100, k = 5", nodec_lr_at(&wu, lr, 5), 0.1, 0);
    ok &= close_to("warmup 4 + cosine over 100, k = 55 (halfway)", nodec_lr_at(&wu, lr, 55), 0.05, 1e-15);
    nodec_lr_schedule ws = {NODEC_LR_STEP, 2, 0.5, 0, 0, 3};
    ok &= close_to("warmup 3 + step:2:0.5, k = 6", nodec_lr_at(&ws, lr, 6), 0.05, 1e-15);
    return ok;
}

static long n_objective;

static int objective(void *ctx, const double *x, double *f, double *g) {
    int rosen = *(const int *)ctx;
    n_objective++;
    if (rosen) {
        *f = (1 - x[0]) * (1 - x[0]) + 100 * (x[1] - x[0] * x[0]) * (x[1] - x[0] * x[0]);
        rosen_grad(x, g);
    } else {
        *f = 0;
        for (int i = 0; i < 3; i++) *f += 0.5 * qa[i] * (x[i] - qc[i]) * (x[i] - qc[i]);
        quad_grad(x, g);
    }
    return 0;
}

/* L-BFGS to convergence from the usual starts: the distance to the
 * minimum, the iterations and evaluations it took. */
static int lbfgs(int rosen, double tol, long max_iter, double tol_grad, double tol_change, const double *want) {
    int n = rosen ? 2 : 3, rc;
    double x[3] = {0, 0, 0}, g[3], f;
    const double *xmin = qc;
    static const double one[2] = {1, 1};
    if (rosen) x[0] = -1.2, x[1] = 1, xmin = one;
    nodec_lbfgs o;
    if (nodec_lbfgs_init(&o, n, 1.0, 10)) return 0;
    o.tol_grad = tol_grad, o.tol_change = tol_change;
    n_objective = 0;
    objective(&rosen, x, &f, g);
    long it = 0;
    while ((rc = nodec_lbfgs_step(&o, x, &f, g, objective, &rosen)) == 0 && ++it < max_iter)
        if (rosen && it <= 3)
            printf("iteration %ld: x = (%.17g, %.17g), f = %.17g, t = %.17g\n", it, x[0], x[1], f, o.t);
    double err = 0;
    for (int i = 0; i < n; i++) err = fmax(err, fabs(x[i] - xmin[i]));
    printf("lbfgs on %s: %ld iterations, %ld evaluations (%ld by the line search), f = %.3g, stopped: %s\n",
           rosen ? "rosenbrock" : "quadratic", o.n_iter, n_objective, o.evals, f, rc == 1 ? o.stop : "iteration limit");
    nodec_lbfgs_free(&o);
    int ok = check("max |x - x*|", err, tol) && rc == 1;
    for (int i = 0; want && i < n; i++) ok &= close_to("x_i as torch.optim.LBFGS", x[i], want[i], 0);
    /* bad options are refused */
    ok &= nodec_lbfgs_init(&o, 0, 1, 10) == NODEC_ILL_INPUT && nodec_lbfgs_init(&o, 2, -1, 10) == NODEC_ILL_INPUT &&
          nodec_lbfgs_init(&o, 2, 1, 0) == NODEC_ILL_INPUT;
    return ok;
}

int main(int argc, char **argv) {
    if (argc != 2) return fputs("usage: test_optim NAME\n", stderr), 2;
    const char *t = argv[1];
    int ok;
    /* SGD with momentum 0.9 converges linearly: measured 4.4e-16. */
    if (!strcmp(t, "sgd_quadratic")) ok = check("error", run(NODEC_OPT_SGD, 0.05, 3000, 0), 1e-12);
    /* Adam and RMSprop on the quadratic: measured 0 (the iterates land on
     * the minimum's doubles). */
    else if (!strcmp(t, "adam_quadratic"))
        ok = check("error", run(NODEC_OPT_ADAM, 0.01, 20000, 0), 1e-8);
    else if (!strcmp(t, "rmsprop_quadratic"))
        ok = check("error", run(NODEC_OPT_RMSPROP, 0.001, 20000, 0), 1e-8);
    /* Rosenbrock's curved valley: measured 1.4e-13 (sgd), 2.1e-7 (adam) and
     * 8e-4 (rmsprop, whose constant-lr steps of about lr·sign(g) keep it
     * hovering near the minimum). */
    else if (!strcmp(t, "sgd_rosenbrock"))
        ok = check("error", run(NODEC_OPT_SGD, 1e-4, 100000, 1), 1e-9);
    else if (!strcmp(t, "adam_rosenbrock"))
        ok = check("error", run(NODEC_OPT_ADAM, 1e-2, 50000, 1), 1e-5);
    else if (!strcmp(t, "rmsprop_rosenbrock"))
        ok = check("error", run(NODEC_OPT_RMSPROP, 1e-3, 50000, 1), 1e-2);
    else if (!strcmp(t, "first_steps"))
        ok = first_steps();
    else if (!strcmp(t, "weight_decay"))
        ok = weight_decay();
    else if (!strcmp(t, "clip"))
        ok = clip();
    else if (!strcmp(t, "schedules"))
        ok = schedules();
    /* L-BFGS with PyTorch's tolerances (tolerance_grad 1e-7,
     * tolerance_change 1e-9) stops on Rosenbrock after 36 iterations at the
     * point below, bit for bit where PyTorch's algorithm (lbfgs.py run on
     * Python floats) stops, 1.3e-6 from (1, 1); with tolerance_grad 1e-10
     * and tolerance_change 1e-14 it converges to within 1.2e-8 (37
     * iterations), the quadratic to 6.9e-9 (13 iterations; measured). */
    else if (!strcmp(t, "lbfgs_quadratic"))
        ok = lbfgs(0, 1e-7, 1000, 1e-10, 1e-14, NULL);
    else if (!strcmp(t, "lbfgs_rosenbrock")) {
        static const double torch_x[2] = {0.9999993334076399, 0.999998674382454};
        ok = lbfgs(1, 1.5e-6, 1000, 1e-7, 1e-9, torch_x);
        ok &= lbfgs(1, 1e-6, 1000, 1e-10, 1e-14, NULL);
    } else
        return fprintf(stderr, "test_optim: unknown test '%s'\n", t), 2;
    return ok ? 0 : 1;
}
