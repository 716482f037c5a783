/* cli.c — `solve` and `grad` for any compiled model (DESIGN.md §5).
 *
 * Shared by the `nodec` command (which compiles a model file first) and by
 * trainers made with `nodec build`.  Options are parsed by hand; files are
 * read and written through io.c, so every message names the file and every
 * output is written whole or not at all.
 */
#define _POSIX_C_SOURCE 200809L
#include "tools.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char nodec_cli_solve_help[] =
    "usage: nodec solve MODEL.nde [--params P] [--z0 \"2,0\" | --z0-file Z.csv] [--t0 0]\n"
    "                   [--t1 T] [--n N] [--times FILE] [--inputs U.csv] [-o OUT.csv]\n"
    "                   [solver options]\n\n"
    "Solves dz/dt = f(z, θ, t) from z0 and writes the trajectory as CSV: `t`, then\n"
    "one column per state component (z[0], z[1], …; scalars by name).\n"
    "  --params P      θ from a .npz (one array per parameter) or .npy (flat θ);\n"
    "                  default: the model's initializers with --seed (default 1)\n"
    "  --z0 LIST       initial state; default: the state values in the model\n"
    "  --z0-file Z.csv many initial states, solved as one batch: a CSV with one\n"
    "                  column per state component (named as in data files) and a\n"
    "                  row per initial state, ids from an optional traj column; or\n"
    "                  a data file (it has a t column): each trajectory's first row.\n"
    "                  The output has a traj column\n"
    "  --t0, --t1, --n N output times evenly from t0 (default 0) to t1 (default 10),\n"
    "                  N of them (default 101), both ends included\n"
    "  --times FILE    output times from the `t` column (or only column) of a CSV\n"
    "  --inputs U.csv  the signals of a model's inputs: t, the inputs' columns (u[0],\n"
    "                  u[1], …; scalars by name), an optional traj column; a data\n"
    "                  file will do.  One trajectory drives every initial state;\n"
    "                  several drive one initial state each (from --z0-file, in\n"
    "                  order, or all from --z0 or the model's).  Default times:\n"
    "                  from where all the signals start to where the first ends\n"
    "  -o OUT.csv      write to a file (atomically) instead of standard output\n"
    "solver options: --method euler|midpoint|rk4|bosh3|dopri5|tsit5|dopri8|rodas4|rodas5p|kvaerno4|auto (dopri5)\n"
    "  --rtol R (1e-7)  --atol A (1e-9)  --max-steps N  --step H (fixed step size)\n"
    "  --threads N     threads that share a large batch (0: all cores, the default)\n";

const char nodec_cli_grad_help[] =
    "usage: nodec grad MODEL.nde --data D.csv [--params P] [--z0 LIST] [--mode M]\n"
    "                  [--repeat N] [solver options]\n\n"
    "Prints the loss and its gradients as JSON:\n"
    "  {\"loss\": L, \"grad\": {\"<param>\": <array in its shape>, …}, \"dL_dz0\": […],\n"
    "   \"dL_dt\": [one per observation time], \"stats\": {…}}\n"
    "The observation times are the data's `t` column; z0 defaults to the first\n"
    "observation; the loss is the model's loss (default: mean squared error)\n"
    "averaged over observation times (t_0 included) and trajectories.\n"
    "Trajectories that share their times are solved as one batch.\n"
    "  --mode adjoint|checkpoint|direct   gradient method (adjoint; checkpoint for\n"
    "                  rodas4, rodas5p, kvaerno4 and auto)\n"
    "  --no-seminorm   full error norm in the adjoint pass\n"
    "  --repeat N      compute the gradient N times; stats get the median wall time\n"
    "solver options as for `nodec solve`.\n";

void nodec_solver_opts_default(nodec_solver_opts *o) {
    *o = (nodec_solver_opts){.method = NODEC_DOPRI5,
                             .mode = -1, /* the method's default: adjoint, checkpoint for implicit ones */
                             .seminorm = 1,
                             .rtol = 1e-7,
                             .atol = 1e-9,
                             .max_steps = 0,
                             .step = 0};
}

static int bad(const char *cmd, const char *flag, const char *v, const char *want) {
    fprintf(stderr, "nodec %s: %s '%s' is not valid; %s\n", cmd, flag, v, want);
    return -1;
}

const char *nodec_cli_value(const char *flag, int argc, char **argv, int *i, int *missing) {
    size_t n = strlen(flag);
    if (strncmp(argv[*i], flag, n)) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n]) return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return "";
    }
    return argv[++*i];
}

