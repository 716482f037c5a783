/* ir.c — the tensor IR: a hash-consed graph of operations on scalars,
 * vectors and matrices, lowered from the checked AST.
 *
 * Nodes are made only through the constructors below, which ask simplify.c for an
 * equivalent simpler node first and otherwise returns an identical existing
 * node (hash-consing), so common subexpressions are shared by construction
 * and node ids are a topological order.  Functions (f, its VJPs, the loss)
 * are lists of roots in one shared graph.
 */
#include "compiler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const op_name[] = {
#define X(name, arity, str, cls) str,
    IR_OPS(X)
#undef X
#define X(id, name, user, c, tex, value, deriv) name,
        FUNCS(X)
#undef X
};
const int op_arity[] = {
#define X(name, arity, str, cls) arity,
    IR_OPS(X)
#undef X
#define X(id, name, user, c, tex, value, deriv) 1,
        FUNCS(X)
#undef X
};
const char op_class[] = {
#define X(name, arity, str, cls) cls,
    IR_OPS(X)
#undef X
#define X(id, name, user, c, tex, value, deriv) 'E',
        FUNCS(X)
#undef X
};

Ir *ir_new(Model *m) {
    Ir *ir = calloc(1, sizeof *ir);
    if (!ir) ice("out of memory");
    ir->m = m, ir->fold = true;
    return ir;
}

void ir_free(Ir *ir) {
    if (!ir) return;
    free(ir->n), free(ir->hash), free(ir);
}

static uint64_t node_hash(const Node *n) {
    uint64_t bits;
    memcpy(&bits, &n->num, sizeof bits);
    uint64_t h = (uint64_t)n->op * 0x9E3779B97F4A7C15ull;
    int64_t f[] = {n->a,          n->b,          n->i[0],       n->i[1],         n->i[2],         n->i[3],      n->i[4],
                   n->shape.rank, n->shape.d[0], n->shape.d[1], n->inshape.d[0], n->inshape.d[1], (int64_t)bits};
    for (size_t k = 0; k < sizeof f / sizeof *f; k++) h = (h ^ (uint64_t)f[k]) * 0x100000001B3ull;
    return h ^ (h >> 29);
}

static bool node_same(const Node *x, const Node *y) {
    return x->op == y->op && x->a == y->a && x->b == y->b && !memcmp(x->i, y->i, sizeof x->i) &&
           shape_eq(x->shape, y->shape) && shape_eq(x->inshape, y->inshape) && !memcmp(&x->num, &y->num, sizeof x->num);
}

static void rehash(Ir *ir) {
    free(ir->hash);
    ir->hcap = ir->hcap ? ir->hcap * 2 : 1024;
    ir->hash = malloc(sizeof *ir->hash * ir->hcap);
    if (!ir->hash) ice("out of memory");
    memset(ir->hash, -1, sizeof *ir->hash * ir->hcap);
    for (int id = 0; id < ir->len; id++) {
        size_t h = node_hash(&ir->n[id]) & (ir->hcap - 1);
        while (ir->hash[h] >= 0) h = (h + 1) & (ir->hcap - 1);
        ir->hash[h] = id;
    }
}

int ir_raw(Ir *ir, Node n) {
    if (n.op == OP_NUM && !isfinite(n.num)) ice("a non-finite constant reached the IR");
    if (ir->len * 2 >= ir->hcap) rehash(ir);
    size_t h = node_hash(&n) & (ir->hcap - 1);
    for (; ir->hash[h] >= 0; h = (h + 1) & (ir->hcap - 1))
        if (node_same(&ir->n[ir->hash[h]], &n)) return ir->hash[h];
    if (ir->len == ir->cap) {
        ir->cap = ir->cap ? ir->cap * 2 : 256;
        ir->n = realloc(ir->n, sizeof *ir->n * ir->cap);
        if (!ir->n) ice("out of memory");
    }
    if (n.op == OP_LEAF) {
        LeafKind k = n.i[0];
        n.varies = k == L_STATE || k == L_ADJ || k == L_TAN || k == L_PRED || k == L_OBS || k == L_INPUT ||
                   k == L_DINPUT || k == L_D2INPUT;
    } else {
        n.varies = (n.a >= 0 && ir->n[n.a].varies) || (n.b >= 0 && ir->n[n.b].varies);
    }
    int id = ir->len++;
    ir->n[id] = n;
    ir->hash[h] = id;
    return id;
}

