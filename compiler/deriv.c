/* deriv.c — symbolic differentiation on the tensor IR.
 *
 * Reverse mode gives the VJPs aᵀ∂f/∂z, aᵀ∂f/∂θ, aᵀ∂f/∂t (DESIGN.md §1) and
 * ∂ℓ/∂pred; forward mode gives the JVP ∂f/∂z·v.  Both build new nodes in
 * the same graph through the simplifying constructors, so derivatives share
 * the forward values they need (tanh' = 1 − h² reuses h) and structural
 * zeros vanish.  Matrix products are differentiated as products
 * (∂(W x)ᵀg = outer(g, x), xᵀ-side = gᵀW): no Jacobian is formed.
 *
 * Requires: a lowered Program.  Every derived node inherits the span of
 * the node it differentiates, so errors still point at the user's code.
 */
#include "compiler.h"

#include <stdlib.h>
#include <string.h>

static Node *N(Ir *ir, int id) { return &ir->n[id]; }
static int op(Ir *ir, Op o, int a, int b, Span sp) { return ir_op(ir, o, a, b, sp); }
static int num(Ir *ir, double v, Span sp) { return ir_num(ir, v, shape0(), sp); }

/* The derivative of an elementwise unary node n = op(x), in terms of x and
 * n itself (the functions': ops.c). */
static int unary_factor(Ir *ir, int id) {
    if (N(ir, id)->op == OP_NEG) return num(ir, -1, N(ir, id)->span);
    return func_deriv(ir, id);
}

/* ∂(a^b)/∂a = b a^(b−1) and ∂(a^b)/∂b = log(a) a^b. */
static int pow_da(Ir *ir, int id) {
    Node n = *N(ir, id);
    Span sp = n.span;
    if (N(ir, n.b)->op == OP_NUM && N(ir, n.b)->shape.rank == 0) {
        double c = N(ir, n.b)->num;
        return op(ir, OP_MUL, n.b, op(ir, OP_POW, n.a, num(ir, c - 1, sp), sp), sp);
    }
    return op(ir, OP_MUL, n.b, op(ir, OP_POW, n.a, op(ir, OP_SUB, n.b, num(ir, 1, sp), sp), sp), sp);
}

static int pow_db(Ir *ir, int id) {
    Node n = *N(ir, id);
    return op(ir, OP_MUL, op(ir, OP_LOG, n.a, -1, n.span), id, n.span);
}

/* Sums a broadcast gradient back to a scalar operand's shape. */
static int unbroadcast(Ir *ir, int g, Shape s, Span sp) {
    if (s.rank == 0 && N(ir, g)->shape.rank != 0) return op(ir, OP_SUM, g, -1, sp);
    return g;
}

static void add_grad(Ir *ir, int *grad, int x, int g) {
    g = unbroadcast(ir, g, N(ir, x)->shape, N(ir, x)->span);
    grad[x] = grad[x] < 0 ? g : op(ir, OP_ADD, grad[x], g, N(ir, x)->span);
}

/* The slice bounds that pick operand k of concat(a, b) out of the result. */
static int concat_part(Ir *ir, int g, int id, int k) {
    Node n = *N(ir, id);
    int la = shape_size(N(ir, n.a)->shape);
    int part = k == 0 ? n.a : n.b;
    int lohi[4] = {k == 0 ? 0 : la, k == 0 ? la : la + shape_size(N(ir, n.b)->shape), 0, 1};
    return ir_slice(ir, g, lohi, N(ir, part)->shape.rank == 0 ? 1 : 0, n.span);
}

