/* train.c — the trainer: `nodec train MODEL.nde …` and the main() of the
 * trainers `nodec build` makes (DESIGN.md §5; docs/training.md).
 *
 * The loop is torchdiffeq's ode_demo.py: every iteration draws a minibatch
 * of windows of consecutive observations, solves all of them as one batch
 * from their first observation, takes the model's loss averaged over the
 * window's times and the batch (nodec_loss_grad) and one optimizer step
 * (optim.c).  Every --eval-every iterations the "full loss" solves each
 * whole trajectory from its first observation.  With --density T1 the data
 * are points of a density instead, each solved from 0 to T1 with the loss
 * at T1 alone: a normalizing flow's negative log-likelihood (density_load).
 *
 * Reproducibility: θ₀ comes from the model's initializers with --seed; the
 * windows of iteration i from a generator seeded by (seed, i) alone, so a
 * run's whole state is θ, the optimizer's buffers and i.  --state writes
 * that state and --resume reads it (every entry checked, the parameter
 * layout refused when it differs): an interrupted and resumed run ends
 * with the same bits as an uninterrupted one.
 *
 * Files are written atomically (file.c), the log before the parameters
 * and the state, so that a kill between the writes never leaves the log
 * behind the state (save_all, log_read).  SIGINT (and SIGTERM) end the
 * current iteration, save what was asked for and return 130 (143); the
 * handlers are the caller's again when nodec_cli_train returns.  Plots are
 * drawn by gnuplot, run as a child process on a script written beside its
 * data.
 */
#define _POSIX_C_SOURCE 200809L
#include "tools.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char nodec_cli_train_help[] =
    "usage: nodec train MODEL.nde --data D.csv [--optimizer rmsprop|adam|adamw|sgd|lbfgs]\n"
    "                   [--lr X] [--lr-schedule S] [--val-frac F] [--patience N]\n"
    "                   [--iters N] [--batch B] [--window K] [--seed S] [--save P.npz]\n"
    "                   [--state S.npz] [--resume S.npz] [--log L.csv] [--plot DIR]\n"
    "                   [--density T1] [solver options]\n\n"
    "Fits the model's parameters to the observations in D.csv (columns t, then one\n"
    "per state component, optionally traj).  Each iteration solves a minibatch of\n"
    "B windows of K consecutive observations as one batch, each from its first\n"
    "observation, and takes one optimizer step on the model's loss (default: mean\n"
    "squared error) averaged over the window's times and the batch.  The defaults\n"
    "are torchdiffeq's ode_demo.py.  Prints a JSON summary on standard output.\n"
    "  --data D.csv      observations (required)\n"
    "  --density T1      D.csv holds samples of a density, one point a row (columns:\n"
    "                    the observed state components, no t): each point is solved\n"
    "                    from t = 0 to T1 (unobserved states start from the model's\n"
    "                    value) and the loss is the model's at T1 alone, the mean\n"
    "                    over the points: with a CNF's loss, the negative\n"
    "                    log-likelihood in nats; --batch counts points\n"
    "  --learn-z0        each trajectory's initial state is a parameter too, learned\n"
    "                    from its first observation and saved as z0 ([trajectories,\n"
    "                    n_state]) beside θ; not with --density\n"
    "  --learn-z0=missing  only the components the first row misses (unobserved\n"
    "                    states, empty cells): the others stay at the data\n"
    "  --iters N         total iterations, counting those of a resumed run (2000)\n"
    "  --batch B         windows per minibatch, drawn without replacement (20)\n"
    "  --window K        observations per window (10); 0: whole trajectories\n"
    "  --optimizer O     rmsprop (α 0.99, ε 1e-8), adam (β 0.9, 0.999, ε 1e-8), adamw\n"
    "                    (adam with decoupled weight decay) or sgd (with --momentum);\n"
    "                    PyTorch's update rules (rmsprop); or lbfgs: L-BFGS with a\n"
    "                    strong-Wolfe line search on the whole batch (all windows),\n"
    "                    history 10, stopping when it converges\n"
    "  --lr X            learning rate (1e-3); lbfgs: its trial step length (1)\n"
    "  --momentum M      sgd's momentum (0.9; 0 for plain SGD)\n"
    "  --weight-decay W  adamw: θ *= 1 - lr·W each step (1e-2); the others: W·θ\n"
    "                    added to the gradient, PyTorch's weight_decay (0)\n"
    "  --clip-norm C     scale the gradient to norm C when it is longer (0: never)\n"
    "  --lr-schedule S   constant, step:EVERY:GAMMA (lr·GAMMA every EVERY iterations),\n"
    "                    exp:GAMMA (lr·GAMMA each iteration) or cosine[:MIN_LR] (from\n"
    "                    lr to MIN_LR, 0 unless given, at the last iteration)\n"
    "  --warmup N        the first N iterations raise lr linearly: lr·k/N at k ≤ N;\n"
    "                    the schedule starts after them\n"
    "  --stages LIST     a sequence of optimizers in one run, OPTIMIZER[:LR]:ITERS each,\n"
    "                    e.g. adam:1e-2:2000,lbfgs:200; each stage starts a fresh\n"
    "                    optimizer where the last stopped, and ends after its ITERS,\n"
    "                    when L-BFGS converges or when --patience runs out\n"
    "  --seed S          seeds the initial parameters and the windows (1)\n"
    "  --params P        start from saved parameters (.npz or .npy) instead\n"
    "  --eval-every N    full-trajectory loss every N iterations and at the end (20);\n"
    "                    0: only at the end\n"
    "  --val-data V.csv  a validation set: other trajectories, scored at each evaluation\n"
    "  --val-frac F      hold out this fraction of D.csv's trajectories (0 < F < 1,\n"
    "                    chosen with --seed) as the validation set\n"
    "  --patience N      stop after N evaluations without a better loss (0: never)\n"
    "  --save P.npz      the parameters with the best loss at an evaluation: validation\n"
    "                    loss with a validation set, else full-trajectory (also on\n"
    "                    Ctrl-C and on failure)\n"
    "  --save-last       --save writes the last parameters instead of the best\n"
    "  --state S.npz     the training state: parameters, optimizer, iteration\n"
    "  --save-every N    also write --log, --save and --state every N iterations\n"
    "  --resume S.npz    continue the run saved in S (and keep saving to S)\n"
    "  --log L.csv       iter,batch_loss,full_loss per iteration\n"
    "  --plot DIR        fit and loss curve as PNG and SVG (needs gnuplot)\n"
    "  --quiet           no progress on standard error\n"
    "  --chunks K        solve each set of windows with the same times as K batches\n"
    "                    (default 1); with mpirun -np N the batches are shared out\n"
    "                    among the N processes, and the result does not depend on N\n"
    "Windows of autonomous models start at t = 0; a model that uses t sees the\n"
    "window's own times.\n"
    "solver options: --method euler|midpoint|rk4|bosh3|dopri5|tsit5|dopri8|rodas4|rodas5p|auto (dopri5)\n"
    "  --rtol R (1e-7)  --atol A (1e-9)  --mode adjoint|checkpoint|direct (adjoint; checkpoint for implicit methods)\n"
    "  --max-steps N  --step H (fixed step size)  --no-seminorm\n"
    "  --threads N (threads that share a large batch; 0: all cores, the default)\n";

/* The help as a built trainer prints it: "nodec train MODEL.nde" becomes
 * the program's name (argv[0]'s base name), the usage block's continuation
 * lines move to line up under it, and a line says which model is built in.
 * prog NULL: the text as `nodec train --help` prints it. */
static const char *prog; /* NULL in `nodec train`; set by nodec_cli_train_main */
static const nodec_model *prog_model;

static void print_help(FILE *f) {
    static const char head[] = "usage: nodec train MODEL.nde ";
    const char *s = nodec_cli_train_help;
    if (!prog || strncmp(s, head, sizeof head - 1)) {
        fputs(s, f);
        return;
    }
    int indent = (int)(strlen("usage: ") + strlen(prog) + 1), old = (int)strlen("usage: nodec train ");
    fprintf(f, "usage: %s ", prog);
    s += sizeof head - 1;
    for (int in_usage = 1; *s;) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s + 1) : strlen(s);
        if (in_usage && (int)strspn(s, " ") >= old && s[old] != ' ')
            fprintf(f, "%*s%.*s", indent, "", (int)(n - (size_t)old), s + old);
        else
            fwrite(s, 1, n, f);
        if (n == 1) { /* the blank line after the usage block */
            if (in_usage && prog_model)
                fprintf(f,
                        "A trainer of model %s made by `nodec build`: nodec train's options, the model built in.\n\n",
                        prog_model->name);
            in_usage = 0;
        }
        s += n;
    }
}

/* ---- options ---------------------------------------------------------- */

/* --optimizer: optim.c's kinds, and L-BFGS after them (its own object in
 * optim.c, as it calls the objective itself). */
#define OPT_LBFGS 4
#define LBFGS_HISTORY 10

static const char *opt_name(int kind) { return kind == OPT_LBFGS ? "lbfgs" : nodec_optim_name((nodec_optim_kind)kind); }

enum {
    G_OPT = 1,
    G_LR = 2,
    G_MOM = 4,
    G_BATCH = 8,
    G_WINDOW = 16,
    G_SEED = 32,
    G_EVAL = 64,
    G_VALFRAC = 128,
    G_PATIENCE = 256,
    G_WD = 512,
    G_CLIP = 1024,
    G_SCHED = 2048,
    G_WARMUP = 4096,
    G_ITERS = 8192
};

/* The limits of the whole-number options, shared with the training state's
 * checks (state_load), so that a state holds only what the options allow. */
#define MAX_ITERS 1000000000000LL /* --iters, --eval-every, --save-every */
#define MAX_BATCH 1000000LL
#define MAX_WINDOW 100000000LL

/* --stages: each stage an optimizer, its learning rate and iterations. */
#define MAX_STAGES 16
typedef struct Stage {
    int kind; /* as --optimizer: optim.c's kinds, or OPT_LBFGS */
    double lr;
    long iters;
} Stage;

typedef struct Opts {
    const char *data, *params, *resume, *save, *state, *log, *plot, *val_data;
    int optimizer, quiet, save_last;
    double lr, momentum, val_frac;
    double weight_decay;     /* -1: the optimizer's default */
    double clip_norm;        /* 0: no clipping */
    nodec_lr_schedule sched; /* kind, every, gamma, min_lr, warmup (total: --iters) */
    int n_stages;            /* --stages: 0 without */
    Stage stage[MAX_STAGES];
    long iters, batch, window, eval_every, save_every, patience;
    long chunks;    /* --chunks: batches per group of windows with the same times */
    double seed;    /* a whole number below 2^53, so a state file holds it exactly */
    double density; /* --density T1: the data are points, each flowed from 0 to T1; 0 without */
    int learn_z0;   /* --learn-z0: θ gets each training trajectory's start after the model's (1); only the
                       components its first row misses, the others fixed at the data (2: =missing) */
    unsigned given; /* G_* flags: options the command line set */
    nodec_solver_opts so;
} Opts;

static int bad(const char *flag, const char *v, const char *want) {
    fprintf(stderr, "nodec train: %s '%s' is not valid; %s\n", flag, v, want);
    return 2;
}

/* A whole-number option through the one checked parser (nodec_cli_integer);
 * 0 after the message when v is not a whole number in [lo, hi]. */
static int whole(const char *flag, const char *v, long long lo, long long hi, const char *want, long *out) {
    long long n;
    if (!nodec_cli_integer(v, lo, hi, &n)) return bad(flag, v, want), 0;
    *out = (long)n;
    return 1;
}

/* --lr-schedule: constant | step:EVERY:GAMMA | exp:GAMMA | cosine[:MIN_LR];
 * 0, or -1 when s is none of these (warmup is left as it is). */
static int parse_schedule(const char *s, nodec_lr_schedule *out) {
    nodec_lr_schedule r = {.warmup = out->warmup};
    char buf[128], *a, *b;
    long long every;
    snprintf(buf, sizeof buf, "%s", s);
    a = strchr(buf, ':'), b = a ? strchr(a + 1, ':') : NULL;
    if (a) *a++ = 0;
    if (b) *b++ = 0;
    if (!strcmp(buf, "constant") && !a)
        r.kind = NODEC_LR_CONSTANT;
    else if (!strcmp(buf, "step") && b && nodec_cli_integer(a, 1, MAX_ITERS, &every) && nodec_cli_number(b, &r.gamma) &&
             r.gamma > 0)
        r.kind = NODEC_LR_STEP, r.every = (long)every;
    else if (!strcmp(buf, "exp") && a && !b && nodec_cli_number(a, &r.gamma) && r.gamma > 0)
        r.kind = NODEC_LR_EXP;
    else if (!strcmp(buf, "cosine") && !b && (!a || (nodec_cli_number(a, &r.min_lr) && r.min_lr >= 0)))
        r.kind = NODEC_LR_COSINE;
    else
        return -1;
    *out = r;
    return 0;
}

/* The schedule as --lr-schedule spells it. */
static void schedule_str(const nodec_lr_schedule *s, char *buf, size_t n) {
    if (s->kind == NODEC_LR_STEP)
        snprintf(buf, n, "step:%ld:%.17g", s->every, s->gamma);
    else if (s->kind == NODEC_LR_EXP)
        snprintf(buf, n, "exp:%.17g", s->gamma);
    else if (s->kind == NODEC_LR_COSINE)
        snprintf(buf, n, "cosine:%.17g", s->min_lr);
    else
        snprintf(buf, n, "constant");
}

/* --stages "adam:1e-2:2000,lbfgs:200": OPTIMIZER[:LR]:ITERS, comma
 * separated; LR defaults as --lr does (1 for lbfgs, else 1e-3).  0, or -1
 * when s is not such a list. */
static int parse_stages(const char *s, Opts *o) {
    char buf[1024];
    long long total = 0;
    int n = 0;
    if (strlen(s) >= sizeof buf) return -1;
    snprintf(buf, sizeof buf, "%s", s);
    for (char *item = buf, *next; item; item = next) {
        if ((next = strchr(item, ','))) *next++ = 0;
        char *f[3] = {item, NULL, NULL};
        int nf = 1;
        for (char *c = item; *c; c++)
            if (*c == ':') {
                if (nf == 3) return -1;
                *c = 0, f[nf++] = c + 1;
            }
        long long iters;
        Stage st = {0};
        if (n == MAX_STAGES || nf < 2) return -1;
        if ((st.kind = !strcmp(f[0], "lbfgs") ? OPT_LBFGS : nodec_optim_from_name(f[0])) < 0) return -1;
        st.lr = st.kind == OPT_LBFGS ? 1 : 1e-3;
        if (nf == 3 && (!nodec_cli_number(f[1], &st.lr) || !(st.lr > 0))) return -1;
        if (!nodec_cli_integer(f[nf - 1], 1, MAX_ITERS, &iters) || (total += iters) > MAX_ITERS) return -1;
        st.iters = (long)iters;
        o->stage[n++] = st;
    }
    o->n_stages = n;
    return 0;
}

static int same_stages(const Stage *a, int na, const Stage *b, int nb) {
    for (int k = 0; na == nb && k < na; k++)
        if (a[k].kind != b[k].kind || a[k].lr != b[k].lr || a[k].iters != b[k].iters) return 0;
    return na == nb;
}

/* The stages as --stages spells them, with every learning rate. */
static void stages_str(const Opts *o, char *buf, size_t size) {
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < o->n_stages && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, "%s%s:%.17g:%ld", i ? "," : "", opt_name(o->stage[i].kind),
                              o->stage[i].lr, o->stage[i].iters);
}