/* ---- shapes ---------------------------------------------------------- */

Shape ir_infer(Ir *ir, Op op, int a, int b) {
    Shape x = a >= 0 ? ir->n[a].shape : shape0(), y = b >= 0 ? ir->n[b].shape : shape0();
    switch (op_class[op]) {
    case 'E': return op_arity[op] == 2 && x.rank == 0 ? y : x;
    default: break;
    }
    switch (op) {
    case OP_TRANS: return x.rank == 2 ? shape2(x.d[1], x.d[0]) : x;
    case OP_OUTER: return shape2(x.d[0], y.d[0]);
    case OP_SUM: return shape0();
    case OP_CONCAT: return shape1(x.d[0] + y.d[0]);
    case OP_MATMUL:
        if (x.rank == 2 && y.rank == 2) return shape2(x.d[0], y.d[1]);
        if (x.rank == 2) return shape1(x.d[0]);
        if (y.rank == 2) return shape1(y.d[1]);
        return shape0();
    default: ice("ir_infer: %s", op_name[op]);
    }
    return x;
}

/* ---- constructors: every node is made here --------------------------- */

static Node proto(Op op, int a, int b, Shape s, Span sp) {
    Node n = {.op = op, .a = a, .b = b, .shape = s, .span = sp};
    return n;
}

int ir_num(Ir *ir, double v, Shape s, Span sp) {
    Node n = proto(OP_NUM, -1, -1, s, sp);
    n.num = v;
    return ir_raw(ir, n);
}

int ir_leaf(Ir *ir, LeafKind k, int sym, Shape s, Span sp) {
    Node n = proto(OP_LEAF, -1, -1, s, sp);
    n.i[0] = k, n.i[1] = sym;
    return ir_raw(ir, n);
}

int ir_op(Ir *ir, Op op, int a, int b, Span sp) {
    if (ir->fold) {
        int r = simplify_op(ir, op, a, b, sp);
        if (r >= 0) return r;
    }
    return ir_raw(ir, proto(op, a, b, ir_infer(ir, op, a, b), sp));
}

static Shape slice_shape(Shape in, const int lohi[4], int dropped) {
    int d[2], nd = 0;
    for (int k = 0; k < in.rank; k++)
        if (!(dropped & (1 << k))) d[nd++] = lohi[2 * k + 1] - lohi[2 * k];
    return nd == 0 ? shape0() : nd == 1 ? shape1(d[0]) : shape2(d[0], d[1]);
}

int ir_slice(Ir *ir, int a, const int lohi[4], int dropped, Span sp) {
    Shape in = ir->n[a].shape;
    Node n = proto(OP_SLICE, a, -1, slice_shape(in, lohi, dropped), sp);
    memcpy(n.i, lohi, sizeof(int) * 4);
    n.i[4] = dropped, n.inshape = in;
    if (ir->fold) {
        bool full = dropped == 0;
        for (int k = 0; k < in.rank; k++) full = full && lohi[2 * k] == 0 && lohi[2 * k + 1] == in.d[k];
        if (full) return a;
        const Node *x = &ir->n[a];
        if (x->op == OP_NUM) return ir_num(ir, x->num, n.shape, sp);
        if (x->op == OP_BCAST) return n.shape.rank == 0 ? x->a : ir_bcast(ir, x->a, n.shape, sp);
        if (x->op == OP_EMBED && !memcmp(x->i, n.i, sizeof n.i)) return x->a;
        if (x->op == OP_SLICE) { /* one slice of x's operand: chains stay one deep */
            int in_lohi[4], in_dropped = x->i[4];
            memcpy(in_lohi, x->i, sizeof in_lohi);
            for (int k = 0, r = 0; k < x->inshape.rank; k++) {
                if (x->i[4] & (1 << k)) continue; /* fixed by x; dimension r of x is k of its operand */
                in_lohi[2 * k] = x->i[2 * k] + lohi[2 * r], in_lohi[2 * k + 1] = x->i[2 * k] + lohi[2 * r + 1];
                if (dropped & (1 << r)) in_dropped |= 1 << k;
                r++;
            }
            return ir_slice(ir, x->a, in_lohi, in_dropped, sp);
        }
    }
    return ir_raw(ir, n);
}

