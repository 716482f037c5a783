/* sema.c — names, shapes and the rules of a model (DESIGN.md §2).
 *
 * Requires: a parsed statement list.  Produces: a Model whose symbols have
 * shapes, offsets and initial values, and whose AST nodes carry shapes and
 * resolved symbols.  Names are declared before use, in file order, as in
 * the REPL; a name used before a later declaration gets a message saying
 * so.  Errors are reported and checking goes on, so one run lists many.
 */
#include "compiler.h"

#include "nodec_model.h" /* NODEC_NOISE_*, NODEC_INTERP_* */

#include <math.h>
#include <string.h>

typedef struct Sema {
    Parse *p;
    Diag *d;
    Arena *a;
    Model *m;
    Stmt *all; /* every statement, for "declared later" hints */
    Stmt *cur;
    bool in_loss;
    Span loss_span; /* the first loss statement */
    /* The symbol table: open addressing over the arena, the latest symbol
     * of each name; the Model's arrays grow by doubling (their capacities
     * here), so n declarations cost O(n). */
    Sym **tab;
    int tabcap, tablen;
    int cap_syms, cap_states, cap_params, cap_consts, cap_lets, cap_inputs;
} Sema;

static const struct {
    const char *name;
    int nargs;
} builtins[] = {
#define X(id, name, nargs, op) {name, nargs},
    BUILTINS(X)
#undef X
};

static const char *const initializers[] = {"zeros", "ones", "glorot", "uniform", "normal"};

/* A Builtin, or B_FUNC + the Op of an elementwise function; -1. */
static int builtin_lookup(const char *s) {
    for (int i = 0; i < B_COUNT; i++)
        if (!strcmp(builtins[i].name, s)) return i;
    int op = func_lookup(s);
    return op >= 0 ? B_FUNC + op : -1;
}

static bool is_initializer(const char *s) {
    for (size_t i = 0; i < sizeof initializers / sizeof *initializers; i++)
        if (!strcmp(initializers[i], s)) return true;
    return false;
}

const char *func_names_hint(void) {
    static char hint[512];
    if (!hint[0]) {
        Buf b = {0};
        buf_puts(&b, "functions:");
        for (int op = 0; op < OP_COUNT; op++)
            if (op_is_func(op) && func_def[op].user) buf_printf(&b, " %s", func_def[op].name);
        for (int i = 0; i < B_COUNT; i++) buf_printf(&b, " %s", builtins[i].name);
        if (b.s && b.len < sizeof hint) memcpy(hint, b.s, b.len + 1);
        buf_free(&b);
    }
    return hint;
}

static const char *sh(Sema *s, Shape x) { return shape_str(x, s->a); }

const char *sym_kind_a(SymKind k) {
    static const char *const kinds[] = {"a state", "a param",         "a const", "a let",
                                        "time",    "a loss argument", "an input"};
    return kinds[k];
}

/* Appends x to the array v of n elements and capacity *cap. */
static void push(Arena *a, Sym ***v, int *n, int *cap, Sym *x) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        Sym **nv = arena_alloc(a, sizeof *nv * (size_t)*cap);
        if (*n) memcpy(nv, *v, sizeof *nv * (size_t)*n);
        *v = nv;
    }
    (*v)[(*n)++] = x;
}

static size_t name_hash(const char *name) { return (size_t)fnv1a64(name, strlen(name)); }

/* The slot of `name` in the table: its symbol, or the empty slot for it. */
static Sym **slot(Sema *s, const char *name) {
    size_t mask = (size_t)s->tabcap - 1, h = name_hash(name) & mask;
    while (s->tab[h] && strcmp(s->tab[h]->name, name)) h = (h + 1) & mask;
    return &s->tab[h];
}

/* Makes y visible: a later symbol of the same name hides the earlier one. */
static void declare(Sema *s, Sym *y) {
    push(s->a, &s->m->syms, &s->m->nsyms, &s->cap_syms, y);
    if (2 * (s->tablen + 1) > s->tabcap) {
        Sym **old = s->tab;
        int oldcap = s->tabcap;
        s->tabcap = oldcap ? oldcap * 2 : 64;
        s->tab = arena_alloc(s->a, sizeof *s->tab * (size_t)s->tabcap);
        for (int i = 0; i < oldcap; i++)
            if (old[i]) *slot(s, old[i]->name) = old[i];
    }
    Sym **at = slot(s, y->name);
    if (!*at) s->tablen++;
    *at = y;
}

static Sym *lookup(Sema *s, const char *name) { return s->tabcap ? *slot(s, name) : NULL; }

/* The closest known name, for "did you mean". */
static const char *suggest(Sema *s, const char *name, bool funcs) {
    const char *best = NULL;
    int len = (int)strlen(name);
    /* close enough to be a typo: at most a third of the name, never all of it */
    int bd = (len / 3 > 1 ? len / 3 : 1) + 1;
    if (bd > len) bd = len;
    if (funcs) {
        for (int op = 0; op < OP_COUNT; op++) {
            if (!op_is_func(op) || !func_def[op].user) continue;
            int d = edit_distance(name, func_def[op].name);
            if (d < bd) bd = d, best = func_def[op].name;
        }
        for (int i = 0; i < B_COUNT; i++) {
            int d = edit_distance(name, builtins[i].name);
            if (d < bd) bd = d, best = builtins[i].name;
        }
        return best;
    }
    for (int i = 0; i < s->m->nsyms; i++) {
        if (s->in_loss != (s->m->syms[i]->kind == SYM_LOSSARG) && s->m->syms[i]->kind != SYM_CONST) continue;
        int d = edit_distance(name, s->m->syms[i]->name);
        if (d < bd) bd = d, best = s->m->syms[i]->name;
    }
    return best;
}