/* Reverse mode: the gradient g of node id, passed to its operands. */
static void backprop(Ir *ir, int *grad, const bool *active, int id) {
    Node n = *N(ir, id);
    int g = grad[id], a = n.a, b = n.b;
    Span sp = n.span;
    bool da = a >= 0 && active[a], db = b >= 0 && active[b];
    switch (n.op) {
    case OP_NUM:
    case OP_LEAF: return;
    case OP_ADD:
        if (da) add_grad(ir, grad, a, g);
        if (db) add_grad(ir, grad, b, g);
        return;
    case OP_SUB:
        if (da) add_grad(ir, grad, a, g);
        if (db) add_grad(ir, grad, b, op(ir, OP_NEG, g, -1, sp));
        return;
    case OP_MUL:
        if (da) add_grad(ir, grad, a, op(ir, OP_MUL, g, b, sp));
        if (db) add_grad(ir, grad, b, op(ir, OP_MUL, g, a, sp));
        return;
    case OP_DIV:
        if (da) add_grad(ir, grad, a, op(ir, OP_DIV, g, b, sp));
        if (db) add_grad(ir, grad, b, op(ir, OP_NEG, op(ir, OP_DIV, op(ir, OP_MUL, g, id, sp), b, sp), -1, sp));
        return;
    case OP_POW:
        if (da) add_grad(ir, grad, a, op(ir, OP_MUL, g, pow_da(ir, id), sp));
        if (db) add_grad(ir, grad, b, op(ir, OP_MUL, g, pow_db(ir, id), sp));
        return;
    case OP_BCAST: add_grad(ir, grad, a, op(ir, OP_SUM, g, -1, sp)); return;
    case OP_TRANS: add_grad(ir, grad, a, op(ir, OP_TRANS, g, -1, sp)); return;
    case OP_SLICE: add_grad(ir, grad, a, ir_embed(ir, g, n.i, n.i[4], n.inshape, sp)); return;
    case OP_EMBED: add_grad(ir, grad, a, ir_slice(ir, g, n.i, n.i[4], sp)); return;
    case OP_SUM: add_grad(ir, grad, a, ir_bcast(ir, g, N(ir, a)->shape, sp)); return;
    case OP_CONCAT:
        if (da) add_grad(ir, grad, a, concat_part(ir, g, id, 0));
        if (db) add_grad(ir, grad, b, concat_part(ir, g, id, 1));
        return;
    case OP_OUTER: /* G = a bᵀ: ḡa = G b, ḡb = aᵀ G */
        if (da) add_grad(ir, grad, a, op(ir, OP_MATMUL, g, b, sp));
        if (db) add_grad(ir, grad, b, op(ir, OP_MATMUL, a, g, sp));
        return;
    case OP_MATMUL: {
        int ra = N(ir, a)->shape.rank, rb = N(ir, b)->shape.rank;
        if (ra == 2 && rb == 1) { /* y = A x */
            if (da) add_grad(ir, grad, a, op(ir, OP_OUTER, g, b, sp));
            if (db) add_grad(ir, grad, b, op(ir, OP_MATMUL, g, a, sp));
        } else if (ra == 1 && rb == 2) { /* y = xᵀ B */
            if (da) add_grad(ir, grad, a, op(ir, OP_MATMUL, b, g, sp));
            if (db) add_grad(ir, grad, b, op(ir, OP_OUTER, a, g, sp));
        } else if (ra == 2) { /* Y = A B */
            if (da) add_grad(ir, grad, a, op(ir, OP_MATMUL, g, op(ir, OP_TRANS, b, -1, sp), sp));
            if (db) add_grad(ir, grad, b, op(ir, OP_MATMUL, op(ir, OP_TRANS, a, -1, sp), g, sp));
        } else { /* y = a·b */
            if (da) add_grad(ir, grad, a, op(ir, OP_MUL, g, b, sp));
            if (db) add_grad(ir, grad, b, op(ir, OP_MUL, g, a, sp));
        }
        return;
    }
    default: /* elementwise unary */ add_grad(ir, grad, a, op(ir, OP_MUL, g, unary_factor(ir, id), sp)); return;
    }
}

/* active[id]: the node depends on a leaf we differentiate by. */
static bool *activity(Ir *ir, bool (*wanted)(const Node *)) {
    bool *act = calloc((size_t)(ir->len > 0 ? ir->len : 1), 1);
    if (!act) ice("out of memory");
    for (int id = 0; id < ir->len; id++) {
        Node *n = N(ir, id);
        act[id] = n->op == OP_LEAF ? wanted(n) : (n->a >= 0 && act[n->a]) || (n->b >= 0 && act[n->b]);
    }
    return act;
}

/* Inputs are wanted for aᵀ∂f/∂t's chain through u(t) and ddt(u)(t). */
static bool wanted_vjp(const Node *n) {
    LeafKind k = n->i[0];
    return k == L_STATE || k == L_PARAM || k == L_TIME || k == L_INPUT || k == L_DINPUT;
}
static bool wanted_loss(const Node *n) { return n->i[0] == L_PRED; }
static bool wanted_jvp(const Node *n) { return n->i[0] == L_STATE; }

static int *reverse(Ir *ir, const int *roots, const int *seeds, int nr, bool (*wanted)(const Node *)) {
    int len = ir->len;
    bool *act = activity(ir, wanted);
    int *grad = malloc(sizeof(int) * (size_t)(len > 0 ? len : 1));
    if (!grad) ice("out of memory");
    for (int i = 0; i < len; i++) grad[i] = -1;
    for (int k = 0; k < nr; k++)
        if (roots[k] >= 0 && seeds[k] >= 0 && act[roots[k]]) add_grad(ir, grad, roots[k], seeds[k]);
    for (int id = len - 1; id >= 0; id--)
        if (grad[id] >= 0 && act[id]) backprop(ir, grad, act, id);
    free(act);
    return grad;
}

int *deriv_reverse(Ir *ir, const int *roots, const int *seeds, int n) {
    return reverse(ir, roots, seeds, n, wanted_vjp);
}

