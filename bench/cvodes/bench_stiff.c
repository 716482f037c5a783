/* bench_stiff.c — the stiff problems: time per loss gradient of nodec's
 * implicit methods (rodas5p, rodas4, auto; checkpoint gradients) against
 * SUNDIALS CVODES BDF, both its adjoint (CVodeF/CVodeB, cv_peer.c) and its
 * forward sensitivities (CVodeSens, cv_sens.c), at matched gradient error
 * against a tight-tolerance reference.  README.md ("Stiff problems").
 *
 *   bench_stiff ROBERTSON.csv [--rounds R] [--target-ms T]
 *               [--problems robertson,vdp] [--tols-robertson a,b,…]
 *               [--tols-vdp a,b,…] [--quad-errcon]
 */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cvodes/cvodes.h>

#include "cv_peer.h"
#include "nodec.h"
#include "robertson.h"
#include "van_der_pol.h"

static void die(const char *msg)
{
    fprintf(stderr, "bench_stiff: %s\n", msg);
    exit(1);
}

/* ---- problems ------------------------------------------------------------ */

typedef struct sproblem {
    problem p;
    const nodec_model *m;
    double afac;     /* atol = afac · rtol */
    double tols[16]; /* rtol sweep */
    int ntol;
    double must_tol; /* issue 11's tolerance */
    double fd_step;  /* central differences: step fd_step·max(1, |θ_j|) */
    int ref_fd;      /* the reference: 0 nodec rodas5p 1e-13, 1 CVODES
                        forward sensitivities at 1e-13 (unused now) */
} sproblem;

/* models/robertson.nde at its initial log-rates (the training's start),
 * observed at data/robertson.csv's 42 times (0 and 1e-5 … 1e5), the
 * model's loss (scaled MSE) */
static sproblem *make_rober(const char *csv)
{
    sproblem *s = bench_xmalloc(sizeof *s);
    problem *p = &s->p;
    s->m = &robertson_model;
    p->loss_grad = s->m->loss_grad;
    p->loss_work = bench_xmalloc(sizeof(double) * (s->m->work_size + 16));
    p->name = "robertson";
    p->kind = KIND_ROBER;
    p->B = 1, p->ns = 3, p->np = 3;
    p->t = bench_xmalloc(sizeof(double) * 256);
    p->obs = bench_xmalloc(sizeof(double) * 3 * 256);
    FILE *f = fopen(csv, "r");
    if (!f)
        die("cannot open data/robertson.csv");
    char line[512];
    if (!fgets(line, sizeof line, f))
        die("empty data");
    int n = 0;
    while (n < 256 && fgets(line, sizeof line, f))
        if (sscanf(line, "%lf,%lf,%lf,%lf", &p->t[n], &p->obs[3 * n],
                   &p->obs[3 * n + 1], &p->obs[3 * n + 2]) == 4)
            n++;
    fclose(f);
    p->n_times = n;
    p->z0 = bench_xmalloc(sizeof(double) * 3);
    memcpy(p->z0, s->m->z0, sizeof(double) * 3);
    p->theta = bench_xmalloc(sizeof(double) * 3);
    s->m->init_params(p->theta, 1);
    s->afac = 1e-6; /* atol 1e-14 at rtol 1e-8: y2 is ~1e-5 … 1e-7 */
    const double tl[] = {1e-6, 3e-7, 1e-7, 3e-8, 1e-8, 3e-9, 1e-9, 3e-10, 1e-10};
    memcpy(s->tols, tl, sizeof tl);
    s->ntol = 9;
    s->must_tol = 1e-8;
    s->fd_step = 1e-3;
    return s;
}

/* models/van_der_pol.nde at μ = 1000 from (2, 0), observed at t = 0, 100,
 * …, 3000 except 800, 1600 and 2400 (28 times): x crosses 0 in the
 * relaxation jumps at t = 807.1, 1614.3 and 2421.5, and an observation in
 * the fold just before a jump has a sensitivity ∂z/∂μ of order 1e3 whose
 * value no solver gets to better than ~1e-3 at these tolerances; data
 * solved at μ = 1010 (rodas5p, rtol = atol = 1e-13); the default MSE */
