/* repl.c — `nodec repl`: build and explore a model one statement at a time.
 *
 * The session keeps the model as a list of statements, each keyed by what
 * it defines (a name, "dz/dt", "loss", "model").  A typed statement replaces
 * the one with the same key or is appended; the whole model is then
 * compiled again, with a fresh arena, and loaded (STYLE.md §8, §9).  If it
 * does not compile, the error is printed and the previous model stays.  A
 * statement whose syntax error is at the end of the input is unfinished:
 * the next line continues it (Lua's lua.c:incomplete()).  Lines starting
 * with ':' are commands; `:help` lists them.
 *
 * Without a terminal on standard input (scripts, tests) there is no line
 * editing, and each input line is echoed after its prompt so that the
 * output reads as a transcript.
 */
#define _POSIX_C_SOURCE 200809L
#include "cmd.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef NODEC_HAVE_READLINE
#include <readline/history.h>
#include <readline/readline.h>
#endif

/* A statement of the session's model; the model is compiled in the order
 * declarations, lets, equations, loss (each in the order typed), so a
 * replaced equation may use a param declared after it. */
typedef struct Entry {
    char *key, *text;
    int group;
} Entry;

static int group_of(StmtKind k) { return k == S_MODEL ? 0 : k == S_LET ? 2 : k == S_EQ ? 3 : k == S_LOSS ? 4 : 1; }

typedef struct Repl {
    Entry *e;
    int n, cap;
    Compilation c;     /* the current model, compiled */
    bool have;         /* c holds a compiled model */
    LoadedModel lm;    /* its code, when complete */
    char params[1024]; /* θ file kept by :train and :params, or "" */
    char dir[900];     /* the session's private directory, or "" (session_dir) */
    char **opts;       /* solver options given with :set: flag, value (NULL for none) */
    int nopts;         /* pairs in opts */
    bool tty;
    const char *backend; /* --backend, or NULL for the default */
} Repl;

static const char *const commands[] = {
    ":help",  ":show", ":derive", ":ir",   ":c",    ":eval", ":vjp",   ":solve", ":plot", ":grad",
    ":train", ":set",  ":params", ":load", ":save", ":drop", ":reset", ":quit",  NULL,
};

static const char help_text[] =
    "Type model statements (state, param, const, let, dX/dt = …, loss(pred, obs) = …)\n"
    "to add them to the model or replace the one defining the same name.  Commands:\n"
    "  :show                 the model's statements\n"
    "  :derive [--latex]     the derived partials\n"
    "  :ir | :c              the IR of f and the loss | the emitted C\n"
    "  :eval z=LIST [t=T] [u=LIST]   f at a state (the model's z0 by default)\n"
    "  :vjp a=LIST [z=LIST] [t=T] [u=LIST]   aᵀ∂f/∂z, aᵀ∂f/∂θ and aᵀ∂f/∂t\n"
    "                        u: a model's inputs at t, their values (u′ = u″ = 0) or values, u′\n"
    "                        and u″ (0 by default)\n"
    "  :solve [options]      a trajectory as CSV (nodec solve's options)\n"
    "  :plot [options] [--png FILE]   the trajectory drawn in the terminal, or into a PNG\n"
    "  :grad --data D.csv    loss and gradients as JSON (nodec grad's options)\n"
    "  :train --data D.csv [--iters N] …   train; the session keeps the result\n"
    "  :set OPTION [VALUE]   a solver option for :solve, :grad, :train (e.g. :set --rtol 1e-6);\n"
    "                        :set alone lists them, :reset forgets them\n"
    "  :params load P | save P | reset   the session's parameters\n"
    "  :load FILE | :save FILE           read a model file | write the model\n"
    "  :drop NAME            remove the statement defining NAME (or dX/dt, loss)\n"
    "  :reset                start an empty model\n"
    "  :quit                 leave (also end of input)\n";

static char *xstrdup(const char *s) {
    char *p = strdup(s);
    if (!p) ice("out of memory");
    return p;
}

static void unload(Repl *r) {
    nc_unload(&r->lm); /* cc: the shared object; llvm: the JIT */
    if (r->have) nc_free(&r->c);
    r->have = false;
}