static int parse_opts(Opts *o, int argc, char **argv) {
    *o = (Opts){.optimizer = NODEC_OPT_RMSPROP,
                .weight_decay = -1,
                .lr = 1e-3,
                .momentum = 0.9,
                .iters = 2000,
                .batch = 20,
                .window = 10,
                .eval_every = 20,
                .seed = 1,
                .chunks = 1};
    nodec_solver_opts_default(&o->so);
    for (int i = 0; i < argc; i++) {
        int missing = 0, r;
        const char *v;
        long seed;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return print_help(stdout), -1;
        if ((r = nodec_solver_opts_parse(&o->so, "train", argc, argv, &i))) {
            if (r < 0) return 2;
            continue;
        }
        /* each value is checked unless it is missing, which is said below */
        if (!strcmp(argv[i], "--quiet"))
            o->quiet = 1;
        else if (!strcmp(argv[i], "--save-last"))
            o->save_last = 1;
        else if (!strcmp(argv[i], "--learn-z0") || !strcmp(argv[i], "--learn-z0=all"))
            o->learn_z0 = 1;
        else if (!strcmp(argv[i], "--learn-z0=missing"))
            o->learn_z0 = 2;
        else if (!strncmp(argv[i], "--learn-z0=", 11))
            return bad("--learn-z0", argv[i] + 11, "use --learn-z0 (every component), or --learn-z0=missing");
        else if (!strcmp(argv[i], "--save-best"))
            o->save_last = 0;
        else if ((v = nodec_cli_value("--weight-decay", argc, argv, &i, &missing))) {
            if (!missing && (!nodec_cli_number(v, &o->weight_decay) || o->weight_decay < 0))
                return bad("--weight-decay", v, "give a number, at least 0");
            o->given |= G_WD;
        } else if ((v = nodec_cli_value("--clip-norm", argc, argv, &i, &missing))) {
            if (!missing && (!nodec_cli_number(v, &o->clip_norm) || o->clip_norm < 0))
                return bad("--clip-norm", v, "give a gradient norm, a number at least 0 (0: no clipping)");
            o->given |= G_CLIP;
        } else if ((v = nodec_cli_value("--lr-schedule", argc, argv, &i, &missing))) {
            if (!missing && parse_schedule(v, &o->sched))
                return bad("--lr-schedule", v,
                           "use constant, step:EVERY:GAMMA (EVERY a whole number of iterations, GAMMA > 0), "
                           "exp:GAMMA or cosine[:MIN_LR] (MIN_LR at least 0)");
            o->given |= G_SCHED;
        } else if ((v = nodec_cli_value("--warmup", argc, argv, &i, &missing))) {
            if (!missing && !whole("--warmup", v, 0, MAX_ITERS, "give a whole number of iterations from 0 to 10^12",
                                   &o->sched.warmup))
                return 2;
            o->given |= G_WARMUP;
        } else if ((v = nodec_cli_value("--val-data", argc, argv, &i, &missing)))
            o->val_data = v;
        else if ((v = nodec_cli_value("--val-frac", argc, argv, &i, &missing))) {
            if (!missing && (!nodec_cli_number(v, &o->val_frac) || !(o->val_frac > 0 && o->val_frac < 1)))
                return bad("--val-frac", v, "give a fraction of the trajectories, a number between 0 and 1");
            o->given |= G_VALFRAC;
        } else if ((v = nodec_cli_value("--patience", argc, argv, &i, &missing))) {
            if (!missing &&
                !whole("--patience", v, 0, MAX_ITERS,
                       "give a whole number of evaluations from 0 to 10^12 (0: never stop early)", &o->patience))
                return 2;
            o->given |= G_PATIENCE;
        } else if ((v = nodec_cli_value("--chunks", argc, argv, &i, &missing))) {
            if (!missing &&
                !whole("--chunks", v, 1, MAX_BATCH, "give a whole number of batches from 1 to 10^6", &o->chunks))
                return 2;
        } else if ((v = nodec_cli_value("--data", argc, argv, &i, &missing)))
            o->data = v;
        else if ((v = nodec_cli_value("--density", argc, argv, &i, &missing))) {
            if (!missing && (!nodec_cli_number(v, &o->density) || !(o->density > 0) || !isfinite(o->density)))
                return bad("--density", v, "give the time T1 the points flow to, a positive number");
        } else if ((v = nodec_cli_value("--params", argc, argv, &i, &missing)))
            o->params = v;
        else if ((v = nodec_cli_value("--resume", argc, argv, &i, &missing)))
            o->resume = v;
        else if ((v = nodec_cli_value("--save-every", argc, argv, &i, &missing))) {
            if (!missing &&
                !whole("--save-every", v, 0, MAX_ITERS,
                       "give a whole number of iterations from 0 to 10^12 (0: only at the end)", &o->save_every))
                return 2;
        } else if ((v = nodec_cli_value("--save", argc, argv, &i, &missing)))
            o->save = v;
        else if ((v = nodec_cli_value("--state", argc, argv, &i, &missing)))
            o->state = v;
        else if ((v = nodec_cli_value("--log", argc, argv, &i, &missing)))
            o->log = v;
        else if ((v = nodec_cli_value("--plot", argc, argv, &i, &missing)))
            o->plot = v;
        else if ((v = nodec_cli_value("--optimizer", argc, argv, &i, &missing))) {
            if (!missing && (o->optimizer = !strcmp(v, "lbfgs") ? OPT_LBFGS : nodec_optim_from_name(v)) < 0)
                return bad("--optimizer", v, "use rmsprop, adam, adamw, sgd or lbfgs");
            o->given |= G_OPT;
        } else if ((v = nodec_cli_value("--lr", argc, argv, &i, &missing))) {
            if (!missing && (!nodec_cli_number(v, &o->lr) || o->lr <= 0))
                return bad("--lr", v, "give a positive number");
            o->given |= G_LR;
        } else if ((v = nodec_cli_value("--momentum", argc, argv, &i, &missing))) {
            if (!missing && (!nodec_cli_number(v, &o->momentum) || o->momentum < 0 || o->momentum >= 1))
                return bad("--momentum", v, "give a number in [0, 1)");
            o->given |= G_MOM;
        } else if ((v = nodec_cli_value("--iters", argc, argv, &i, &missing))) {
            if (!missing && !whole("--iters", v, 0, MAX_ITERS, "give a whole number from 0 to 10^12", &o->iters))
                return 2;
            o->given |= G_ITERS;
        } else if ((v = nodec_cli_value("--stages", argc, argv, &i, &missing))) {
            if (!missing && parse_stages(v, o))
                return bad("--stages", v,
                           "give up to 16 stages OPTIMIZER[:LR]:ITERS separated by commas, e.g. "
                           "adam:1e-2:2000,lbfgs:200 (ITERS a whole number from 1 to 10^12 in all; LR positive)");
        } else if ((v = nodec_cli_value("--batch", argc, argv, &i, &missing))) {
            if (!missing && !whole("--batch", v, 1, MAX_BATCH, "give a whole number from 1 to 10^6", &o->batch))
                return 2;
            o->given |= G_BATCH;
        } else if ((v = nodec_cli_value("--window", argc, argv, &i, &missing))) {
            const char *want = "give a whole number of observations from 2 to 10^8 (0: whole trajectories)";
            if (!missing && !whole("--window", v, 0, MAX_WINDOW, want, &o->window)) return 2;
            if (!missing && o->window == 1) return bad("--window", v, want);
            o->given |= G_WINDOW;
        } else if ((v = nodec_cli_value("--seed", argc, argv, &i, &missing))) {
            if (!missing && !whole("--seed", v, 0, NODEC_SEED_MAX, "give a whole number from 0 to 2^53 - 1", &seed))
                return 2;
            o->seed = missing ? 0 : (double)seed, o->given |= G_SEED;
        } else if ((v = nodec_cli_value("--eval-every", argc, argv, &i, &missing))) {
            if (!missing &&
                !whole("--eval-every", v, 0, MAX_ITERS,
                       "give a whole number of iterations from 0 to 10^12 (0: only at the end)", &o->eval_every))
                return 2;
            o->given |= G_EVAL;
        } else {
            fprintf(stderr, "nodec train: unknown option '%s'\nrun `%s --help` for the options\n", argv[i],
                    prog ? prog : "nodec train");
            return 2;
        }
        if (missing) {
            fprintf(stderr, "nodec train: %s needs a value\n", argv[i]);
            return 2;
        }
    }
    if (!o->data) {
        fputs("nodec train: missing --data D.csv (observations: t, then the state columns)\n", stderr);
        return 2;
    }
    if (o->density > 0 && (o->given & G_WINDOW)) {
        fputs("nodec train: --density takes each point as one solve from 0 to T1; it takes no --window\n", stderr);
        return 2;
    }
    if (o->resume && o->params) {
        fputs("nodec train: --params and --resume both give the parameters; use one\n", stderr);
        return 2;
    }
    if (o->learn_z0 && o->density > 0) {
        fputs("nodec train: --learn-z0 learns trajectories' starts; --density's points start from the data\n", stderr);
        return 2;
    }
    if (o->n_stages && (o->given & (G_OPT | G_LR | G_ITERS))) {
        fputs("nodec train: --stages gives the optimizers, learning rates and iterations; leave out --optimizer, --lr "
              "and --iters\n",
              stderr);
        return 2;
    }
    if (o->n_stages) {
        o->iters = 0;
        for (int k = 0; k < o->n_stages; k++) o->iters += o->stage[k].iters;
        o->optimizer = o->stage[0].kind, o->lr = o->stage[0].lr;
    }
    if (!o->n_stages && o->optimizer == OPT_LBFGS && (o->given & (G_WD | G_CLIP | G_SCHED | G_WARMUP))) {
        fputs("nodec train: --optimizer lbfgs chooses its steps by a line search; it takes no --weight-decay, "
              "--clip-norm, --lr-schedule or --warmup\n",
              stderr);
        return 2;
    }
    if (!o->n_stages && o->optimizer == OPT_LBFGS && !(o->given & G_LR)) o->lr = 1; /* PyTorch's LBFGS' default */
    if (o->val_data && (o->given & G_VALFRAC)) {
        fputs("nodec train: --val-data and --val-frac both give a validation set; use one\n", stderr);
        return 2;
    }
    if (o->resume && !o->state) o->state = o->resume; /* keep saving the run where it came from */
    return 0;
}

/* ---- the trainer's state ------------------------------------------------ */

typedef struct Win {
    int traj, start, len;
    int nobs; /* rows observing anything */
} Win;

typedef struct LogRow {
    long iter;
    double batch, full, val; /* NaN where not computed */
} LogRow;

typedef struct Trainer {
    const nodec_model *m;
    Opts o;
    nodec_data d;
    int ns, np, relative; /* relative: windows start at t = 0 (autonomous models) */
    int np_model;         /* the model's θ; np is more with --learn-z0 (the starts follow) */
    Win *pool;            /* every window that fits */
    int n_pool, *order;   /* order: sampling scratch */
    int B;                /* windows per minibatch: min(--batch, n_pool) */
    int maxlen;           /* the longest window */
    nodec_solver **h;     /* handles by batch size, made when first needed */
    int n_h;
    double *theta, *prev, *grad, *dth, *work;
    /* minibatch scratch: B windows of len times */
    double *z0, *dz0, *obs, *tt, *wt;
    double *zout; /* --density: the forward solution, whose T1 block gives the loss */
    int *group;
    /* the minibatch's units (batches solved): lead window, first of memb, count */
    int *memb, *u_lead, *u_first, *u_n;
    int *win_traj;        /* a batch's windows' trajectories, whose inputs they see */
    char *z0_fixed;       /* --learn-z0=missing: per element of the starts in θ, 1 where it stays at the data */
    int prepared;         /* prepare_data ran */
    double *ubuf, *chain; /* MPI ranks > 0: their units' ∇L and L; the running sum */
    size_t ubuf_cap;
    double **pred;      /* the latest full solve, per trajectory */
    nodec_optim opt;    /* unused but for its kind's buffers with lbfgs */
    nodec_lbfgs lbfgs;  /* --optimizer lbfgs */
    int stage;          /* --stages: the stage running (0 without) */
    long stage_start;   /* the iteration it started after */
    double lb_f, *lb_g; /* the whole-batch loss and gradient at θ */
    int lb_ready;       /* lb_f and lb_g hold them */
    long lb_it;         /* the iteration the line search evaluates for */
    double *res_lbfgs;  /* a resumed L-BFGS (state_load), until it is made */
    long iter;          /* completed iterations */
    long noise_it;      /* the iteration whose noises the windows draw (noise_seed) */
    nodec_stats train_stats, eval_stats;
    long evals;
    LogRow *log;
    long n_log, cap_log;
    double last_full, last_batch, last_val;
    nodec_data val;     /* the validation set: --val-data, or --val-frac's trajectories */
    double *best_theta; /* θ at the best evaluation (validation loss, else full) */
    double best_loss;   /* +inf until an evaluation */
    long best_iter;     /* -1 until an evaluation */
    long since_best;    /* evaluations since the best one (--patience) */
    uint64_t data_hash;
    long res_step; /* the optimizer of a resumed run, until it is made */
    int res_kind;
    double *res_m, *res_v;
    long kill_at; /* test hook NODEC_TEST_KILL_AFTER=WHAT:N (kill_hook) */
    char kill_what[8];
    char err[2048];
} Trainer;

static volatile sig_atomic_t interrupted;
static int writer = 1; /* this process writes --log, --save, --state and --plot: rank 0 */
static void on_signal(int sig) { interrupted = sig; }

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static nodec_solver *handle(Trainer *T, int B) {
    if (!T->h[B]) {
        T->h[B] = nodec_create(T->m, B);
        if (T->h[B] && nodec_solver_opts_apply(&T->o.so, T->h[B]) != NODEC_SUCCESS) {
            nodec_free(T->h[B]);
            T->h[B] = NULL;
        }
    }
    return T->h[B];
}

static void add_stats(nodec_stats *acc, const nodec_solver *s) {
    nodec_stats st;
    nodec_get_stats(s, &st);
    nodec_pass_stats *a[2] = {&acc->forward, &acc->backward}, *b[2] = {&st.forward, &st.backward};
    for (int k = 0; k < 2; k++) {
        a[k]->steps += b[k]->steps, a[k]->rejected += b[k]->rejected;
        a[k]->f_evals += b[k]->f_evals, a[k]->vjp_evals += b[k]->vjp_evals;
    }
}

/* A failed solve: the message names the iteration and the runtime's reason. */
static int solve_error(Trainer *T, long it, const char *what, nodec_solver *s, int rc) {
    snprintf(T->err, sizeof T->err, "iteration %ld: %s: %s: %s", it, what, nodec_error_name(rc),
             s ? nodec_get_error_message(s) : "out of memory");
    return -1;
}

/* ---- densities (--density T1) ------------------------------------------ */

/* A CSV of points for --density T1: one column per observed state component
 * (named as in data files), one sample a row, no t.  Each point becomes a
 * trajectory of two rows at t = 0 and T1, both holding the point (NaN for
 * the states with no column, which start from the model's value), so the
 * windows, minibatches, MPI units and evaluations of trajectories serve
 * points unchanged: a point is one window of its whole length, and points
 * share their times, so a minibatch is one batched solve.  The row at T1 is
 * the `obs` the loss sees there (a density's loss ignores it). */
static int density_load(const char *path, const nodec_model *m, double t1, nodec_data *out, char *err, size_t errlen) {
    int ns = m->n_state, rc = -1, *col = malloc(sizeof(int) * (size_t)(ns + 1)), observed = 0;
    nodec_table tab;
    nodec_data d = {ns, 0, NULL, 0};
    char name[160], cols[512] = "";
    if (!col) return snprintf(err, errlen, "out of memory"), -1;
    if (nodec_table_load(path, &tab, err, errlen)) return free(col), -1;
    for (int k = 0; k < ns; k++) {
        nodec_state_column_name(m, k, name, sizeof name);
        size_t n = strlen(cols);
        snprintf(cols + n, sizeof cols - n, "%s%s", k ? ", " : "", name);
        observed += (col[k] = nodec_table_column(&tab, name)) >= 0;
    }
    for (int j = 0; j < tab.ncol; j++) {
        int known = 0;
        for (int k = 0; k < ns; k++) known |= col[k] == j;
        if (known) continue;
        if (!strcmp(tab.names[j], "t") || !strcmp(tab.names[j], "traj"))
            snprintf(err, errlen,
                     "%s: column '%s': with --density each row is one sample of the density, which flows from t = 0 "
                     "to T1; give only state columns (of %s)",
                     path, tab.names[j], cols);
        else
            snprintf(err, errlen, "%s:1: unknown column '%s'; the columns of points are state components: %s", path,
                     tab.names[j], cols);
        goto done;
    }
    if (!observed || tab.nrow == 0) {
        snprintf(err, errlen, "%s has %s; --density needs one point a row, in columns of %s", path,
                 observed ? "no rows" : "no state column", cols);
        goto done;
    }
    if (!(d.traj = calloc((size_t)tab.nrow, sizeof *d.traj))) goto oom;
    for (int r = 0; r < tab.nrow; r++) {
        nodec_traj *tr = &d.traj[d.n_traj++];
        const double *row = tab.v + (size_t)r * tab.ncol;
        tr->id = r, tr->n = 2;
        tr->t = malloc(2 * sizeof *tr->t), tr->z = malloc(2 * sizeof *tr->z * (size_t)(ns ? ns : 1));
        if (!tr->t || !tr->z) goto oom;
        tr->t[0] = 0, tr->t[1] = t1;
        for (int k = 0; k < ns; k++) {
            double x = col[k] >= 0 ? row[col[k]] : NAN;
            if (col[k] >= 0 && !isfinite(x)) {
                nodec_state_column_name(m, k, name, sizeof name);
                snprintf(err, errlen, "%s:%d: column '%s' has no value; a point needs each of its columns", path, r + 2,
                         name);
                goto done;
            }
            tr->z[k] = tr->z[ns + k] = x;
        }
    }
    *out = d, d.traj = NULL, rc = 0;
    goto done;
oom:
    snprintf(err, errlen, "%s: out of memory", path);
done:
    if (d.traj) nodec_data_free(&d);
    nodec_table_free(&tab);
    free(col);
    return rc;
}