static sproblem *make_vdp(void)
{
    sproblem *s = bench_xmalloc(sizeof *s);
    problem *p = &s->p;
    s->m = &van_der_pol_model;
    p->loss_grad = s->m->loss_grad;
    p->loss_work = bench_xmalloc(sizeof(double) * (s->m->work_size + 16));
    p->name = "vdp";
    p->kind = KIND_VDP;
    p->B = 1, p->ns = 2, p->np = 1;
    p->t = bench_xmalloc(sizeof(double) * 31);
    p->obs = bench_xmalloc(sizeof(double) * 62);
    int n = 0;
    for (int i = 0; i <= 30; i++)
        if (i % 8 != 0 || i == 0)
            p->t[n++] = 100.0 * i;
    p->n_times = n;
    p->z0 = bench_xmalloc(sizeof(double) * 2);
    memcpy(p->z0, s->m->z0, sizeof(double) * 2);
    p->theta = bench_xmalloc(sizeof(double));
    p->theta[0] = 1000;
    const double mu_data = 1010;
    nodec_solver *ns = nodec_create(s->m, 1);
    nodec_set_method(ns, NODEC_RODAS5P);
    nodec_set_tolerances(ns, 1e-13, 1e-13);
    nodec_set_max_steps(ns, 100000000);
    if (nodec_solve(ns, &mu_data, p->z0, n, p->t, p->obs) != NODEC_SUCCESS)
        die(nodec_get_error_message(ns));
    nodec_free(ns);
    s->afac = 1;
    const double tl[] = {1e-7, 1e-8, 1e-9, 1e-10, 1e-11};
    memcpy(s->tols, tl, sizeof tl);
    s->ntol = 5;
    s->must_tol = 1e-10;
    s->fd_step = 1e-3;
    /* nodec rodas5p at 1e-13, as for Robertson: since the adjoint's
     * projection onto a·f (runtime/adjoint.c) it agrees with differences
     * and rodas4 to ~1e-7, CVODES' forward sensitivities at 1e-13 only to
     * 1.5e-5 (README) */
    s->ref_fd = 0;
    return s;
}

/* the hand-written f, J, ∂f/∂θ, −Jᵀa, −aᵀ∂f/∂θ and the loss against the
 * emitted model */
static void check_handwritten(const sproblem *s)
{
    const problem *p = &s->p;
    const nodec_model *m = s->m;
    const int n = p->ns, np = p->np;
    double z[3], a[3], f1[3], f2[3], J1[9], J2[9], q1[3], q2[3], P[9];
    double *work = bench_xmalloc(sizeof(double) * (m->work_size + 16));
    double err = 0;
#define VCMP(x, y, sgn, len)                                                \
    do {                                                                    \
        double d_ = 0, m_ = 1e-300;                                         \
        for (int i_ = 0; i_ < (len); i_++)                                  \
            d_ = fmax(d_, fabs((x)[i_] - (sgn) * (y)[i_])),                 \
            m_ = fmax(m_, fabs((y)[i_]));                                   \
        err = fmax(err, d_ / m_);                                           \
    } while (0)
    for (int trial = 0; trial < 3; trial++) {
        for (int i = 0; i < n; i++) {
            z[i] = p->obs[(trial * 5 + 3) * n + i] * (1 + 0.1 * (i + 1));
            a[i] = 0.3 + 0.7 * i - trial;
        }
        hw_f(p, z, f1);
        m->f(1, 0.0, z, p->theta, f2, work);
        VCMP(f1, f2, 1, n);
        hw_jac_dense(p, z, J1);
        m->jac_z(0.0, z, p->theta, J2, work);
        VCMP(J1, J2, 1, n * n);
        hw_fB(p, z, a, f1);
        m->vjp(1, 0.0, z, p->theta, a, f2, q2, NULL, work);
        VCMP(f1, f2, -1, n);
        hw_fQB(p, z, a, q1);
        VCMP(q1, q2, -1, np);
        hw_dfdp(p, z, P); /* aᵀP against the emitted VJP */
        for (int j = 0; j < np; j++) {
            q1[j] = 0;
            for (int i = 0; i < n; i++)
                q1[j] += a[i] * P[i * np + j];
        }
        VCMP(q1, q2, 1, np);
        double l1 = hw_loss(p, z, p->obs, f1);
        double l2 = m->loss_grad(1, z, p->obs, f2, work);
        err = fmax(err, fabs(l1 - l2) / fmax(1e-300, fabs(l2)));
    }
#undef VCMP
    printf("check %-9s hand-written f, J, df/dtheta, -J^T a, -a^T df/dtheta, "
           "loss vs emitted: max rel diff %.1e\n", p->name, err);
    if (!(err <= 1e-12))
        die("the hand-written model disagrees with the emitted one");
    free(work);
}