static int line_of(Sema *s, int pos) {
    int line = 1;
    for (int i = 0; i < pos && i < s->m->src->len; i++) line += s->m->src->text[i] == '\n';
    return line;
}

/* A declaration of `name` after the current statement, if any. */
static Stmt *declared_later(Sema *s, const char *name) {
    bool after = false;
    for (Stmt *t = s->all; t; t = t->next) {
        if (t == s->cur)
            after = true;
        else if (after && t->kind != S_EQ && t->kind != S_MODEL && t->kind != S_LOSS && !strcmp(t->name, name))
            return t;
    }
    return NULL;
}

static void unknown_name(Sema *s, const char *name, Span sp, const char *what) {
    if (s->d->fatal) return; /* reporting has stopped: no hints to look for */
    Stmt *later = declared_later(s, name);
    if (later) {
        const char *hint = arena_printf(s->a, "move the declaration of '%s' above its first use", name);
        error_at(s->d, sp, hint, MSG(M_USED_BEFORE_DECL), name, line_of(s, later->span.beg));
        return;
    }
    const char *near = suggest(s, name, false);
    const char *hint = near ? arena_printf(s->a, "did you mean '%s'?", near) : NULL;
    if (!hint && !s->in_loss)
        hint = arena_printf(s->a, "declare it first, e.g. `param %s = 0` or `let %s = …`", name, name);
    error_at(s->d, sp, hint, MSG(M_UNKNOWN_NAME), what, name);
}

/* ---- expressions ----------------------------------------------------- */

static bool check_expr(Sema *s, Ast *e);

/* A whole-number constant: 3 or -3. */
static bool const_int(Ast *e, long *v) {
    double x;
    if (e->kind == A_UNARY && e->op == '-' && e->a->kind == A_NUM)
        x = -e->a->num;
    else if (e->kind == A_NUM)
        x = e->num;
    else
        return false;
    if (x != floor(x)) return false;
    /* huge whole numbers saturate: the range checks then report them */
    *v = x > 1e15 ? (long)1e15 : x < -1e15 ? -(long)1e15 : (long)x;
    return true;
}

static bool const_num(Ast *e, double *v) {
    if (e->kind == A_NUM) return *v = e->num, true;
    if (e->kind == A_UNARY && e->op == '-' && e->a->kind == A_NUM) return *v = -e->a->num, true;
    return false;
}

/* [1, 2] or [[1, 2], [3, 4]]: its shape and values, checked for raggedness. */
static bool literal_array(Sema *s, Ast *e, Shape *shape, double **vals) {
    int rows = e->nargs;
    bool nested = e->args[0]->kind == A_ARRAY;
    int cols = nested ? e->args[0]->nargs : 1;
    for (int i = 0; i < rows; i++) {
        Ast *r = e->args[i];
        if ((r->kind == A_ARRAY) != nested) {
            error_at(s->d, r->span, "write a vector as [1, 2] and a matrix as [[1, 2], [3, 4]]",
                     MSG(M_ARRAY_LITERAL_MIXES_NUMBERS));
            return false;
        }
        if (nested && r->nargs != cols) {
            error_at(s->d, r->span, "every row of a matrix needs the same number of elements",
                     MSG(M_RAGGED_ARRAY_LITERAL_ROW), i + 1, r->nargs, r->nargs == 1 ? "" : "s", cols);
            return false;
        }
    }
    if ((long)rows * cols > MAX_ELEMS) {
        error_at(s->d, e->span, NULL, MSG(M_ARRAY_LITERAL_HAS_MORE), MAX_ELEMS);
        return false;
    }
    double *v = arena_alloc(s->a, sizeof *v * rows * cols);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            Ast *x = nested ? e->args[i]->args[j] : e->args[i];
            if (x->kind == A_ARRAY) {
                error_at(s->d, x->span, NULL, MSG(M_ARRAYS_HAVE_AT_MOST));
                return false;
            }
            if (!const_num(x, &v[i * cols + j])) {
                error_at(s->d, x->span, "use `let` for computed values", MSG(M_ARRAY_LITERAL_ELEMENTS_MUST));
                return false;
            }
        }
    *shape = nested ? shape2(rows, cols) : shape1(rows);
    *vals = v;
    return true;
}

static Sym *new_sym(Sema *s, SymKind k, const char *name, Span sp, Shape shape) {
    Sym *y = arena_alloc(s->a, sizeof *y);
    y->kind = k, y->name = name, y->span = sp, y->shape = shape, y->ir = -1;
    return y;
}

static bool check_name(Sema *s, Ast *e) {
    if (builtin_lookup(e->name) >= 0) {
        error_at(s->d, e->span, arena_printf(s->a, "call it: %s(x)", e->name), MSG(M_FUNCTION_AS_VALUE), e->name);
        return false;
    }
    Sym *y = lookup(s, e->name);
    if (!y && is_initializer(e->name)) {
        error_at(s->d, e->span, "write `param W[2, 2] = glorot`", MSG(M_INITIALIZER_MISPLACED), e->name);
        return false;
    }
    if (y && s->in_loss && y->kind != SYM_LOSSARG && y->kind != SYM_CONST) {
        error_at(s->d, e->span, "the loss sees only its two arguments (pred, obs) and constants",
                 MSG(M_THE_LOSS_CANNOT_USE), e->name);
        return false;
    }
    if (y && !s->in_loss && y->kind == SYM_LOSSARG) y = NULL;
    if (y && y->poisoned) return false;
    if (!y) {
        unknown_name(s, e->name, e->span, "name");
        return false;
    }
    e->sym = y, e->shape = y->shape;
    return true;
}