static char *joined(Entry *e, int n) {
    Buf b = {0};
    for (int g = 0; g < 5; g++)
        for (int i = 0; i < n; i++)
            if (e[i].group == g) buf_puts(&b, e[i].text), buf_putc(&b, '\n');
    return buf_take(&b);
}

/* Compiles the statements e[0..n); on success it becomes the session's
 * model.  Errors go to stderr. */
static bool same_params(const Model *a, const Model *b) {
    if (a->nparams != b->nparams) return false;
    for (int i = 0; i < a->nparams; i++)
        if (strcmp(a->params[i]->name, b->params[i]->name) || !shape_eq(a->params[i]->shape, b->params[i]->shape))
            return false;
    return true;
}

static bool adopt(Repl *r, Entry *e, int n, bool quiet) {
    Compilation c = {0};
    c.arena = arena_new();
    char *text = joined(e, n);
    c.src = (Source){"<model>", arena_strndup(c.arena, text, strlen(text)), (int)strlen(text)};
    free(text);
    c.diag.out = stderr;
    c.allow_incomplete = true;
    if (!nc_compile(&c, STAGE_C)) {
        nc_free(&c);
        return false;
    }
    LoadedModel lm = {0};
    if (!c.model->incomplete) {
        char err[2048];
        EmitOpts o = {"<model>", nc_hash(c.src.text, (size_t)c.src.len), false};
        if (!nc_load(c.prog, &o, r->backend, &lm, err, sizeof err)) {
            fprintf(stderr, "error: %s\n", err);
            nc_free(&c);
            return false;
        }
    }
    /* trained parameters no longer fit when the parameters change */
    bool reset = r->params[0] && (!r->have || !same_params(r->c.model, c.model));
    unload(r);
    r->c = c, r->have = true, r->lm = lm;
    if (reset) {
        r->params[0] = 0;
        if (!quiet) puts("(the parameters changed: the session's trained values are dropped)");
    }
    if (!quiet) {
        if (c.model->incomplete)
            printf("ok (state '%s' has no equation yet)\n", c.model->incomplete->name);
        else
            printf("ok: %s, %d state%s, %d parameter%s\n", c.model->name, c.model->n_state,
                   c.model->n_state == 1 ? "" : "s", c.model->n_param, c.model->n_param == 1 ? "" : "s");
    }
    return true;
}

static void set_entries(Repl *r, Entry *e, int n) {
    for (int i = 0; i < r->n; i++) free(r->e[i].key), free(r->e[i].text);
    free(r->e);
    r->e = e, r->n = r->cap = n;
}

static Entry *copy_entries(Repl *r) {
    Entry *e = calloc((size_t)r->n + 1, sizeof *e);
    for (int i = 0; i < r->n; i++)
        e[i].key = xstrdup(r->e[i].key), e[i].text = xstrdup(r->e[i].text), e[i].group = r->e[i].group;
    return e;
}

static void free_entries(Entry *e, int n) {
    for (int i = 0; i < n; i++) free(e[i].key), free(e[i].text);
    free(e);
}

static const char *kind_word(StmtKind k) {
    return k == S_STATE   ? "state "
           : k == S_PARAM ? "param "
           : k == S_CONST ? "const "
           : k == S_NOISE ? "noise "
           : k == S_INPUT ? "input "
                          : "";
}

/* Each statement replaces the entry with its key or is appended; text is
 * the source the statements' spans point into. */
static void merge(Entry **e, int *n, int *cap, const Stmt *first, const char *text, Arena *a) {
    for (const Stmt *s = first; s; s = s->next) {
        const char *key = nc_stmt_key(s, a);
        int i = 0;
        while (i < *n && strcmp((*e)[i].key, key)) i++;
        if (i == *n) {
            if (*n == *cap) {
                *cap = *cap ? 2 * *cap : 16;
                *e = realloc(*e, sizeof **e * (size_t)(*cap + 1));
                if (!*e) ice("out of memory");
            }
            (*e)[i] = (Entry){xstrdup(key), NULL, 0};
            ++*n;
        }
        free((*e)[i].text);
        (*e)[i].text =
            xstrdup(arena_printf(a, "%s%.*s", kind_word(s->kind), s->span.end - s->span.beg, text + s->span.beg));
        (*e)[i].group = group_of(s->kind);
    }
}