/* ---- peers ------------------------------------------------------------- */

enum { P_AUTO, P_RODAS5P, P_RODAS4, P_CV_ADJ, P_CV_STAG, P_CV_SIM, P_NKIND };
static const char *peer_name[P_NKIND] = {
    "nodec auto", "nodec rodas5p", "nodec rodas4",
    "CVODES BDF adjoint", "CVODES BDF fwd sens (staggered)",
    "CVODES BDF fwd sens (simultaneous)"};
static int is_nodec(int k) { return k <= P_RODAS4; }

typedef struct config {
    int peer;
    double rtol, atol;
    nodec_solver *ns;
    cv_peer *cva;
    cv_sens *cvs;
    double loss, err;
    long steps_f, steps_b, nfe_f, nfe_b, vjp_b, njac;
    int reps, failed;
    double *times;
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
    if (c->cva)
        return cv_peer_grad(c->cva, c->rtol, c->atol, loss, dth, dz0);
    return cv_sens_grad(c->cvs, c->rtol, c->atol, loss, dth);
}

static double med_time(const config *c, int rounds)
{
    double *tt = bench_xmalloc(sizeof(double) * rounds);
    memcpy(tt, c->times, sizeof(double) * rounds);
    double m = bench_median(tt, rounds);
    free(tt);
    return m;
}

static double paired(const config *a, const config *b, int rounds)
{
    double *rr = bench_xmalloc(sizeof(double) * rounds);
    for (int r = 0; r < rounds; r++)
        rr[r] = a->times[r] / b->times[r];
    double m = bench_median(rr, rounds);
    free(rr);
    return m;
}

static nodec_solver *make_nodec(const sproblem *s, nodec_method meth,
                                double rtol, double atol)
{
    nodec_solver *ns = nodec_create(s->m, 1);
    if (!ns)
        die("nodec_create failed");
    nodec_set_method(ns, meth);
    nodec_set_tolerances(ns, rtol, atol);
    nodec_set_grad_mode(ns, NODEC_GRAD_CHECKPOINT);
    nodec_set_max_steps(ns, 100000000);
    return ns;
}

/* the reference: nodec rodas5p (checkpoint) at rtol 1e-13; second opinions:
 * CVODES BDF forward sensitivities (staggered) at 1e-12 and nodec rodas4 at
 * 1e-12 */