/* ---- one iteration ----------------------------------------------------- */

/* The window's times, shifted to start at 0 unless the model uses t. */
static void window_times(const Trainer *T, const Win *w, double *t) {
    const double *src = T->d.traj[w->traj].t + w->start;
    for (int i = 0; i < w->len; i++) t[i] = T->relative ? src[i] - src[0] : src[i];
}

/* Windows whose times agree to 1e-9 of their span share one solve (the
 * demo takes batch_t = t[:K] for all of them: on an even grid the relative
 * times differ only by rounding). */
static int same_times(const double *a, const double *b, int n) {
    double tol = 1e-9 * fabs(a[n - 1] - a[0]);
    for (int i = 0; i < n; i++)
        if (fabs(a[i] - b[i]) > tol) return 0;
    return 1;
}

/* The observations a window of len rows adds to the minibatch's mean: one
 * for a point of --density (its loss is at T1 alone), else len. */
static int unit_obs(const Trainer *T, int len) { return T->o.density > 0 ? 1 : len; }

/* Draws iteration it's windows: B distinct windows of the pool (partial
 * Fisher–Yates on a fresh identity permutation). */
static void sample(Trainer *T, long it) {
    uint64_t x = (uint64_t)T->o.seed * 0x9e3779b97f4a7c15ull ^ (uint64_t)it;
    rng_next(&x);
    for (int i = 0; i < T->n_pool; i++) T->order[i] = i;
    if (T->B == T->n_pool) return; /* the whole pool, in order */
    for (int i = 0; i < T->B; i++) {
        int j = i + (int)rng_below(&x, (uint64_t)(T->n_pool - i));
        int tmp = T->order[i];
        T->order[i] = T->order[j], T->order[j] = tmp;
    }
}

/* Where window w starts: a trajectory's first window from its start
 * (nodec_data_start: missing values from the model, param starts from θ);
 * a later one from its first row, and where that misses a value, from the
 * model's own prediction at that time (solved from the trajectory's start
 * with θ, taken as given: no gradient flows through it). */
/* The seed of the noises (`noise e = …`, nodec_draw_noise) of window or
 * trajectory k in iteration it: drawn anew each iteration; it = -1, an
 * evaluation, draws the same noises every time. */
static unsigned long long noise_seed(const Trainer *T, long it, long k) {
    uint64_t x = (uint64_t)T->o.seed * 0x9e3779b97f4a7c15ull ^ (uint64_t)(it + 2) * 0xbf58476d1ce4e5b9ull;
    return x ^ (uint64_t)(k + 1) * 0x94d049bb133111ebull;
}

static int window_start(Trainer *T, const Win *w, const double *theta, double *z0) {
    int ns = T->ns;
    const nodec_traj *tr = &T->d.traj[w->traj];
    if (w->start == 0 && T->o.learn_z0) { /* --learn-z0: θ holds it */
        memcpy(z0, theta + T->np_model + (size_t)w->traj * ns, sizeof(double) * (size_t)ns);
        nodec_draw_noise(T->m, z0, 1, noise_seed(T, T->noise_it, w - T->pool));
        return 0;
    }
    if (w->start == 0) {
        if (nodec_data_start(T->m, &T->d, w->traj, theta, z0, T->err, sizeof T->err)) return -1;
        nodec_draw_noise(T->m, z0, 1, noise_seed(T, T->noise_it, w - T->pool));
        return 0;
    }
    memcpy(z0, tr->z + (size_t)w->start * ns, sizeof(double) * (size_t)ns);
    nodec_draw_noise(T->m, z0, 1, noise_seed(T, T->noise_it, w - T->pool));
    bool missing = false;
    for (int i = 0; i < ns; i++) missing |= isnan(z0[i]);
    if (!missing) return 0;
    double *zs = malloc(sizeof(double) * 3 * (size_t)ns), t2[2] = {tr->t[0], tr->t[w->start]};
    if (!zs) return snprintf(T->err, sizeof T->err, "out of memory"), -1;
    int rc = nodec_data_start(T->m, &T->d, w->traj, theta, zs, T->err, sizeof T->err);
    nodec_solver *s = rc ? NULL : handle(T, 1);
    if (!rc && (!s || (rc = nodec_data_inputs(s, &T->d, &w->traj, 1)) != NODEC_SUCCESS ||
                (rc = nodec_solve(s, theta, zs, 2, t2, zs + ns)) != NODEC_SUCCESS))
        rc = solve_error(T, T->iter, "the prediction of a window's missing start values", s, s ? rc : NODEC_MEM_FAIL);
    for (int i = 0; !rc && i < ns; i++)
        if (isnan(z0[i])) z0[i] = zs[2 * ns + i];
    free(zs);
    return rc ? -1 : 0;
}

/* The minibatch loss and gradient (into T->grad) at θ: groups of windows with the same
 * times are solved as one batch each (--chunks K: as K batches each); L and ∇L average
 * over all windows.  The batches ("units", in group order) are shared out among the MPI
 * ranks in contiguous blocks; the sum runs over the units in their order whatever the
 * number of ranks: rank 0 adds its units from zero and passes the partial sum to rank 1,
 * which adds its own, and so on; the last rank broadcasts the total.  So N processes
 * give the bits of one process (docs/training.md, "Many processes (MPI)").
 *
 * --density: every window is one point over [0, T1] and weighs 1, and the loss is the
 * model's at T1 alone.  nodec_loss_grad's mean includes t_0's term,
 * L = 1/(2n) Σ_b (ℓ(z_b(0)) + ℓ(z_b(T1))), but ℓ(z_b(0)) depends on the start alone,
 * which θ does not set (learned starts are refused with --density): its dθ is half the
 * gradient of the mean of ℓ(z_b(T1)), exactly (a factor of 2), and that mean is taken
 * from the forward solution it returns.  So the runtime needs no option for it. */
static int minibatch(Trainer *T, long it, const double *theta, double *loss) {
    T->noise_it = it;
    int ns = T->ns, np = T->np, B = T->B, stride = T->maxlen;
    int rank = tools_mpi_rank(), size = tools_mpi_size();
    long total = 0; /* observations in the minibatch: windows weigh by theirs */
    sample(T, it);
    for (int b = 0; b < B; b++) {
        const Win *w = &T->pool[T->order[b]];
        window_times(T, w, T->wt + (size_t)b * stride);
        T->group[b] = -1;
        total += w->nobs;
    }
    if (total == 0) total = 1; /* nothing observed: the loss is 0 */
    int U = 0, m = 0;
    for (int b = 0; b < B; b++) {
        if (T->group[b] >= 0) continue;
        int first = m, len = T->pool[T->order[b]].len;
        const double *t = T->wt + (size_t)b * stride;
        for (int c = b; c < B; c++)
            if (T->group[c] < 0 && T->pool[T->order[c]].len == len && same_times(t, T->wt + (size_t)c * stride, len))
                T->group[c] = b, T->memb[m++] = c;
        int n = m - first, K = T->o.chunks < n ? (int)T->o.chunks : n;
        for (int j = 0; j < K; j++) {
            int lo = first + (int)((long)n * j / K), hi = first + (int)((long)n * (j + 1) / K);
            T->u_lead[U] = b, T->u_first[U] = lo, T->u_n[U] = hi - lo;
            U++;
        }
    }
    int u0 = (int)((long)U * rank / size), u1 = (int)((long)U * (rank + 1) / size), fail = 0;
    if (rank > 0 && (size_t)(u1 - u0) * (size_t)(np + 1) > T->ubuf_cap) {
        size_t cap = (size_t)(u1 - u0) * (size_t)(np + 1);
        double *p = realloc(T->ubuf, sizeof(double) * cap);
        if (!p)
            fail = 1, snprintf(T->err, sizeof T->err, "out of memory");
        else
            T->ubuf = p, T->ubuf_cap = cap;
    }
    *loss = 0;
    memset(T->grad, 0, sizeof(double) * (size_t)np);
    for (int u = u0; u < u1 && !fail; u++) {
        int n = T->u_n[u], b = T->u_lead[u], len = T->pool[T->order[b]].len;
        const double *t = T->wt + (size_t)b * stride;
        /* z0: n × ns; obs is time-major: len blocks of n × ns */
        for (int k = 0; k < n; k++) {
            const Win *w = &T->pool[T->order[T->memb[T->u_first[u] + k]]];
            const double *z = T->d.traj[w->traj].z + (size_t)w->start * ns;
            T->win_traj[k] = w->traj; /* whose inputs it sees */
            if (window_start(T, w, theta, T->z0 + (size_t)k * ns)) {
                fail = 1;
                break;
            }
            for (int i = 0; i < len; i++)
                memcpy(T->obs + ((size_t)i * n + k) * ns, z + (size_t)i * ns, sizeof(double) * (size_t)ns);
        }
        if (fail) break;
        nodec_solver *s = handle(T, n);
        double L = 0, *dth = rank ? T->ubuf + (size_t)(u - u0) * (size_t)(np + 1) : T->dth;
        double *dz0 = T->m->z0_from || T->o.learn_z0 ? T->dz0 : NULL;
        int rc = s ? nodec_data_inputs(s, &T->d, T->win_traj, n) : NODEC_MEM_FAIL;
        if (rc == NODEC_SUCCESS) rc = nodec_loss_grad(s, theta, T->z0, len, t, T->obs, &L, dth, dz0, NULL, T->zout);
        if (rc == NODEC_SUCCESS && T->o.density > 0) { /* the loss at T1 alone (above) */
            L = T->m->loss(n, T->zout + (size_t)n * ns, T->obs + (size_t)n * ns, T->work) / n;
            for (int i = 0; i < np; i++) dth[i] *= 2;
        }
        if (T->o.learn_z0) /* the runtime wrote the model's part of dθ; the starts' is dL/dz0 */
            for (int i = T->np_model; i < np; i++) dth[i] = 0;
        for (int k = 0; dz0 && rc == NODEC_SUCCESS && k < n; k++) { /* and their dL/dz0 is part of dL/dθ */
            const Win *w = &T->pool[T->order[T->memb[T->u_first[u] + k]]];
            if (w->start != 0) continue;
            if (T->o.learn_z0)
                for (int i = 0; i < ns; i++) {
                    size_t j = (size_t)w->traj * ns + i;
                    if (!T->z0_fixed || !T->z0_fixed[j]) dth[T->np_model + j] += dz0[(size_t)k * ns + i];
                }
            else
                nodec_dz0_to_dtheta(T->m, dz0 + (size_t)k * ns, 1, dth);
        }
        if (s) add_stats(&T->train_stats, s);
        if (rc != NODEC_SUCCESS) {
            solve_error(T, it, "minibatch solve", s, rc), fail = 1;
            break;
        }
        dth[np] = L;
        if (rank) continue;                                      /* added when the sum before these units has come */
        double w = (double)n * unit_obs(T, len) / (double)total; /* L averages over n·len observations */
        *loss += w * L;
        for (int i = 0; i < np; i++) T->grad[i] += w * dth[i];
    }
    int failed = tools_mpi_first_failed(fail);
    if (failed >= 0) {
        tools_mpi_bcast(T->err, sizeof T->err, failed);
        return -1;
    }
    if (size > 1) {
        double *acc = T->chain;
        if (rank > 0) {
            tools_mpi_recv(acc, (size_t)np + 1, rank - 1);
            memcpy(T->grad, acc, sizeof(double) * (size_t)np), *loss = acc[np];
            for (int u = u0; u < u1; u++) {
                const double *dth = T->ubuf + (size_t)(u - u0) * (size_t)(np + 1);
                double w = (double)T->u_n[u] * unit_obs(T, T->pool[T->order[T->u_lead[u]]].len) / (double)total;
                *loss += w * dth[np];
                for (int i = 0; i < np; i++) T->grad[i] += w * dth[i];
            }
        }
        memcpy(acc, T->grad, sizeof(double) * (size_t)np), acc[np] = *loss;
        if (rank < size - 1) tools_mpi_send(acc, (size_t)np + 1, rank + 1);
        tools_mpi_bcast(acc, sizeof(double) * ((size_t)np + 1), size - 1);
        memcpy(T->grad, acc, sizeof(double) * (size_t)np), *loss = acc[np];
    }
    int finite = isfinite(*loss);
    for (int i = 0; i < np; i++) finite &= isfinite(T->grad[i]) != 0;
    if (!finite) {
        snprintf(T->err, sizeof T->err,
                 "iteration %ld: the minibatch loss or its gradient is not finite; lower --lr or start from other "
                 "parameters",
                 it);
        return -1;
    }
    return 0;
}

/* L-BFGS's objective: the whole-batch loss and gradient at x (its line
 * search's trial points), for the iteration being taken. */
static int lbfgs_objective(void *ctx, const double *x, double *f, double *g) {
    Trainer *T = ctx;
    if (minibatch(T, T->lb_it, x, f)) return -1;
    memcpy(g, T->grad, sizeof(double) * (size_t)T->np);
    return 0;
}

/* L-BFGS's state in a training state: one entry `lbfgs`, flat: n_iter,
 * num_old, t, h_diag, prev_loss, evals, then d and prev_g (n each), ro
 * (history), the y and s pairs (history × n each). */
enum { LB_SCALARS = 6 };
static size_t lbfgs_size(int np) {
    return LB_SCALARS + 2 * (size_t)np + LBFGS_HISTORY + 2 * (size_t)LBFGS_HISTORY * (size_t)np;
}

static void lbfgs_pack(const nodec_lbfgs *o, double *x) {
    size_t n = (size_t)o->n, H = LBFGS_HISTORY;
    x[0] = (double)o->n_iter, x[1] = o->num_old, x[2] = o->t, x[3] = o->h_diag, x[4] = o->prev_loss;
    x[5] = (double)o->evals;
    x += LB_SCALARS;
    memcpy(x, o->d, n * sizeof *x), memcpy(x + n, o->prev_g, n * sizeof *x), memcpy(x + 2 * n, o->ro, H * sizeof *x);
    memcpy(x + 2 * n + H, o->dirs, H * n * sizeof *x), memcpy(x + 2 * n + H + H * n, o->stps, H * n * sizeof *x);
}

static void lbfgs_restore(Trainer *T) {
    nodec_lbfgs *o = &T->lbfgs;
    const double *x = T->res_lbfgs;
    if (!x || !T->np) return;
    size_t n = (size_t)o->n, H = LBFGS_HISTORY;
    o->n_iter = (long)x[0], o->num_old = (int)x[1], o->t = x[2], o->h_diag = x[3], o->prev_loss = x[4];
    o->evals = (long)x[5];
    x += LB_SCALARS;
    memcpy(o->d, x, n * sizeof *x), memcpy(o->prev_g, x + n, n * sizeof *x), memcpy(o->ro, x + 2 * n, H * sizeof *x);
    memcpy(o->dirs, x + 2 * n + H, H * n * sizeof *x), memcpy(o->stps, x + 2 * n + H + H * n, H * n * sizeof *x);
}