int nodec_cli_number(const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v)) return 0;
    *out = v;
    return 1;
}

int nodec_cli_integer(const char *s, long long lo, long long hi, long long *out) {
    /* strtoll alone would take leading spaces, and a sign with no digits */
    const char *digits = s + (*s == '+' || *s == '-');
    if (*digits < '0' || *digits > '9') return 0;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno == ERANGE || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

int nodec_solver_opts_parse(nodec_solver_opts *o, const char *cmd, int argc, char **argv, int *i) {
    int missing = 0;
    const char *v;
    double x;
    if (!strcmp(argv[*i], "--no-seminorm")) return o->seminorm = 0, 1;
    if ((v = nodec_cli_value("--method", argc, argv, i, &missing))) {
        if (missing || (o->method = nodec_method_from_name(v)) < 0)
            return bad(cmd, "--method", v,
                       "use euler, midpoint, rk4, bosh3, dopri5, tsit5, dopri8, rodas4, rodas5p, kvaerno4 or auto");
        return 1;
    }
    if ((v = nodec_cli_value("--mode", argc, argv, i, &missing))) {
        if (missing || (o->mode = nodec_grad_mode_from_name(v)) < 0)
            return bad(cmd, "--mode", v, "use adjoint, checkpoint or direct");
        return 1;
    }
    if ((v = nodec_cli_value("--rtol", argc, argv, i, &missing))) {
        if (missing || !nodec_cli_number(v, &x) || x <= 0) return bad(cmd, "--rtol", v, "give a positive number");
        return o->rtol = x, 1;
    }
    if ((v = nodec_cli_value("--atol", argc, argv, i, &missing))) {
        if (missing || !nodec_cli_number(v, &x) || x <= 0) return bad(cmd, "--atol", v, "give a positive number");
        return o->atol = x, 1;
    }
    if ((v = nodec_cli_value("--step", argc, argv, i, &missing))) {
        if (missing || !nodec_cli_number(v, &x) || x <= 0) return bad(cmd, "--step", v, "give a positive step size");
        return o->step = x, 1;
    }
    if ((v = nodec_cli_value("--max-steps", argc, argv, i, &missing))) {
        long long n;
        if (missing || !nodec_cli_integer(v, 1, 1000000000000, &n))
            return bad(cmd, "--max-steps", v, "give a whole number of steps from 1 to 10^12");
        return o->max_steps = (long)n, 1;
    }
    if ((v = nodec_cli_value("--threads", argc, argv, i, &missing))) {
        long long n;
        if (missing || !nodec_cli_integer(v, 0, 1024, &n))
            return bad(cmd, "--threads", v, "give a number of threads from 1 to 1024, or 0 for all cores");
        return o->threads = (int)n, 1;
    }
    return 0;
}

int nodec_solver_opts_apply(const nodec_solver_opts *o, nodec_solver *s) {
    int rc = nodec_set_method(s, (nodec_method)o->method);
    if (!rc) rc = nodec_set_tolerances(s, o->rtol, o->atol);
    if (!rc && o->mode >= 0) rc = nodec_set_grad_mode(s, (nodec_grad_mode)o->mode);
    if (!rc) rc = nodec_set_seminorm(s, o->seminorm);
    if (!rc && o->step > 0) rc = nodec_set_fixed_step(s, o->step);
    if (!rc && o->max_steps > 0) rc = nodec_set_max_steps(s, o->max_steps);
    if (!rc) rc = nodec_set_threads(s, o->threads);
    return rc;
}

int nodec_cli_load_params(const nodec_model *m, const char *path, unsigned long long seed, double *theta) {
    if (!path) {
        m->init_params(theta, seed);
        return 0;
    }
    char err[1024];
    if (nodec_params_load(path, m, theta, err, sizeof err)) {
        fprintf(stderr, "nodec: error: %s\n", err);
        return -1;
    }
    for (int i = 0; i < m->n_param; i++)
        if (!isfinite(theta[i])) {
            fprintf(stderr, "nodec: error: %s: parameter value %d is %g; give finite values\n", path, i, theta[i]);
            return -1;
        }
    return 0;
}

static int get_z0(const nodec_model *m, const char *cmd, const char *s, double *z0) {
    if (!s) {
        if (!m->z0) {
            fprintf(stderr, "nodec %s: error: the model gives no initial state; pass --z0 with %d numbers\n", cmd,
                    m->n_state);
            return -1;
        }
        memcpy(z0, m->z0, sizeof(double) * (size_t)m->n_state);
        return 0;
    }
    double *v;
    int n;
    char err[512];
    if (nodec_parse_numbers("--z0", s, &v, &n, err, sizeof err)) {
        fprintf(stderr, "nodec %s: error: %s\n", cmd, err);
        return -1;
    }
    if (n != m->n_state) {
        fprintf(stderr, "nodec %s: error: --z0 has %d number%s but the model's state has %d\n", cmd, n,
                n == 1 ? "" : "s", m->n_state);
        free(v);
        return -1;
    }
    memcpy(z0, v, sizeof(double) * (size_t)n);
    free(v);
    return 0;
}

static int run_error(const char *cmd, nodec_solver *s, int rc) {
    fprintf(stderr, "nodec %s: error: %s: %s\n", cmd, nodec_error_name(rc), nodec_get_error_message(s));
    return 1;
}

/* ---- solve ------------------------------------------------------------ */

/* --z0-file: the initial states of a CSV, *B rows of n_state into a
 * malloc'ed *z0 and their ids into *ids.  A file with a `t` column is a
 * data file: the first row of each trajectory (rows of one `traj` value
 * together); otherwise every row is an initial state. */
static int z0_file(const nodec_model *m, const char *path, double **z0, long **ids, int *B) {
    nodec_table tab;
    char err[1024], name[128];
    int ns = m->n_state, rc = -1, *col = malloc(sizeof(int) * (size_t)ns);
    if (!col) return fputs("nodec solve: error: out of memory\n", stderr), -1;
    if (nodec_table_load(path, &tab, err, sizeof err)) {
        fprintf(stderr, "nodec solve: error: %s\n", err);
        return free(col), -1;
    }
    for (int k = 0; k < ns; k++) {
        nodec_state_column_name(m, k, name, sizeof name);
        if ((col[k] = nodec_table_column(&tab, name)) < 0 && !(m->noise && m->noise[k])) { /* noises are drawn */
            fprintf(stderr,
                    "nodec solve: error: %s: no column '%s'; --z0-file needs one column per state component, named as "
                    "in data files\n",
                    path, name);
            goto done;
        }
    }
    int tc = nodec_table_column(&tab, "traj"), data = nodec_table_column(&tab, "t") >= 0, n = 0;
    *z0 = malloc(sizeof(double) * (size_t)(tab.nrow ? tab.nrow : 1) * (size_t)ns);
    *ids = malloc(sizeof(long) * (size_t)(tab.nrow ? tab.nrow : 1));
    if (!*z0 || !*ids) {
        fputs("nodec solve: error: out of memory\n", stderr);
        goto done;
    }
    for (int r = 0; r < tab.nrow; r++) {
        const double *row = tab.v + (size_t)r * tab.ncol;
        double id = tc >= 0 ? row[tc] : data ? 0 : r;
        if (tc >= 0 && !(id == floor(id) && fabs(id) < 1e15)) {
            fprintf(stderr, "nodec solve: error: %s: row %d: traj %g is not a whole number\n", path, r + 2, id);
            goto done;
        }
        if (data && n && (*ids)[n - 1] == (long)id) continue; /* a later row of the same trajectory */
        for (int k = 0; k < ns; k++) (*z0)[(size_t)n * ns + k] = col[k] >= 0 ? row[col[k]] : 0;
        (*ids)[n++] = (long)id;
    }
    if (n == 0) {
        fprintf(stderr, "nodec solve: error: %s has no rows of initial states\n", path);
        goto done;
    }
    *B = n, rc = 0;
done:
    if (rc) free(*z0), free(*ids), *z0 = NULL, *ids = NULL;
    nodec_table_free(&tab);
    free(col);
    return rc;
}

/* Writes B trajectories (z time-major: n blocks of B × n_state, as
 * nodec_solve returns a batch) to path, or to stdout: `traj,t,…` when B > 1,
 * as nodec_data_save writes data. */
static int write_batch(const nodec_model *m, const char *path, int B, const long *ids, long n, const double *t,
                       const double *z) {
    int ns = m->n_state, rc = 0;
    nodec_data d = {ns, B, calloc((size_t)B, sizeof(nodec_traj)), 0};
    char err[1024];
    if (!d.traj) return fputs("nodec solve: error: out of memory\n", stderr), -1;
    for (int b = 0; b < B && !rc; b++) {
        nodec_traj *tr = &d.traj[b];
        tr->id = ids[b], tr->n = (int)n, tr->t = (double *)t;
        if (!(tr->z = malloc(sizeof(double) * (size_t)n * ns))) rc = -1;
        for (long i = 0; !rc && i < n; i++)
            memcpy(tr->z + (size_t)i * ns, z + ((size_t)i * B + b) * ns, sizeof(double) * (size_t)ns);
    }
    if (rc)
        fputs("nodec solve: error: out of memory\n", stderr);
    else if (path) {
        if ((rc = nodec_data_save(path, m, &d, err, sizeof err))) fprintf(stderr, "nodec solve: error: %s\n", err);
    } else if (B == 1) {
        if ((rc = nodec_traj_write(stdout, m, (int)n, t, d.traj[0].z) || fflush(stdout)))
            perror("nodec solve: error: standard output");
    } else { /* the header and rows nodec_data_save writes, on a stream */
        char name[128];
        fputs("traj,t", stdout);
        for (int k = 0; k < ns; k++) {
            nodec_state_column_name(m, k, name, sizeof name);
            printf(strchr(name, ',') ? ",\"%s\"" : ",%s", name);
        }
        putchar('\n');
        for (int b = 0; b < B; b++)
            for (long i = 0; i < n; i++) {
                printf("%ld,%.17g", ids[b], t[i]);
                for (int k = 0; k < ns; k++) printf(",%.17g", d.traj[b].z[(size_t)i * ns + k]);
                putchar('\n');
            }
        if ((rc = fflush(stdout) || ferror(stdout))) perror("nodec solve: error: standard output");
    }
    for (int b = 0; b < B; b++) free(d.traj[b].z);
    free(d.traj);
    return rc ? -1 : 0;
}

int nodec_cli_solve(const nodec_model *m, int argc, char **argv) {
    const char *params = NULL, *z0s = NULL, *z0f = NULL, *times = NULL, *out = NULL, *inputs = NULL;
    double t0 = 0, t1 = 10;
    int range_given = 0; /* --t0 or --t1 */
    long n = 101;
    unsigned long long seed = 1;
    nodec_solver_opts so;
    nodec_solver_opts_default(&so);
    for (int i = 0; i < argc; i++) {
        int missing = 0, r;
        const char *v;
        long long x = 0;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return fputs(nodec_cli_solve_help, stdout), 0;
        if ((r = nodec_solver_opts_parse(&so, "solve", argc, argv, &i))) {
            if (r < 0) return 2;
        } else if ((v = nodec_cli_value("--params", argc, argv, &i, &missing)))
            params = v;
        else if ((v = nodec_cli_value("--z0-file", argc, argv, &i, &missing)))
            z0f = v;
        else if ((v = nodec_cli_value("--z0", argc, argv, &i, &missing)))
            z0s = v;
        else if ((v = nodec_cli_value("--times", argc, argv, &i, &missing)))
            times = v;
        else if ((v = nodec_cli_value("--inputs", argc, argv, &i, &missing)))
            inputs = v;
        else if ((v = nodec_cli_value("-o", argc, argv, &i, &missing)))
            out = v;
        else if ((v = nodec_cli_value("--t0", argc, argv, &i, &missing))) {
            if (!missing && !nodec_cli_number(v, &t0)) return bad("solve", "--t0", v, "give a number"), 2;
            range_given = 1;
        } else if ((v = nodec_cli_value("--t1", argc, argv, &i, &missing))) {
            if (!missing && !nodec_cli_number(v, &t1)) return bad("solve", "--t1", v, "give a number"), 2;
            range_given = 1;
        } else if ((v = nodec_cli_value("--n", argc, argv, &i, &missing))) {
            if (!missing && !nodec_cli_integer(v, 2, 100000000, &x))
                return bad("solve", "--n", v, "give a whole number of output times from 2 to 10^8"), 2;
            n = (long)x;
        } else if ((v = nodec_cli_value("--seed", argc, argv, &i, &missing))) {
            if (!missing && !nodec_cli_integer(v, 0, NODEC_SEED_MAX, &x))
                return bad("solve", "--seed", v, "give a whole number from 0 to 2^53 - 1"), 2;
            seed = (unsigned long long)x;
        } else {
            fprintf(stderr, "nodec solve: unknown option '%s'\nrun `nodec solve --help` for the options\n", argv[i]);
            return 2;
        }
        if (missing) {
            fprintf(stderr, "nodec solve: %s needs a value\n", argv[i]);
            return 2;
        }
    }
    if (t1 == t0) return bad("solve", "--t1", "equal to --t0", "give an interval of positive length"), 2;
    if (z0s && z0f) {
        fputs("nodec solve: --z0 and --z0-file both give the initial state; use one\n", stderr);
        return 2;
    }
    if (inputs && !m->inputs) {
        fprintf(stderr, "nodec solve: --inputs: model %s has no inputs (`input u = linear`)\n", m->name);
        return 2;
    }
    if (m->inputs && !inputs) {
        char name[160];
        nodec_input_column_name(m, 0, name, sizeof name);
        fprintf(stderr,
                "nodec solve: model %s has inputs: give their signals with --inputs U.csv (columns t, %s, …; a data "
                "file will do)\n",
                m->name, name);
        return 2;
    }
    nodec_data ud = {0}; /* --inputs */
    if (inputs) {
        char err[1024];
        if (nodec_inputs_load(inputs, m, &ud, err, sizeof err)) {
            fprintf(stderr, "nodec solve: error: %s\n", err);
            return 1;
        }
        if (!range_given && !times) { /* where every signal is defined */
            t0 = -INFINITY, t1 = INFINITY;
            for (int k = 0; k < ud.n_traj; k++)
                t0 = fmax(t0, ud.traj[k].t[0]), t1 = fmin(t1, ud.traj[k].t[ud.traj[k].n - 1]);
            if (!(t1 > t0)) {
                fprintf(stderr,
                        "nodec solve: error: %s: the signals share no interval of time (one ends at t = %g before "
                        "another starts at t = %g); give --t0 and --t1 or --times, and signals that cover them\n",
                        inputs, t1, t0);
                nodec_data_free(&ud);
                return 1;
            }
        }
    }
    double *t = NULL;
    if (times) {
        nodec_table tab;
        char err[1024];
        if (nodec_table_load(times, &tab, err, sizeof err)) {
            fprintf(stderr, "nodec solve: error: %s\n", err);
            return 1;
        }
        int c = tab.ncol == 1 ? 0 : nodec_table_column(&tab, "t");
        if (c < 0 || tab.nrow < 1) {
            fprintf(stderr, "nodec solve: error: %s: no `t` column (give one column of times, or one named t)\n",
                    times);
            nodec_table_free(&tab);
            return 1;
        }
        n = tab.nrow;
        t = malloc(sizeof(double) * (size_t)n);
        for (long k = 0; k < n; k++) t[k] = tab.v[k * tab.ncol + c];
        nodec_table_free(&tab);
        for (long k = 1; k < n; k++)
            if (!(t[k] > t[k - 1])) {
                fprintf(stderr, "nodec solve: error: %s: times must increase (row %ld: %g after %g)\n", times, k + 2,
                        t[k], t[k - 1]);
                free(t);
                return 1;
            }
    } else {
        t = malloc(sizeof(double) * (size_t)n);
        for (long k = 0; k < n; k++) t[k] = t0 + (t1 - t0) * (double)k / (double)(n - 1);
        t[n - 1] = t1;
    }
    double *theta = calloc((size_t)m->n_param + 1, sizeof *theta);
    double *z0 = NULL, *z = NULL;
    long *ids = NULL;
    int status = 1, B = 1, batch = z0f != NULL; /* the output has a traj column */
    nodec_solver *s = NULL;
    if (!t || !theta) {
        fputs("nodec solve: error: out of memory\n", stderr);
        goto done;
    }
    if (nodec_cli_load_params(m, params, seed, theta)) goto done;
    if (z0f) { /* many initial states: one batch */
        if (z0_file(m, z0f, &z0, &ids, &B)) goto done;
    } else if (!(z0 = calloc((size_t)m->n_state, sizeof *z0)) || get_z0(m, "solve", z0s, z0))
        goto done;
    if (inputs && ud.n_traj > 1 && !z0f) { /* one start, many signals: a trajectory each */
        double *zz = malloc(sizeof(double) * (size_t)ud.n_traj * (size_t)m->n_state);
        if (!zz || !(ids = malloc(sizeof(long) * (size_t)ud.n_traj))) {
            free(zz);
            fputs("nodec solve: error: out of memory\n", stderr);
            goto done;
        }
        for (int k = 0; k < ud.n_traj; k++)
            memcpy(zz + (size_t)k * m->n_state, z0, sizeof(double) * (size_t)m->n_state), ids[k] = ud.traj[k].id;
        free(z0), z0 = zz, B = ud.n_traj, batch = 1;
    } else if (inputs && ud.n_traj > 1 && ud.n_traj != B) {
        fprintf(stderr,
                "nodec solve: error: %s has %d trajectories of signals but %s has %d initial states; give one "
                "signal for all, or one per initial state (in the same order)\n",
                inputs, ud.n_traj, z0f, B);
        goto done;
    }
    nodec_z0_from_theta(m, theta, z0, B); /* states that start from a param (`state x = x0`) */
    nodec_draw_noise(m, z0, B, seed);     /* and noises, drawn from --seed */
    if (!(z = malloc(sizeof(double) * (size_t)n * (size_t)B * (size_t)m->n_state))) {
        fputs("nodec solve: error: out of memory\n", stderr);
        goto done;
    }
    s = nodec_create(m, B);
    int rc = s ? nodec_solver_opts_apply(&so, s) : NODEC_MEM_FAIL;
    if (rc == NODEC_SUCCESS && inputs) { /* one signal for all, or one each */
        int *which = calloc((size_t)B, sizeof *which);
        for (int b = 0; which && ud.n_traj > 1 && b < B; b++) which[b] = b;
        rc = which ? nodec_data_inputs(s, &ud, which, B) : NODEC_MEM_FAIL;
        free(which);
    }
    if (rc == NODEC_SUCCESS) rc = nodec_solve(s, theta, z0, (int)n, t, z);
    if (rc != NODEC_SUCCESS) {
        if (s)
            run_error("solve", s, rc);
        else
            fputs("nodec solve: error: out of memory\n", stderr);
        goto done;
    }
    char err[1024];
    if (batch) {
        if (write_batch(m, out, B, ids, n, t, z)) goto done;
    } else if (out) {
        if (nodec_traj_save(out, m, (int)n, t, z, err, sizeof err)) {
            fprintf(stderr, "nodec solve: error: %s\n", err);
            goto done;
        }
    } else if (nodec_traj_write(stdout, m, (int)n, t, z) || fflush(stdout)) {
        perror("nodec solve: error: standard output");
        goto done;
    }
    status = 0;
done:
    nodec_free(s);
    nodec_data_free(&ud);
    free(t), free(theta), free(z0), free(z), free(ids);
    return status;
}

/* ---- grad ------------------------------------------------------------- */

static void json_num(double v) {
    if (isfinite(v))
        printf("%.17g", v);
    else
        printf("null");
}

static void json_array(const double *v, int rank, const int *dim) {
    if (rank == 0) {
        json_num(v[0]);
        return;
    }
    if (rank == 1) {
        putchar('[');
        for (int i = 0; i < dim[0]; i++) {
            if (i) fputs(", ", stdout);
            json_num(v[i]);
        }
        putchar(']');
        return;
    }
    putchar('[');
    for (int i = 0; i < dim[0]; i++) {
        if (i) fputs(", ", stdout);
        json_array(v + (size_t)i * dim[1], 1, dim + 1);
    }
    putchar(']');
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void json_pass(const char *name, const nodec_pass_stats *p) {
    printf("\"%s\": {\"steps\": %ld, \"rejected\": %ld, \"f_evals\": %ld, \"vjp_evals\": %ld}", name, p->steps,
           p->rejected, p->f_evals, p->vjp_evals);
}

/* Groups trajectories with identical times into batches. */
static int same_times(const nodec_traj *a, const nodec_traj *b) {
    return a->n == b->n && !memcmp(a->t, b->t, sizeof(double) * (size_t)a->n);
}

int nodec_cli_grad(const nodec_model *m, int argc, char **argv) {
    const char *params = NULL, *z0s = NULL, *data = NULL;
    long repeat = 1;
    unsigned long long seed = 1;
    nodec_solver_opts so;
    nodec_solver_opts_default(&so);
    for (int i = 0; i < argc; i++) {
        int missing = 0, r;
        const char *v;
        long long x = 0;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return fputs(nodec_cli_grad_help, stdout), 0;
        if ((r = nodec_solver_opts_parse(&so, "grad", argc, argv, &i))) {
            if (r < 0) return 2;
        } else if ((v = nodec_cli_value("--params", argc, argv, &i, &missing)))
            params = v;
        else if ((v = nodec_cli_value("--z0", argc, argv, &i, &missing)))
            z0s = v;
        else if ((v = nodec_cli_value("--data", argc, argv, &i, &missing)))
            data = v;
        else if ((v = nodec_cli_value("--repeat", argc, argv, &i, &missing))) {
            if (!missing && !nodec_cli_integer(v, 1, 10000000, &x))
                return bad("grad", "--repeat", v, "give a whole number from 1 to 10^7"), 2;
            repeat = (long)x;
        } else if ((v = nodec_cli_value("--seed", argc, argv, &i, &missing))) {
            if (!missing && !nodec_cli_integer(v, 0, NODEC_SEED_MAX, &x))
                return bad("grad", "--seed", v, "give a whole number from 0 to 2^53 - 1"), 2;
            seed = (unsigned long long)x;
        } else {
            fprintf(stderr, "nodec grad: unknown option '%s'\nrun `nodec grad --help` for the options\n", argv[i]);
            return 2;
        }
        if (missing) {
            fprintf(stderr, "nodec grad: %s needs a value\n", argv[i]);
            return 2;
        }
    }
    if (!data) {
        fputs("nodec grad: missing --data D.csv (observations: t, then the state columns)\n", stderr);
        return 2;
    }
    nodec_data d = {0};
    char err[1024];
    if (nodec_data_load(data, m, &d, err, sizeof err)) {
        fprintf(stderr, "nodec grad: error: %s\n", err);
        return 1;
    }
    int ns = m->n_state, np = m->n_param, status = 1, ntraj = d.n_traj;
    double *theta = calloc((size_t)np + 1, sizeof *theta);
    double *dth = calloc((size_t)np + 1, sizeof *dth), *acc_th = calloc((size_t)np + 1, sizeof *acc_th);
    double *z0all = calloc((size_t)ntraj * ns, sizeof *z0all), *dz0all = calloc((size_t)ntraj * ns, sizeof *dz0all);
    double *times_ms = calloc((size_t)repeat, sizeof *times_ms);
    int *batch_of = calloc((size_t)ntraj, sizeof *batch_of);
    nodec_stats total = {{0}, {0}};
    nodec_grad_mode mode_used = NODEC_GRAD_ADJOINT;
    double loss = 0;
    double **dts = calloc((size_t)ntraj, sizeof *dts);
    if (!theta || !dth || !acc_th || !z0all || !dz0all || !times_ms || !batch_of || !dts) goto done;
    if (nodec_cli_load_params(m, params, seed, theta)) goto done;
    double *z0arg = NULL;
    if (z0s) {
        z0arg = malloc(sizeof(double) * (size_t)ns);
        if (get_z0(m, "grad", z0s, z0arg)) {
            free(z0arg);
            goto done;
        }
    }
    if (nodec_data_has_missing(&d) && !nodec_loss_leaves_out_missing(m)) {
        fprintf(stderr,
                "nodec grad: error: %s has missing values (empty cells, nan, or states with no column), and the loss "
                "of model %s does not leave them out; use the default loss, or fill them in\n",
                data, m->name);
        free(z0arg);
        goto done;
    }
    for (int k = 0; k < ntraj; k++) {
        char err[512];
        if (z0arg)
            memcpy(z0all + (size_t)k * ns, z0arg, sizeof(double) * (size_t)ns);
        else if (nodec_data_start(m, &d, k, theta, z0all + (size_t)k * ns, err, sizeof err)) {
            fprintf(stderr, "nodec grad: error: %s: %s\n", data, err);
            free(z0arg);
            goto done;
        }
        dts[k] = calloc((size_t)d.traj[k].n, sizeof(double));
    }
    free(z0arg);
    nodec_draw_noise(m, z0all, ntraj, seed); /* noises: one draw per trajectory, from --seed */
    /* one batch per group of trajectories sharing times; the loss is the mean
     * over the rows that observe anything */
    long total_obs = 0;
    for (int k = 0; k < ntraj; k++) total_obs += nodec_data_observed(&d, k, 0, d.traj[k].n);
    if (total_obs == 0) total_obs = 1;
    for (long rep = 0; rep < repeat; rep++) {
        double t_start = now();
        loss = 0;
        memset(acc_th, 0, sizeof(double) * (size_t)np);
        memset(&total, 0, sizeof total);
        for (int k = 0; k < ntraj; k++) batch_of[k] = -1;
        for (int k = 0; k < ntraj; k++) {
            if (batch_of[k] >= 0) continue;
            int members[4096], B = 0;
            for (int j = k; j < ntraj && B < 4096; j++)
                if (batch_of[j] < 0 && same_times(&d.traj[k], &d.traj[j])) batch_of[j] = k, members[B++] = j;
            int n = d.traj[k].n;
            double *z0 = malloc(sizeof(double) * (size_t)B * ns), *dz0 = malloc(sizeof(double) * (size_t)B * ns);
            double *obs = malloc(sizeof(double) * (size_t)n * B * ns), *dt = malloc(sizeof(double) * (size_t)n);
            for (int b = 0; b < B; b++) {
                memcpy(z0 + (size_t)b * ns, z0all + (size_t)members[b] * ns, sizeof(double) * (size_t)ns);
                for (int i = 0; i < n; i++)
                    memcpy(obs + ((size_t)i * B + b) * ns, d.traj[members[b]].z + (size_t)i * ns,
                           sizeof(double) * (size_t)ns);
            }
            nodec_z0_from_theta(m, theta, z0, B); /* states that start from a param: learned */
            nodec_solver *s = nodec_create(m, B);
            double L = 0;
            int rc = s ? nodec_solver_opts_apply(&so, s) : NODEC_MEM_FAIL;
            if (rc == NODEC_SUCCESS) rc = nodec_data_inputs(s, &d, members, B); /* each its own signals */
            if (rc == NODEC_SUCCESS) rc = nodec_loss_grad(s, theta, z0, n, d.traj[k].t, obs, &L, dth, dz0, dt, NULL);
            if (rc != NODEC_SUCCESS) {
                run_error("grad", s, rc);
                nodec_free(s), free(z0), free(dz0), free(obs), free(dt);
                goto done;
            }
            nodec_dz0_to_dtheta(m, dz0, B, dth); /* their initial values are params */
            /* L averages over n·B observations; weight by them */
            double w = (double)n * B / (double)total_obs;
            loss += w * L;
            for (int i = 0; i < np; i++) acc_th[i] += w * dth[i];
            for (int b = 0; b < B; b++) {
                for (int i = 0; i < ns; i++) dz0all[(size_t)members[b] * ns + i] = w * dz0[(size_t)b * ns + i];
                for (int i = 0; i < n; i++) dts[members[b]][i] = w * dt[i] / B;
            }
            nodec_stats st;
            nodec_get_stats(s, &st);
            mode_used = nodec_get_grad_mode(s);
            total.forward.steps += st.forward.steps, total.forward.rejected += st.forward.rejected;
            total.forward.f_evals += st.forward.f_evals, total.forward.vjp_evals += st.forward.vjp_evals;
            total.backward.steps += st.backward.steps, total.backward.rejected += st.backward.rejected;
            total.backward.f_evals += st.backward.f_evals, total.backward.vjp_evals += st.backward.vjp_evals;
            nodec_free(s), free(z0), free(dz0), free(obs), free(dt);
        }
        times_ms[rep] = 1e3 * (now() - t_start);
    }
    /* the JSON */
    printf("{\n  \"loss\": ");
    json_num(loss);
    printf(",\n  \"grad\": {");
    for (int i = 0; i < m->n_param_vars; i++) {
        const nodec_var *v = &m->param_vars[i];
        printf("%s\n    \"%s\": ", i ? "," : "", v->name);
        json_array(acc_th + v->offset, v->rank, v->dim);
    }
    printf("%s},\n  \"dL_dz0\": ", m->n_param_vars ? "\n  " : "");
    int one = ns;
    if (ntraj == 1)
        json_array(dz0all, 1, &one);
    else {
        int dim[2] = {ntraj, ns};
        json_array(dz0all, 2, dim);
    }
    printf(",\n  \"dL_dt\": ");
    if (ntraj == 1)
        json_array(dts[0], 1, &d.traj[0].n);
    else {
        putchar('[');
        for (int k = 0; k < ntraj; k++) {
            if (k) fputs(", ", stdout);
            json_array(dts[k], 1, &d.traj[k].n);
        }
        putchar(']');
    }
    qsort(times_ms, (size_t)repeat, sizeof(double), cmp_double);
    printf(",\n  \"stats\": {");
    json_pass("forward", &total.forward);
    printf(", ");
    json_pass("backward", &total.backward);
    printf(", \"method\": \"%s\", \"mode\": \"%s\", \"repeat\": %ld, \"median_ms\": %.6g}\n}\n",
           nodec_method_name((nodec_method)so.method), nodec_grad_mode_name(mode_used), repeat, times_ms[repeat / 2]);
    status = 0;
done:
    for (int k = 0; dts && k < ntraj; k++) free(dts[k]);
    free(dts), free(theta), free(dth), free(acc_th), free(z0all), free(dz0all), free(times_ms), free(batch_of);
    nodec_data_free(&d);
    return status;
}