/* 1: added or replaced, 0: error (reported), -1: unfinished. */
static int statement(Repl *r, const char *input) {
    Arena *a = arena_new();
    Source src = {"<input>", input, (int)strlen(input)};
    Diag d = {.src = &src};
    Buf errs = {0};
    d.buf = &errs;
    Parse p = {.arena = a, .diag = &d};
    bool ok = parse_source(&p, &src);
    if (!ok) {
        int rc = d.at_eof ? -1 : 0;
        if (rc == 0) fputs(errs.s ? errs.s : "", stderr);
        buf_free(&errs), arena_free(a);
        return rc;
    }
    buf_free(&errs);
    if (!p.first) { /* only comments or blanks */
        arena_free(a);
        return 1;
    }
    int n = r->n, cap = r->n;
    Entry *e = copy_entries(r);
    bool new_param = false; /* a param typed again: its initializer counts */
    for (Stmt *s = p.first; s; s = s->next) new_param |= s->kind == S_PARAM;
    merge(&e, &n, &cap, p.first, input, a);
    arena_free(a);
    if (!adopt(r, e, n, false)) {
        free_entries(e, n);
        return 0;
    }
    set_entries(r, e, n);
    if (new_param && r->params[0]) {
        r->params[0] = 0;
        puts("(a param was declared: the session's trained values are dropped)");
    }
    return 1;
}

/* ---- commands --------------------------------------------------------- */

static const nodec_model *need_model(Repl *r) {
    if (r->have && r->lm.model) return r->lm.model;
    if (!r->have)
        fputs("error: the model is empty; declare a state first, e.g. `state z[2]`\n", stderr);
    else
        fprintf(stderr, "error: state '%s' has no equation yet\n", r->c.model->incomplete->name);
    return NULL;
}

/* Splits a command line into words (no quoting beyond whitespace). */
static int split(char *s, char **argv, int max) {
    int n = 0;
    for (char *t = strtok(s, " \t"); t && n < max - 1; t = strtok(NULL, " \t")) argv[n++] = t;
    argv[n] = NULL;
    return n;
}

static bool numbers_for(const char *arg, const char *name, double *out, int n) {
    char err[512];
    double *v;
    int k;
    if (nodec_parse_numbers(name, arg, &v, &k, err, sizeof err)) {
        fprintf(stderr, "error: %s\n", err);
        return false;
    }
    if (k != n) {
        fprintf(stderr, "error: %s needs %d numbers, got %d\n", name, n, k);
        free(v);
        return false;
    }
    memcpy(out, v, sizeof(double) * (size_t)n);
    free(v);
    return true;
}

static void print_vec(const char *name, const double *v, int n) {
    printf("%s = [", name);
    for (int i = 0; i < n; i++) printf("%s%.10g", i ? ", " : "", v[i]);
    puts("]");
}

/* u=LIST of a model with ni inputs: ni values (u′ = u″ = 0) or 3·ni
 * (values, u′, u″) into row (3·ni). */
static bool input_row(const char *arg, double *row, int ni) {
    char err[512];
    double *v;
    int k;
    if (nodec_parse_numbers("u", arg, &v, &k, err, sizeof err)) {
        fprintf(stderr, "error: %s\n", err);
        return false;
    }
    bool ok = k == ni || k == 3 * ni;
    if (ok)
        memcpy(row, v, sizeof(double) * (size_t)k);
    else
        fprintf(stderr, "error: u needs %d numbers (the inputs' values) or %d (values, u', u''), got %d\n", ni, 3 * ni,
                k);
    free(v);
    return ok;
}

/* :eval and :vjp; a model with inputs is called through nodec_model.inputs,
 * at u=LIST or, said so, at zero inputs */
