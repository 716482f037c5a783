/* test_grad.c — dL/dθ, dL/dz0 and dL/dt_i from the three gradient modes,
 * against each other and against central finite differences of the loss,
 * on every test model (B = 2, four observation times).
 *
 * Adaptive (dopri5, rtol 1e-10, atol 1e-12):
 *   adjoint, checkpoint, direct vs finite differences   rtol 2e-6 of the
 *       largest entry (+1e-9): the modes differ from the discrete map's
 *       derivative by O(tolerance), the differences by O(δ²) and step noise;
 *   adjoint, checkpoint vs direct                         rtol 1e-6.
 *   Also: seminorm off, independent batches, and dopri8 / tsit5 / bosh3
 *   agree with direct at the same tolerance.
 * Fixed step (rk4, h = 0.0047): direct is the derivative of the discrete map,
 *   so it matches finite differences to 1e-7; adjoint and checkpoint
 *   converge to it as O(h⁴): 1e-6 here.
 * Identities (autonomous models, every mode, rtol 1e-6 of the largest):
 *   dL/dt_i = g_i·f(z(t_i)) for i ≥ 1, g_i = ∂L/∂z(t_i), and Σ_i dL/dt_i = 0.
 */
#include <math.h>
#include <string.h>

#include "models.h"

enum { B = 2, NT = 4, MAXP = 64 };

typedef struct prob {
    const nodec_model *m;
    double theta[MAXP], z0[B * 2], t[NT], obs[NT * B * 2];
} prob;

typedef struct grads {
    double L, dth[MAXP], dz0[B * 2], dt[NT], z[NT * B * 2];
    nodec_stats st;
} grads;

typedef struct cfg {
    nodec_method meth;
    nodec_grad_mode mode;
    double h;
    int seminorm;
    nodec_batch_mode batch;
} cfg;

static int solve(const prob *p, cfg c, grads *g, int want_grad)
{
    nodec_solver *s = nodec_create(p->m, B);
    int rc;
    nodec_set_method(s, c.meth);
    nodec_set_tolerances(s, 1e-10, 1e-12);
    nodec_set_grad_mode(s, c.mode);
    nodec_set_seminorm(s, c.seminorm);
    nodec_set_batch_mode(s, c.batch);
    if (c.h > 0)
        nodec_set_fixed_step(s, c.h);
    rc = nodec_loss_grad(s, p->theta, p->z0, NT, p->t, p->obs, &g->L,
                         want_grad ? g->dth : NULL, want_grad ? g->dz0 : NULL,
                         want_grad ? g->dt : NULL, g->z);
    CHECK(rc == 0, "%s: %s %s", p->m->name, nodec_error_name(rc),
          nodec_get_error_message(s));
    nodec_get_stats(s, &g->st);
    nodec_free(s);
    return rc;
}

/* Central differences of L in θ, z0 and t. */
static void fd(const prob *p0, cfg c, grads *g)
{
    prob p = *p0;
    grads tmp;
    double *vars[3] = {p.theta, p.z0, p.t}, *outs[3] = {g->dth, g->dz0, g->dt};
    int lens[3] = {p.m->n_param, B * p.m->n_state, NT};
    for (int v = 0; v < 3; v++)
        for (int k = 0; k < lens[v]; k++) {
            double x = vars[v][k], d = 1e-5 * fmax(1, fabs(x)), Lp, Lm;
            vars[v][k] = x + d;
            solve(&p, c, &tmp, 0);
            Lp = tmp.L;
            vars[v][k] = x - d;
            solve(&p, c, &tmp, 0);
            Lm = tmp.L;
            vars[v][k] = x;
            outs[v][k] = (Lp - Lm) / (2 * d);
        }
    solve(&p, c, &tmp, 0);
    g->L = tmp.L;
}