static void reference(const sproblem *s, double *ref, double *lref)
{
    const problem *p = &s->p;
    double dz0[3], g2[3], g3[3], g4[3], l2, l3;
    nodec_solver *ns = make_nodec(s, NODEC_RODAS5P, 1e-13, 1e-13 * s->afac);
    if (nodec_loss_grad(ns, p->theta, p->z0, p->n_times, p->t, p->obs, lref,
                        ref, dz0, NULL, NULL) != NODEC_SUCCESS)
        die(nodec_get_error_message(ns));
    nodec_free(ns);
    ns = make_nodec(s, NODEC_RODAS4, 1e-12, 1e-12 * s->afac);
    if (nodec_loss_grad(ns, p->theta, p->z0, p->n_times, p->t, p->obs, &l2,
                        g4, dz0, NULL, NULL) != NODEC_SUCCESS)
        die(nodec_get_error_message(ns));
    nodec_free(ns);
    cv_sens *cs = cv_sens_create(p, CV_STAGGERED);
    if (!cs || cv_sens_grad(cs, 1e-12, 1e-12 * s->afac, &l3, g3))
        die("CVODES reference failed");
    cv_sens_free(cs);
    /* third opinion: central differences of L (rodas5p, rtol 1e-13) at
     * steps h and h/2, Richardson-extrapolated: (4 D(h/2) − D(h)) / 3 */
    double fd[3];
    for (int j = 0; j < p->np; j++) {
        double D[2];
        for (int k = 0; k < 2; k++) {
            const double h = s->fd_step * fmax(1.0, fabs(p->theta[j])) / (1 + k);
            double th[3], lp, lm;
            memcpy(th, p->theta, sizeof(double) * (size_t)p->np);
            ns = make_nodec(s, NODEC_RODAS5P, 1e-13, 1e-13 * s->afac);
            th[j] = p->theta[j] + h;
            if (nodec_loss_grad(ns, th, p->z0, p->n_times, p->t, p->obs, &lp,
                                g2, dz0, NULL, NULL) != NODEC_SUCCESS)
                die(nodec_get_error_message(ns));
            th[j] = p->theta[j] - h;
            if (nodec_loss_grad(ns, th, p->z0, p->n_times, p->t, p->obs, &lm,
                                g2, dz0, NULL, NULL) != NODEC_SUCCESS)
                die(nodec_get_error_message(ns));
            nodec_free(ns);
            D[k] = (lp - lm) / (2 * h);
        }
        fd[j] = (4 * D[1] - D[0]) / 3;
    }
    /* CVODES forward sensitivities at 1e-13 */
    double g5[3], l5;
    cs = cv_sens_create(p, CV_STAGGERED);
    if (!cs || cv_sens_grad(cs, 1e-13, 1e-13 * s->afac, &l5, g5))
        die("CVODES reference failed");
    cv_sens_free(cs);
    double g1[3];
    memcpy(g1, ref, sizeof g1);
    if (s->ref_fd)
        memcpy(ref, g5, sizeof g1);
    printf("reference %-9s %s: L = %.15g, dL/dtheta =", p->name,
           s->ref_fd ? "CVODES BDF forward sensitivities (staggered), rtol 1e-13"
                     : "nodec rodas5p checkpoint, rtol 1e-13", *lref);
    for (int j = 0; j < p->np; j++)
        printf(" %.12g", ref[j]);
    printf(";\n  rel. differences from it: nodec rodas5p 1e-13 %.1e, nodec rodas4 "
           "1e-12 %.1e, CVODES BDF fwd sens 1e-12 %.1e, 1e-13 %.1e, central "
           "differences (Richardson, steps %g·max(1, |θ|) and half) %.1e;  L "
           "diffs %.1e, %.1e, %.1e\n",
           bench_rel_err(g1, ref, p->np), bench_rel_err(g4, ref, p->np),
           bench_rel_err(g3, ref, p->np), bench_rel_err(g5, ref, p->np), s->fd_step,
           bench_rel_err(fd, ref, p->np), fabs(l2 - *lref), fabs(l3 - *lref),
           fabs(l5 - *lref));
}

typedef struct opts {
    int rounds;
    double target_ms;
    int quad_errcon; /* CVODES adjoint: the quadrature in the error test */
} opts;