int ir_embed(Ir *ir, int g, const int lohi[4], int dropped, Shape in, Span sp) {
    Node n = proto(OP_EMBED, g, -1, in, sp);
    memcpy(n.i, lohi, sizeof(int) * 4);
    n.i[4] = dropped, n.inshape = in;
    if (ir->fold) {
        if (ir_is_num(ir, g, 0)) return ir_num(ir, 0, in, sp);
        bool full = dropped == 0;
        for (int k = 0; k < in.rank; k++) full = full && lohi[2 * k] == 0 && lohi[2 * k + 1] == in.d[k];
        if (full) return g;
    }
    return ir_raw(ir, n);
}

int ir_bcast(Ir *ir, int a, Shape s, Span sp) {
    if (shape_eq(ir->n[a].shape, s)) return a;
    if (ir->n[a].shape.rank != 0) ice("bcast of a non-scalar");
    if (ir->fold && ir->n[a].op == OP_NUM) return ir_num(ir, ir->n[a].num, s, sp);
    return ir_raw(ir, proto(OP_BCAST, a, -1, s, sp));
}

bool ir_is_num(Ir *ir, int id, double v) { return id >= 0 && ir->n[id].op == OP_NUM && ir->n[id].num == v; }

/* ---- lowering -------------------------------------------------------- */

static const Op binop[128] = {
    ['+'] = OP_ADD, ['-'] = OP_SUB, ['*'] = OP_MUL, ['/'] = OP_DIV, ['^'] = OP_POW, ['@'] = OP_MATMUL};

static const Op builtin_op[] = {
#define X(id, name, nargs, op) op,
    BUILTINS(X)
#undef X
};

static int lower_sym(Ir *ir, Sym *y, Span sp) {
    switch (y->kind) {
    case SYM_STATE: return ir_leaf(ir, L_STATE, y->index, y->shape, sp);
    case SYM_PARAM: return ir_leaf(ir, L_PARAM, y->index, y->shape, sp);
    case SYM_TIME: return ir_leaf(ir, L_TIME, 0, y->shape, sp);
    case SYM_LOSSARG: return ir_leaf(ir, y->index == 0 ? L_PRED : L_OBS, 0, y->shape, sp);
    case SYM_INPUT: return ir_leaf(ir, L_INPUT, y->index, y->shape, sp);
    case SYM_CONST:
        if (y->shape.rank == 0) {
            double v = y->init == INIT_ONES ? 1 : y->init == INIT_ZEROS ? 0 : y->values[0];
            return ir_num(ir, v, y->shape, sp);
        }
        if (y->init == INIT_ZEROS || y->init == INIT_ONES) return ir_num(ir, y->init == INIT_ONES, y->shape, sp);
        return ir_leaf(ir, L_CONST, y->index, y->shape, sp);
    case SYM_LET:
        if (y->ir < 0) {
            y->ir = ir_lower_expr(ir, y->expr);
            Node *n = &ir->n[y->ir];
            if (!n->name && n->op != OP_LEAF && n->op != OP_NUM) n->name = y->name;
        }
        return y->ir;
    }
    ice("lower_sym");
    return -1;
}

/* ---- derivative operators (DESIGN.md §7) ------------------------------- */