static void eval(Repl *r, int argc, char **argv, bool vjp) {
    const nodec_model *m = need_model(r);
    if (!m) return;
    int ns = m->n_state, np = m->n_param, ni = m->inputs ? m->inputs->n_input : 0;
    double *u = calloc((size_t)(3 * ni) + 1, sizeof *u);
    bool have_u = false;
    double *z = calloc((size_t)ns, sizeof *z), *a = calloc((size_t)ns, sizeof *a), t = 0;
    double *th = calloc((size_t)np + 1, sizeof *th), *w = calloc((size_t)m->work_size + 1, sizeof *w);
    double *out = calloc((size_t)ns, sizeof *out), *ath = calloc((size_t)np + 1, sizeof *ath), at = 0;
    bool ok = true, have_z = m->z0 != NULL, have_a = false;
    if (m->z0) memcpy(z, m->z0, sizeof(double) * (size_t)ns);
    for (int i = 1; i < argc && ok; i++) {
        if (!strncmp(argv[i], "z=", 2))
            ok = numbers_for(argv[i] + 2, "z", z, ns), have_z = true;
        else if (!strncmp(argv[i], "a=", 2))
            ok = numbers_for(argv[i] + 2, "a", a, ns), have_a = true;
        else if (!strncmp(argv[i], "t=", 2))
            ok = numbers_for(argv[i] + 2, "t", &t, 1);
        else if (!strncmp(argv[i], "u=", 2) && ni)
            ok = input_row(argv[i] + 2, u, ni), have_u = true;
        else
            fprintf(stderr, "error: unknown argument '%s'; give z=…, t=…%s%s\n", argv[i], vjp ? ", a=…" : "",
                    ni ? ", u=…" : ""),
                ok = false;
    }
    if (ok && ni && !have_u) printf("(inputs: 0 at t; give u=LIST of %d or %d numbers)\n", ni, 3 * ni);
    if (ok && !have_z)
        fprintf(stderr, "error: the model has no default state; give z=LIST (%d numbers)\n", ns), ok = false;
    if (ok && vjp && !have_a) fprintf(stderr, "error: give the adjoint a=LIST (%d numbers)\n", ns), ok = false;
    if (ok) ok = nodec_cli_load_params(m, r->params[0] ? r->params : NULL, 1, th) == 0;
    if (ok && !vjp) {
        if (ni)
            m->inputs->f(1, t, z, u, th, out, w);
        else
            m->f(1, t, z, th, out, w);
        print_vec("f", out, ns);
    } else if (ok) {
        if (ni)
            m->inputs->vjp(1, t, z, u, th, a, out, ath, &at, w);
        else
            m->vjp(1, t, z, th, a, out, ath, &at, w);
        print_vec("a'df/dz", out, ns);
        for (int i = 0; i < m->n_param_vars; i++) {
            char name[300];
            snprintf(name, sizeof name, "a'df/d%s", m->param_vars[i].name);
            print_vec(name, ath + m->param_vars[i].offset, m->param_vars[i].size);
        }
        printf("a'df/dt = %.10g\n", at);
    }
    free(z), free(a), free(th), free(w), free(out), free(ath), free(u);
}

/* The session's private directory, made on first use (mkdtemp: mode 0700,
 * a name no one can guess or plant) for :train's parameters and :plot's
 * data, and removed at the end; NULL (reported) when it cannot be made. */
static const char *session_dir(Repl *r) {
    if (r->dir[0]) return r->dir;
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    bool fits = snprintf(r->dir, sizeof r->dir, "%s/nodec-repl-XXXXXX", tmp) < (int)sizeof r->dir;
    if (!fits || !mkdtemp(r->dir)) {
        fprintf(stderr, "error: cannot create a temporary directory in %s: %s\n", tmp,
                strerror(fits ? errno : ENAMETOOLONG));
        r->dir[0] = 0;
        return NULL;
    }
    return r->dir;
}

static void remove_session_dir(Repl *r) {
    if (!r->dir[0]) return;
    DIR *d = opendir(r->dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[1400];
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
            snprintf(path, sizeof path, "%s/%s", r->dir, e->d_name) < (int)sizeof path)
            unlink(path);
    }
    if (d) closedir(d);
    rmdir(r->dir);
    r->dir[0] = 0;
}

/* Adds the options given with :set to args. */
static int add_opts(Repl *r, char **args, int n) {
    for (int i = 0; i < r->nopts; i++) {
        args[n++] = r->opts[2 * i];
        if (r->opts[2 * i + 1]) args[n++] = r->opts[2 * i + 1];
    }
    return n;
}

