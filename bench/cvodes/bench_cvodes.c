/* bench_cvodes.c — time per loss gradient: nodec (emitted C + libnodec,
 * dopri5; adjoint, checkpoint, direct) against SUNDIALS CVODES' adjoint
 * (hand-written RHS, adjoint RHS and quadrature; Adams and BDF; Hermite
 * checkpointing).  README.md says what is measured and why.
 *
 *   bench_cvodes DATA.csv [--rounds R] [--target-ms T] [--tols a,b,…]
 *                [--problems lv,spiral10,spiral100,batch20] [--nd N]
 *                [--quad-errcon] [--sweep]
 */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cvodes/cvodes.h>
#include <valgrind/callgrind.h>

#include "cv_peer.h"
#include "lotka_volterra.h"
#include "nodec.h"
#include "spiral.h"

static void die(const char *msg)
{
    fprintf(stderr, "bench_cvodes: %s\n", msg);
    exit(1);
}

/* ---- data -------------------------------------------------------------- */

static int read_csv(const char *path, double **t, double **z)
{
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot open the spiral data");
    char line[512];
    if (!fgets(line, sizeof line, f))
        die("empty data file");
    int cap = 2048, n = 0;
    *t = bench_xmalloc(sizeof(double) * cap);
    *z = bench_xmalloc(sizeof(double) * 2 * cap);
    while (fgets(line, sizeof line, f)) {
        double a, b, c;
        if (sscanf(line, "%lf,%lf,%lf", &a, &b, &c) != 3)
            continue;
        if (n == cap)
            die("data file too long");
        (*t)[n] = a, (*z)[2 * n] = b, (*z)[2 * n + 1] = c;
        n++;
    }
    fclose(f);
    return n;
}

static problem *make_lv(void)
{
    const nodec_model *m = &lotka_volterra_model;
    problem *p = bench_xmalloc(sizeof *p);
    p->name = "lv";
    p->kind = KIND_LV;
    p->B = 1, p->ns = 2, p->np = m->n_param, p->n_times = 20;
    p->t = bench_xmalloc(sizeof(double) * 20);
    p->obs = bench_xmalloc(sizeof(double) * 40);
    p->z0 = bench_xmalloc(sizeof(double) * 2);
    p->theta = bench_xmalloc(sizeof(double) * 4);
    m->init_params(p->theta, 1); /* the model's defaults 1.5, 1, 1, 3 */
    memcpy(p->z0, m->z0, sizeof(double) * 2);
    for (int i = 0; i < 20; i++)
        p->t[i] = 0.5 * i;
    /* data from other parameters, solved tightly */
    const double th_true[4] = {1.3, 0.9, 1.1, 2.8};
    nodec_solver *s = nodec_create(m, 1);
    nodec_set_method(s, NODEC_DOPRI8);
    nodec_set_tolerances(s, 1e-13, 1e-13);
    if (nodec_solve(s, th_true, p->z0, 20, p->t, p->obs) != NODEC_SUCCESS)
        die(nodec_get_error_message(s));
    nodec_free(s);
    return p;
}

/* B windows of w points starting at data rows start[b]; times t[0..w-1] of
 * the data (evenly spaced, the model is autonomous) */
static problem *make_spiral(const char *name, int B, int w, const int *start,
                            int nrow, const double *dt, const double *dz)
{
    const nodec_model *m = &spiral_model;
    problem *p = bench_xmalloc(sizeof *p);
    p->name = name;
    p->kind = KIND_SPIRAL;
    p->B = B, p->ns = 2, p->np = m->n_param, p->n_times = w;
    p->t = bench_xmalloc(sizeof(double) * w);
    p->obs = bench_xmalloc(sizeof(double) * w * B * 2);
    p->z0 = bench_xmalloc(sizeof(double) * B * 2);
    p->theta = bench_xmalloc(sizeof(double) * p->np);
    m->init_params(p->theta, 1);
    for (int i = 0; i < w; i++)
        p->t[i] = dt[i] - dt[0];
    for (int b = 0; b < B; b++) {
        if (start[b] + w > nrow)
            die("window past the data");
        for (int i = 0; i < w; i++)
            for (int k = 0; k < 2; k++)
                p->obs[(i * B + b) * 2 + k] = dz[2 * (start[b] + i) + k];
        p->z0[2 * b] = dz[2 * start[b]];
        p->z0[2 * b + 1] = dz[2 * start[b] + 1];
    }
    return p;
}