/* The full-trajectory loss of data d (the training or the validation set):
 * each trajectory solved whole from its first observation (trajectories
 * with equal times as one batch), the model's loss averaged over all
 * observations; with --density, over the points at T1 (all of them one
 * batch: the mean negative log-likelihood of the data).  Keeps the
 * predictions in pred (for plots) unless NULL. */
static int full_loss(Trainer *T, const nodec_data *d, double **pred, const char *what, double *out) {
    int ns = T->ns;
    double sum = 0;
    long count = 0;
    int *done = calloc((size_t)d->n_traj, sizeof *done), *members = malloc(sizeof(int) * (size_t)d->n_traj);
    if (!done || !members) return free(done), free(members), snprintf(T->err, sizeof T->err, "out of memory"), -1;
    for (int k = 0; k < d->n_traj; k++) {
        if (done[k]) continue;
        const nodec_traj *tk = &d->traj[k];
        int B = 0, n = tk->n;
        for (int j = k; j < d->n_traj; j++) {
            const nodec_traj *tj = &d->traj[j];
            if (!done[j] && tj->n == n && !memcmp(tj->t, tk->t, sizeof(double) * (size_t)n))
                done[j] = 1, members[B++] = j;
        }
        double *z0 = malloc(sizeof(double) * (size_t)B * ns);
        double *z = malloc(sizeof(double) * (size_t)n * B * ns), *obs = malloc(sizeof(double) * (size_t)B * ns);
        nodec_solver *s = z0 && z && obs ? handle(T, B) : NULL;
        int rc = NODEC_MEM_FAIL;
        if (s) {
            rc = NODEC_SUCCESS;
            for (int b = 0; b < B && rc == NODEC_SUCCESS; b++)
                if (T->o.learn_z0 && d == &T->d) /* the learned starts */
                    memcpy(z0 + (size_t)b * ns, T->theta + T->np_model + (size_t)members[b] * ns,
                           sizeof(double) * (size_t)ns),
                        nodec_draw_noise(T->m, z0 + (size_t)b * ns, 1, noise_seed(T, -1, members[b]));
                else if (nodec_data_start(T->m, d, members[b], T->theta, z0 + (size_t)b * ns, T->err, sizeof T->err) ||
                         (nodec_draw_noise(T->m, z0 + (size_t)b * ns, 1, noise_seed(T, -1, members[b])), 0))
                    rc = NODEC_ILL_INPUT;
            if (rc != NODEC_SUCCESS) {
                free(z0), free(z), free(obs), free(done), free(members);
                return -1;
            }
            rc = nodec_data_inputs(s, d, members, B);
            if (rc == NODEC_SUCCESS) rc = nodec_solve(s, T->theta, z0, n, tk->t, z);
            add_stats(&T->eval_stats, s);
        }
        if (rc == NODEC_SUCCESS) {
            for (int i = 0; i < n; i++) {
                for (int b = 0; b < B; b++) {
                    memcpy(obs + (size_t)b * ns, d->traj[members[b]].z + (size_t)i * ns, sizeof(double) * ns);
                    if (pred)
                        memcpy(pred[members[b]] + (size_t)i * ns, z + ((size_t)i * B + b) * ns,
                               sizeof(double) * (size_t)ns);
                }
                if (T->o.density > 0 && i < n - 1) continue; /* a density's loss is at T1 alone */
                sum += T->m->loss(B, z + (size_t)i * B * ns, obs, T->work);
            }
            for (int b = 0; b < B; b++) count += T->o.density > 0 ? 1 : nodec_data_observed(d, members[b], 0, n);
        }
        free(z0), free(z), free(obs);
        if (rc != NODEC_SUCCESS) {
            free(done), free(members);
            return solve_error(T, T->iter, what, s, rc);
        }
    }
    free(done), free(members);
    T->evals++;
    *out = sum / (double)count;
    if (!isfinite(*out)) {
        snprintf(T->err, sizeof T->err, "iteration %ld: the %s loss is not finite", T->iter,
                 pred ? "full-trajectory" : "validation");
        return -1;
    }
    return 0;
}

/* An evaluation: the full-trajectory loss, the validation loss, and, when
 * counted, the best parameters and --patience's count.  The evaluation an
 * interrupt adds off the --eval-every grid is not counted, so that an
 * interrupted and resumed run keeps the best of an uninterrupted one. */
static int evaluate(Trainer *T, int counted) {
    if (full_loss(T, &T->d, T->pred, "full-trajectory solve", &T->last_full)) return T->last_full = NAN, -1;
    if (T->val.n_traj && full_loss(T, &T->val, NULL, "validation solve", &T->last_val)) return T->last_val = NAN, -1;
    if (!counted) return 0;
    double score = T->val.n_traj ? T->last_val : T->last_full;
    if (score < T->best_loss) {
        T->best_loss = score, T->best_iter = T->iter, T->since_best = 0;
        memcpy(T->best_theta, T->theta, sizeof(double) * (size_t)T->np);
    } else
        T->since_best++;
    return 0;
}

/* What --save writes: the best θ unless --save-last (or before any
 * evaluation). */
static const double *saved_theta(const Trainer *T) {
    return !T->o.save_last && T->best_iter >= 0 ? T->best_theta : T->theta;
}

/* --val-frac: round(F·n) of the n trajectories (at least one, and one left
 * to train on), drawn by a generator seeded by --seed alone, become the
 * validation set; both sets keep the file's order. */
static int split_val(Trainer *T) {
    nodec_data *d = &T->d;
    int n = d->n_traj, k = (int)floor(T->o.val_frac * n + 0.5);
    if (n < 2)
        return snprintf(T->err, sizeof T->err,
                        "%s has one trajectory; --val-frac holds out whole trajectories, so it needs at least two "
                        "(a traj column), or give --val-data",
                        T->o.data),
               -1;
    k = k < 1 ? 1 : k > n - 1 ? n - 1 : k;
    int *idx = malloc(sizeof(int) * (size_t)n);
    char *held = calloc((size_t)n, 1);
    nodec_traj *tr = malloc(sizeof *tr * (size_t)(n - k)), *tv = malloc(sizeof *tv * (size_t)k);
    if (!idx || !held || !tr || !tv)
        return free(idx), free(held), free(tr), free(tv), snprintf(T->err, sizeof T->err, "out of memory"), -1;
    uint64_t x = (uint64_t)T->o.seed * 0x9e3779b97f4a7c15ull ^ 0x76616c69646174ull; /* "validat" */
    rng_next(&x);
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int i = 0; i < k; i++) {
        int j = i + (int)rng_below(&x, (uint64_t)(n - i)), tmp = idx[i];
        idx[i] = idx[j], idx[j] = tmp;
        held[idx[i]] = 1;
    }
    int a = 0, b = 0;
    for (int i = 0; i < n; i++) {
        if (held[i])
            tv[b++] = d->traj[i];
        else
            tr[a++] = d->traj[i];
    }
    free(d->traj), free(idx), free(held);
    d->traj = tr, d->n_traj = n - k;
    T->val = (nodec_data){d->n_state, k, tv, d->n_input};
    return 0;
}

/* ---- files -------------------------------------------------------------- */

static int log_add(Trainer *T, long iter, double batch, double full, double val) {
    if (T->n_log && T->log[T->n_log - 1].iter == iter) { /* fill in the row of this iteration */
        if (!isnan(batch)) T->log[T->n_log - 1].batch = batch;
        if (!isnan(full)) T->log[T->n_log - 1].full = full;
        if (!isnan(val)) T->log[T->n_log - 1].val = val;
        return 0;
    }
    if (T->n_log == T->cap_log) {
        long cap = T->cap_log ? 2 * T->cap_log : 1024;
        LogRow *p = realloc(T->log, sizeof *p * (size_t)cap);
        if (!p) return -1;
        T->log = p, T->cap_log = cap;
    }
    T->log[T->n_log++] = (LogRow){iter, batch, full, val};
    return 0;
}

static void put_num(char **p, double v) {
    if (!isnan(v)) *p += sprintf(*p, "%.10g", v);
}

static int log_write(Trainer *T) {
    if (!T->o.log || !writer) return 0;
    int val = T->val.n_traj > 0; /* a fourth column, val_loss */
    char *buf = malloc(64 + 110 * (size_t)T->n_log), *p = buf;
    if (!buf) return snprintf(T->err, sizeof T->err, "cannot write '%s': out of memory", T->o.log), -1;
    p += sprintf(p, "iter,batch_loss,full_loss%s\n", val ? ",val_loss" : "");
    for (long r = 0; r < T->n_log; r++) {
        p += sprintf(p, "%ld,", T->log[r].iter);
        put_num(&p, T->log[r].batch);
        *p++ = ',';
        put_num(&p, T->log[r].full);
        if (val) *p++ = ',', put_num(&p, T->log[r].val);
        *p++ = '\n';
    }
    int rc = nodec_write_file_atomic(T->o.log, buf, (size_t)(p - buf), T->err, sizeof T->err);
    free(buf);
    return rc;
}

/* On --resume, the rows of the log up to the state's iteration: a log
 * ahead of the state (a kill between the writes leaves it so: save_all) is
 * cut back to it, and the resumed run's log then reads as an uninterrupted
 * run's.  Rows missing before the state's iteration (a log of another run,
 * or one a failed write left behind) cannot be made again: a warning names
 * them.  A row that is not `iter,batch_loss,full_loss` with increasing
 * iterations ends the rows kept, with a warning.  -1 only when out of
 * memory. */
static int log_read(Trainer *T, const char *state) {
    const char *path = T->o.log;
    char *buf, err[1024];
    size_t len;
    if (!path) return 0;
    if (access(path, F_OK)) {
        if (T->iter > 0 && !T->o.quiet)
            fprintf(stderr, "nodec train: note: the log %s is new; its rows start at iteration %ld, where %s resumes\n",
                    path, T->iter, state);
        return 0;
    }
    if (nodec_read_file(path, &buf, &len, err, sizeof err)) {
        fprintf(stderr, "nodec train: warning: the log cannot be read (%s); it is written anew from iteration %ld\n",
                err, T->iter);
        return 0;
    }
    int lineno = 1, rc = 0, ncol = 3;
    char *line = buf, *next;
    for (; line < buf + len; line = next, lineno++) {
        char *nl = strchr(line, '\n');
        next = nl ? nl + 1 : buf + len;
        if (nl) *nl = 0;
        if (lineno == 1) { /* a log with a validation set has a fourth column */
            if (!strcmp(line, "iter,batch_loss,full_loss,val_loss"))
                ncol = 4;
            else if (strcmp(line, "iter,batch_loss,full_loss")) {
                fprintf(stderr,
                        "nodec train: warning: %s:1: not a training log (its header is not "
                        "iter,batch_loss,full_loss[,val_loss]); it is written anew\n",
                        path);
                break;
            }
            continue;
        }
        char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        char *c3 = c2 && ncol == 4 ? strchr(c2 + 1, ',') : NULL;
        long long it = -1;
        double bl = NAN, fl = NAN, vl = NAN;
        int ok = c2 && (ncol == 3 || c3) && !strchr((c3 ? c3 : c2) + 1, ',');
        if (ok) {
            *c1 = *c2 = 0;
            if (c3) *c3 = 0;
            ok = nodec_cli_integer(line, 0, MAX_ITERS, &it) && (!T->n_log || it > T->log[T->n_log - 1].iter) &&
                 (!c1[1] || nodec_cli_number(c1 + 1, &bl)) && (!c2[1] || nodec_cli_number(c2 + 1, &fl)) &&
                 (!c3 || !c3[1] || nodec_cli_number(c3 + 1, &vl));
        }
        if (!ok) {
            fprintf(stderr,
                    "nodec train: warning: %s:%d: not a row of a training log (iter,batch_loss,full_loss%s, "
                    "iterations increasing); it and the rows after it are dropped\n",
                    path, lineno, ncol == 4 ? ",val_loss" : "");
            break;
        }
        if (it > T->iter) break;
        if (log_add(T, (long)it, bl, fl, vl)) {
            rc = -1;
            break;
        }
    }
    free(buf);
    long last = T->n_log ? T->log[T->n_log - 1].iter : -1;
    if (!rc && last < T->iter) {
        char ends[64] = "has no rows";
        if (last >= 0) snprintf(ends, sizeof ends, "ends at iteration %ld", last);
        fprintf(stderr,
                "nodec train: warning: the log %s %s but %s is at iteration %ld: the losses of iterations "
                "%ld to %ld are missing from it\n",
                path, ends, state, T->iter, last + 1, T->iter);
    }
    return rc;
}

/* The training state: names and meanings in docs/training.md.  Scalars
 * first, then the vectors θ, m, v, the hashes and the best θ.  Each scalar
 * has the range the options allow (parse_opts), checked by state_load.
 * The entries of the best parameters came later: a state without them
 * (F_OPTIONAL) is read with their value `def`. */
enum { NSCALAR = 26 };
enum { F_WHOLE = 1, F_OPEN_LO = 2, F_OPEN_HI = 4, F_OPTIONAL = 8 }; /* a whole number; lo, hi excluded */
static const struct {
    const char *name;
    double lo, hi;
    int flags;
    const char *range;
    double def;
} scalar[NSCALAR] = {
    {"format", 1, 1, F_WHOLE, "1, the only format this nodec reads", 0},
    {"iter", 0, (double)MAX_ITERS, F_WHOLE, "a whole number of iterations from 0 to 10^12", 0},
    {"seed", 0, (double)NODEC_SEED_MAX, F_WHOLE, "a whole number from 0 to 2^53 - 1", 0},
    {"optimizer", 0, 4, F_WHOLE, "0 (sgd), 1 (adam), 2 (rmsprop), 3 (adamw) or 4 (lbfgs)", 0},
    {"lr", 0, INFINITY, F_OPEN_LO | F_OPEN_HI, "a positive number", 0},
    {"momentum", 0, 1, F_OPEN_HI, "a number in [0, 1)", 0},
    {"opt_step", 0, (double)MAX_ITERS, F_WHOLE, "a whole number of updates from 0 to the entry 'iter'", 0},
    {"batch", 1, (double)MAX_BATCH, F_WHOLE, "a whole number from 1 to 10^6", 0},
    {"window", 0, (double)MAX_WINDOW, F_WHOLE, "0 or a whole number from 2 to 10^8", 0},
    {"eval_every", 0, (double)MAX_ITERS, F_WHOLE, "a whole number of iterations from 0 to 10^12", 0},
    {"patience", 0, (double)MAX_ITERS, F_WHOLE | F_OPTIONAL, "a whole number of evaluations from 0 to 10^12", 0},
    {"val_frac", 0, 1, F_OPEN_HI | F_OPTIONAL, "a number in [0, 1) (0: no held-out trajectories)", 0},
    {"best_loss", -INFINITY, INFINITY, F_OPTIONAL, "a number, not NaN (inf: no evaluation yet)", INFINITY},
    {"best_iter", -1, (double)MAX_ITERS, F_WHOLE | F_OPTIONAL,
     "a whole number from -1 (no evaluation yet) to the entry 'iter'", -1},
    {"since_best", 0, (double)MAX_ITERS, F_WHOLE | F_OPTIONAL, "a whole number of evaluations from 0 to 10^12", 0},
    {"weight_decay", 0, INFINITY, F_OPEN_HI | F_OPTIONAL, "a finite number, at least 0", 0},
    {"clip_norm", 0, INFINITY, F_OPEN_HI | F_OPTIONAL, "a finite number, at least 0 (0: no clipping)", 0},
    {"lr_schedule", 0, 3, F_WHOLE | F_OPTIONAL, "0 (constant), 1 (step), 2 (exp) or 3 (cosine)", 0},
    {"lr_every", 0, (double)MAX_ITERS, F_WHOLE | F_OPTIONAL,
     "a whole number of iterations from 0 to 10^12, at least 1 for a step schedule", 0},
    {"lr_gamma", 0, INFINITY, F_OPEN_HI | F_OPTIONAL, "a finite number, at least 0, above 0 for step and exp", 0},
    {"min_lr", 0, INFINITY, F_OPEN_HI | F_OPTIONAL, "a finite number, at least 0", 0},
    {"warmup", 0, (double)MAX_ITERS, F_WHOLE | F_OPTIONAL, "a whole number of iterations from 0 to 10^12", 0},
    {"stage", 0, MAX_STAGES - 1, F_WHOLE | F_OPTIONAL, "a whole number below the stages in 'stages' (0 without)", 0},
    {"stage_start", 0, (double)MAX_ITERS, F_WHOLE | F_OPTIONAL,
     "a whole number of iterations from 0 to the entry 'iter'", 0},
    {"density", 0, INFINITY, F_OPEN_HI | F_OPTIONAL, "a finite number, at least 0 (0: no --density)", 0},
    {"learn_z0", 0, 2, F_WHOLE | F_OPTIONAL, "0 (no --learn-z0), 1 (--learn-z0) or 2 (--learn-z0=missing)", 0},
};
enum {
    S_FORMAT,
    S_ITER,
    S_SEED,
    S_OPTIMIZER,
    S_LR,
    S_MOMENTUM,
    S_OPT_STEP,
    S_BATCH,
    S_WINDOW,
    S_EVAL_EVERY,
    S_PATIENCE,
    S_VAL_FRAC,
    S_BEST_LOSS,
    S_BEST_ITER,
    S_SINCE_BEST,
    S_WEIGHT_DECAY,
    S_CLIP_NORM,
    S_LR_SCHEDULE,
    S_LR_EVERY,
    S_LR_GAMMA,
    S_MIN_LR,
    S_WARMUP,
    S_STAGE,
    S_STAGE_START,
    S_DENSITY,
    S_LEARN_Z0
};