/* :solve, :grad, :train: the runtime's commands with the session's
 * parameters and options; :train keeps what it trained in the session's
 * directory. */
static void run_cli(Repl *r, int argc, char **argv, int (*fn)(const nodec_model *, int, char **), bool train) {
    const nodec_model *m = need_model(r);
    if (!m) return;
    char save[sizeof r->params];
    if (train) {
        const char *dir = session_dir(r);
        if (!dir) return;
        snprintf(save, sizeof save, "%s/params.npz", dir);
    }
    char **args = calloc((size_t)(argc + 2 * r->nopts + 8), sizeof *args);
    int n = 0;
    for (int i = 1; i < argc; i++) args[n++] = argv[i];
    n = add_opts(r, args, n);
    bool has_params = false;
    for (int i = 0; i < n; i++) has_params |= !strcmp(args[i], "--params");
    if (r->params[0] && !has_params) args[n++] = "--params", args[n++] = r->params;
    if (train) args[n++] = "--save", args[n++] = save;
    fflush(stdout);
    int rc = fn(m, n, args);
    fflush(stdout);
    if (train && rc == 0) snprintf(r->params, sizeof r->params, "%s", save);
    free(args);
}

/* :plot — a trajectory drawn in the terminal by gnuplot (`dumb`), or into a
 * PNG with `:plot --png FILE`; the other arguments are :solve's.  Every
 * string in the script is quoted by plot_str, and gnuplot runs without a
 * shell (plot.c). */
static void cmd_plot(Repl *r, int argc, char **argv) {
    const nodec_model *m = need_model(r);
    if (!m) return;
    const char *png = NULL;
    char **args = calloc((size_t)(argc + 2 * r->nopts + 8), sizeof *args);
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--png"))
            args[n++] = argv[i];
        else if (i + 1 < argc)
            png = argv[++i];
        else {
            fputs("error: --png needs a file name, like :plot --png plot.png\n", stderr);
            free(args);
            return;
        }
    }
    Buf gp = {0};
    if (png) {
        buf_puts(&gp, "set terminal pngcairo size 800,500\nset output ");
        if (!plot_str(&gp, png)) {
            fputs("error: --png: the file name holds a control character; choose another name\n", stderr);
            free(args), buf_free(&gp);
            return;
        }
        buf_putc(&gp, '\n');
    } else {
        buf_puts(&gp, "set terminal dumb size 100,28\n");
    }
    const char *dir = session_dir(r);
    char csv[1100];
    if (dir) snprintf(csv, sizeof csv, "%s/plot.csv", dir);
    buf_puts(&gp, "set datafile separator ','\nset key autotitle columnhead\nset xlabel 't'\nplot");
    bool quoted = true;
    for (int k = 0; k < m->n_state && k < 8 && dir; k++) {
        buf_puts(&gp, k ? ", " : " ");
        quoted &= plot_str(&gp, csv);
        buf_printf(&gp, " using 1:%d with lines", k + 2);
    }
    buf_putc(&gp, '\n');
    if (dir && !quoted)
        fputs("error: cannot plot: TMPDIR holds a control character; set it to another directory\n", stderr);
    else if (gp.oom)
        fputs("error: out of memory\n", stderr);
    if (!dir || !quoted || gp.oom) {
        free(args), buf_free(&gp);
        return;
    }
    n = add_opts(r, args, n);
    if (r->params[0]) args[n++] = "--params", args[n++] = r->params;
    args[n++] = "-o", args[n++] = csv;
    int rc = nodec_cli_solve(m, n, args);
    free(args);
    if (rc == 0) {
        char err[1024];
        fflush(stdout);
        if (plot_run(gp.s, NULL, NULL, err, sizeof err))
            fprintf(stderr, "error: %s\n", err);
        else if (png)
            printf("plot in %s\n", png);
    }
    buf_free(&gp);
    unlink(csv);
}