static const nodec_model *model_of(const problem *p)
{
    return p->kind == KIND_LV ? &lotka_volterra_model : &spiral_model;
}

/* ---- checks: the hand-written RHS against the emitted model ------------ */

static void check_handwritten(const problem *p)
{
    const nodec_model *m = model_of(p);
    const int N = p->B * p->ns;
    double *z = bench_xmalloc(sizeof(double) * N), *a = bench_xmalloc(sizeof(double) * N);
    double *f1 = bench_xmalloc(sizeof(double) * N), *f2 = bench_xmalloc(sizeof(double) * N);
    double *q1 = bench_xmalloc(sizeof(double) * p->np);
    double *q2 = bench_xmalloc(sizeof(double) * p->np);
    double *work = bench_xmalloc(sizeof(double) * (m->work_size + 16));
    unsigned s = 12345;
    for (int i = 0; i < N; i++) {
        s = s * 1103515245u + 12345u;
        z[i] = p->z0[i] + ((s >> 8) % 1000) / 1000.0 - 0.5;
        s = s * 1103515245u + 12345u;
        a[i] = ((s >> 8) % 1000) / 500.0 - 1.0;
    }
    double err = 0, scale = 0;
    hw_f(p, z, f1);
    m->f(p->B, 0.0, z, p->theta, f2, work);
    for (int i = 0; i < N; i++)
        err = fmax(err, fabs(f1[i] - f2[i])), scale = fmax(scale, fabs(f2[i]));
    hw_fB(p, z, a, f1);
    for (int i = 0; i < p->np; i++)
        q2[i] = 0; /* the vjp overwrites; zeroed anyway */
    m->vjp(p->B, 0.0, z, p->theta, a, f2, q2, NULL, work);
    for (int i = 0; i < N; i++)
        err = fmax(err, fabs(f1[i] + f2[i])), scale = fmax(scale, fabs(f2[i]));
    hw_fQB(p, z, a, q1);
    for (int i = 0; i < p->np; i++)
        err = fmax(err, fabs(q1[i] + q2[i])), scale = fmax(scale, fabs(q2[i]));
    /* the loss and its gradient */
    double l1 = hw_loss(p, z, p->obs, f1);
    double l2 = m->loss_grad(p->B, z, p->obs, f2, work);
    err = fmax(err, fabs(l1 - l2));
    for (int i = 0; i < N; i++)
        err = fmax(err, fabs(f1[i] - f2[i]));
    printf("check %-9s hand-written f, -J^T a, -a^T df/dtheta, loss vs emitted: "
           "max |diff| %.1e (scale %.1e)\n", p->name, err, scale);
    if (!(err <= 1e-12 * fmax(1.0, scale)))
        die("the hand-written model disagrees with the emitted one");
    free(z), free(a), free(f1), free(f2), free(q1), free(q2), free(work);
}

/* ---- peers ------------------------------------------------------------- */

enum { P_NODEC_ADJ, P_NODEC_CKPT, P_NODEC_DIRECT, P_CV_ADAMS, P_CV_BDF, P_NKIND };
static const char *peer_name[P_NKIND] = {"nodec adjoint", "nodec checkpoint",
                                         "nodec direct", "CVODES Adams",
                                         "CVODES BDF"};

typedef struct config {
    int peer;
    double tol;
    nodec_solver *ns;
    cv_peer *cv;
    /* results of the untimed first call */
    double loss, err_theta, err_z0, err;
    long nfe_f, nfe_b, vjp_b, extra_b; /* see print */
    long steps_f, steps_b;
    int reps;
    double *times; /* per round, seconds per gradient */
    int failed;
} config;