/* The model's source hash, 0 when the descriptor has none. */
static uint64_t model_hash(const nodec_model *m) { return m->source_hash ? strtoull(m->source_hash, NULL, 16) : 0; }

/* FNV-1a 64 of the parameters' names and shapes, `name[rank,d0,d1];` in
 * declaration order: θ from a state means the same numbers only under the
 * same layout, whatever else changed in the model's source. */
static uint64_t layout_hash(const nodec_model *m) {
    uint64_t h = FNV1A64_BASIS;
    for (int k = 0; k < m->n_param_vars; k++) {
        const nodec_var *v = &m->param_vars[k];
        char shape[64];
        int n = snprintf(shape, sizeof shape, "[%d,%d,%d];", v->rank, v->dim[0], v->dim[1]);
        h = fnv1a64_from(h, v->name, strlen(v->name));
        h = fnv1a64_from(h, shape, (size_t)n);
    }
    return h;
}

static int state_save(Trainer *T, const char *path) {
    uint64_t hash[3] = {model_hash(T->m), T->data_hash, layout_hash(T->m)};
    double sc[NSCALAR] = {1,
                          (double)T->iter,
                          T->o.seed,
                          (double)T->o.optimizer,
                          T->o.lr,
                          T->opt.momentum,
                          (double)(T->o.optimizer == OPT_LBFGS ? T->lbfgs.n_iter : T->opt.step),
                          (double)T->o.batch,
                          (double)T->o.window,
                          (double)T->o.eval_every,
                          (double)T->o.patience,
                          T->o.val_frac,
                          T->best_loss,
                          (double)T->best_iter,
                          (double)T->since_best,
                          T->opt.weight_decay,
                          T->o.clip_norm,
                          (double)T->o.sched.kind,
                          (double)T->o.sched.every,
                          T->o.sched.gamma,
                          T->o.sched.min_lr,
                          (double)T->o.sched.warmup,
                          (double)T->stage,
                          (double)T->stage_start,
                          T->o.density,
                          (double)T->o.learn_z0};
    double halves[6], *lb = NULL, st[3 * MAX_STAGES];
    nodec_array a[NSCALAR + 9];
    memset(a, 0, sizeof a);
    for (int i = 0; i < NSCALAR; i++) {
        snprintf(a[i].name, sizeof a[i].name, "%s", scalar[i].name);
        a[i].size = 1, a[i].data = &sc[i];
    }
    const char *vn[7] = {"theta", "m", "v", "model_hash", "data_hash", "layout_hash", "best_theta"};
    double *vd[7] = {T->theta, T->opt.m, T->opt.v, NULL, NULL, NULL, T->best_theta};
    for (int i = 0; i < 7; i++) {
        nodec_array *x = &a[NSCALAR + i];
        snprintf(x->name, sizeof x->name, "%s", vn[i]);
        x->ndim = 1;
        if (vd[i])
            x->shape[0] = x->size = (size_t)T->np, x->data = vd[i];
        else { /* a hash as two 32-bit halves, each exact in a double */
            double *h = halves + 2 * (i - 3);
            h[0] = (double)(hash[i - 3] >> 32), h[1] = (double)(hash[i - 3] & 0xffffffffu);
            x->shape[0] = x->size = 2, x->data = h;
        }
    }
    int na = NSCALAR + 7;
    if (T->o.n_stages) { /* (n, 3): optimizer, lr, iterations of each stage */
        nodec_array *x = &a[na++];
        snprintf(x->name, sizeof x->name, "stages");
        for (int k = 0; k < T->o.n_stages; k++)
            st[3 * k] = T->o.stage[k].kind, st[3 * k + 1] = T->o.stage[k].lr,
                   st[3 * k + 2] = (double)T->o.stage[k].iters;
        x->ndim = 2, x->shape[0] = (size_t)T->o.n_stages, x->shape[1] = 3, x->size = 3 * (size_t)T->o.n_stages;
        x->data = st;
    }
    if (T->o.optimizer == OPT_LBFGS && T->np) { /* its direction and history */
        if (!(lb = malloc(sizeof(double) * lbfgs_size(T->np))))
            return snprintf(T->err, sizeof T->err, "cannot write '%s': out of memory", path), -1;
        lbfgs_pack(&T->lbfgs, lb);
        nodec_array *x = &a[na++];
        snprintf(x->name, sizeof x->name, "lbfgs");
        x->ndim = 1, x->shape[0] = x->size = lbfgs_size(T->np), x->data = lb;
    }
    int rc = nodec_npz_save(path, a, na, T->err, sizeof T->err);
    free(lb);
    return rc;
}

/* The entry called name with size values, or NULL with a message; a
 * missing entry is no error when optional. */
static const double *entry(Trainer *T, const nodec_array *a, int n, const char *name, size_t size, const char *path,
                           int optional) {
    const nodec_array *x = nodec_arrays_find(a, n, name);
    if (!x && optional) return NULL;
    if (!x || x->size != size)
        snprintf(T->err, sizeof T->err,
                 "%s: not a training state of this model (entry '%s' %s); write states with --state", path, name,
                 x ? "has the wrong size" : "is missing");
    return x && x->size == size ? x->data : NULL;
}

static int bad_entry(Trainer *T, const char *path, const char *name, long elem, double x, const char *range) {
    char at[48] = "";
    if (elem >= 0) snprintf(at, sizeof at, " element %ld", elem);
    snprintf(T->err, sizeof T->err, "%s: entry '%s'%s is %.17g; it must be %s", path, name, at, x, range);
    return -1;
}

/* A hash stored as two halves: whole numbers in [0, 2^32). */
static int get_hash(Trainer *T, const char *path, const char *name, const double *h, uint64_t *out) {
    for (int i = 0; i < 2; i++)
        if (!(h[i] >= 0 && h[i] <= 4294967295.0 && h[i] == floor(h[i])))
            return bad_entry(T, path, name, i, h[i], "a whole number from 0 to 2^32 - 1 (half of a 64-bit hash)");
    *out = (uint64_t)h[0] << 32 | (uint64_t)h[1];
    return 0;
}

static int prepare_data(Trainer *T);

/* Reads a state into T: θ, the optimizer, the iteration and the options
 * the command line did not set.  Every entry is checked against what the
 * options allow, each with its own message; a state of parameters with
 * other names or shapes is refused; another model source or other data
 * are warned about. */
static int state_load(Trainer *T, const char *path) {
    nodec_array *a;
    int n, rc = -1;
    if (nodec_npz_load(path, &a, &n, T->err, sizeof T->err)) return -1;
    double sc[NSCALAR];
    const double *th, *m, *v, *mh, *dh, *lh, *bt;
    uint64_t model_h, data_h, layout_h;
    for (int i = 0; i < NSCALAR; i++) {
        int f = scalar[i].flags;
        const double *p = entry(T, a, n, scalar[i].name, 1, path, (f & F_OPTIONAL) != 0);
        if (!p && (!(f & F_OPTIONAL) || nodec_arrays_find(a, n, scalar[i].name))) goto done;
        double x = sc[i] = p ? *p : scalar[i].def, lo = scalar[i].lo, hi = scalar[i].hi;
        if (!(f & F_OPEN_LO ? x > lo : x >= lo) || !(f & F_OPEN_HI ? x < hi : x <= hi) ||
            ((f & F_WHOLE) && x != floor(x)) || (i == S_WINDOW && x == 1) || (i == S_OPT_STEP && x > sc[S_ITER]) ||
            (i == S_BEST_ITER && x > sc[S_ITER]) || (i == S_STAGE_START && x > sc[S_ITER]) ||
            (i == S_LR_EVERY && x < 1 && sc[S_LR_SCHEDULE] == NODEC_LR_STEP) ||
            (i == S_LR_GAMMA && x <= 0 && (sc[S_LR_SCHEDULE] == NODEC_LR_STEP || sc[S_LR_SCHEDULE] == NODEC_LR_EXP))) {
            bad_entry(T, path, scalar[i].name, -1, x, scalar[i].range);
            goto done;
        }
    }
    /* points and trajectories are other data: --density is given again, and the same */
    if (sc[S_DENSITY] != T->o.density) {
        if (sc[S_DENSITY] > 0)
            snprintf(T->err, sizeof T->err, "%s is the state of a run with --density %.17g; give the same to resume it",
                     path, sc[S_DENSITY]);
        else
            snprintf(T->err, sizeof T->err,
                     "%s is the state of a run on trajectories, not points; resume it without --density", path);
        goto done;
    }
    /* learned starts are part of θ: --learn-z0 is given again, the same */
    if (sc[S_LEARN_Z0] != T->o.learn_z0) {
        static const char *const flag[] = {"", "--learn-z0", "--learn-z0=missing"};
        if (sc[S_LEARN_Z0] > 0)
            snprintf(T->err, sizeof T->err, "%s is the state of a run with %s; give it again to resume it", path,
                     flag[(int)sc[S_LEARN_Z0]]);
        else
            snprintf(T->err, sizeof T->err, "%s is the state of a run without --learn-z0; resume it without %s", path,
                     flag[T->o.learn_z0]);
        goto done;
    }
    /* with them θ's size depends on the training trajectories, which the
     * run's seed and --val-frac chose: take those first */
    if (T->o.learn_z0) {
        if (!(T->o.given & G_SEED)) T->o.seed = sc[S_SEED];
        if (!(T->o.given & G_VALFRAC) && !T->o.val_data) T->o.val_frac = sc[S_VAL_FRAC];
        if (prepare_data(T)) goto done;
    }
    /* the layout first: another model's θ is refused as such, not for its size */
    lh = entry(T, a, n, "layout_hash", 2, path, 1);
    if (!lh && nodec_arrays_find(a, n, "layout_hash")) goto done;
    if (lh) {
        if (get_hash(T, path, "layout_hash", lh, &layout_h)) goto done;
        if (layout_h != layout_hash(T->m)) {
            snprintf(T->err, sizeof T->err,
                     "%s is the state of a model with other parameters (names or shapes) than model %s's; resume "
                     "it with the model that wrote it, or start afresh (--params takes parameters by name)",
                     path, T->m->name);
            goto done;
        }
    }
    if (!(th = entry(T, a, n, "theta", (size_t)T->np, path, 0)) || !(m = entry(T, a, n, "m", (size_t)T->np, path, 0)) ||
        !(v = entry(T, a, n, "v", (size_t)T->np, path, 0)) || !(mh = entry(T, a, n, "model_hash", 2, path, 0)) ||
        !(dh = entry(T, a, n, "data_hash", 2, path, 0)))
        goto done;
    if (get_hash(T, path, "model_hash", mh, &model_h) || get_hash(T, path, "data_hash", dh, &data_h)) goto done;
    /* the best θ: with best_iter, or neither (a state written before them) */
    bt = entry(T, a, n, "best_theta", (size_t)T->np, path, 1);
    if (!bt && (nodec_arrays_find(a, n, "best_theta") || sc[S_BEST_ITER] >= 0)) {
        if (!nodec_arrays_find(a, n, "best_theta"))
            snprintf(T->err, sizeof T->err,
                     "%s: not a training state of this model (entry 'best_theta' is missing, but 'best_iter' is "
                     "%.17g); write states with --state",
                     path, sc[S_BEST_ITER]);
        goto done;
    }
    /* the stages: rows of optimizer, lr, iterations; 'stage' one of them */
    const nodec_array *sa = nodec_arrays_find(a, n, "stages");
    Stage saved_stages[MAX_STAGES];
    int n_saved = 0;
    if (sa) {
        if (sa->ndim != 2 || sa->shape[1] != 3 || sa->shape[0] < 1 || sa->shape[0] > MAX_STAGES) {
            snprintf(T->err, sizeof T->err,
                     "%s: entry 'stages' has the shape of no list of stages; it must be (n, 3) with n from 1 to 16",
                     path);
            goto done;
        }
        n_saved = (int)sa->shape[0];
        double total = 0;
        for (int k = 0; k < n_saved; k++) {
            double kind = sa->data[3 * k], lr = sa->data[3 * k + 1], it = sa->data[3 * k + 2];
            if (!(kind >= 0 && kind <= OPT_LBFGS && kind == floor(kind))) {
                bad_entry(T, path, "stages", 3 * k, kind, "an optimizer, 0 to 4 (sgd, adam, rmsprop, adamw, lbfgs)");
                goto done;
            }
            if (!(lr > 0 && isfinite(lr))) {
                bad_entry(T, path, "stages", 3 * k + 1, lr, "a learning rate, positive and finite");
                goto done;
            }
            if (!(it >= 1 && (total += it) <= (double)MAX_ITERS && it == floor(it))) {
                bad_entry(T, path, "stages", 3 * k + 2, it, "a whole number of iterations, 1 to 10^12 in all");
                goto done;
            }
            saved_stages[k] = (Stage){(int)kind, lr, (long)it};
        }
        if (sc[S_STAGE] >= n_saved || sc[S_OPTIMIZER] != saved_stages[(int)sc[S_STAGE]].kind) {
            bad_entry(T, path, "stage", -1, sc[S_STAGE],
                      "the index of a row of 'stages' whose optimizer is the entry 'optimizer'");
            goto done;
        }
    } else if (sc[S_STAGE] != 0) {
        bad_entry(T, path, "stage", -1, sc[S_STAGE], "0 in a state without 'stages'");
        goto done;
    }
    const double *lb = NULL;
    if (sc[S_OPTIMIZER] == OPT_LBFGS && T->np) { /* L-BFGS's direction and history, checked */
        if (!(lb = entry(T, a, n, "lbfgs", lbfgs_size(T->np), path, 0))) goto done;
        size_t size = lbfgs_size(T->np);
        for (size_t i = 0; i < size; i++) {
            double x = lb[i];
            const char *want = NULL;
            if (i == 0 && !(x >= 0 && x <= sc[S_ITER] && x == floor(x)))
                want = "a whole number of L-BFGS iterations from 0 to the entry 'iter' (element 0)";
            else if (i == 1 && !(x >= 0 && x <= LBFGS_HISTORY && x == floor(x)))
                want = "a whole number of pairs from 0 to 10 (element 1)";
            else if (i == 3 && !(x > 0 && isfinite(x)))
                want = "a positive number (element 3, the initial Hessian's scale)";
            else if (i == 5 && !(x >= 0 && x <= 1e15 && x == floor(x)))
                want = "a whole number of evaluations (element 5)";
            else if (!isfinite(x))
                want = "a finite number (L-BFGS's state)";
            if (want) {
                bad_entry(T, path, "lbfgs", (long)i, x, want);
                goto done;
            }
        }
    }
    if (sc[S_BEST_ITER] >= 0 ? !isfinite(sc[S_BEST_LOSS]) : sc[S_BEST_LOSS] != INFINITY) {
        bad_entry(T, path, "best_loss", -1, sc[S_BEST_LOSS],
                  sc[S_BEST_ITER] >= 0 ? "finite when 'best_iter' names an iteration"
                                       : "inf when 'best_iter' is -1 (no evaluation yet)");
        goto done;
    }
    for (long i = 0; i < T->np; i++) {
        if (!isfinite(th[i])) {
            bad_entry(T, path, "theta", i, th[i], "a finite number (a parameter value)");
            goto done;
        }
        if (!isfinite(m[i])) {
            bad_entry(T, path, "m", i, m[i], "a finite number (the optimizer's first buffer)");
            goto done;
        }
        if (!isfinite(v[i]) || v[i] < 0) {
            bad_entry(T, path, "v", i, v[i], "a finite number, at least 0 (a mean of squared gradients)");
            goto done;
        }
        if (bt && !isfinite(bt[i])) {
            bad_entry(T, path, "best_theta", i, bt[i], "a finite number (a parameter value)");
            goto done;
        }
    }

    Opts *o = &T->o;
    const char *what[] = {"--seed",   "--optimizer", "--lr",        "--momentum", "--batch",
                          "--window", "--val-frac",  "--clip-norm", "--warmup"};
    double have[] = {o->seed,     o->optimizer,     o->lr,
                     o->momentum, (double)o->batch, (double)o->window,
                     o->val_frac, o->clip_norm,     (double)o->sched.warmup};
    double saved[] = {sc[S_SEED],   sc[S_OPTIMIZER], sc[S_LR],        sc[S_MOMENTUM], sc[S_BATCH],
                      sc[S_WINDOW], sc[S_VAL_FRAC],  sc[S_CLIP_NORM], sc[S_WARMUP]};
    unsigned flag[] = {G_SEED, G_OPT, G_LR, G_MOM, G_BATCH, G_WINDOW, G_VALFRAC, G_CLIP, G_WARMUP};
    for (int i = 0; i < 9; i++)
        if ((o->given & flag[i]) && have[i] != saved[i])
            fprintf(stderr,
                    "nodec train: warning: resuming with %s %g where the run had %g; the result will differ from "
                    "an uninterrupted run's\n",
                    what[i], have[i], saved[i]);
    if (!(o->given & G_SEED)) o->seed = sc[S_SEED];
    if (!(o->given & G_OPT)) o->optimizer = (int)sc[S_OPTIMIZER];
    if (!(o->given & G_LR)) o->lr = sc[S_LR];
    if (!(o->given & G_MOM)) o->momentum = sc[S_MOMENTUM];
    if (!(o->given & G_BATCH)) o->batch = (long)sc[S_BATCH];
    if (!(o->given & G_WINDOW)) o->window = (long)sc[S_WINDOW];
    if (!(o->given & G_EVAL)) o->eval_every = (long)sc[S_EVAL_EVERY];
    if (!(o->given & G_PATIENCE)) o->patience = (long)sc[S_PATIENCE];
    /* the weight decay goes with the optimizer: another one takes its own default */
    if (!(o->given & G_WD) && o->optimizer == (int)sc[S_OPTIMIZER]) o->weight_decay = sc[S_WEIGHT_DECAY];
    if (!(o->given & G_CLIP)) o->clip_norm = sc[S_CLIP_NORM];
    if (!(o->given & G_WARMUP)) o->sched.warmup = (long)sc[S_WARMUP];
    nodec_lr_schedule saved_sched = {
        (nodec_lr_kind)sc[S_LR_SCHEDULE], (long)sc[S_LR_EVERY], sc[S_LR_GAMMA], sc[S_MIN_LR], 0, o->sched.warmup};
    if (!(o->given & G_SCHED))
        o->sched = saved_sched;
    else if (o->sched.kind != saved_sched.kind || o->sched.every != saved_sched.every ||
             o->sched.gamma != saved_sched.gamma || o->sched.min_lr != saved_sched.min_lr) {
        char a[80], b[80];
        schedule_str(&o->sched, a, sizeof a), schedule_str(&saved_sched, b, sizeof b);
        fprintf(stderr,
                "nodec train: warning: resuming with --lr-schedule %s where the run had %s; the result will differ "
                "from an uninterrupted run's\n",
                a, b);
    }
    if (!(o->given & G_VALFRAC) && !o->val_data) o->val_frac = sc[S_VAL_FRAC];
    if (o->val_data && sc[S_VAL_FRAC] > 0)
        fprintf(stderr,
                "nodec train: warning: %s held out %g of the trajectories for validation; this run validates on "
                "%s instead, so its best parameters will differ from an uninterrupted run's\n",
                path, sc[S_VAL_FRAC], o->val_data);
    T->best_loss = sc[S_BEST_LOSS], T->best_iter = (long)sc[S_BEST_ITER], T->since_best = (long)sc[S_SINCE_BEST];
    if (n_saved && !o->n_stages) { /* the run's stages, unless the command line gives others */
        o->n_stages = n_saved, o->iters = 0;
        for (int k = 0; k < n_saved; k++) o->stage[k] = saved_stages[k], o->iters += saved_stages[k].iters;
    } else if (n_saved && !same_stages(saved_stages, n_saved, o->stage, o->n_stages))
        fprintf(stderr,
                "nodec train: warning: resuming with other --stages than the run had; its stage %d and the "
                "iteration where it began are kept\n",
                (int)sc[S_STAGE] + 1);
    if (o->n_stages) {
        T->stage = (int)sc[S_STAGE] < o->n_stages ? (int)sc[S_STAGE] : o->n_stages - 1;
        T->stage_start = (long)sc[S_STAGE_START];
        o->optimizer = o->stage[T->stage].kind, o->lr = o->stage[T->stage].lr;
    }
    if (bt) memcpy(T->best_theta, bt, sizeof(double) * (size_t)T->np);
    uint64_t now_h = model_hash(T->m);
    if (model_h && now_h && model_h != now_h)
        fprintf(stderr,
                "nodec train: warning: %s was written by a model with another source (hash %016llx; model %s "
                "has %016llx); %s, so training goes on from them\n",
                path, (unsigned long long)model_h, T->m->name, (unsigned long long)now_h,
                lh ? "its parameters have the same names and shapes" : "θ has the same size");
    if (data_h != T->data_hash)
        fprintf(stderr, "nodec train: warning: %s was made with other data than %s\n", path, o->data);
    memcpy(T->theta, th, sizeof(double) * (size_t)T->np);
    T->iter = (long)sc[S_ITER];
    T->res_step = (long)sc[S_OPT_STEP];
    T->res_kind = (int)sc[S_OPTIMIZER];
    T->res_m = malloc(sizeof(double) * ((size_t)T->np + 1));
    T->res_v = malloc(sizeof(double) * ((size_t)T->np + 1));
    if (!T->res_m || !T->res_v) {
        snprintf(T->err, sizeof T->err, "%s: out of memory", path);
        goto done;
    }
    memcpy(T->res_m, m, sizeof(double) * (size_t)T->np);
    if (lb) {
        if (!(T->res_lbfgs = malloc(sizeof(double) * lbfgs_size(T->np)))) {
            snprintf(T->err, sizeof T->err, "%s: out of memory", path);
            goto done;
        }
        memcpy(T->res_lbfgs, lb, sizeof(double) * lbfgs_size(T->np));
    }
    memcpy(T->res_v, v, sizeof(double) * (size_t)T->np);
    rc = 0;
done:
    nodec_arrays_free(a, n);
    return rc;
}