static void bench_problem(sproblem *s, const opts *o)
{
    const problem *p = &s->p;
    double ref[3], lref, g[3], dz0[3];
    check_handwritten(s);
    reference(s, ref, &lref);
    const int nc = P_NKIND * s->ntol;
    config *cs = bench_xmalloc(sizeof(config) * nc);
    for (int it = 0, ci = 0; it < s->ntol; it++)
        for (int k = 0; k < P_NKIND; k++, ci++) {
            config *c = &cs[ci];
            c->peer = k;
            c->rtol = s->tols[it];
            c->atol = s->tols[it] * s->afac;
            c->times = bench_xmalloc(sizeof(double) * o->rounds);
            switch (k) {
            case P_AUTO:
                c->ns = make_nodec(s, NODEC_AUTO, c->rtol, c->atol);
                break;
            case P_RODAS5P:
                c->ns = make_nodec(s, NODEC_RODAS5P, c->rtol, c->atol);
                break;
            case P_RODAS4:
                c->ns = make_nodec(s, NODEC_RODAS4, c->rtol, c->atol);
                break;
            case P_CV_ADJ:
                c->cva = cv_peer_create(p, CV_BDF, 100, o->quad_errcon);
                break;
            case P_CV_STAG:
                c->cvs = cv_sens_create(p, CV_STAGGERED);
                break;
            case P_CV_SIM:
                c->cvs = cv_sens_create(p, CV_SIMULTANEOUS);
                break;
            }
            if (!c->ns && !c->cva && !c->cvs)
                die("could not create a peer");
            double t0 = bench_now();
            if (run_grad(c, p, &c->loss, g, dz0)) {
                c->failed = 1;
                continue;
            }
            double dt = bench_now() - t0;
            if (fabs(c->loss - lref) > 1e-4 * fabs(lref))
                fprintf(stderr, "warning: %s %s %g: L = %.10g, reference %.10g\n",
                        p->name, peer_name[k], c->rtol, c->loss, lref);
            c->err = bench_rel_err(g, ref, p->np);
            if (c->ns) {
                nodec_stats st;
                nodec_get_stats(c->ns, &st);
                c->steps_f = st.forward.steps + st.forward.rejected;
                c->steps_b = st.backward.steps + st.backward.rejected;
                c->nfe_f = st.forward.f_evals;
                c->nfe_b = st.backward.f_evals;
                c->vjp_b = st.backward.vjp_evals;
                c->njac = -1;
            } else if (c->cva) {
                cv_counts n;
                cv_peer_counts(c->cva, &n);
                c->steps_f = n.nst, c->steps_b = n.nstB;
                c->nfe_f = n.f_fwd, c->nfe_b = n.f_rec;
                c->vjp_b = n.fB + n.fQB;
                c->njac = n.jac + n.jacB;
            } else {
                long nst, nfe, nfS, njac;
                cv_sens_counts(c->cvs, &nst, &nfe, &nfS, &njac);
                c->steps_f = nst, c->steps_b = 0;
                c->nfe_f = nfe, c->nfe_b = 0;
                c->vjp_b = nfS; /* sensitivity RHS calls (all Ns at once) */
                c->njac = njac;
            }
            c->reps = (int)fmax(1.0, floor(o->target_ms * 1e-3 / fmax(dt, 1e-7)));
            if (c->reps > 100000)
                c->reps = 100000;
        }
    /* timing: rounds, configurations interleaved, order rotated each round */
    for (int r = 0; r < o->rounds; r++)
        for (int j = 0; j < nc; j++) {
            config *c = &cs[(j + r) % nc];
            if (c->failed)
                continue;
            double L, t0 = bench_now();
            for (int k = 0; k < c->reps; k++)
                if (run_grad(c, p, &L, g, dz0))
                    die("a gradient failed while timing");
            c->times[r] = (bench_now() - t0) / c->reps;
        }

    printf("\n## %s: %d observation times on [%g, %g], %d params, atol = %g·rtol;"
           " L = %.10g\n", p->name, p->n_times, p->t[0], p->t[p->n_times - 1],
           p->np, s->afac, lref);
    printf("| peer | rtol | time/grad (us) | ratio to nodec auto | steps fwd | "
           "steps bwd | f fwd | f bwd | vjp bwd / fB+fQB / fS | Jacobians (CVODES) "
           "| rel err dL/dθ |\n");
    printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int it = 0; it < s->ntol; it++) {
        config *base = &cs[it * P_NKIND + P_AUTO];
        for (int k = 0; k < P_NKIND; k++) {
            config *c = &cs[it * P_NKIND + k];
            if (c->failed) {
                printf("| %s | %.0g | failed |\n", peer_name[k], c->rtol);
                continue;
            }
            double ratio = base->failed ? NAN : paired(c, base, o->rounds);
            char jac[32] = "–";
            if (c->njac >= 0)
                snprintf(jac, sizeof jac, "%ld", c->njac);
            printf("| %s | %.0g | %.1f | %.2f | %ld | %ld | %ld | %ld | %ld | %s "
                   "| %.1e |\n", peer_name[k], c->rtol, med_time(c, o->rounds) * 1e6,
                   ratio, c->steps_f, c->steps_b, c->nfe_f, c->nfe_b, c->vjp_b,
                   jac, c->err);
        }
    }
    printf("\nmatched error (%s): each CVODES run → the fastest nodec run (any "
           "rtol) whose rel err is ≤ its own; speed-up = median over rounds of "
           "CVODES time / nodec time (paired)\n", p->name);
    printf("| CVODES | rtol | rel err | time (us) | nodec auto: rtol, err, time, "
           "speed-up | nodec rodas5p: rtol, err, time, speed-up |\n");
    printf("|---|---|---:|---:|---|---|\n");
    for (int j = 0; j < nc; j++) {
        config *c = &cs[j];
        if (c->failed || is_nodec(c->peer))
            continue;
        printf("| %s | %.0g | %.1e | %.1f |", peer_name[c->peer], c->rtol,
               c->err, med_time(c, o->rounds) * 1e6);
        const int want[2] = {P_AUTO, P_RODAS5P};
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
            if (best)
                printf(" %.0g, %.1e, %.1f, **%.2f×** |", best->rtol, best->err,
                       bt * 1e6, paired(c, best, o->rounds));
            else
                printf(" none as accurate |");
        }
        printf("\n");
    }
    fflush(stdout);
    for (int j = 0; j < nc; j++) {
        if (cs[j].ns)
            nodec_free(cs[j].ns);
        if (cs[j].cva)
            cv_peer_free(cs[j].cva);
        if (cs[j].cvs)
            cv_sens_free(cs[j].cvs);
        free(cs[j].times);
    }
    free(cs);
}