/* A computed m × n matrix within MAX_ELEMS, as declared ones are. */
static bool small_enough(Sema *s, Ast *e, const char *what, int m, int n) {
    if ((long long)m * n <= MAX_ELEMS) return true;
    error_at(s->d, e->span,
             what[0] == '@'   ? "order the products so that no large matrix is made: A @ (B @ x), not (A @ B) @ x"
             : what[0] == 'j' ? "jvp(e, x, v) and vjp(e, x, a) give its products with a vector and need no matrix"
                              : "outer(u, v) @ x is u * dot(v, x), which needs no matrix",
             MSG(M_RESULT_TOO_LARGE), what, (long long)m * n, MAX_ELEMS);
    return false;
}

static bool check_matmul(Sema *s, Ast *e, Shape x, Shape y, Shape *out) {
    if (x.rank == 0 || y.rank == 0) {
        error_at(s->d, e->span, "use '*' to multiply by a scalar", MSG(M_NEEDS_VECTORS_OR_MATRICES));
        return false;
    }
    int inner_x = x.rank == 2 ? x.d[1] : x.d[0];
    int inner_y = y.d[0];
    if (inner_x != inner_y) {
        error_at(s->d, e->span,
                 x.rank == 2 && y.rank >= 1 && x.d[0] == inner_y
                     ? "did you mean to transpose the left operand, e.g. `W' @ x`?"
                     : NULL,
                 MSG(M_CANNOT_MULTIPLY_BY_INNER), sh(s, x), sh(s, y), inner_x, inner_y);
        return false;
    }
    if (x.rank == 2 && y.rank == 2) {
        if (!small_enough(s, e, "@", x.d[0], y.d[1])) return false;
        *out = shape2(x.d[0], y.d[1]);
    } else if (x.rank == 2)
        *out = shape1(x.d[0]);
    else if (y.rank == 2)
        *out = shape1(y.d[1]);
    else
        *out = shape0();
    return true;
}

static bool check_binary(Sema *s, Ast *e) {
    bool ok = check_expr(s, e->a);
    ok = check_expr(s, e->b) && ok;
    if (!ok) return false;
    Shape x = e->a->shape, y = e->b->shape;
    if (e->op == '@') return check_matmul(s, e, x, y, &e->shape);
    if (x.rank == 0)
        e->shape = y;
    else if (y.rank == 0 || shape_eq(x, y))
        e->shape = x;
    else {
        const char *hint = "elementwise operators need equal shapes, or a scalar on one side";
        if (e->op == '*' && (x.rank == 2 || y.rank == 2)) hint = "for a matrix product use '@'";
        error_at(s->d, e->span, hint, MSG(M_SHAPE_MISMATCH_IN_AND), e->op, sh(s, x), sh(s, y));
        return false;
    }
    return true;
}

/* jacobian(e, x), jvp(e, x, v), vjp(e, x, a): x names a state or a let;
 * e and x are scalars or vectors (DESIGN.md §7). */
static bool check_deriv(Sema *s, Ast *e, int b) {
    Ast *x = e->args[1];
    if (x->kind != A_NAME || !x->sym || (x->sym->kind != SYM_STATE && x->sym->kind != SYM_LET)) {
        bool named = x->kind == A_NAME && x->sym;
        const char *what = named ? arena_printf(s->a, "'%s', %s", x->name, sym_kind_a(x->sym->kind)) : "an expression";
        error_at(s->d, x->span,
                 named && x->sym->kind == SYM_INPUT
                     ? "inputs are held fixed by jacobian, jvp and vjp; differentiate by a state, or by a let"
                     : "name the state, or give the expression a name with `let` first",
                 MSG(M_DERIV_BY_NAME), e->name, what);
        return false;
    }
    for (int k = 0; k < 2; k++) {
        Shape y = e->args[k]->shape;
        if (y.rank == 2) {
            error_at(s->d, e->args[k]->span, "take it apart, or differentiate its rows", MSG(M_DERIV_SHAPE), e->name,
                     k == 0 ? "the expression" : arena_printf(s->a, "'%s'", x->name), sh(s, y));
            return false;
        }
    }
    Shape se = e->args[0]->shape, sx = x->shape;
    if (b == B_JACOBIAN) {
        if (se.rank == 0)
            e->shape = sx;
        else if (sx.rank == 0)
            e->shape = se;
        else if (!small_enough(s, e, "jacobian", se.d[0], sx.d[0]))
            return false;
        else
            e->shape = shape2(se.d[0], sx.d[0]);
        return true;
    }
    /* jvp's tangent is shaped like x, vjp's cotangent like e */
    Shape want = b == B_JVP ? sx : se, got = e->args[2]->shape;
    if (!shape_eq(want, got)) {
        error_at(s->d, e->args[2]->span, NULL, MSG(M_DERIV_ARG_SHAPE), b == B_JVP ? "tangent" : "cotangent", e->name,
                 b == B_JVP ? arena_printf(s->a, "'%s'", x->name) : "the expression", sh(s, want), sh(s, got));
        return false;
    }
    e->shape = b == B_JVP ? se : sx;
    return true;
}

/* ddt(u): the time derivative of input u's interpolant, shaped like u; only
 * of a whole input, named (its elements: ddt(u)[0]). */