static void cmd_params(Repl *r, int argc, char **argv) {
    const nodec_model *m = need_model(r);
    if (!m) return;
    char err[1024];
    double *th = calloc((size_t)m->n_param + 1, sizeof *th);
    if (argc == 3 && !strcmp(argv[1], "load")) {
        if (nodec_params_load(argv[2], m, th, err, sizeof err))
            fprintf(stderr, "error: %s\n", err);
        else
            snprintf(r->params, sizeof r->params, "%s", argv[2]), printf("parameters from %s\n", argv[2]);
    } else if (argc == 3 && !strcmp(argv[1], "save")) {
        if (nodec_cli_load_params(m, r->params[0] ? r->params : NULL, 1, th) == 0) {
            if (nodec_params_save(argv[2], m, th, err, sizeof err))
                fprintf(stderr, "error: %s\n", err);
            else
                printf("saved %s\n", argv[2]);
        }
    } else if (argc == 2 && !strcmp(argv[1], "reset")) {
        r->params[0] = 0;
        puts("parameters from the initializers");
    } else {
        fputs("usage: :params load FILE | :params save FILE | :params reset\n", stderr);
    }
    free(th);
}

static void cmd_load(Repl *r, const char *path) {
    Arena *a = arena_new();
    Source src;
    char err[512];
    if (!source_read(path, &src, a, err, sizeof err)) {
        fprintf(stderr, "error: %s\n", err);
        arena_free(a);
        return;
    }
    Diag d = {.src = &src, .out = stderr};
    Parse p = {.arena = a, .diag = &d};
    if (!parse_source(&p, &src)) {
        arena_free(a);
        return;
    }
    Entry *e = NULL;
    int n = 0, cap = 0;
    merge(&e, &n, &cap, p.first, src.text, a);
    arena_free(a);
    if (adopt(r, e, n, false))
        set_entries(r, e, n), r->params[0] = 0;
    else
        free_entries(e, n);
}

static void cmd_save(Repl *r, const char *path) {
    char *text = joined(r->e, r->n);
    char err[1024];
    if (nodec_write_file_atomic(path, text, strlen(text), err, sizeof err))
        fprintf(stderr, "error: %s\n", err);
    else
        printf("saved %s\n", path);
    free(text);
}

static void cmd_drop(Repl *r, const char *key) {
    int i = 0;
    while (i < r->n && strcmp(r->e[i].key, key)) i++;
    if (i == r->n) {
        fprintf(stderr, "error: no statement defines '%s' (see :show)\n", key);
        return;
    }
    Entry *e = copy_entries(r);
    free(e[i].key), free(e[i].text);
    memmove(e + i, e + i + 1, sizeof *e * (size_t)(r->n - i - 1));
    int n = r->n - 1;
    if (n == 0) {
        unload(r);
        set_entries(r, e, 0);
        puts("ok (the model is empty)");
        return;
    }
    if (adopt(r, e, n, false))
        set_entries(r, e, n);
    else
        free_entries(e, n);
}

static void clear_opts(Repl *r) {
    for (int i = 0; i < 2 * r->nopts; i++) free(r->opts[i]);
    free(r->opts);
    r->opts = NULL, r->nopts = 0;
}

/* :set OPTION [VALUE]: one solver option, checked by the parser `nodec
 * solve` uses before it is kept (a bad value would fail every later
 * command); it replaces an earlier value.  :set alone lists them. */
static void cmd_set(Repl *r, int argc, char **argv) {
    if (argc == 1) {
        if (!r->nopts) puts("(no solver options set: the defaults)");
        for (int i = 0; i < r->nopts; i++)
            printf("%s%s%s\n", r->opts[2 * i], r->opts[2 * i + 1] ? " " : "",
                   r->opts[2 * i + 1] ? r->opts[2 * i + 1] : "");
        return;
    }
    nodec_solver_opts o;
    nodec_solver_opts_default(&o);
    int i = 1, rc = nodec_solver_opts_parse(&o, "repl :set", argc, argv, &i);
    if (rc < 0) return; /* the parser said why */
    if (rc == 0) {
        fprintf(stderr,
                "error: :set takes a solver option (--method, --rtol, --atol, --mode, --max-steps, --step, "
                "--no-seminorm, --threads), not '%s'\n",
                argv[1]);
        return;
    }
    if (i + 1 != argc) {
        fprintf(stderr, "error: :set takes one option at a time; '%s' is one too many\n", argv[i + 1]);
        return;
    }
    /* --rtol 1e-6, --rtol=1e-6 or --no-seminorm: kept as flag and value */
    size_t flen = strcspn(argv[1], "=");
    char *flag = strndup(argv[1], flen);
    char *value = i == 2 ? xstrdup(argv[2]) : argv[1][flen] ? xstrdup(argv[1] + flen + 1) : NULL;
    if (!flag) ice("out of memory");
    int k = 0;
    while (k < r->nopts && strcmp(r->opts[2 * k], flag)) k++;
    if (k == r->nopts) {
        r->opts = realloc(r->opts, sizeof(char *) * 2 * (size_t)(r->nopts + 1));
        if (!r->opts) ice("out of memory");
        r->nopts++;
    } else {
        free(r->opts[2 * k]), free(r->opts[2 * k + 1]);
    }
    r->opts[2 * k] = flag, r->opts[2 * k + 1] = value;
    printf("%s%s%s\n", flag, value ? " " : "", value ? value : "");
}

