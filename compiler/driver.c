/* driver.c — the whole pipeline in one function, and one dump per stage.
 *
 *   parse → sema → lower → differentiate → (verify) → emit
 *
 * nc_compile runs the stages on one source text with one arena, stopping
 * at the first stage that reports errors or at the stage asked for.
 * nc_dump prints any stage's result: `nodec emit --dump=STAGE` and the
 * REPL's :ir and :c use it alike.  (Making the code callable is the
 * tools' business: tools/load.c.)
 */
#include "compiler.h"

#include <stdlib.h>
#include <string.h>

char *nc_model_name_from_path(const char *path, Arena *a) {
    if (path[0] == '<') return "model"; /* <model>, <input>: not a file */
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strcspn(base, ".");
    char *s = arena_strndup(a, base, n ? n : strlen(base));
    for (char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9'))) *c = '_';
    if (!*s || (*s >= '0' && *s <= '9') || !strncmp(s, "nodec", 5)) s = arena_printf(a, "m_%s", s);
    return s;
}

const char *const stage_names[] = {
#define X(id, name) name,
    STAGES(X)
#undef X
};

int nc_stage_from_name(const char *name) {
    for (int i = 0; i < STAGE_COUNT; i++)
        if (!strcmp(name, stage_names[i])) return i;
    return -1;
}

static void all_roots(Program *pg, int **roots, int *n) {
    Func *fs[] = {
#define X(name) &pg->name,
        PROGRAM_FUNCS(X)
#undef X
    };
    int total = 0;
    for (size_t i = 0; i < sizeof fs / sizeof *fs; i++) total += fs[i]->nroots;
    *roots = malloc(sizeof(int) * (total + 1));
    *n = 0;
    for (size_t i = 0; i < sizeof fs / sizeof *fs; i++)
        for (int k = 0; k < fs[i]->nroots; k++) (*roots)[(*n)++] = fs[i]->roots[k];
}

/* parse → sema → lower → differentiate → verify: the whole pipeline. */
bool nc_compile(Compilation *c, Stage stop_at) {
    if (!c->arena) c->arena = arena_new();
    c->diag.src = &c->src;
    c->parse = (Parse){.arena = c->arena, .diag = &c->diag, .allow_incomplete = c->allow_incomplete};
    if (!parse_source(&c->parse, &c->src) || c->diag.nerrors) return false;
    if (stop_at == STAGE_AST) return true;
    c->model = sema_check(&c->parse, nc_model_name_from_path(c->src.path, c->arena));
    if (!c->model) return false;
    if (stop_at == STAGE_SEMA || c->model->incomplete) return true;
    Program *pg = c->prog = arena_alloc(c->arena, sizeof *pg);
    pg->m = c->model;
    pg->ir = ir_new(c->model);
    ir_lower(pg);
    deriv_program(pg);
    int *roots, n;
    all_roots(pg, &roots, &n);
    Buf err = {0};
    if (!ir_verify(pg->ir, roots, n, &err)) ice("IR verification failed:\n%s", err.s);
    free(roots), buf_free(&err);
    return plan_check(pg, &c->diag);
}

/* ---- one dump per stage ------------------------------------------------ */

static const char *const sym_kinds[] = {"state", "param", "const", "let", "time", "lossarg", "input"};
static const char *const interp_names[] = {"linear", "cubic", "hold"}; /* NODEC_INTERP_* */
static const char *const init_names[] = {
    [INIT_NONE] = "",         [INIT_VALUE] = "values",    [INIT_ZEROS] = "zeros",   [INIT_ONES] = "ones",
    [INIT_GLOROT] = "glorot", [INIT_UNIFORM] = "uniform", [INIT_NORMAL] = "normal", [INIT_PARAM] = "a param"};

/* The model as sema left it: every symbol with its kind, shape and place. */
static void dump_sema(Buf *b, Compilation *c) {
    Model *m = c->model;
    Arena *a = c->arena;
    buf_printf(b, "model %s: %d state doubles, %d param doubles, loss %s\n", m->name, m->n_state, m->n_param,
               m->loss ? "custom" : "mean squared error");
    if (m->ninputs) /* a row of u per sample: values, then u′, then u″ */
        buf_printf(b, "  %d input doubles (a row of u: %d)%s\n", m->n_input, 3 * m->n_input,
                   m->uses_ddt ? ", ddt used" : "");
    for (int i = 0; i < m->nsyms; i++) {
        Sym *y = m->syms[i];
        buf_printf(b, "  %-7s %s %s", sym_kinds[y->kind], y->name, shape_str(y->shape, a));
        if (y->kind == SYM_STATE || y->kind == SYM_PARAM || y->kind == SYM_INPUT) buf_printf(b, " at %d", y->offset);
        if (y->kind == SYM_INPUT)
            buf_printf(b, " = %s", interp_names[y->interp]);
        else if (y->noise)
            buf_printf(b, " = noise %s", y->noise == 1 ? "normal" : "rademacher");
        else if (y->init == INIT_PARAM)
            buf_printf(b, " = %s", y->z0_param->name);
        else if (y->init != INIT_NONE)
            buf_printf(b, " = %s", init_names[y->init]);
        if (y->init == INIT_UNIFORM || y->init == INIT_NORMAL) buf_printf(b, "(%g, %g)", y->a, y->b);
        buf_putc(b, '\n');
    }
}

static void dump_ir(Buf *b, Compilation *c) {
    Program *pg = c->prog;
    Model *m = pg->m;
    const char **lab = arena_alloc(c->arena, sizeof *lab * (size_t)(m->nstates + 2));
    for (int i = 0; i < m->nstates; i++) lab[i] = arena_printf(c->arena, "d%s/dt", m->states[i]->name);
    ir_dump(b, pg->ir, "f", lab, pg->f.roots, pg->f.nroots);
    lab[0] = "loss";
    ir_dump(b, pg->ir, "loss", lab, pg->loss.roots, 1);
}

static void dump_deriv(Buf *b, Compilation *c) {
    Program *pg = c->prog;
    Model *m = pg->m;
    Arena *a = c->arena;
    const char **lab = arena_alloc(a, sizeof *lab * (size_t)(m->nstates + m->nparams + 2));
    int n = 0, *roots = arena_alloc(a, sizeof(int) * (size_t)(m->nstates + m->nparams + 2));
    for (int i = 0; i < m->nstates; i++)
        lab[n] = arena_printf(a, "a'df/d%s", m->states[i]->name), roots[n++] = pg->vjp_z.roots[i];
    for (int i = 0; i < m->nparams; i++)
        lab[n] = arena_printf(a, "a'df/d%s", m->params[i]->name), roots[n++] = pg->vjp_p.roots[i];
    lab[n] = "a'df/dt", roots[n++] = pg->vjp_t.roots[0];
    ir_dump(b, pg->ir, "vjp", lab, roots, n);
    for (int i = 0; i < m->nstates; i++) lab[i] = arena_printf(a, "df/d%s v", m->states[i]->name);
    ir_dump(b, pg->ir, "jvp", lab, pg->jvp.roots, m->nstates);
    lab[0] = "dl/dpred";
    ir_dump(b, pg->ir, "loss_grad", lab, pg->loss_grad.roots, 1);
}

void nc_dump(Buf *b, Compilation *c, Stage s, const EmitOpts *o) {
    switch (s) {
    case STAGE_AST: ast_dump(b, c->parse.first, &c->src); break;
    case STAGE_SEMA: dump_sema(b, c); break;
    case STAGE_IR: dump_ir(b, c); break;
    case STAGE_DERIV: dump_deriv(b, c); break;
    case STAGE_PLAN: plan_dump(b, c->prog); break;
    case STAGE_LOOPS: lower_dump(b, c->prog); break;
    case STAGE_C: emit_header(b, c->prog, o), emit_source(b, c->prog, o); break;
    case STAGE_COUNT: ice("nc_dump: no such stage");
    }
}

const char *nc_stmt_key(const Stmt *s, Arena *a) {
    switch (s->kind) {
    case S_MODEL: return "model";
    case S_LOSS: return "loss";
    case S_EQ: return arena_printf(a, "%s/%s", s->name, s->name2);
    default: return s->name;
    }
}

void nc_free(Compilation *c) {
    if (c->prog) {
#define X(name) free(c->prog->name.roots);
        PROGRAM_FUNCS(X)
#undef X
        ir_free(c->prog->ir);
    }
    arena_free(c->arena);
    memset(c, 0, sizeof *c);
}