static bool check_ddt(Sema *s, Ast *e) {
    Ast *x = e->args[0];
    if (x->kind == A_NAME && x->sym && x->sym->kind == SYM_INPUT) {
        e->shape = x->shape;
        s->m->uses_ddt = true;
        return true;
    }
    bool named = x->kind == A_NAME && x->sym;
    const char *what = named ? arena_printf(s->a, "'%s', %s", x->name, sym_kind_a(x->sym->kind)) : "an expression";
    const char *hint = x->kind == A_INDEX && x->a->kind == A_NAME && x->a->sym && x->a->sym->kind == SYM_INPUT
                           ? arena_printf(s->a, "take the element after the derivative: ddt(%s)[…]", x->a->name)
                           : "declare the signal an input, e.g. `input u = cubic`, and write ddt(u)";
    error_at(s->d, x->span, hint, MSG(M_DDT_NOT_INPUT), what);
    return false;
}

static bool check_call(Sema *s, Ast *e) {
    int b = builtin_lookup(e->name);
    if (b < 0) {
        Sym *y = lookup(s, e->name);
        if (y && y->poisoned) return false;
        if (y) {
            error_at(s->d, e->name_span,
                     arena_printf(s->a, "to multiply, write `%s * (…)`; '@' is the matrix product", e->name),
                     MSG(M_NOT_A_FUNCTION), e->name, sym_kind_a(y->kind));
            return false;
        }
        if (is_initializer(e->name)) {
            error_at(s->d, e->name_span, "write `param w[3] = uniform(-1, 1)`", MSG(M_INITIALIZER_MISPLACED), e->name);
            return false;
        }
        const char *near = suggest(s, e->name, true);
        error_at(s->d, e->name_span, near ? arena_printf(s->a, "did you mean '%s'?", near) : func_names_hint(),
                 MSG(M_UNKNOWN_FUNCTION), e->name);
        return false;
    }
    e->builtin = b;
    int want = b >= B_FUNC ? 1 : builtins[b].nargs;
    if ((want >= 0 && e->nargs != want) || (want < 0 && e->nargs == 0)) {
        if (want < 0)
            error_at(s->d, e->span, NULL, MSG(M_ARITY_VARIADIC), e->name);
        else
            error_at(s->d, e->span, NULL, MSG(M_ARITY), e->name, want, want == 1 ? "" : "s", e->nargs);
        return false;
    }
    bool ok = true;
    for (int i = 0; i < e->nargs; i++) ok = check_expr(s, e->args[i]) && ok;
    if (!ok) return false;
    Shape x = e->args[0]->shape;
    switch (b) {
    case B_SUM:
    case B_MEAN: e->shape = shape0(); return true;
    case B_DOT: {
        Shape y = e->args[1]->shape;
        if (x.rank != 1 || !shape_eq(x, y)) {
            error_at(s->d, e->span, NULL, MSG(M_DOT_NEEDS_TWO_VECTORS), sh(s, x), sh(s, y));
            return false;
        }
        e->shape = shape0();
        return true;
    }
    case B_OUTER: {
        Shape y = e->args[1]->shape;
        if (x.rank != 1 || y.rank != 1) {
            error_at(s->d, e->span, NULL, MSG(M_OUTER_NEEDS_TWO_VECTORS), sh(s, x), sh(s, y));
            return false;
        }
        if (!small_enough(s, e, "outer", x.d[0], y.d[0])) return false;
        e->shape = shape2(x.d[0], y.d[0]);
        return true;
    }
    case B_CONCAT: {
        long n = 0;
        for (int i = 0; i < e->nargs; i++) {
            Shape y = e->args[i]->shape;
            if (y.rank == 2) {
                error_at(s->d, e->args[i]->span, NULL, MSG(M_CONCAT_JOINS_SCALARS_AND), sh(s, y));
                return false;
            }
            n += y.d[0];
        }
        if (n > MAX_ELEMS) {
            error_at(s->d, e->span, NULL, MSG(M_CONCAT_RESULT_HAS_MORE), MAX_ELEMS);
            return false;
        }
        e->shape = shape1((int)n);
        return true;
    }
    case B_JACOBIAN:
    case B_JVP:
    case B_VJP: return check_deriv(s, e, b);
    case B_TRACE:
    case B_DIAG:
        if (x.rank != 2 || x.d[0] != x.d[1]) {
            error_at(s->d, e->args[0]->span, NULL, MSG(M_NEEDS_SQUARE), e->name, sh(s, x));
            return false;
        }
        e->shape = b == B_TRACE ? shape0() : shape1(x.d[0]);
        return true;
    case B_DDT: return check_ddt(s, e);
    default: e->shape = x; return true; /* elementwise */
    }
}