/* The unit vector e_j of length n; a scalar's "unit vector" is 1. */
static int unit(Ir *ir, int j, int n, bool scalar, Span sp) {
    int one = ir_num(ir, 1, shape0(), sp);
    if (scalar) return one;
    int lohi[4] = {j, j + 1, 0, 1};
    return ir_embed(ir, one, lohi, 1, shape1(n), sp);
}

static int or_zero(Ir *ir, int d, Shape s, Span sp) { return d >= 0 ? d : ir_num(ir, 0, s, sp); }

/* Element i of vector v, or v itself when it is a scalar. */
static int elem(Ir *ir, int v, int i, Span sp) {
    if (ir->n[v].shape.rank == 0) return v;
    int lohi[4] = {i, i + 1, 0, 1};
    return ir_slice(ir, v, lohi, 1, sp);
}

/* Column j of ∂e/∂x: the JVP with e_j (held fixed: what x is computed from). */
static int jac_col(Ir *ir, int e, int x, int j, Span sp) {
    Shape sx = ir->n[x].shape;
    return or_zero(ir, deriv_jvp(ir, e, x, unit(ir, j, shape_size(sx), sx.rank == 0, sp)), ir->n[e].shape, sp);
}

/* jacobian(e, x): a gradient for scalar e, a derivative for scalar x, else
 * the [m, n] matrix, built from m VJPs (rows) or n JVPs (columns),
 * whichever is fewer. */
static int jacobian(Ir *ir, int e, int x, Span sp) {
    Shape se = ir->n[e].shape, sx = ir->n[x].shape;
    if (se.rank == 0) return or_zero(ir, deriv_vjp(ir, e, x, ir_num(ir, 1, shape0(), sp)), sx, sp);
    if (sx.rank == 0) return jac_col(ir, e, x, 0, sp);
    int m = se.d[0], n = sx.d[0], J = -1;
    Shape s = shape2(m, n);
    for (int k = 0; k < (m <= n ? m : n); k++) {
        int part;
        if (m <= n) { /* row k: e_kᵀ ∂e/∂x */
            int row = or_zero(ir, deriv_vjp(ir, e, x, unit(ir, k, m, false, sp)), sx, sp);
            int lohi[4] = {k, k + 1, 0, n};
            part = ir_embed(ir, row, lohi, 1, s, sp);
        } else {
            int lohi[4] = {0, m, k, k + 1};
            part = ir_embed(ir, jac_col(ir, e, x, k, sp), lohi, 2, s, sp);
        }
        J = J < 0 ? part : ir_op(ir, OP_ADD, J, part, sp);
    }
    return J;
}

/* trace(M) or diag(M) of a square matrix; of jacobian(e, x) straight from
 * its columns' JVPs, no matrix made (the CNF's trace). */
static int trace_diag(Ir *ir, Ast *call, bool trace) {
    Ast *arg = call->args[0];
    Span sp = call->span;
    bool jac = arg->kind == A_CALL && arg->builtin == B_JACOBIAN;
    int e = -1, x = -1, M = -1, n;
    if (jac) {
        e = ir_lower_expr(ir, arg->args[0]), x = ir_lower_expr(ir, arg->args[1]);
        n = shape_size(ir->n[x].shape);
    } else {
        M = ir_lower_expr(ir, arg);
        n = ir->n[M].shape.d[0];
    }
    int r = -1;
    for (int k = 0; k < n; k++) {
        int d;
        if (jac) {
            d = elem(ir, jac_col(ir, e, x, k, sp), k, sp);
        } else {
            int lohi[4] = {k, k + 1, k, k + 1};
            d = ir_slice(ir, M, lohi, 3, sp);
        }
        r = r < 0 ? d : ir_op(ir, trace ? OP_ADD : OP_CONCAT, r, d, sp);
    }
    return trace || n > 1 ? r : ir_bcast(ir, r, shape1(1), sp);
}