/* ---- progress ----------------------------------------------------------- */

typedef struct Progress {
    int tty;
    double t0, last;
    long it0;
} Progress;

static void clock_str(char *buf, size_t n, double s) {
    long x = s > 0 && s < 1e9 ? (long)(s + 0.5) : 0;
    if (x >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", x / 3600, x / 60 % 60, x % 60);
    else
        snprintf(buf, n, "%ld:%02ld", x / 60, x % 60);
}

/* On a terminal, one line redrawn at most ten times a second; otherwise a
 * line per evaluation (or per twentieth of the run without evaluations). */
static void progress(const Trainer *T, Progress *p, int evaluated, int last) {
    if (T->o.quiet) return;
    double t = now(), rate = (double)(T->iter - p->it0) / (t - p->t0 > 0 ? t - p->t0 : 1e-9);
    long total = T->o.iters;
    char eta[32], full[32] = "";
    clock_str(eta, sizeof eta, rate > 0 ? (double)(total - T->iter) / rate : 0);
    if (isfinite(T->last_full)) snprintf(full, sizeof full, "  full %.4g", T->last_full);
    if (p->tty) {
        if (!last && t - p->last < 0.1) return;
        char bar[21];
        int fill = total ? (int)(20 * T->iter / total) : 20;
        for (int i = 0; i < 20; i++) bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
        bar[20] = 0;
        fprintf(stderr, "\r\033[K%*ld/%ld [%s] %3d%%  loss %.4g%s  %.1f it/s  ETA %s%s",
                (int)snprintf(NULL, 0, "%ld", total), T->iter, total, bar, total ? (int)(100 * T->iter / total) : 100,
                T->last_batch, full, rate, eta, last ? "\n" : "");
        p->last = t;
        return;
    }
    long every = T->o.eval_every ? 0 : (total / 20 > 0 ? total / 20 : 1);
    if (!last && !(evaluated || (every && T->iter % every == 0))) return;
    fprintf(stderr, "iter %ld/%ld  batch_loss %.6g%s  %.1f it/s  ETA %s\n", T->iter, total, T->last_batch,
            evaluated ? full : "", rate, eta);
}

/* ---- plots -------------------------------------------------------------- */

static int put_file(const char *dir, const char *name, Buf *b, char *err, size_t errlen) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return io_save(path, b, err, errlen);
}

enum { MAX_PLOT_TRAJ = 10, MAX_PLOT_COMPONENTS = 8 };

/* One format's plots: fit.<ext> (each state component against t),
 * phase.<ext> (2-D states) and loss.<ext>. */
static void plot_script(Buf *g, const Trainer *T, const char *ext, int png) {
    int ns = T->ns, nc = ns < MAX_PLOT_COMPONENTS ? ns : MAX_PLOT_COMPONENTS;
    int nt = T->d.n_traj < MAX_PLOT_TRAJ ? T->d.n_traj : MAX_PLOT_TRAJ;
    const char *sizes[3][2] = {{"900", NULL}, {"700", "700"}, {"900", "500"}};
    char h[16];
    snprintf(h, sizeof h, "%d", 140 + 220 * nc);
    sizes[0][1] = h;
    const char *names[3] = {"fit", "phase", "loss"};
    for (int k = 0; k < 3; k++) {
        if (k == 1 && ns != 2) continue;
        if (png)
            buf_printf(g, "set terminal @pngterm size %s,%s noenhanced\n", sizes[k][0], sizes[k][1]);
        else
            buf_printf(g, "set terminal svg size %s,%s noenhanced background rgb 'white'\n", sizes[k][0], sizes[k][1]);
        buf_printf(g, "set output '%s.%s'\n", names[k], ext); /* fixed names, run in the plot folder */
        if (k == 0) {
            buf_printf(g, "set multiplot layout %d,1 title 'model %s: observed (points) and predicted (lines)%s'\n", nc,
                       T->m->name, nt < T->d.n_traj ? ", first trajectories" : ""); /* a C identifier */
            buf_printf(g, "set xlabel 't'\n");
            for (int c = 0; c < nc; c++) {
                char col[128];
                nodec_state_column_name(T->m, c, col, sizeof col);
                buf_puts(g, "set ylabel "), plot_str(g, col), buf_puts(g, "\n");
                buf_printf(g,
                           "plot for [k=0:%d] 'fit.dat' index k using 1:%d with points pt 7 ps 0.4 lc k+1 notitle, \\\n"
                           "     for [k=0:%d] 'fit.dat' index k using 1:%d with lines lw 2 lc k+1 notitle\n",
                           nt - 1, 2 + c, nt - 1, 2 + ns + c);
            }
            buf_printf(g, "unset multiplot\n");
        } else if (k == 1) {
            char c0[128], c1[128];
            nodec_state_column_name(T->m, 0, c0, sizeof c0);
            nodec_state_column_name(T->m, 1, c1, sizeof c1);
            buf_printf(g, "set title 'model %s: phase portrait'\nset xlabel ", T->m->name);
            plot_str(g, c0), buf_puts(g, "\nset ylabel "), plot_str(g, c1), buf_puts(g, "\nset size ratio -1\n");
            buf_printf(g,
                       "plot for [k=0:%d] 'fit.dat' index k using 2:3 with points pt 7 ps 0.4 lc k+1 title (k==0 ? "
                       "'observed' : ''), \\\n"
                       "     for [k=0:%d] 'fit.dat' index k using %d:%d with lines lw 2 lc k+1 title (k==0 ? "
                       "'predicted' : '')\n",
                       nt - 1, nt - 1, 2 + ns, 3 + ns);
            buf_printf(g, "set size noratio\nunset title\n");
        } else {
            buf_printf(g, "set title 'model %s: loss'\nset xlabel 'iteration'\nset ylabel 'loss'\nset logscale y\n",
                       T->m->name);
            buf_printf(g, "plot 'batch.dat' using 1:2 with lines lc rgb '#9ecae1' title 'minibatch', \\\n"
                          "     'full.dat' using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#08519c' "
                          "title 'full trajectory'\n");
            buf_printf(g, "unset logscale y\nunset title\n");
        }
        buf_printf(g, "set output\n");
    }
}

/* Writes the plot data and script into dir and runs gnuplot there.  0 when
 * the pictures were drawn; otherwise a message in err. */
static int plot(Trainer *T, const char *dir, char *err, size_t errlen) {
    if (mkdir(dir, 0777) && errno != EEXIST)
        return snprintf(err, errlen, "cannot make the plot folder '%s': %s", dir, strerror(errno)), -1;
    Buf b = {0};
    int ns = T->ns;
    for (int k = 0; k < T->d.n_traj && k < MAX_PLOT_TRAJ; k++) {
        const nodec_traj *tr = &T->d.traj[k];
        buf_printf(&b, "%s# trajectory %ld: t, observed state, predicted state\n", k ? "\n\n" : "", tr->id);
        for (int i = 0; i < tr->n; i++) {
            buf_printf(&b, "%.10g", tr->t[i]);
            for (int c = 0; c < ns; c++) buf_printf(&b, " %.10g", tr->z[(size_t)i * ns + c]);
            for (int c = 0; c < ns; c++) buf_printf(&b, " %.10g", T->pred[k][(size_t)i * ns + c]);
            buf_printf(&b, "\n");
        }
    }
    if (put_file(dir, "fit.dat", &b, err, errlen)) return -1;
    buf_printf(&b, "# iteration, minibatch loss\n");
    for (long r = 0; r < T->n_log; r++)
        if (!isnan(T->log[r].batch)) buf_printf(&b, "%ld %.10g\n", T->log[r].iter, T->log[r].batch);
    if (put_file(dir, "batch.dat", &b, err, errlen)) return -1;
    buf_printf(&b, "# iteration, full-trajectory loss\n");
    for (long r = 0; r < T->n_log; r++)
        if (!isnan(T->log[r].full)) buf_printf(&b, "%ld %.10g\n", T->log[r].iter, T->log[r].full);
    if (put_file(dir, "full.dat", &b, err, errlen)) return -1;
    buf_printf(&b, "# plot.gp — written by nodec train; `gnuplot plot.gp` in this folder draws the pictures again.\n"
                   "set datafile commentschars '#'\nset grid\nset key top right\n");
    plot_script(&b, T, "svg", 0);
    buf_printf(
        &b, "terms = ' '.GPVAL_TERMINALS.' '\n"
            "if (strstrt(terms, ' pngcairo ') > 0) { pngterm = 'pngcairo' } else { pngterm = 'png' }\n"
            "if (strstrt(terms, ' '.pngterm.' ') == 0) { print 'gnuplot has no png terminal: drew SVG only'; exit }\n");
    plot_script(&b, T, "png", 1);
    if (put_file(dir, "plot.gp", &b, err, errlen)) return -1;

    char logpath[4096];
    snprintf(logpath, sizeof logpath, "%s/gnuplot.log", dir);
    if (plot_run("load 'plot.gp'\n", dir, logpath, err, errlen)) {
        size_t n = strlen(err);
        if (strstr(err, "not found")) snprintf(err + n, errlen - n, ", and run `gnuplot plot.gp` in %s", dir);
        return -1;
    }
    char *log = NULL;
    size_t len = 0;
    nodec_read_file(logpath, &log, &len, NULL, 0);
    if (len) fprintf(stderr, "nodec train: gnuplot: %s", log);
    free(log);
    return 0;
}