/* x[i], x[lo:hi], M[i, j], M[i], M[:, j] — constant bounds, end-exclusive. */
static bool check_index(Sema *s, Ast *e) {
    if (!check_expr(s, e->a)) return false;
    Shape x = e->a->shape;
    if (x.rank == 0) {
        error_at(s->d, e->span, NULL, MSG(M_INDEX_SCALAR),
                 e->a->kind == A_NAME ? arena_printf(s->a, "'%s'", e->a->name) : "this");
        return false;
    }
    if (e->nidx > x.rank) {
        error_at(s->d, e->span, NULL, MSG(M_TOO_MANY_INDICES_HAS), sh(s, x), x.rank, x.rank == 1 ? "" : "s");
        return false;
    }
    int dims[2], nd = 0;
    e->dropped = 0;
    for (int k = 0; k < 2; k++) {
        int n = x.d[k];
        long lo = 0, hi = n;
        if (k < x.rank && k < e->nidx) {
            Index *ix = &e->idx[k];
            Ast *bad = NULL;
            if (ix->lo && !const_int(ix->lo, &lo)) bad = ix->lo;
            if (ix->hi && !const_int(ix->hi, &hi)) bad = ix->hi;
            if (bad) {
                error_at(s->d, bad->span, "for a computed index, use a literal number", MSG(M_INDICES_MUST_BE_WHOLE));
                return false;
            }
            long lo0 = lo, hi0 = hi; /* as written, for messages */
            if (lo < 0) lo += n;
            if (ix->range && ix->hi && hi < 0) hi += n;
            if (!ix->range) {
                if (lo < 0 || lo >= n) {
                    error_at(s->d, ix->span, "indices count from 0; negative ones from the end",
                             MSG(M_INDEX_OUT_OF_RANGE), ix->span.end - ix->span.beg, s->m->src->text + ix->span.beg, n);
                    return false;
                }
                hi = lo + 1;
                e->dropped |= 1 << k;
            } else if (lo < 0 || hi > n || lo > n) {
                error_at(s->d, ix->span, "slices are lo:hi, end-exclusive, within the dimension",
                         MSG(M_SLICE_IS_OUT_OF), lo0, hi0, n);
                return false;
            } else if (lo >= hi) {
                error_at(s->d, ix->span, "slices are lo:hi with lo < hi, end-exclusive", MSG(M_SLICE_IS_EMPTY), lo0,
                         hi0);
                return false;
            }
        }
        e->lohi[2 * k] = (int)lo, e->lohi[2 * k + 1] = (int)hi;
        if (k < x.rank && !(e->dropped & (1 << k))) dims[nd++] = (int)(hi - lo);
    }
    e->shape = nd == 0 ? shape0() : nd == 1 ? shape1(dims[0]) : shape2(dims[0], dims[1]);
    return true;
}

static bool check_expr(Sema *s, Ast *e) {
    switch (e->kind) {
    case A_NUM: e->shape = shape0(); return true;
    case A_NAME: return check_name(s, e);
    case A_UNARY:
        if (!check_expr(s, e->a)) return false;
        e->shape = e->a->shape;
        return true;
    case A_BINARY: return check_binary(s, e);
    case A_CALL: return check_call(s, e);
    case A_INDEX: return check_index(s, e);
    case A_TRANSPOSE:
        if (!check_expr(s, e->a)) return false;
        e->shape = e->a->shape;
        if (e->shape.rank == 2) e->shape = shape2(e->shape.d[1], e->shape.d[0]);
        return true;
    case A_ARRAY: {
        Shape shape;
        double *v;
        if (!literal_array(s, e, &shape, &v)) return false;
        Sym *y = new_sym(s, SYM_CONST, arena_printf(s->a, "literal%d", s->m->nconsts), e->span, shape);
        y->init = INIT_VALUE, y->values = v, y->index = s->m->nconsts;
        push(s->a, &s->m->consts, &s->m->nconsts, &s->cap_consts, y);
        e->sym = y, e->shape = shape;
        return true;
    }
    }
    ice("check_expr: kind %d", e->kind);
    return false;
}

/* ---- declarations ---------------------------------------------------- */

static bool declare_ok(Sema *s, const char *name, Span sp) {
    if (!strcmp(name, "t")) {
        error_at(s->d, sp, "choose another name", MSG(M_DECLARE_T));
        return false;
    }
    if (builtin_lookup(name) >= 0 || is_initializer(name)) {
        error_at(s->d, sp, "choose another name", MSG(M_DECLARE_BUILTIN), name);
        return false;
    }
    Sym *prev = lookup(s, name);
    if (prev && prev->kind != SYM_LOSSARG) {
        error_at(s->d, sp, "each name is declared once; rename one of them", MSG(M_REDEFINITION_OF), name);
        note_at(s->d, prev->span, MSG(M_NOTE_FIRST_DECL), name);
        return false;
    }
    return true;
}

static bool check_dims(Sema *s, Stmt *st, Shape *shape) {
    int d[2] = {1, 1};
    for (int i = 0; i < st->ndims; i++) {
        Ast *x = st->dims[i];
        long v;
        if (!const_int(x, &v)) {
            error_at(s->d, x->span, "write e.g. `param W[50, 2]`", MSG(M_DIMENSIONS_MUST_BE_WHOLE));
            return false;
        }
        if (v < 1) {
            error_at(s->d, x->span, "a dimension is at least 1; for a scalar leave out the brackets",
                     MSG(M_DIMENSION_IS_NOT_POSITIVE), v);
            return false;
        }
        if (v > MAX_DIM) {
            error_at(s->d, x->span, NULL, MSG(M_DIMENSION_TOO_LARGE), x->span.end - x->span.beg,
                     s->m->src->text + x->span.beg, MAX_DIM);
            return false;
        }
        d[i] = (int)v;
    }
    if ((long)d[0] * d[1] > MAX_ELEMS) {
        error_at(s->d, st->dims_span, NULL, MSG(M_WOULD_HAVE_ELEMENTS_AT), st->name, (long)d[0] * d[1], MAX_ELEMS);
        return false;
    }
    *shape = st->ndims == 1 ? shape1(d[0]) : shape2(d[0], d[1]);
    return true;
}

static const char *init_hint =
    "an initializer is a number, a literal array, zeros, ones, glorot, uniform(lo, hi) or normal(mean, std)";