/* ---- forward mode ---------------------------------------------------- */

static int zero_of(Ir *ir, int id) { return ir_num(ir, 0, N(ir, id)->shape, N(ir, id)->span); }
static int or_zero(Ir *ir, int t, int id) { return t >= 0 ? t : zero_of(ir, id); }

static int sum_tan(Ir *ir, int x, int y, Shape s, Span sp) {
    if (x < 0 && y < 0) return -1;
    int r = x < 0 ? y : y < 0 ? x : op(ir, OP_ADD, x, y, sp);
    return shape_eq(N(ir, r)->shape, s) ? r : ir_bcast(ir, r, s, sp);
}

/* The tangent of node id from its operands' tangents ta, tb (-1: zero). */
static int pushforward(Ir *ir, int id, int ta, int tb) {
    Node n = *N(ir, id);
    Span sp = n.span;
    int a = n.a, b = n.b;
    if (ta < 0 && tb < 0) return -1;
    switch (n.op) {
    case OP_ADD: return sum_tan(ir, ta, tb, n.shape, sp);
    case OP_SUB: return sum_tan(ir, ta, tb < 0 ? -1 : op(ir, OP_NEG, tb, -1, sp), n.shape, sp);
    case OP_MUL:
        return sum_tan(ir, ta < 0 ? -1 : op(ir, OP_MUL, ta, b, sp), tb < 0 ? -1 : op(ir, OP_MUL, a, tb, sp), n.shape,
                       sp);
    case OP_DIV: {
        int num_ = sum_tan(ir, ta, tb < 0 ? -1 : op(ir, OP_NEG, op(ir, OP_MUL, id, tb, sp), -1, sp), n.shape, sp);
        return op(ir, OP_DIV, num_, b, sp);
    }
    case OP_POW:
        return sum_tan(ir, ta < 0 ? -1 : op(ir, OP_MUL, ta, pow_da(ir, id), sp),
                       tb < 0 ? -1 : op(ir, OP_MUL, tb, pow_db(ir, id), sp), n.shape, sp);
    case OP_BCAST: return ir_bcast(ir, ta, n.shape, sp);
    case OP_TRANS:
    case OP_SUM: return op(ir, n.op, ta, -1, sp);
    case OP_SLICE: return ir_slice(ir, ta, n.i, n.i[4], sp);
    case OP_EMBED: return ir_embed(ir, ta, n.i, n.i[4], n.inshape, sp);
    case OP_CONCAT: return op(ir, OP_CONCAT, or_zero(ir, ta, a), or_zero(ir, tb, b), sp);
    case OP_OUTER:
    case OP_MATMUL:
        return sum_tan(ir, ta < 0 ? -1 : op(ir, n.op, ta, b, sp), tb < 0 ? -1 : op(ir, n.op, a, tb, sp), n.shape, sp);
    default: return op(ir, OP_MUL, ta, unary_factor(ir, id), sp);
    }
}

void deriv_forward(Ir *ir, const int *roots, int nr, const int *leaf_tan, int *out) {
    int len = ir->len;
    bool *act = activity(ir, wanted_jvp);
    int *tan = malloc(sizeof(int) * (size_t)(len > 0 ? len : 1));
    if (!tan) ice("out of memory");
    for (int id = 0; id < len; id++) {
        Node *n = N(ir, id);
        if (!act[id])
            tan[id] = -1;
        else if (n->op == OP_LEAF)
            tan[id] = leaf_tan[id];
        else
            tan[id] = pushforward(ir, id, n->a >= 0 ? tan[n->a] : -1, n->b >= 0 ? tan[n->b] : -1);
    }
    for (int k = 0; k < nr; k++) out[k] = roots[k] >= 0 ? tan[roots[k]] : -1;
    free(tan), free(act);
}

/* ---- partial derivatives by one node (jvp, vjp, jacobian) ------------- */

/* active[id]: node id depends on node x (x itself included). */
static bool *depends_on(Ir *ir, int x) {
    bool *act = calloc((size_t)(ir->len > 0 ? ir->len : 1), 1);
    if (!act) ice("out of memory");
    act[x] = true;
    for (int id = x + 1; id < ir->len; id++) {
        Node *n = N(ir, id);
        act[id] = (n->a >= 0 && act[n->a]) || (n->b >= 0 && act[n->b]);
    }
    return act;
}

int deriv_jvp(Ir *ir, int e, int x, int v) {
    int len = ir->len; /* nodes made here are not looked at */
    bool *act = depends_on(ir, x);
    int *tan = malloc(sizeof(int) * (size_t)(len > 0 ? len : 1));
    if (!tan) ice("out of memory");
    for (int id = 0; id <= e; id++) {
        Node *n = N(ir, id);
        if (!act[id])
            tan[id] = -1;
        else if (id == x)
            tan[id] = v;
        else
            tan[id] = pushforward(ir, id, n->a >= 0 ? tan[n->a] : -1, n->b >= 0 ? tan[n->b] : -1);
    }
    int r = tan[e];
    free(tan), free(act);
    return r;
}