static int run_grad(config *c, const problem *p, double *loss, double *dth,
                    double *dz0)
{
    if (c->ns) {
        int rc = nodec_loss_grad(c->ns, p->theta, p->z0, p->n_times, p->t,
                                 p->obs, loss, dth, dz0, NULL, NULL);
        if (rc != NODEC_SUCCESS) {
            fprintf(stderr, "nodec: %s: %s\n", nodec_error_name(rc),
                    nodec_get_error_message(c->ns));
            return rc;
        }
        return 0;
    }
    return cv_peer_grad(c->cv, c->tol, c->tol, loss, dth, dz0);
}

static double med_time(const config *c, int rounds)
{
    double *tt = bench_xmalloc(sizeof(double) * rounds);
    memcpy(tt, c->times, sizeof(double) * rounds);
    double m = bench_median(tt, rounds);
    free(tt);
    return m;
}

static nodec_solver *make_nodec(const problem *p, int mode, nodec_method meth,
                                double tol)
{
    nodec_solver *s = nodec_create(model_of(p), p->B);
    if (!s)
        die("nodec_create failed");
    nodec_set_method(s, meth);
    nodec_set_tolerances(s, tol, tol);
    nodec_set_grad_mode(s, mode);
    nodec_set_max_steps(s, 10000000);
    return s;
}

/* reference gradient: nodec direct, dopri8, rtol = atol = 1e-12; cross-
 * checked against CVODES Adams at 1e-12 with the quadrature error-controlled */
static void reference(const problem *p, long nd, double *ref, double *cvref,
                      double *lref)
{
    const int N = p->B * p->ns;
    nodec_solver *s = make_nodec(p, NODEC_GRAD_DIRECT, NODEC_DOPRI8, 1e-12);
    int rc = nodec_loss_grad(s, p->theta, p->z0, p->n_times, p->t, p->obs,
                             lref, ref, ref + p->np, NULL, NULL);
    if (rc != NODEC_SUCCESS)
        die(nodec_get_error_message(s));
    nodec_free(s);
    /* second opinion: nodec adjoint dopri8 at 1e-12, seminorm off */
    double *r2 = bench_xmalloc(sizeof(double) * (p->np + N)), l2;
    s = make_nodec(p, NODEC_GRAD_ADJOINT, NODEC_DOPRI8, 1e-12);
    nodec_set_seminorm(s, 0);
    if (nodec_loss_grad(s, p->theta, p->z0, p->n_times, p->t, p->obs, &l2, r2,
                        r2 + p->np, NULL, NULL) != NODEC_SUCCESS)
        die(nodec_get_error_message(s));
    nodec_free(s);
    cv_peer *cv = cv_peer_create(p, CV_ADAMS, nd, 1);
    double l3;
    if (!cv || cv_peer_grad(cv, 1e-12, 1e-12, &l3, cvref, cvref + p->np))
        die("CVODES reference failed");
    cv_peer_free(cv);
    double gn = 0;
    for (int i = 0; i < p->np + N; i++)
        gn += ref[i] * ref[i];
    gn = sqrt(gn);
    printf("reference %-9s L = %.15g  |g| = %.6g;  vs nodec adjoint dopri8 "
           "1e-12: %.1e;  vs CVODES Adams 1e-12 (quad errcon): %.1e "
           "(L diff %.1e)\n",
           p->name, *lref, gn,
           bench_rel_err(r2, ref, p->np + N), bench_rel_err(cvref, ref, p->np + N),
           fabs(l3 - *lref));
    free(r2);
}

typedef struct opts {
    int rounds;
    double target_ms;
    double tols[16];
    int ntol;
    long nd;
    int quad_errcon;
    int sweep;
    int count; /* instruction counts under callgrind, no timing */
    const char *problems;
} opts;