/* The initializer of a state (default z0), param or const. */
static bool check_init(Sema *s, Stmt *st, Sym *y) {
    Ast *e = st->expr;
    const char *what = st->kind == S_STATE ? "state" : st->kind == S_PARAM ? "param" : "const";
    if (!e) {
        if (st->kind == S_CONST) {
            error_at(s->d, st->name_span, arena_printf(s->a, "give it a value: `const %s = 1.5`", st->name),
                     MSG(M_CONST_NEEDS_A_VALUE), st->name);
            return false;
        }
        y->init = st->kind == S_PARAM ? INIT_ZEROS : INIT_NONE;
        return true;
    }
    double v;
    if (const_num(e, &v)) {
        y->init = INIT_VALUE;
        y->values = arena_alloc(s->a, sizeof(double) * shape_size(y->shape));
        for (int i = 0; i < shape_size(y->shape); i++) y->values[i] = v;
        return true;
    }
    if (e->kind == A_ARRAY) {
        Shape shape;
        if (!literal_array(s, e, &shape, &y->values)) return false;
        if (st->has_dims && !shape_eq(shape, y->shape)) {
            error_at(s->d, e->span, NULL, MSG(M_INITIALIZER_HAS_SHAPE_BUT), sh(s, shape), st->name, sh(s, y->shape));
            return false;
        }
        y->shape = shape, y->init = INIT_VALUE;
        return true;
    }
    Sym *p = e->kind == A_NAME && st->kind == S_STATE ? lookup(s, e->name) : NULL;
    if (p && p->kind == SYM_PARAM && !p->poisoned) { /* state x = x0: its initial value is learned */
        if (st->has_dims && !shape_eq(p->shape, y->shape)) {
            error_at(s->d, e->span, NULL, MSG(M_INITIALIZER_HAS_SHAPE_BUT), sh(s, p->shape), st->name, sh(s, y->shape));
            return false;
        }
        y->shape = p->shape, y->init = INIT_PARAM, y->z0_param = p;
        /* the default z0 holds the param's initial value where it is known */
        y->values = arena_alloc(s->a, sizeof(double) * shape_size(y->shape));
        for (int i = 0; i < shape_size(y->shape); i++)
            y->values[i] = p->init == INIT_VALUE ? p->values[i] : p->init == INIT_ONES ? 1 : 0;
        return true;
    }
    if (p && st->kind == S_STATE) {
        const char *kind = p->kind == SYM_CONST ? "a const" : p->kind == SYM_INPUT ? "an input" : "a state or let";
        error_at(s->d, e->span,
                 arena_printf(s->a, "a state may start from a param (`param %s0 = …` then `state %s = %s0`), not %s",
                              st->name, st->name, st->name, kind),
                 MSG(M_INVALID_INITIALIZER_FOR), what, st->name);
        return false;
    }
    if (e->kind == A_NAME && (!strcmp(e->name, "zeros") || !strcmp(e->name, "ones"))) {
        y->init = e->name[0] == 'z' ? INIT_ZEROS : INIT_ONES;
        return true;
    }
    bool random = (e->kind == A_NAME && !strcmp(e->name, "glorot")) ||
                  (e->kind == A_CALL && (!strcmp(e->name, "uniform") || !strcmp(e->name, "normal")));
    if (random && st->kind != S_PARAM) {
        error_at(s->d, e->span, "give a number, a literal array, zeros or ones", MSG(M_RANDOM_INIT_NOT_PARAM), what);
        return false;
    }
    if (e->kind == A_NAME && !strcmp(e->name, "glorot")) {
        y->init = INIT_GLOROT;
        return true;
    }
    if (random) {
        bool uni = e->name[0] == 'u';
        if (e->nargs != 2) {
            error_at(s->d, e->span, NULL, MSG(M_INIT_ARITY), e->name, uni ? "lo, hi" : "mean, std", e->nargs);
            return false;
        }
        if (!const_num(e->args[0], &y->a) || !const_num(e->args[1], &y->b)) {
            error_at(s->d, e->span, NULL, MSG(M_THE_ARGUMENTS_OF_MUST), e->name);
            return false;
        }
        if (uni ? y->a > y->b : y->b < 0) {
            error_at(s->d, e->span, NULL, uni ? "uniform(lo, hi) needs lo <= hi" : "normal(mean, std) needs std >= 0");
            return false;
        }
        y->init = uni ? INIT_UNIFORM : INIT_NORMAL;
        return true;
    }
    error_at(s->d, e->span, init_hint, MSG(M_INVALID_INITIALIZER_FOR), what, st->name);
    return false;
}

/* noise e[k] = normal | rademacher: a state that stays at its initial
 * value, drawn per trajectory (DESIGN.md §7). */
static bool check_noise(Sema *s, Stmt *st, Sym *y) {
    Ast *e = st->expr;
    if (e && e->kind == A_NAME && (!strcmp(e->name, "normal") || !strcmp(e->name, "rademacher"))) {
        y->noise = e->name[0] == 'n' ? NODEC_NOISE_NORMAL : NODEC_NOISE_RADEMACHER;
        y->init = INIT_VALUE; /* 0 in the model's z0: drawn at run time; its equation is dX/dt = 0 */
        y->values = arena_alloc(s->a, sizeof(double) * shape_size(y->shape));
        s->m->has_noise = true;
        return true;
    }
    error_at(s->d, e ? e->span : st->name_span,
             arena_printf(s->a, "write `noise %s[%d] = normal` (a standard normal) or `= rademacher` (±1)", st->name,
                          shape_size(y->shape)),
             MSG(M_INVALID_INITIALIZER_FOR), "noise", st->name);
    return false;
}