int ir_lower_expr(Ir *ir, Ast *e) {
    switch (e->kind) {
    case A_NUM: return ir_num(ir, e->num, shape0(), e->span);
    case A_NAME: return lower_sym(ir, e->sym, e->span);
    case A_ARRAY: return ir_leaf(ir, L_CONST, e->sym->index, e->shape, e->span);
    case A_UNARY: return ir_op(ir, OP_NEG, ir_lower_expr(ir, e->a), -1, e->span);
    case A_TRANSPOSE: return ir_op(ir, OP_TRANS, ir_lower_expr(ir, e->a), -1, e->span);
    case A_BINARY: {
        int a = ir_lower_expr(ir, e->a), b = ir_lower_expr(ir, e->b);
        return ir_op(ir, binop[e->op], a, b, e->span);
    }
    case A_INDEX: return ir_slice(ir, ir_lower_expr(ir, e->a), e->lohi, e->dropped, e->span);
    case A_CALL: {
        if (e->builtin == B_TRACE || e->builtin == B_DIAG) return trace_diag(ir, e, e->builtin == B_TRACE);
        if (e->builtin == B_DDT) return ir_leaf(ir, L_DINPUT, e->args[0]->sym->index, e->shape, e->span);
        int a = ir_lower_expr(ir, e->args[0]);
        switch (e->builtin) {
        case B_JACOBIAN: return jacobian(ir, a, ir_lower_expr(ir, e->args[1]), e->span);
        case B_JVP:
        case B_VJP: {
            int x = ir_lower_expr(ir, e->args[1]), w = ir_lower_expr(ir, e->args[2]);
            int d = e->builtin == B_JVP ? deriv_jvp(ir, a, x, w) : deriv_vjp(ir, a, x, w);
            return or_zero(ir, d, e->shape, e->span);
        }
        case B_MEAN: {
            int n = shape_size(e->args[0]->shape);
            return ir_op(ir, OP_MUL, ir_num(ir, 1.0 / n, shape0(), e->span), ir_op(ir, OP_SUM, a, -1, e->span),
                         e->span);
        }
        case B_CONCAT: {
            if (e->nargs == 1) return ir_bcast(ir, a, shape1(shape_size(ir->n[a].shape)), e->span);
            for (int i = 1; i < e->nargs; i++) a = ir_op(ir, OP_CONCAT, a, ir_lower_expr(ir, e->args[i]), e->span);
            return a;
        }
        default:
            if (e->builtin >= B_FUNC) return ir_op(ir, (Op)(e->builtin - B_FUNC), a, -1, e->span);
            if (op_arity[builtin_op[e->builtin]] == 2)
                return ir_op(ir, builtin_op[e->builtin], a, ir_lower_expr(ir, e->args[1]), e->span);
            return ir_op(ir, builtin_op[e->builtin], a, -1, e->span);
        }
    }
    }
    ice("ir_lower_expr");
    return -1;
}

Func ir_func(int n) {
    Func f = {malloc(sizeof(int) * (size_t)(n > 0 ? n : 1)), n};
    if (!f.roots) ice("out of memory");
    for (int i = 0; i < n; i++) f.roots[i] = -1;
    return f;
}