static void bench_problem(const problem *p, const opts *o)
{
    const int N = p->B * p->ns, G = p->np + N;
    double *ref = bench_xmalloc(sizeof(double) * G), *cvref = bench_xmalloc(sizeof(double) * G);
    double lref;
    check_handwritten(p);
    reference(p, o->nd, ref, cvref, &lref); /* also under --count: errors */

    int peers[P_NKIND], npeer = 0;
    if (o->sweep) {
        peers[npeer++] = P_NODEC_ADJ;
        peers[npeer++] = P_NODEC_DIRECT;
        peers[npeer++] = P_CV_ADAMS;
        peers[npeer++] = P_CV_BDF;
    } else
        for (int k = 0; k < P_NKIND; k++)
            peers[npeer++] = k;
    const int nc = npeer * o->ntol;
    config *cs = bench_xmalloc(sizeof(config) * nc);
    double *g = bench_xmalloc(sizeof(double) * G);
    for (int it = 0, ci = 0; it < o->ntol; it++)
        for (int k = 0; k < npeer; k++, ci++) {
            config *c = &cs[ci];
            c->peer = peers[k];
            c->tol = o->tols[it];
            c->times = bench_xmalloc(sizeof(double) * o->rounds);
            switch (c->peer) {
            case P_NODEC_ADJ:
                c->ns = make_nodec(p, NODEC_GRAD_ADJOINT, NODEC_DOPRI5, c->tol);
                break;
            case P_NODEC_CKPT:
                c->ns = make_nodec(p, NODEC_GRAD_CHECKPOINT, NODEC_DOPRI5, c->tol);
                break;
            case P_NODEC_DIRECT:
                c->ns = make_nodec(p, NODEC_GRAD_DIRECT, NODEC_DOPRI5, c->tol);
                break;
            case P_CV_ADAMS:
                c->cv = cv_peer_create(p, CV_ADAMS, o->nd, o->quad_errcon);
                break;
            case P_CV_BDF:
                c->cv = cv_peer_create(p, CV_BDF, o->nd, o->quad_errcon);
                break;
            }
            if (!c->ns && !c->cv)
                die("could not create a peer");
            /* first call: error and counts (repeatable: same every call) */
            double t0 = bench_now();
            if (run_grad(c, p, &c->loss, g, g + p->np)) {
                c->failed = 1;
                continue;
            }
            double t1 = bench_now();
            c->err_theta = bench_rel_err(g, ref, p->np);
            c->err_z0 = bench_rel_err(g + p->np, ref + p->np, N);
            c->err = bench_rel_err(g, ref, G);
            if (c->ns) {
                nodec_stats st;
                nodec_get_stats(c->ns, &st);
                c->nfe_f = st.forward.f_evals;
                c->nfe_b = st.backward.f_evals;
                c->vjp_b = st.backward.vjp_evals;
                c->extra_b = 0;
                c->steps_f = st.forward.steps + st.forward.rejected;
                c->steps_b = st.backward.steps + st.backward.rejected;
            } else {
                cv_counts n;
                cv_peer_counts(c->cv, &n);
                c->nfe_f = n.f_fwd + n.jac;   /* jac: listed in the README */
                c->nfe_b = n.f_rec;           /* forward recomputation */
                c->vjp_b = n.fB + n.fQB;      /* adjoint RHS + quadrature */
                c->extra_b = n.jacB;
                c->steps_f = n.nst;
                c->steps_b = n.nstB;
                if (getenv("CV_VERBOSE"))
                    fprintf(stderr,
                            "%s %s %g: f_fwd %ld jac %ld f_rec %ld fB %ld fQB %ld "
                            "jacB %ld nst %ld nstB %ld nfe_cv %ld nfeB_cv %ld\n",
                            p->name, peer_name[c->peer], c->tol, n.f_fwd, n.jac,
                            n.f_rec, n.fB, n.fQB, n.jacB, n.nst, n.nstB,
                            n.nfe_cv, n.nfeB_cv);
            }
            double dt = t1 - t0;
            c->reps = (int)fmax(1.0, floor(o->target_ms * 1e-3 / fmax(dt, 1e-7)));
            if (c->reps > 100000)
                c->reps = 100000;
        }

    if (o->count) {
        /* instructions per gradient: run under
         *   valgrind --tool=callgrind --collect-atstart=no
         * each config's gradients go into a dump of their own, named
         * "<problem>|<peer>|<tol>|<reps>" (run.sh COUNT=1 parses them) */
        for (int j = 0; j < nc; j++) {
            config *c = &cs[j];
            if (c->failed)
                continue;
            char label[128];
            const int reps = 3;
            double L;
            snprintf(label, sizeof label, "%s|%s|%.0e|%d", p->name,
                     peer_name[c->peer], c->tol, reps);
            CALLGRIND_ZERO_STATS;
            CALLGRIND_TOGGLE_COLLECT;
            for (int k = 0; k < reps; k++)
                if (run_grad(c, p, &L, g, g + p->np))
                    die("a gradient failed while counting");
            CALLGRIND_TOGGLE_COLLECT;
            CALLGRIND_DUMP_STATS_AT(label);
            printf("counted %s (rel err %.1e)\n", label, c->err);
        }
        goto done;
    }
    /* timing: rounds, configs interleaved, order rotated each round */
    for (int r = 0; r < o->rounds; r++)
        for (int j = 0; j < nc; j++) {
            config *c = &cs[(j + r) % nc];
            if (c->failed)
                continue;
            double L, t0 = bench_now();
            for (int k = 0; k < c->reps; k++)
                if (run_grad(c, p, &L, g, g + p->np))
                    die("a gradient failed while timing");
            c->times[r] = (bench_now() - t0) / c->reps;
        }

    /* per-round paired ratios: CVODES / nodec adjoint at the same tolerance */
    printf("\n## %s: B = %d, %d observation times on [%g, %g], %d params; "
           "L = %.10g\n", p->name, p->B, p->n_times, p->t[0],
           p->t[p->n_times - 1], p->np, lref);
    printf("| peer | tol | time/grad (us) | ratio to nodec adjoint | "
           "steps fwd | steps bwd | NFE fwd | NFE bwd: f | NFE bwd: vjp/fB+fQB "
           "| jacB | rel err dθ | rel err dz0 | rel err all |\n");
    printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int it = 0; it < o->ntol; it++) {
        config *base = NULL;
        for (int j = 0; j < nc; j++)
            if (cs[j].peer == P_NODEC_ADJ && cs[j].tol == o->tols[it])
                base = &cs[j];
        for (int j = 0; j < nc; j++) {
            config *c = &cs[j];
            if (c->tol != o->tols[it])
                continue;
            if (c->failed) {
                printf("| %s | %.0e | failed |\n", peer_name[c->peer], c->tol);
                continue;
            }
            double ratio = NAN;
            if (base && !base->failed) {
                double *rr = bench_xmalloc(sizeof(double) * o->rounds);
                for (int r = 0; r < o->rounds; r++)
                    rr[r] = c->times[r] / base->times[r];
                ratio = bench_median(rr, o->rounds);
                free(rr);
            }
            double *tt = bench_xmalloc(sizeof(double) * o->rounds);
            memcpy(tt, c->times, sizeof(double) * o->rounds);
            double med = bench_median(tt, o->rounds);
            free(tt);
            printf("| %s | %.0e | %.1f | %.2f | %ld | %ld | %ld | %ld | %ld | "
                   "%ld | %.1e | %.1e | %.1e |\n",
                   peer_name[c->peer], c->tol, med * 1e6, ratio, c->steps_f,
                   c->steps_b, c->nfe_f, c->nfe_b, c->vjp_b, c->extra_b,
                   c->err_theta, c->err_z0, c->err);
        }
    }
    /* at equal or smaller error: for each CVODES run, the fastest nodec run
     * (adjoint; direct) whose whole-gradient error is not larger */
    printf("\nmatched error (%s): CVODES run → fastest nodec run with rel err "
           "≤ its own; speed-up = median over rounds of CVODES time / nodec time "
           "(paired)\n", p->name);
    printf("| CVODES | tol | rel err | time (us) | nodec adjoint: tol, err, "
           "time, speed-up | nodec direct: tol, err, time, speed-up |\n");
    printf("|---|---|---:|---:|---|---|\n");
    for (int j = 0; j < nc; j++) {
        config *c = &cs[j];
        if (c->failed || (c->peer != P_CV_ADAMS && c->peer != P_CV_BDF))
            continue;
        double tc = med_time(c, o->rounds);
        printf("| %s | %.0e | %.1e | %.1f |", peer_name[c->peer], c->tol,
               c->err, tc * 1e6);
        const int want[2] = {P_NODEC_ADJ, P_NODEC_DIRECT};
        for (int w = 0; w < 2; w++) {
            config *best = NULL;
            double bt = 0;
            for (int k = 0; k < nc; k++) {
                config *d = &cs[k];
                if (d->failed || d->peer != want[w] || d->err > c->err)
                    continue;
                double td = med_time(d, o->rounds);
                if (!best || td < bt)
                    best = d, bt = td;
            }
            if (best) {
                double *rr = bench_xmalloc(sizeof(double) * o->rounds);
                for (int r = 0; r < o->rounds; r++)
                    rr[r] = c->times[r] / best->times[r];
                printf(" %.0e, %.1e, %.1f, **%.1f×** |", best->tol, best->err,
                       bt * 1e6, bench_median(rr, o->rounds));
                free(rr);
            }
            else
                printf(" none as accurate |");
        }
        printf("\n");
    }