/* input u[2] = linear | cubic | hold (DESIGN.md §7); linear when not said. */
static bool check_interp(Sema *s, Stmt *st, Sym *y) {
    static const char *const names[] = {
        [NODEC_INTERP_LINEAR] = "linear", [NODEC_INTERP_CUBIC] = "cubic", [NODEC_INTERP_HOLD] = "hold"};
    Ast *e = st->expr;
    y->interp = NODEC_INTERP_LINEAR;
    for (int k = 0; e && e->kind == A_NAME && k < 3; k++)
        if (!strcmp(e->name, names[k])) return y->interp = k, true;
    if (!e) return true;
    error_at(s->d, e->span,
             arena_printf(s->a,
                          "an input is interpolated between its rows: `input %s = linear` (the default), "
                          "`= cubic` (a natural spline) or `= hold` (the last row's value)",
                          st->name),
             MSG(M_UNKNOWN_INTERP), e->span.end - e->span.beg, s->m->src->text + e->span.beg, st->name);
    return false;
}

static void check_decl(Sema *s, Stmt *st) {
    if (!declare_ok(s, st->name, st->name_span)) return;
    SymKind k = st->kind == S_STATE || st->kind == S_NOISE ? SYM_STATE
                : st->kind == S_PARAM                      ? SYM_PARAM
                : st->kind == S_INPUT                      ? SYM_INPUT
                                                           : SYM_CONST;
    Sym *y = new_sym(s, k, st->name, st->name_span, shape0());
    y->eq_before = st->eq_before;
    Model *m = s->m;
    if ((st->has_dims && !check_dims(s, st, &y->shape)) || !(st->kind == S_NOISE   ? check_noise(s, st, y)
                                                             : st->kind == S_INPUT ? check_interp(s, st, y)
                                                                                   : check_init(s, st, y))) {
        y->poisoned = true; /* reported: its uses stay silent */
        declare(s, y);
        return;
    }
    declare(s, y);
    if (k == SYM_STATE) y->index = m->nstates, push(s->a, &m->states, &m->nstates, &s->cap_states, y);
    if (k == SYM_PARAM) y->index = m->nparams, push(s->a, &m->params, &m->nparams, &s->cap_params, y);
    if (k == SYM_CONST) y->index = m->nconsts, push(s->a, &m->consts, &m->nconsts, &s->cap_consts, y);
    if (k == SYM_INPUT) y->index = m->ninputs, push(s->a, &m->inputs, &m->ninputs, &s->cap_inputs, y);
}

static void check_let(Sema *s, Stmt *st) {
    bool ok = check_expr(s, st->expr);
    if (!declare_ok(s, st->name, st->name_span)) return;
    Sym *y = new_sym(s, SYM_LET, st->name, st->name_span, ok ? st->expr->shape : shape0());
    y->expr = st->expr, y->poisoned = !ok;
    declare(s, y);
    if (!ok) return;
    push(s->a, &s->m->lets, &s->m->nlets, &s->cap_lets, y);
}

/* dX/dt = expr.  The left side is checked first, so a bad left side gives
 * one error and the right side is still checked for its own. */
static void check_eq(Sema *s, Stmt *st) {
    const char *x = st->name + 1;
    Sym *y = st->name[0] == 'd' && st->name[1] ? lookup(s, x) : NULL;
    Stmt *later = NULL;
    if (y && y->kind == SYM_LOSSARG) y = NULL;
    if (st->name[0] != 'd' || !st->name[1]) {
        error_at(s->d, st->name_span, "an equation reads `dX/dt = …` for a state X", MSG(M_EXPECTED_D_AND_A), st->name);
        y = NULL;
    } else if (!y) {
        Span sp = {st->name_span.beg + 1, st->name_span.end};
        later = declared_later(s, x);
        if (later && later->kind == S_STATE) {
            error_at(s->d, sp, arena_printf(s->a, "move `state %s` above its equation", x),
                     MSG(M_STATE_IS_DECLARED_AFTER), x, line_of(s, later->span.beg));
            later->eq_before = true; /* no "has no equation" for it later */
        } else {
            error_at(s->d, sp, arena_printf(s->a, "declare it first: `state %s`", x), MSG(M_EQUATION_FOR_WHICH_IS), x);
        }
    } else if (y->poisoned) {
        y = NULL;
    } else if (y->kind != SYM_STATE || y->noise) {
        const char *kind = y->noise ? "a noise" : sym_kind_a(y->kind);
        error_at(s->d, st->name_span,
                 y->noise               ? "a noise stays at its draw: it has no equation"
                 : y->kind == SYM_INPUT ? "an input comes from the data, interpolated in t: it has no equation"
                                        : "only states have equations",
                 MSG(M_NOT_A_STATE), x, kind);
        y = NULL;
    } else if (y->eq) {
        error_at(s->d, st->name_span, "each state has exactly one equation", MSG(M_SECOND_EQUATION_FOR), x);
        note_at(s->d, y->eq_span, MSG(M_NOTE_FIRST_EQUATION), x);
        y = NULL;
    }
    if (strcmp(st->name2, "dt")) {
        error_at(s->d, st->name2_span, "derivatives are with respect to time: `dX/dt`", MSG(M_EXPECTED_DT_AFTER_GOT),
                 st->name2);
        if (y) y->eq = st->expr, y->eq_span = st->span;
        return;
    }
    if (later) return; /* its names are likely declared later too */
    bool ok = check_expr(s, st->expr);
    if (!y) return;
    y->eq = st->expr, y->eq_span = st->span;
    if (!ok) return;
    Shape es = st->expr->shape;
    if (es.rank != 0 && !shape_eq(es, y->shape))
        error_at(s->d, st->expr->span, NULL, MSG(M_THE_EQUATION_FOR_HAS), x, sh(s, es), x, sh(s, y->shape));
}