static void command(Repl *r, char *line, bool *quit) {
    char *argv[64];
    int argc = split(line, argv, 64);
    if (argc == 0) return;
    const char *c = argv[0];
    if (!strcmp(c, ":quit") || !strcmp(c, ":q"))
        *quit = true;
    else if (!strcmp(c, ":help"))
        fputs(help_text, stdout);
    else if (!strcmp(c, ":show")) {
        char *text = joined(r->e, r->n);
        fputs(text, stdout);
        free(text);
    } else if (!strcmp(c, ":reset")) {
        unload(r), set_entries(r, NULL, 0), r->params[0] = 0;
        puts(r->nopts ? "ok (the model is empty; the solver options are the defaults again)"
                      : "ok (the model is empty)");
        clear_opts(r);
    } else if (!strcmp(c, ":load") && argc == 2)
        cmd_load(r, argv[1]);
    else if (!strcmp(c, ":save") && argc == 2)
        cmd_save(r, argv[1]);
    else if (!strcmp(c, ":drop") && argc == 2)
        cmd_drop(r, argv[1]);
    else if (!strcmp(c, ":params"))
        cmd_params(r, argc, argv);
    else if (!strcmp(c, ":eval"))
        eval(r, argc, argv, false);
    else if (!strcmp(c, ":vjp"))
        eval(r, argc, argv, true);
    else if (!strcmp(c, ":solve"))
        run_cli(r, argc, argv, nodec_cli_solve, false);
    else if (!strcmp(c, ":plot"))
        cmd_plot(r, argc, argv);
    else if (!strcmp(c, ":grad"))
        run_cli(r, argc, argv, nodec_cli_grad, false);
    else if (!strcmp(c, ":train"))
        run_cli(r, argc, argv, nodec_cli_train, true);
    else if (!strcmp(c, ":set"))
        cmd_set(r, argc, argv);
    else if (!strcmp(c, ":derive") || !strcmp(c, ":ir") || !strcmp(c, ":c")) {
        if (!r->have || !r->c.prog) {
            need_model(r);
            return;
        }
        Buf b = {0};
        if (c[1] == 'd')
            print_derive(&b, r->c.prog, argc > 1 && !strcmp(argv[1], "--latex"));
        else if (c[1] == 'c') {
            EmitOpts o = {"<model>", nc_hash(r->c.src.text, (size_t)r->c.src.len), false};
            emit_source(&b, r->c.prog, &o);
        } else {
            nc_dump(&b, &r->c, STAGE_IR, NULL);
        }
        fputs(b.s ? b.s : "", stdout);
        buf_free(&b);
    } else {
        fprintf(stderr, "error: unknown command or wrong arguments: %s (:help lists the commands)\n", c);
    }
}

/* ---- input ------------------------------------------------------------- */

static Repl *completing;