done:
    fflush(stdout);
    for (int j = 0; j < nc; j++) {
        if (cs[j].ns)
            nodec_free(cs[j].ns);
        if (cs[j].cv)
            cv_peer_free(cs[j].cv);
        free(cs[j].times);
    }
    free(cs), free(g), free(ref), free(cvref);
}

int main(int argc, char **argv)
{
    opts o = {21, 4.0, {1e-6, 1e-9}, 2, 100, 0, 0, 0,
              "lv,spiral10,spiral100,batch20"};
    if (argc < 2)
        die("usage: bench_cvodes DATA.csv [options]");
    const char *data = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--rounds") && i + 1 < argc)
            o.rounds = atoi(argv[++i]);
        else if (!strcmp(a, "--target-ms") && i + 1 < argc)
            o.target_ms = atof(argv[++i]);
        else if (!strcmp(a, "--nd") && i + 1 < argc)
            o.nd = atol(argv[++i]);
        else if (!strcmp(a, "--quad-errcon"))
            o.quad_errcon = 1;
        else if (!strcmp(a, "--hinit"))
            cv_peer_hinit = 1;
        else if (!strcmp(a, "--poly"))
            cv_peer_interp = CV_POLYNOMIAL;
        else if (!strcmp(a, "--count"))
            o.count = 1;
        else if (!strcmp(a, "--sweep"))
            o.sweep = 1;
        else if (!strcmp(a, "--problems") && i + 1 < argc)
            o.problems = argv[++i];
        else if (!strcmp(a, "--tols") && i + 1 < argc) {
            char *s = argv[++i], *end;
            o.ntol = 0;
            while (*s && o.ntol < 16) {
                o.tols[o.ntol++] = strtod(s, &end);
                s = *end == ',' ? end + 1 : end;
                if (end == s && *s)
                    die("bad --tols");
            }
        } else
            die("unknown option");
    }
    if (o.rounds < 1)
        o.rounds = 1;

    double *dt, *dz;
    int nrow = read_csv(data, &dt, &dz);
    problem *ps[4];
    int np = 0;
    char buf[256];
    snprintf(buf, sizeof buf, ",%s,", o.problems);
    if (strstr(buf, ",lv,"))
        ps[np++] = make_lv();
    if (strstr(buf, ",spiral10,")) {
        int s0 = 0;
        ps[np++] = make_spiral("spiral10", 1, 10, &s0, nrow, dt, dz);
    }
    if (strstr(buf, ",spiral100,")) {
        int s0 = 0;
        ps[np++] = make_spiral("spiral100", 1, 100, &s0, nrow, dt, dz);
    }
    if (strstr(buf, ",batch20,")) {
        int st[20];
        for (int b = 0; b < 20; b++)
            st[b] = 45 * b + 7; /* spread over the trajectory */
        ps[np++] = make_spiral("batch20", 20, 10, st, nrow, dt, dz);
    }
    printf("rounds %d, target %.1f ms per timed batch, Nd %ld, quadrature "
           "error control %s, %s interpolation, backward restarts from %s\n",
           o.rounds, o.target_ms, o.nd,
           o.quad_errcon ? "on" : "off (CVODES default)",
           cv_peer_interp == CV_HERMITE ? "Hermite" : "polynomial",
           cv_peer_hinit ? "the last step size" : "CVODES' step estimate");
    for (int i = 0; i < np; i++)
        bench_problem(ps[i], &o);
    return 0;
}