int deriv_vjp(Ir *ir, int e, int x, int a) {
    int len = ir->len;
    bool *act = depends_on(ir, x);
    int *grad = malloc(sizeof(int) * (size_t)(len > 0 ? len : 1));
    if (!grad) ice("out of memory");
    for (int i = 0; i < len; i++) grad[i] = -1;
    if (act[e]) add_grad(ir, grad, e, a);
    for (int id = e; id > x; id--)
        if (grad[id] >= 0 && act[id]) backprop(ir, grad, act, id);
    int r = grad[x];
    free(grad), free(act);
    return r;
}

/* ---- the derivatives nodec emits -------------------------------------- */

/* The gradient found for a leaf, if the leaf existed when reverse ran. */
static int leaf_grad(Ir *ir, const int *grad, int len, LeafKind k, int sym, Shape s) {
    int id = ir_leaf(ir, k, sym, s, (Span){0, 0});
    return id < len ? grad[id] : -1;
}

/* aᵀ∂f/∂t along the inputs too: aᵀ(∂f/∂t + Σ ∂f/∂u · u′ + Σ ∂f/∂ddt(u) · u″),
 * the gradients of u and ddt(u) being in grad (inputs are constants for
 * ∂f/∂z and ∂f/∂θ, but move with t). */
static int vjp_t_chain(Program *pg, const int *grad, int len) {
    Ir *ir = pg->ir;
    int r = leaf_grad(ir, grad, len, L_TIME, 0, shape0());
    for (int i = 0; i < pg->m->ninputs; i++) {
        Sym *u = pg->m->inputs[i];
        for (int k = 0; k < 2; k++) { /* u with u′, then ddt(u) with u″ */
            int g = leaf_grad(ir, grad, len, k ? L_DINPUT : L_INPUT, i, u->shape);
            if (g < 0) continue;
            int d = op(ir, OP_MUL, g, ir_leaf(ir, k ? L_D2INPUT : L_DINPUT, i, u->shape, u->span), u->span);
            if (u->shape.rank) d = op(ir, OP_SUM, d, -1, u->span); /* ⟨g, u′⟩ */
            r = r < 0 ? d : op(ir, OP_ADD, r, d, u->span);
        }
    }
    return r;
}

void deriv_program(Program *pg) {
    Ir *ir = pg->ir;
    Model *m = pg->m;
    int ns = m->nstates;
    Span sp0 = {0, 0};

    /* VJP: seeds a_X for every state X. */
    int *seeds = calloc(ns ? ns : 1, sizeof(int));
    for (int i = 0; i < ns; i++) seeds[i] = ir_leaf(ir, L_ADJ, i, m->states[i]->shape, sp0);
    int len = ir->len;
    int *grad = reverse(ir, pg->f.roots, seeds, ns, wanted_vjp);
    pg->vjp_z = ir_func(ns);
    pg->vjp_p = ir_func(m->nparams);
    pg->vjp_t = ir_func(1);
    for (int i = 0; i < ns; i++) pg->vjp_z.roots[i] = leaf_grad(ir, grad, len, L_STATE, i, m->states[i]->shape);
    for (int i = 0; i < m->nparams; i++) pg->vjp_p.roots[i] = leaf_grad(ir, grad, len, L_PARAM, i, m->params[i]->shape);
    pg->vjp_t.roots[0] = vjp_t_chain(pg, grad, len);
    free(grad), free(seeds);

    /* JVP: tangent v_X for every state X. */
    len = ir->len;
    int *leaf_tan = malloc(sizeof(int) * (size_t)(len > 0 ? len : 1));
    for (int id = 0; id < len; id++) {
        Node n = ir->n[id];
        leaf_tan[id] = n.op == OP_LEAF && n.i[0] == L_STATE ? ir_leaf(ir, L_TAN, n.i[1], n.shape, n.span) : -1;
    }
    pg->jvp = ir_func(ns);
    deriv_forward(ir, pg->f.roots, ns, leaf_tan, pg->jvp.roots);
    free(leaf_tan);

    /* ∂ℓ/∂pred, seeded with 1. */
    int one = num(ir, 1, sp0);
    len = ir->len;
    grad = reverse(ir, pg->loss.roots, &one, 1, wanted_loss);
    pg->loss_grad = ir_func(1);
    pg->loss_grad.roots[0] = leaf_grad(ir, grad, len, L_PRED, 0, shape1(m->n_state));
    free(grad);
}