#ifdef NODEC_HAVE_READLINE
/* Completions: commands, keywords and built-ins, then the model's names. */
static char *complete_word(const char *text, int state) {
    static const char *const words[] = {"state",   "param", "const",    "let",     "loss",   "model", "tanh",
                                        "sigmoid", "relu",  "softplus", "exp",     "log",    "sin",   "cos",
                                        "sqrt",    "abs",   "sum",      "mean",    "dot",    "outer", "concat",
                                        "glorot",  "zeros", "ones",     "uniform", "normal", NULL};
    static int ci, wi, si;
    if (!state) ci = wi = si = 0;
    size_t n = strlen(text);
    while (commands[ci])
        if (!strncmp(commands[ci++], text, n)) return xstrdup(commands[ci - 1]);
    while (words[wi])
        if (!strncmp(words[wi++], text, n)) return xstrdup(words[wi - 1]);
    Model *m = completing && completing->have ? completing->c.model : NULL;
    while (m && si < m->nsyms)
        if (!strncmp(m->syms[si++]->name, text, n)) return xstrdup(m->syms[si - 1]->name);
    return NULL;
}

static char **complete(const char *text, int start, int end) {
    (void)start, (void)end;
    rl_attempted_completion_over = 1;
    return rl_completion_matches(text, complete_word);
}
#endif

/* One line without its newline, or NULL at the end of input; *nul is set
 * when it held a NUL byte, which would silently cut it short. */
static char *read_line(Repl *r, const char *prompt, bool *nul) {
    *nul = false;
#ifdef NODEC_HAVE_READLINE
    if (r->tty) {
        char *s = readline(prompt);
        if (s && *s) add_history(s);
        return s;
    }
#endif
    if (r->tty) fputs(prompt, stdout), fflush(stdout);
    Buf b = {0};
    int ch;
    while ((ch = getchar()) != EOF && ch != '\n') buf_putc(&b, (char)ch);
    if (ch == EOF && !b.len) return NULL;
    *nul = b.len && memchr(b.s, 0, b.len);
    if (!r->tty) { /* the transcript shows a NUL byte as \0 */
        fputs(prompt, stdout);
        for (size_t i = 0; i < b.len; i++) b.s[i] ? putchar(b.s[i]) : fputs("\\0", stdout);
        putchar('\n'), fflush(stdout);
    }
    char *s = buf_take(&b);
    return s ? s : xstrdup("");
}

int repl_main(int argc, char **argv) {
    Repl r = {0};
    r.tty = isatty(0) && isatty(1);
    const char *model = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc)
            r.backend = argv[++i];
        else if (argv[i][0] != '-')
            model = argv[i];
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs("usage: nodec repl [MODEL.nde]\n\n", stdout);
            fputs(help_text, stdout);
            return 0;
        }
    }
    completing = &r;
#ifdef NODEC_HAVE_READLINE
    rl_attempted_completion_function = complete;
    rl_basic_word_break_characters = " \t\n()[],+-*/^@'=;";
    rl_readline_name = "nodec";
    char hist[1024] = "";
    if (getenv("HOME")) snprintf(hist, sizeof hist, "%s/.nodec_history", getenv("HOME"));
    if (r.tty && hist[0]) read_history(hist);
#endif
    if (r.tty) printf("nodec %s — :help for commands, :quit to leave\n", NODEC_VERSION);
    if (model) cmd_load(&r, model);
    Buf pending = {0};
    bool quit = false;
    while (!quit) {
        bool nul;
        char *line = read_line(&r, pending.len ? "...> " : "nodec> ", &nul);
        if (!line) break;
        fflush(stdout);
        if (nul) {
            fputs("error: the line holds a NUL byte (shown as \\0), so it was ignored; type it again without it\n",
                  stderr);
        } else if (!pending.len && line[0] == ':') {
            command(&r, line, &quit);
        } else if (pending.len || line[strspn(line, " \t")]) {
            /* continuation lines join with a space: one statement */
            if (pending.len) buf_putc(&pending, ' ');
            buf_puts(&pending, line);
            int rc = statement(&r, pending.s);
            if (rc >= 0) buf_free(&pending);
        }
        free(line);
        fflush(stdout), fflush(stderr);
    }
    if (pending.len) fputs("error: unfinished statement at the end of the input\n", stderr);
    buf_free(&pending);
#ifdef NODEC_HAVE_READLINE
    if (r.tty && hist[0]) write_history(hist);
#endif
    unload(&r);
    set_entries(&r, NULL, 0);
    clear_opts(&r);
    remove_session_dir(&r);
    return 0;
}