static void compare(const nodec_model *m, const char *what, const grads *a,
                    const grads *b, double rtol)
{
    const char *model = m->name;
    int P = m->n_param;
    char lab[128];
    snprintf(lab, sizeof lab, "%s %s dL/dtheta", model, what);
    check_vec(lab, a->dth, b->dth, P, rtol, 1e-9);
    snprintf(lab, sizeof lab, "%s %s dL/dz0", model, what);
    check_vec(lab, a->dz0, b->dz0, B * m->n_state, rtol, 1e-9);
    snprintf(lab, sizeof lab, "%s %s dL/dt", model, what);
    check_vec(lab, a->dt, b->dt, NT, rtol, 1e-9);
    snprintf(lab, sizeof lab, "%s %s L", model, what);
    check_close(lab, a->L, b->L, rtol, 1e-14);
}

/* dL/dt_i = g_i·f(z(t_i)) (i ≥ 1) and Σ dL/dt_i = 0 when f ignores t. */
static void identities(const prob *p, const grads *g, const char *what)
{
    const nodec_model *m = p->m;
    int nz = B * m->n_state;
    double gi[B * 2], f[B * 2], sum = 0, big = 0;
    char lab[128];
    for (int i = 0; i < NT; i++) {
        sum += g->dt[i];
        big = fmax(big, fabs(g->dt[i]));
    }
    for (int i = 1; i < NT; i++) {
        double want = 0;
        m->loss_grad(B, g->z + i * nz, p->obs + i * nz, gi, NULL);
        m->f(B, p->t[i], g->z + i * nz, p->theta, f, NULL);
        for (int k = 0; k < nz; k++)
            want += gi[k] * f[k] / (NT * B);
        snprintf(lab, sizeof lab, "%s %s dL/dt[%d] = g.f", m->name, what, i);
        check_close(lab, g->dt[i], want, 1e-6, 1e-6 * big);
    }
    snprintf(lab, sizeof lab, "%s %s sum dL/dt = 0", m->name, what);
    check_close(lab, sum, 0, 0, 1e-6 * big);
}

static void run(prob *p)
{
    static const char *names[] = {"adjoint", "checkpoint", "direct"};
    cfg base = {NODEC_DOPRI5, NODEC_GRAD_DIRECT, 0, 1, NODEC_BATCH_SHARED};
    grads ref, g, f;
    int P = p->m->n_param;

    /* observations: the solution at a nearby θ, so the loss is small but
     * not zero, plus a fixed offset */
    {
        grads z;
        prob q = *p;
        memset(q.obs, 0, sizeof q.obs);
        for (int k = 0; k < P; k++)
            q.theta[k] *= 1.05;
        solve(&q, base, &z, 0);
        for (int k = 0; k < NT * B * p->m->n_state; k++)
            p->obs[k] = z.z[k] + 0.05 * sin(1.0 + k);
    }

    solve(p, base, &ref, 1);
    fd(p, base, &f);
    for (int mo = 0; mo < 3; mo++) {
        char what[64];
        cfg c = base;
        c.mode = mo;
        solve(p, c, &g, 1);
        snprintf(what, sizeof what, "dopri5 %s vs fd", names[mo]);
        compare(p->m, what, &g, &f, 2e-6);
        snprintf(what, sizeof what, "dopri5 %s vs direct", names[mo]);
        compare(p->m, what, &g, &ref, 1e-6);
        if (!p->m->uses_t)
            identities(p, &g, names[mo]);
        printf("%-18s %-10s L %.10g  fwd %ld steps %ld rej %ld f; "
               "bwd %ld steps %ld rej %ld f %ld vjp\n",
               p->m->name, names[mo], g.L, g.st.forward.steps,
               g.st.forward.rejected, g.st.forward.f_evals,
               g.st.backward.steps, g.st.backward.rejected,
               g.st.backward.f_evals, g.st.backward.vjp_evals);
    }
    /* options that must not change the answer */
    {
        cfg c = base;
        grads h;
        c.mode = NODEC_GRAD_ADJOINT;
        c.seminorm = 0;
        solve(p, c, &g, 1);
        compare(p->m, "adjoint without seminorm vs direct", &g, &ref, 1e-6);
        c.seminorm = 1;
        solve(p, c, &h, 1);
        printf("%-18s adjoint backward steps: seminorm %ld, full norm %ld\n",
               p->m->name, h.st.backward.steps + h.st.backward.rejected,
               g.st.backward.steps + g.st.backward.rejected);
        c.batch = NODEC_BATCH_INDEPENDENT;
        for (int mo = 0; mo < 3; mo++) {
            c.mode = mo;
            solve(p, c, &g, 1);
            compare(p->m, "independent batches vs direct", &g, &ref, 1e-6);
        }
    }
    for (nodec_method meth = NODEC_BOSH3; meth <= NODEC_DOPRI8; meth++) {
        cfg c = base;
        char what[64];
        c.meth = meth;
        for (int mo = 0; mo < 3; mo++) {
            c.mode = mo;
            solve(p, c, &g, 1);
            snprintf(what, sizeof what, "%s %s vs dopri5 direct",
                     nodec_method_name(meth), names[mo]);
            compare(p->m, what, &g, &ref, meth == NODEC_BOSH3 ? 2e-5 : 2e-6);
        }
    }
    /* fixed steps: direct is exact for the discrete map */
    {
        cfg c = base;
        c.meth = NODEC_RK4;
        c.h = 0.0047; /* no interval a multiple of h: m stays put under δ */
        solve(p, c, &ref, 1);
        fd(p, c, &f);
        compare(p->m, "rk4 direct vs fd", &ref, &f, 1e-7);
        for (int mo = 0; mo < 2; mo++) {
            char what[64];
            c.mode = mo;
            solve(p, c, &g, 1);
            snprintf(what, sizeof what, "rk4 %s vs rk4 direct", names[mo]);
            compare(p->m, what, &g, &ref, 1e-6);
        }
    }
}