static void check_loss(Sema *s, Stmt *st) {
    Model *m = s->m;
    if (m->loss || m->lossargs[0]) {
        error_at(s->d, st->name_span, "a model has one loss", MSG(M_THE_LOSS_IS_DEFINED));
        note_at(s->d, s->loss_span, MSG(M_NOTE_FIRST_LOSS));
        return;
    }
    s->loss_span = st->name_span;
    if (st->nlossargs != 2) {
        error_at(s->d, st->name_span, "write `loss(pred, obs) = …`", MSG(M_THE_LOSS_TAKES_ARGUMENTS), st->nlossargs);
        return;
    }
    if (!strcmp(st->lossargs[0], st->lossargs[1])) {
        error_at(s->d, st->lossarg_spans[1], NULL, MSG(M_THE_TWO_LOSS_ARGUMENTS));
        return;
    }
    for (int i = 0; i < 2; i++) {
        if (!strcmp(st->lossargs[i], "t")) {
            error_at(s->d, st->lossarg_spans[i], NULL, MSG(M_LOSS_ARG_T));
            return;
        }
        Sym *y = new_sym(s, SYM_LOSSARG, st->lossargs[i], st->lossarg_spans[i], shape1(m->n_state));
        y->index = i;
        m->lossargs[i] = y;
        declare(s, y);
    }
    s->in_loss = true;
    bool ok = check_expr(s, st->expr);
    s->in_loss = false;
    if (ok && st->expr->shape.rank != 0) {
        error_at(s->d, st->expr->span, "reduce it, e.g. with mean(…) or sum(…)", MSG(M_THE_LOSS_MUST_BE),
                 sh(s, st->expr->shape));
        return;
    }
    if (ok) m->loss = st->expr;
}

static bool c_identifier(const char *s) {
    if (!*s || (*s >= '0' && *s <= '9')) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

Model *sema_check(Parse *p, const char *default_name) {
    Sema s = {.p = p, .d = p->diag, .a = p->arena, .all = p->first};
    Model *m = s.m = arena_alloc(p->arena, sizeof *m);
    m->src = p->diag->src;
    m->name = default_name;
    m->time = new_sym(&s, SYM_TIME, "t", (Span){0, 0}, shape0());
    declare(&s, m->time);
    Stmt *model_stmt = NULL;
    for (Stmt *st = p->first; st && !s.d->fatal; st = st->next) {
        s.cur = st;
        switch (st->kind) {
        case S_MODEL:
            if (model_stmt) {
                error_at(s.d, st->span, NULL, MSG(M_THE_MODEL_IS_NAMED));
                note_at(s.d, model_stmt->span, MSG(M_NOTE_FIRST_MODEL));
            } else if (!c_identifier(st->name) || !strncmp(st->name, "nodec", 5)) {
                error_at(s.d, st->name_span, NULL, MSG(M_CANNOT_NAME_A_MODEL), st->name);
            }
            model_stmt = st, m->name = st->name;
            break;
        case S_STATE:
        case S_PARAM:
        case S_CONST:
        case S_NOISE:
        case S_INPUT:
            /* offsets are assigned when the loss needs n_state and at the end */
            check_decl(&s, st);
            break;
        case S_LET: check_let(&s, st); break;
        case S_EQ: check_eq(&s, st); break;
        case S_LOSS: {
            long ns = 0;
            for (int i = 0; i < m->nstates; i++) ns += shape_size(m->states[i]->shape);
            m->n_state = ns > MAX_ELEMS ? 1 : (int)ns;
            check_loss(&s, st);
            break;
        }
        }
        /* a loss argument is visible only inside the loss */
    }
    if (s.d->fatal) return NULL;
    if (m->nstates == 0 && s.d->nerrors == 0) error_plain(s.d, MSG(M_NO_STATE));
    for (int i = 0; i < m->nstates; i++) {
        Sym *y = m->states[i];
        if (!y->eq && (y->eq_before || y->noise)) continue;
        if (!y->eq && p->allow_incomplete) {
            if (!m->incomplete) m->incomplete = y;
        } else if (!y->eq)
            error_at(s.d, y->span, arena_printf(s.a, "add `d%s/dt = …`", y->name), MSG(M_STATE_HAS_NO_EQUATION),
                     y->name);
    }
    if (!c_identifier(m->name)) m->name = "model";
    long ns = 0, np = 0;
    m->has_z0 = true;
    for (int i = 0; i < m->nstates; i++) {
        m->states[i]->offset = (int)ns;
        ns += shape_size(m->states[i]->shape);
        if (m->states[i]->init != INIT_VALUE && m->states[i]->init != INIT_PARAM) m->has_z0 = false;
        if (m->states[i]->init == INIT_PARAM) m->z0_params = true;
    }
    for (int i = 0; i < m->nparams; i++) {
        m->params[i]->offset = (int)np;
        np += shape_size(m->params[i]->shape);
    }
    long ni = 0;
    for (int i = 0; i < m->ninputs; i++) {
        m->inputs[i]->offset = (int)ni;
        ni += shape_size(m->inputs[i]->shape);
    }
    m->n_input = (int)(ni > MAX_ELEMS ? 0 : ni);
    if (ns > MAX_ELEMS || np > MAX_ELEMS) error_plain(s.d, MSG(M_THE_STATES_HAVE_ELEMENTS), ns, np, MAX_ELEMS);
    m->n_state = (int)(ns > MAX_ELEMS ? 0 : ns), m->n_param = (int)(np > MAX_ELEMS ? 0 : np);
    return s.d->nerrors ? NULL : m;
}