/* ---- nodec train ------------------------------------------------------- */

/* --learn-z0: θ grows by each training trajectory's start (n_traj × n_state
 * after the model's), from its first observation (a missing value from the
 * model: nodec_data_start); the optimizer, the best θ and the gradient
 * carry them with the model's parameters. */
static int learn_starts(Trainer *T) {
    if (T->m->z0_from)
        return snprintf(T->err, sizeof T->err, "--learn-z0: model %s starts a state from a param already", T->m->name),
               -1;
    size_t np = (size_t)T->np_model + (size_t)T->d.n_traj * (size_t)T->ns;
    if (np > 100000000) return snprintf(T->err, sizeof T->err, "--learn-z0: too many trajectories"), -1;
    double *th = realloc(T->theta, sizeof(double) * (np + 1)), *best = NULL, *g = NULL;
    if (th) T->theta = th, best = realloc(T->best_theta, sizeof(double) * (np + 1));
    if (best) T->best_theta = best, g = realloc(T->lb_g, sizeof(double) * (np + 1));
    if (!g) return snprintf(T->err, sizeof T->err, "out of memory"), -1;
    T->lb_g = g, T->np = (int)np;
    if (T->o.learn_z0 == 2 && !(T->z0_fixed = calloc(np - (size_t)T->np_model + 1, 1)))
        return snprintf(T->err, sizeof T->err, "out of memory"), -1;
    long free_ = 0;
    for (int k = 0; k < T->d.n_traj; k++) {
        double *z0 = T->theta + T->np_model + (size_t)k * T->ns;
        if (nodec_data_start(T->m, &T->d, k, T->theta, z0, T->err, sizeof T->err)) return -1;
        for (int i = 0; T->z0_fixed && i < T->ns; i++) {
            int observed = !isnan(T->d.traj[k].z[i]) || (T->m->noise && T->m->noise[i]);
            T->z0_fixed[(size_t)k * T->ns + i] = (char)observed, free_ += !observed;
        }
    }
    if (T->z0_fixed && free_ == 0)
        return snprintf(T->err, sizeof T->err,
                        "--learn-z0=missing: every trajectory's first row observes every state, so there is no start "
                        "to learn; use --learn-z0 to learn whole starts"),
               -1;
    return 0;
}

/* The training trajectories (--val-frac holds some out) and, with
 * --learn-z0, their starts in θ: once, before θ is read from a state (the
 * starts are part of it) or after it is loaded. */
static int prepare_data(Trainer *T) {
    if (T->prepared) return 0;
    T->prepared = 1;
    if (T->o.val_frac > 0 && !T->o.val_data && split_val(T)) return -1;
    return T->o.learn_z0 ? learn_starts(T) : 0;
}

/* --learn-z0=missing: the starts' observed components back at the data
 * (only weight decay moves them: their gradient is 0). */
static void fix_starts(Trainer *T) {
    for (int k = 0; T->z0_fixed && k < T->d.n_traj; k++)
        for (int i = 0; i < T->ns; i++)
            if (T->z0_fixed[(size_t)k * T->ns + i]) T->theta[T->np_model + (size_t)k * T->ns + i] = T->d.traj[k].z[i];
}

static int save_params(Trainer *T, const double *theta, const char *why) {
    if (!T->o.save || !writer) return 0;
    char err[2048];
    nodec_array z0 = {.name = "z0", .ndim = 2, .shape = {(size_t)T->d.n_traj, (size_t)T->ns}};
    z0.size = z0.shape[0] * z0.shape[1], z0.data = (double *)theta + T->np_model;
    if (nodec_params_save_with(T->o.save, T->m, theta, &z0, T->o.learn_z0 ? 1 : 0, err, sizeof err)) {
        fprintf(stderr, "nodec train: error: %s\n", err);
        return -1;
    }
    if (why) fprintf(stderr, "nodec train: saved %s to %s\n", why, T->o.save);
    return 0;
}

static int save_state(Trainer *T) {
    if (!T->o.state || !writer) return 0;
    if (state_save(T, T->o.state)) {
        fprintf(stderr, "nodec train: error: %s\n", T->err);
        return -1;
    }
    return 0;
}

/* Test hook: with NODEC_TEST_KILL_AFTER=WHAT:N (WHAT log, params or
 * state), the process is killed (SIGKILL, no clean-up) right after the
 * save of iteration N has written WHAT. */
static void kill_hook(const Trainer *T, const char *what) {
    if (T->iter == T->kill_at && !strcmp(T->kill_what, what)) raise(SIGKILL);
}

/* Writes --log, --save (θ; none when NULL) and --state, each attempted
 * even when one before it failed, and each failure reported.  Every write
 * is atomic, but the three are not one: the log goes first, so that after
 * a kill between them the log may be ahead of the state, which a resume
 * cuts back (log_read), but never behind it (docs/training.md, "The log
 * and the state"). */
static int save_all(Trainer *T, const double *theta, const char *why) {
    int rc = 0;
    if (log_write(T)) fprintf(stderr, "nodec train: error: %s\n", T->err), rc = -1;
    kill_hook(T, "log");
    if (theta && save_params(T, theta, why)) rc = -1;
    kill_hook(T, "params");
    if (save_state(T)) rc = -1;
    kill_hook(T, "state");
    return rc;
}

/* Fails early, before any training, when a file could not be written. */
static int check_writable(const char *flag, const char *path) {
    if (!path) return 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
    if (access(dir, W_OK | X_OK)) {
        fprintf(stderr, "nodec train: error: cannot write %s '%s': folder '%s': %s\n", flag, path, dir,
                strerror(errno));
        return -1;
    }
    return 0;
}

static void json_num(double v) {
    if (isfinite(v))
        printf("%.10g", v);
    else
        printf("null");
}