void ir_lower(Program *pg) {
    Model *m = pg->m;
    Ir *ir = pg->ir;
    pg->f = ir_func(m->nstates);
    for (int i = 0; i < m->nstates; i++) {
        Sym *y = m->states[i];
        if (y->noise) { /* constant along a trajectory */
            pg->f.roots[i] = ir_num(ir, 0, y->shape, y->span);
            continue;
        }
        int r = ir_lower_expr(ir, y->eq);
        pg->f.roots[i] = ir_bcast(ir, r, y->shape, y->eq->span);
    }
    pg->loss = ir_func(1);
    if (m->loss) {
        pg->loss.roots[0] = ir_lower_expr(ir, m->loss);
    } else {
        /* the mean squared error over the observed entries (DESIGN.md §7):
         * Σ m (pred − obs)² / Σ m, m = 0 where obs is missing (NaN), and 0
         * for a row that observes nothing (its count + 1e-300 is the count
         * itself when it is at least 1) */
        Span sp = {0, 0};
        Shape s = shape1(m->n_state);
        int obs = ir_leaf(ir, L_OBS, 0, s, sp), seen = ir_op(ir, OP_OBSERVED, obs, -1, sp);
        int d = ir_op(ir, OP_SUB, ir_leaf(ir, L_PRED, 0, s, sp), ir_op(ir, OP_OR_ZERO, obs, -1, sp), sp);
        int sq = ir_op(ir, OP_MUL, seen, ir_op(ir, OP_POW, d, ir_num(ir, 2, shape0(), sp), sp), sp);
        int count = ir_op(ir, OP_ADD, ir_op(ir, OP_SUM, seen, -1, sp), ir_num(ir, 1e-300, shape0(), sp), sp);
        pg->loss.roots[0] = ir_op(ir, OP_DIV, ir_op(ir, OP_SUM, sq, -1, sp), count, sp);
    }
}

/* ---- printing and verification --------------------------------------- */

const char *leaf_name(Ir *ir, const Node *n) {
    Model *m = ir->m;
    switch ((LeafKind)n->i[0]) {
    case L_STATE: return m->states[n->i[1]]->name;
    case L_PARAM: return m->params[n->i[1]]->name;
    case L_CONST: return m->consts[n->i[1]]->name;
    case L_TIME: return "t";
    case L_ADJ: return "a";
    case L_TAN: return "v";
    case L_PRED: return m->lossargs[0] ? m->lossargs[0]->name : "pred";
    case L_OBS: return m->lossargs[1] ? m->lossargs[1]->name : "obs";
    case L_INPUT:
    case L_DINPUT:
    case L_D2INPUT: return m->inputs[n->i[1]]->name;
    }
    return "?";
}

/* An input's leaves print as `input u`, `ddt u` (u′) and `ddt2 u` (u″). */
static const char *const leaf_kind[] = {"state", "param", "const", "time", "adjoint", "tangent",
                                        "pred",  "obs",   "input", "ddt",  "ddt2"};

/* Marks the nodes reachable from roots. */
static bool *reach(Ir *ir, const int *roots, int nroots) {
    bool *r = calloc((size_t)(ir->len > 0 ? ir->len : 1), 1);
    if (!r) ice("out of memory");
    for (int k = 0; k < nroots; k++)
        if (roots[k] >= 0) r[roots[k]] = true;
    for (int id = ir->len - 1; id >= 0; id--) {
        if (!r[id]) continue;
        if (ir->n[id].a >= 0) r[ir->n[id].a] = true;
        if (ir->n[id].b >= 0) r[ir->n[id].b] = true;
    }
    return r;
}

static void fmt_num(Buf *b, double v) {
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%.17g", v);
    buf_puts(b, tmp);
}

/* One line per reachable node, numbered afresh so goldens stay stable. */
void ir_dump(Buf *b, Ir *ir, const char *title, const char *const *labels, const int *roots, int nroots) {
    bool *r = reach(ir, roots, nroots);
    int *num = malloc(sizeof(int) * (size_t)(ir->len > 0 ? ir->len : 1));
    Arena *a = arena_new();
    int k = 0;
    buf_printf(b, "%s:\n", title);
    for (int id = 0; id < ir->len; id++) {
        if (!r[id]) continue;
        Node *n = &ir->n[id];
        num[id] = k++;
        buf_printf(b, "  %%%d = ", num[id]);
        switch (n->op) {
        case OP_NUM: fmt_num(b, n->num); break;
        case OP_LEAF:
            buf_printf(b, "%s %s", leaf_kind[n->i[0]], leaf_name(ir, n));
            if (n->i[0] == L_ADJ || n->i[0] == L_TAN) buf_printf(b, "_%s", ir->m->states[n->i[1]]->name);
            break;
        case OP_SLICE:
        case OP_EMBED:
            buf_printf(b, "%s %%%d [%d:%d, %d:%d] drop %d", op_name[n->op], num[n->a], n->i[0], n->i[1], n->i[2],
                       n->i[3], n->i[4]);
            break;
        default:
            buf_printf(b, "%s %%%d", op_name[n->op], num[n->a]);
            if (n->b >= 0) buf_printf(b, ", %%%d", num[n->b]);
        }
        buf_printf(b, " : %s", shape_str(n->shape, a));
        if (n->name) buf_printf(b, "  ; %s", n->name);
        buf_putc(b, '\n');
    }
    for (int i = 0; i < nroots; i++) {
        if (roots[i] >= 0)
            buf_printf(b, "  %s = %%%d\n", labels[i], num[roots[i]]);
        else
            buf_printf(b, "  %s = 0\n", labels[i]);
    }
    arena_free(a), free(num), free(r);
}