static int parse_tols(char *s, double *tols)
{
    int n = 0;
    char *end;
    while (*s && n < 16) {
        tols[n++] = strtod(s, &end);
        if (end == s)
            die("bad tolerance list");
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

int main(int argc, char **argv)
{
    opts o = {11, 20.0, 0};
    const char *problems = "robertson,vdp";
    char *tr = NULL, *tv = NULL;
    if (argc < 2)
        die("usage: bench_stiff ROBERTSON.csv [options]");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--rounds") && i + 1 < argc)
            o.rounds = atoi(argv[++i]);
        else if (!strcmp(a, "--target-ms") && i + 1 < argc)
            o.target_ms = atof(argv[++i]);
        else if (!strcmp(a, "--problems") && i + 1 < argc)
            problems = argv[++i];
        else if (!strcmp(a, "--quad-errcon"))
            o.quad_errcon = 1;
        else if (!strcmp(a, "--tols-robertson") && i + 1 < argc)
            tr = argv[++i];
        else if (!strcmp(a, "--tols-vdp") && i + 1 < argc)
            tv = argv[++i];
        else
            die("unknown option");
    }
    if (o.rounds < 1)
        o.rounds = 1;
    printf("rounds %d, target %.1f ms per timed batch; nodec: checkpoint "
           "gradients (every 16 steps); CVODES: BDF, dense LU, hand-written "
           "Jacobians; adjoint Nd 100, Hermite, quadrature error control %s; "
           "forward sensitivities in the error test\n", o.rounds, o.target_ms,
           o.quad_errcon ? "on" : "off (CVODES' default)");
    char buf[256];
    snprintf(buf, sizeof buf, ",%s,", problems);
    if (strstr(buf, ",robertson,")) {
        sproblem *s = make_rober(argv[1]);
        if (tr)
            s->ntol = parse_tols(tr, s->tols);
        bench_problem(s, &o);
    }
    if (strstr(buf, ",vdp,")) {
        sproblem *s = make_vdp();
        if (tv)
            s->ntol = parse_tols(tv, s->tols);
        bench_problem(s, &o);
    }
    return 0;
}