int main(void)
{
    prob p;

    memset(&p, 0, sizeof p);
    p.m = &linear_model;
    memcpy(p.theta, (double[]){-0.1, 2.0, -2.0, -0.1}, 4 * sizeof(double));
    memcpy(p.z0, (double[]){1.0, 0.5, -0.3, 0.8}, 4 * sizeof(double));
    memcpy(p.t, (double[]){0, 0.4, 1.1, 2.0}, NT * sizeof(double));
    run(&p);

    memset(&p, 0, sizeof p);
    p.m = &lv_model;
    memcpy(p.theta, (double[]){1.5, 1.0, 1.0, 3.0}, 4 * sizeof(double));
    memcpy(p.z0, (double[]){1.0, 1.0, 2.0, 0.5}, 4 * sizeof(double));
    memcpy(p.t, (double[]){0, 0.5, 1.2, 2.0}, NT * sizeof(double));
    run(&p);

    memset(&p, 0, sizeof p);
    p.m = &mlp_model;
    mlp_params(p.theta);
    memcpy(p.z0, (double[]){0.5, -0.3, 0.2, 0.4}, 4 * sizeof(double));
    memcpy(p.t, (double[]){0, 0.3, 0.9, 1.5}, NT * sizeof(double));
    run(&p);

    memset(&p, 0, sizeof p);
    p.m = &sq_model; /* blow-up at t = 2 and 3.3: stay before */
    p.theta[0] = 1.0;
    memcpy(p.z0, (double[]){0.5, 0.3}, 2 * sizeof(double));
    memcpy(p.t, (double[]){0, 0.5, 1.0, 1.5}, NT * sizeof(double));
    run(&p);

    memset(&p, 0, sizeof p);
    p.m = &osc_model; /* non-autonomous; t_0 ≠ 0 */
    memcpy(p.theta, (double[]){4.0, 0.3, 0.7, 1.3}, 4 * sizeof(double));
    memcpy(p.z0, (double[]){1.0, 0.0, 0.0, 1.0}, 4 * sizeof(double));
    memcpy(p.t, (double[]){0.2, 0.7, 1.6, 3.0}, NT * sizeof(double));
    run(&p);

    return test_summary("test_grad");
}