/* Checks what the passes made: operands before users, arities, shapes. */
bool ir_verify(Ir *ir, const int *roots, int nroots, Buf *err) {
    bool *r = reach(ir, roots, nroots);
    bool ok = true;
    for (int id = 0; id < ir->len && ok; id++) {
        if (!r[id]) continue;
        Node *n = &ir->n[id];
        int ar = (n->a >= 0) + (n->b >= 0);
        if (ar != op_arity[n->op]) {
            buf_printf(err, "%%%d: %s has %d operands, wants %d\n", id, op_name[n->op], ar, op_arity[n->op]);
            ok = false;
        } else if ((n->a >= id) || (n->b >= id)) {
            buf_printf(err, "%%%d: operand defined after its use\n", id);
            ok = false;
        } else if (n->op == OP_NUM && !isfinite(n->num)) {
            buf_printf(err, "%%%d: non-finite constant\n", id);
            ok = false;
        } else if (op_class[n->op] == 'E' || n->op == OP_TRANS || n->op == OP_OUTER || n->op == OP_SUM ||
                   n->op == OP_MATMUL || n->op == OP_CONCAT) {
            Shape s = ir_infer(ir, n->op, n->a, n->b);
            Shape x = ir->n[n->a].shape;
            if (!shape_eq(s, n->shape)) {
                buf_printf(err, "%%%d: %s has the wrong shape\n", id, op_name[n->op]);
                ok = false;
            }
            if (op_class[n->op] == 'E' && n->b >= 0) {
                Shape y = ir->n[n->b].shape;
                if (x.rank && y.rank && !shape_eq(x, y)) {
                    buf_printf(err, "%%%d: %s of unequal shapes\n", id, op_name[n->op]);
                    ok = false;
                }
            }
            if (n->op == OP_MATMUL) {
                Shape y = ir->n[n->b].shape;
                int inner = x.rank == 2 ? x.d[1] : x.d[0];
                if (x.rank == 0 || y.rank == 0 || inner != y.d[0]) {
                    buf_printf(err, "%%%d: @ of mismatched shapes\n", id);
                    ok = false;
                }
            }
        }
    }
    free(r);
    return ok;
}

/* f depends on t (uses_t in the descriptor): the model has inputs (which
 * move with t, used or not: nodec_model.h), or the time leaf is reachable
 * from f's roots. */
bool ir_f_uses_t(Program *pg) {
    if (pg->m->ninputs) return true;
    bool *seen = calloc((size_t)pg->ir->len + 1, 1), uses = false;
    if (!seen) ice("out of memory");
    for (int i = 0; i < pg->f.nroots; i++)
        if (pg->f.roots[i] >= 0) seen[pg->f.roots[i]] = true;
    for (int id = pg->ir->len - 1; id >= 0; id--) {
        if (!seen[id]) continue;
        Node *n = &pg->ir->n[id];
        if (n->op == OP_LEAF && n->i[0] == L_TIME) uses = true;
        if (n->a >= 0) seen[n->a] = true;
        if (n->b >= 0) seen[n->b] = true;
    }
    free(seen);
    return uses;
}