static void json_str(const char *s) {
    if (!s) {
        printf("null");
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') putchar('\\');
        if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

/* The optimizer o->optimizer with o->lr and fresh buffers: weight decay wd,
 * or the optimizer's default when wd < 0; the schedule over the run or the
 * stage. */
static int make_optimizer(Trainer *T, double wd) {
    Opts *o = &T->o;
    int rc, lbfgs = o->optimizer == OPT_LBFGS;
    nodec_optim_free(&T->opt), nodec_lbfgs_free(&T->lbfgs);
    if ((rc = nodec_optim_init(&T->opt, lbfgs ? NODEC_OPT_SGD : (nodec_optim_kind)o->optimizer, T->np, o->lr)) ||
        (lbfgs && T->np > 0 && (rc = nodec_lbfgs_init(&T->lbfgs, T->np, o->lr, LBFGS_HISTORY))))
        return rc;
    T->opt.momentum = o->momentum;
    if (wd >= 0) T->opt.weight_decay = wd;
    o->sched.total = o->n_stages ? o->stage[T->stage].iters : o->iters;
    T->B = o->batch < T->n_pool && !lbfgs ? (int)o->batch : T->n_pool;
    T->lb_ready = 0;
    return NODEC_SUCCESS;
}

/* The iteration where the running stage (or the run) ends. */
static long stage_end(const Trainer *T) {
    return T->o.n_stages ? T->stage_start + T->o.stage[T->stage].iters : T->o.iters;
}

/* --stages: the next stage begins after iteration `after`, with a fresh
 * optimizer from θ as it is; --patience counts afresh. */
static int next_stage(Trainer *T, long after, const char *why) {
    Opts *o = &T->o;
    T->stage++, T->stage_start = after, T->since_best = 0;
    o->optimizer = o->stage[T->stage].kind, o->lr = o->stage[T->stage].lr;
    if (!o->quiet)
        fprintf(stderr, "nodec train: stage %d/%d after iteration %ld%s: %s, lr %g, %ld iterations\n", T->stage + 1,
                o->n_stages, after, why, opt_name(o->optimizer), o->lr, o->stage[T->stage].iters);
    return make_optimizer(T, (o->given & G_WD) ? o->weight_decay : -1);
}

/* Sets up T from the options and data: the window pool and the buffers. */
static int setup(Trainer *T) {
    const Opts *o = &T->o;
    int ns = T->ns, np = T->np, maxlen = 0;
    long n_pool = 0;
    int n_short = 0, n_single = 0; /* trajectories shorter than --window; of one observation */
    /* A trajectory of K or more observations gives its n − K + 1 windows of
     * K; a shorter one (two or more) is one window of its whole length, so
     * that no trajectory is left out (windows weigh by their observations
     * in minibatch).  One observation has nothing to predict: it is left out,
     * as with --window 0. */
    for (int k = 0; k < T->d.n_traj; k++) {
        int n = T->d.traj[k].n;
        n_single += n < 2;
        if (o->window == 0)
            n_pool += n >= 2;
        else if (n >= o->window)
            n_pool += n - o->window + 1;
        else if (n >= 2)
            n_pool++, n_short++;
    }
    if (n_pool == 0) {
        snprintf(T->err, sizeof T->err,
                 "%s: no trajectory has two observations to train on; each trajectory needs a first observation to "
                 "start from and a later one to compare with",
                 o->data);
        return -1;
    }
    if (n_short && !o->quiet)
        fprintf(stderr,
                "nodec train: note: %d of the %d trajectories of %s have fewer than %ld observations (--window); each "
                "is used whole, as one window\n",
                n_short, T->d.n_traj, o->data, o->window);
    if (n_single && !o->quiet)
        fprintf(stderr,
                "nodec train: note: %d of the %d trajectories of %s have a single observation and are left out of "
                "training (there is nothing to predict from it)\n",
                n_single, T->d.n_traj, o->data);
    if (n_pool > 100000000) return snprintf(T->err, sizeof T->err, "%s: too many windows", o->data), -1;
    T->n_pool = (int)n_pool;
    T->pool = malloc(sizeof *T->pool * (size_t)n_pool);
    T->order = malloc(sizeof *T->order * (size_t)n_pool);
    if (!T->pool || !T->order) return snprintf(T->err, sizeof T->err, "out of memory"), -1;
    int p = 0;
    for (int k = 0; k < T->d.n_traj; k++) {
        int n = T->d.traj[k].n;
        if (o->window == 0) {
            if (n >= 2) T->pool[p++] = (Win){k, 0, n, 0};
        } else if (n >= o->window) {
            for (int s = 0; s + o->window <= n; s++) T->pool[p++] = (Win){k, s, (int)o->window, 0};
        } else if (n >= 2) {
            T->pool[p++] = (Win){k, 0, n, 0};
        }
    }
    for (int i = 0; i < T->n_pool; i++)
        T->pool[i].nobs =
            o->density > 0 ? 1 : (int)nodec_data_observed(&T->d, T->pool[i].traj, T->pool[i].start, T->pool[i].len);
    for (int i = 0; i < T->n_pool; i++)
        if (T->pool[i].len > maxlen) maxlen = T->pool[i].len;
    T->maxlen = maxlen;
    T->B = o->batch < T->n_pool && o->optimizer != OPT_LBFGS ? (int)o->batch : T->n_pool;
    int Bmax = T->B; /* an L-BFGS stage takes every window */
    for (int k = 0; k < o->n_stages; k++)
        if (o->stage[k].kind == OPT_LBFGS) Bmax = T->n_pool;
    if (o->optimizer == OPT_LBFGS && (o->given & G_BATCH) && !o->quiet)
        fprintf(stderr, "nodec train: note: lbfgs takes the whole batch: all %d windows of %s each iteration\n",
                T->n_pool, o->data);
    if (o->window && o->batch > T->n_pool && !o->quiet)
        fprintf(stderr,
                "nodec train: note: %s has %d windows of %s%ld observations; each minibatch takes all of them\n",
                o->data, T->n_pool, n_short ? "up to " : "", o->window);
    size_t B = (size_t)Bmax, L = (size_t)maxlen;
    T->n_h = (Bmax > T->d.n_traj ? Bmax : T->d.n_traj) + 1;
    if (T->val.n_traj >= T->n_h) T->n_h = T->val.n_traj + 1;
    T->h = calloc((size_t)T->n_h, sizeof *T->h);
    T->prev = calloc((size_t)np + 1, sizeof(double));
    T->grad = calloc((size_t)np + 1, sizeof(double));
    T->dth = calloc((size_t)np + 1, sizeof(double));
    T->work = calloc((size_t)T->m->work_size + 1, sizeof(double));
    T->z0 = malloc(sizeof(double) * B * ns);
    T->dz0 = malloc(sizeof(double) * B * ns);
    T->obs = malloc(sizeof(double) * L * B * ns);
    if (o->density > 0 && !(T->zout = malloc(sizeof(double) * L * B * ns)))
        return snprintf(T->err, sizeof T->err, "out of memory"), -1;
    T->wt = malloc(sizeof(double) * B * L);
    T->group = malloc(sizeof(int) * B);
    T->memb = malloc(sizeof(int) * B), T->u_lead = malloc(sizeof(int) * B);
    T->u_first = malloc(sizeof(int) * B), T->u_n = malloc(sizeof(int) * B), T->win_traj = malloc(sizeof(int) * B);
    T->chain = calloc((size_t)np + 1, sizeof(double));
    if (!T->memb || !T->u_lead || !T->u_first || !T->u_n || !T->win_traj || !T->chain)
        return snprintf(T->err, sizeof T->err, "out of memory"), -1;
    T->pred = calloc((size_t)T->d.n_traj, sizeof *T->pred);
    if (!T->h || !T->prev || !T->grad || !T->dth || !T->work || !T->z0 || !T->dz0 || !T->obs || !T->wt || !T->group ||
        !T->pred)
        return snprintf(T->err, sizeof T->err, "out of memory"), -1;
    for (int k = 0; k < T->d.n_traj; k++)
        if (!(T->pred[k] = calloc((size_t)T->d.traj[k].n * ns, sizeof(double))))
            return snprintf(T->err, sizeof T->err, "out of memory"), -1;
    return 0;
}

static void teardown(Trainer *T) {
    for (int i = 0; T->h && i < T->n_h; i++) nodec_free(T->h[i]);
    for (int k = 0; T->pred && k < T->d.n_traj; k++) free(T->pred[k]);
    free(T->h), free(T->pred), free(T->pool), free(T->order), free(T->theta), free(T->prev), free(T->grad);
    free(T->memb), free(T->u_lead), free(T->u_first), free(T->u_n), free(T->win_traj), free(T->ubuf), free(T->chain);
    free(T->z0_fixed);
    free(T->dth), free(T->work), free(T->z0), free(T->dz0), free(T->obs), free(T->zout), free(T->wt), free(T->group),
        free(T->log);
    free(T->res_m), free(T->res_v), free(T->best_theta), free(T->lb_g), free(T->res_lbfgs);
    nodec_optim_free(&T->opt);
    nodec_lbfgs_free(&T->lbfgs);
    nodec_data_free(&T->d);
    nodec_data_free(&T->val);
}

int nodec_cli_train_main(const nodec_model *m, int argc, char **argv) {
    const char *name = argc > 0 && argv[0] && *argv[0] ? argv[0] : m->name, *slash = strrchr(name, '/');
    prog = slash && slash[1] ? slash + 1 : name, prog_model = m;
    int rc = argc > 0 ? nodec_cli_train(m, argc - 1, argv + 1) : nodec_cli_train(m, 0, argv);
    prog = NULL, prog_model = NULL;
    return rc;
}

int nodec_cli_train(const nodec_model *m, int argc, char **argv) {
    Trainer *T = calloc(1, sizeof *T);
    if (!T) return fputs("nodec train: error: out of memory\n", stderr), 1;
    int rc = parse_opts(&T->o, argc, argv);
    if (rc) return free(T), rc < 0 ? 0 : rc;
    Opts *o = &T->o;
    /* under mpirun: every rank trains (the same θ everywhere), rank 0 alone
     * writes files and prints; errors are reported by every rank */
    tools_mpi_init();
    writer = 1;
    if (tools_mpi_rank() > 0) {
        writer = 0, o->quiet = 1;
        if (!freopen("/dev/null", "w", stdout)) return free(T), 1;
    }
    T->m = m, T->ns = m->n_state, T->np = T->np_model = m->n_param, T->relative = !m->uses_t;
    T->last_full = T->last_batch = T->last_val = NAN;
    T->best_loss = INFINITY, T->best_iter = -1;
    int status = 1;
    struct sigaction old_int, old_term;
    int handlers = 0;
    if (!m->loss || !m->init_params) {
        fprintf(stderr, "nodec train: error: model %s has no loss or initializer; emit it again\n", m->name);
        goto out;
    }
    if (writer &&
        (check_writable("--save", o->save) || check_writable("--state", o->state) || check_writable("--log", o->log)))
        goto out;
    if (o->density > 0 && m->z0_from)
        for (int k = 0; k < T->ns; k++)
            if (m->z0_from[k] >= 0) {
                fprintf(stderr,
                        "nodec train: error: model %s has a state that starts from a param; with --density every "
                        "point starts from the data (and the model's value for the states with no column)\n",
                        m->name);
                goto out;
            }
    if (o->density > 0 && m->inputs) {
        fprintf(stderr,
                "nodec train: error: model %s has inputs, which come from trajectories' rows; --density's points have "
                "none (train it on trajectories, without --density)\n",
                m->name);
        goto out;
    }
    if (o->density > 0) { /* points: each a trajectory over [0, T1], one window */
        o->window = 0;
        if (density_load(o->data, m, o->density, &T->d, T->err, sizeof T->err) ||
            (o->val_data && density_load(o->val_data, m, o->density, &T->val, T->err, sizeof T->err))) {
            fprintf(stderr, "nodec train: error: %s\n", T->err);
            goto out;
        }
    } else if (nodec_data_load(o->data, m, &T->d, T->err, sizeof T->err) ||
               (o->val_data && nodec_data_load(o->val_data, m, &T->val, T->err, sizeof T->err))) {
        fprintf(stderr, "nodec train: error: %s\n", T->err);
        goto out;
    }
    /* a density's loss at T1 sees the point's row, whose unobserved states are NaN; it is for the
       loss to use only what is there (the loss of a CNF ignores obs) */
    if (o->density == 0 && (nodec_data_has_missing(&T->d) || (o->val_data && nodec_data_has_missing(&T->val))) &&
        !nodec_loss_leaves_out_missing(m)) {
        fprintf(stderr,
                "nodec train: error: %s has missing values (empty cells, nan, or states with no column), and the "
                "loss of model %s does not leave them out; use the default loss (remove the `loss(pred, obs) = …` "
                "line), or fill them in\n",
                o->data, m->name);
        goto out;
    }
    char *raw;
    size_t rawlen;
    if (!nodec_read_file(o->data, &raw, &rawlen, NULL, 0)) T->data_hash = fnv1a64(raw, rawlen), free(raw);
    if (!(T->theta = calloc((size_t)T->np + 1, sizeof(double))) ||
        !(T->best_theta = calloc((size_t)T->np + 1, sizeof(double))) ||
        !(T->lb_g = calloc((size_t)T->np + 1, sizeof(double))))
        goto oom;
    if (o->resume) {
        if (state_load(T, o->resume)) {
            fprintf(stderr, "nodec train: error: %s\n", T->err);
            goto out;
        }
    } else if (nodec_cli_load_params(m, o->params, (unsigned long long)o->seed, T->theta))
        goto out;
    if (prepare_data(T)) {
        fprintf(stderr, "nodec train: error: %s\n", T->err);
        goto out;
    }
    if (setup(T)) {
        fprintf(stderr, "nodec train: error: %s\n", T->err);
        goto out;
    }
    if ((rc = make_optimizer(T, o->weight_decay)) != NODEC_SUCCESS) {
        if (rc == NODEC_MEM_FAIL) goto oom;
        fprintf(stderr, "nodec train: error: the optimizer refused its options\n");
        goto out;
    }
    if (T->res_m) {
        if (T->res_kind == o->optimizer && o->optimizer == OPT_LBFGS)
            lbfgs_restore(T);
        else if (T->res_kind == o->optimizer) {
            memcpy(T->opt.m, T->res_m, sizeof(double) * (size_t)T->np);
            memcpy(T->opt.v, T->res_v, sizeof(double) * (size_t)T->np);
            T->opt.step = T->res_step;
        } else
            fprintf(stderr, "nodec train: note: the run used %s; %s starts with a fresh state\n", opt_name(T->res_kind),
                    opt_name(o->optimizer));
    }
    if (o->resume && log_read(T, o->resume)) goto oom;

    /* from here on, Ctrl-C finishes the iteration and saves; a second one
     * (the handler resets itself) ends the process at once */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    interrupted = 0;
    sigaction(SIGINT, NULL, &old_int);
    sigaction(SIGTERM, NULL, &old_term);
    /* a SIGINT ignored on entry (a background job of a script, nohup)
     * stays ignored, as shells expect */
    if (old_int.sa_handler != SIG_IGN) sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    handlers = 1;
    long long interrupt_at = -1; /* test hook: raise SIGINT after that iteration */
    const char *hook = getenv("NODEC_TEST_INTERRUPT_AT");
    if (hook) nodec_cli_integer(hook, 0, MAX_ITERS, &interrupt_at);
    T->kill_at = -1;
    if ((hook = getenv("NODEC_TEST_KILL_AFTER")) && strchr(hook, ':')) {
        long long at;
        snprintf(T->kill_what, sizeof T->kill_what, "%.*s", (int)(strchr(hook, ':') - hook), hook);
        if (nodec_cli_integer(strchr(hook, ':') + 1, 0, MAX_ITERS, &at)) T->kill_at = (long)at;
    }

    Progress pr = {.tty = isatty(STDERR_FILENO), .t0 = now(), .it0 = T->iter};
    double t_start = now(), t_eval = 0, t0;
    long start_iter = T->iter, last_eval = -1;
    int failed = 0, have_prev = 0, stopped = 0, converged = 0;
    /* the losses where the run starts, unless a resumed log has its row;
     * they count for the best parameters when no evaluation has yet (a
     * resumed state holds the best of the evaluations before it) */
    if (T->n_log == 0 || T->log[T->n_log - 1].iter != T->iter) {
        t0 = now();
        if (evaluate(T, T->best_iter < 0))
            failed = 1;
        else
            last_eval = T->iter, log_add(T, T->iter, NAN, T->last_full, T->last_val);
        t_eval += now() - t0;
    }
    int halt = 0; /* interrupted, as all ranks agree after each iteration */
    while (!failed && !halt && !stopped && T->iter < stage_end(T)) {
        long it = T->iter + 1;
        double L;
        if (o->optimizer == OPT_LBFGS) {
            /* one L-BFGS iteration on the whole batch; the loss and
             * gradient at θ are those its line search ended with */
            if (!T->lb_ready && minibatch(T, it, T->theta, &T->lb_f)) {
                failed = 1;
                break;
            }
            if (!T->lb_ready) memcpy(T->lb_g, T->grad, sizeof(double) * (size_t)T->np), T->lb_ready = 1;
            L = T->lb_f, T->lb_it = it;
            memcpy(T->prev, T->theta, sizeof(double) * (size_t)T->np);
            have_prev = 1;
            rc = T->np ? nodec_lbfgs_step(&T->lbfgs, T->theta, &T->lb_f, T->lb_g, lbfgs_objective, T) : 1;
            if (rc < 0) {
                failed = 1;
                break;
            }
            converged = rc == 1;
        } else {
            if (minibatch(T, it, T->theta, &L)) {
                failed = 1;
                break;
            }
            memcpy(T->prev, T->theta, sizeof(double) * (size_t)T->np);
            have_prev = 1;
            if (o->clip_norm > 0) nodec_clip_grad_norm(T->grad, T->np, o->clip_norm);
            T->opt.lr = nodec_lr_at(&o->sched, o->lr, it - T->stage_start);
            nodec_optim_step(&T->opt, T->theta, T->grad);
            fix_starts(T);
        }
        T->iter = it, T->last_batch = L;
        int end = it == stage_end(T), patience = 0;
        int evaluated = (o->eval_every && it % o->eval_every == 0) || end || converged;
        if (evaluated) {
            t0 = now();
            if (evaluate(T, 1))
                failed = 1;
            else
                last_eval = it, patience = o->patience && T->since_best >= o->patience;
            t_eval += now() - t0;
        }
        if (log_add(T, it, L, evaluated && !failed ? T->last_full : NAN, evaluated && !failed ? T->last_val : NAN))
            goto oom;
        if (failed) break;
        /* the stage ends at its last iteration, when L-BFGS converges or
         * when --patience runs out; the run with the last stage */
        if ((end || converged || patience) && o->n_stages && T->stage + 1 < o->n_stages) {
            if (next_stage(T, it, converged ? " (L-BFGS converged)" : patience ? " (--patience)" : "")) goto oom;
            converged = 0;
        } else if (converged || patience)
            stopped = 1;
        int last = stopped || it == stage_end(T);
        progress(T, &pr, evaluated, last);
        if (it == interrupt_at) raise(SIGINT);
        if ((halt = tools_mpi_any(interrupted))) interrupted = halt; /* all ranks stop after the same iteration */
        if (o->save_every && it % o->save_every == 0 && !last && !interrupted)
            if (save_all(T, saved_theta(T), NULL)) goto out;
    }
    double wall = now() - t_start;
    long done_iters = T->iter - start_iter;
    { /* the solver statistics of all ranks' minibatch solves */
        nodec_pass_stats *ps[2] = {&T->train_stats.forward, &T->train_stats.backward};
        long st[8];
        for (int k = 0; k < 2; k++)
            st[4 * k] = ps[k]->steps, st[4 * k + 1] = ps[k]->rejected, st[4 * k + 2] = ps[k]->f_evals,
                   st[4 * k + 3] = ps[k]->vjp_evals;
        tools_mpi_sum_longs(st, 8);
        for (int k = 0; k < 2; k++)
            ps[k]->steps = st[4 * k], ps[k]->rejected = st[4 * k + 1], ps[k]->f_evals = st[4 * k + 2],
            ps[k]->vjp_evals = st[4 * k + 3];
    }
    if (!pr.tty || o->quiet) {
    } else if (!stopped && (T->iter != stage_end(T) || failed))
        fputc('\n', stderr);
    if (converged && !o->quiet)
        fprintf(stderr, "nodec train: L-BFGS converged at iteration %ld: %s\n", T->iter,
                T->np ? T->lbfgs.stop : "the model has no parameters");
    else if (stopped && !o->quiet)
        fprintf(stderr,
                "nodec train: stopped early after iteration %ld: no better %s loss in %ld evaluations (the best, "
                "%.6g, at iteration %ld)\n",
                T->iter, T->val.n_traj ? "validation" : "full-trajectory", o->patience, T->best_loss, T->best_iter);

    if (failed) {
        fprintf(stderr, "nodec train: error: %s\n", T->err);
        /* the best parameters (they solved when evaluated), or with
         * --save-last those of the last minibatch that solved */
        const double *th = have_prev ? T->prev : NULL;
        char why[96] = "the last parameters that solved";
        if (!o->save_last && T->best_iter >= 0)
            th = T->best_theta, snprintf(why, sizeof why, "the best parameters (iteration %ld)", T->best_iter);
        if (!th && o->save)
            fprintf(stderr, "nodec train: no iteration of this run succeeded; %s was not written\n", o->save);
        save_all(T, th, why);
        goto out;
    }
    if (interrupted) fprintf(stderr, "nodec train: interrupted after iteration %ld; saving\n", T->iter);
    if (last_eval != T->iter) { /* interrupted: the full loss of what is saved, for the summary and plots */
        t0 = now();
        if (!evaluate(T, 0)) log_add(T, T->iter, NAN, T->last_full, T->last_val), last_eval = T->iter;
        t_eval += now() - t0;
    }
    int save_failed = save_all(T, saved_theta(T), NULL) != 0;
    char plot_err[2048] = "";
    int plotted = 0;
    if (o->plot && last_eval == T->iter && writer) {
        plotted = !plot(T, o->plot, plot_err, sizeof plot_err);
        if (!plotted) fprintf(stderr, "nodec train: warning: %s\n", plot_err);
    }
    /* the summary */
    char sched_name[80];
    schedule_str(&o->sched, sched_name, sizeof sched_name);
    double per = done_iters ? 1.0 / (double)done_iters : 0;
    printf("{\"model\": ");
    json_str(m->name);
    printf(", \"iters\": %ld, \"start_iter\": %ld, \"batch_loss\": ", T->iter, start_iter);
    json_num(T->last_batch);
    printf(", \"full_loss\": ");
    json_num(T->last_full);
    printf(", \"val_loss\": ");
    json_num(T->last_val);
    printf(",\n \"best_iter\": ");
    if (T->best_iter >= 0)
        printf("%ld", T->best_iter);
    else
        printf("null");
    printf(", \"best_loss\": ");
    json_num(T->best_loss);
    printf(", \"best_on\": \"%s\", \"saved\": \"%s\", \"stopped_early\": %s", T->val.n_traj ? "validation" : "full",
           o->save_last ? "last" : "best", stopped && !converged ? "true" : "false");
    printf(", \"converged\": %s, \"stages\": ", converged ? "true" : "false");
    char stages[MAX_STAGES * 64];
    stages_str(o, stages, sizeof stages);
    json_str(o->n_stages ? stages : NULL);
    if (o->n_stages) printf(", \"stage\": %d", T->stage + 1);
    if (o->density > 0) printf(", \"density\": %.17g", o->density);
    printf(",\n \"optimizer\": \"%s\", \"lr\": %g, \"lr_last\": %g, \"lr_schedule\": \"%s\", \"warmup\": %ld, "
           "\"weight_decay\": %g, \"clip_norm\": %g,\n \"batch\": %d, \"window\": %ld, \"seed\": %.17g, \"method\": "
           "\"%s\", "
           "\"mode\": \"%s\",\n",
           opt_name(o->optimizer), o->lr, o->optimizer == OPT_LBFGS ? o->lr : T->opt.lr, sched_name, o->sched.warmup,
           T->opt.weight_decay, o->clip_norm, T->B, o->window, o->seed, nodec_method_name((nodec_method)o->so.method),
           nodec_grad_mode_name(o->so.mode >= 0 || !handle(T, 1) ? (nodec_grad_mode)o->so.mode
                                                                 : nodec_get_grad_mode(handle(T, 1))));
    printf(" \"wall_s\": %.4g, \"eval_s\": %.4g, \"ms_per_iter\": %.4g,\n", wall, t_eval,
           done_iters ? 1e3 * (wall - t_eval) * per : 0.0);
    const nodec_stats *s = &T->train_stats;
    printf(" \"per_iter\": {\"forward_steps\": %.4g, \"backward_steps\": %.4g, \"forward_f_evals\": %.4g, "
           "\"backward_f_evals\": %.4g, \"vjp_evals\": %.4g},\n",
           (double)s->forward.steps * per, (double)s->backward.steps * per, (double)s->forward.f_evals * per,
           (double)s->backward.f_evals * per, (double)(s->forward.vjp_evals + s->backward.vjp_evals) * per);
    printf(" \"interrupted\": %s, \"params\": ", interrupted ? "true" : "false");
    json_str(o->save);
    printf(", \"state\": ");
    json_str(o->state);
    printf(", \"log\": ");
    json_str(o->log);
    printf(", \"plots\": ");
    json_str(plotted ? o->plot : NULL);
    printf("}\n");
    fflush(stdout);
    if (!o->quiet) {
        fprintf(stderr, "nodec train: %ld iterations in %.2f s (%.3g ms each); full-trajectory loss %.6g\n", done_iters,
                wall, done_iters ? 1e3 * (wall - t_eval) * per : 0.0, T->last_full);
        if (o->save && !o->save_last && T->best_iter >= 0)
            fprintf(stderr, "nodec train: %s has the best parameters: iteration %ld, %s loss %.6g\n", o->save,
                    T->best_iter, T->val.n_traj ? "validation" : "full-trajectory", T->best_loss);
        if (plotted) {
            size_t n = strlen(o->plot);
            fprintf(stderr, "nodec train: plots in %s%s: fit.png, %sloss.png (and .svg)\n", o->plot,
                    n && o->plot[n - 1] == '/' ? "" : "/", T->ns == 2 ? "phase.png, " : "");
        }
    }
    status = save_failed ? 1 : interrupted == SIGTERM ? 143 : interrupted ? 130 : 0;
    goto out;
oom:
    fputs("nodec train: error: out of memory\n", stderr);
out:
    if (handlers) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    teardown(T);
    free(T);
    return status;
}
