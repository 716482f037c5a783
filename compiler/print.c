/* print.c — `nodec derive`: the derived partials as readable math, in plain
 * text or LaTeX.
 *
 * For a scalar equation dX/dt and a scalar input V it prints the partial
 * ∂(dX/dt)/∂V; for a scalar equation and a tensor V, the gradient; for a
 * tensor equation, the vector-Jacobian product a_Xᵀ ∂(dX/dt)/∂V that nodec
 * emits, with a_X the adjoint.  Nodes that are a user's `let` print by name
 * and are defined once underneath.  Inputs are variables too: the partials
 * by u and by ddt(u) are printed (the emitted ∂f/∂t adds their products
 * with u′ and u″, printed ddt(u) and ddt2(u), to the partial by t).
 */
#include "compiler.h"

#include <stdlib.h>
#include <string.h>

typedef struct Pr {
    Ir *ir;
    bool latex;
    bool *named_used; /* lets referenced, to define them below */
    int top;          /* the node being defined (printed in full) */
    Arena *a;
} Pr;

enum { Q_ADD = 1, Q_MUL = 2, Q_NEG = 3, Q_POW = 4, Q_ATOM = 5 };

static int pr(Pr *p, Buf *b, int id);

static void wrap(Pr *p, Buf *b, int id, int prec, bool strict) {
    Buf t = {0};
    int q = pr(p, &t, id);
    bool w = strict ? q <= prec : q < prec;
    buf_puts(b, w ? (p->latex ? "\\left(" : "(") : "");
    buf_puts(b, t.s ? t.s : "");
    buf_puts(b, w ? (p->latex ? "\\right)" : ")") : "");
    buf_free(&t);
}

static void num(Buf *b, double v) {
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%.6g", v);
    buf_puts(b, tmp);
}

static const char *fname(Pr *p, Op op) {
    if (!op_is_func(op)) return op_name[op];
    return p->latex && func_def[op].tex ? func_def[op].tex : func_def[op].name;
}

static void leaf(Pr *p, Buf *b, const Node *n) {
    const char *name = leaf_name(p->ir, n);
    if (n->i[0] == L_DINPUT || n->i[0] == L_D2INPUT) { /* u′, u″ */
        bool two = n->i[0] == L_D2INPUT;
        buf_printf(b, p->latex ? (two ? "\\ddot{%s}" : "\\dot{%s}") : (two ? "ddt2(%s)" : "ddt(%s)"), name);
        return;
    }
    if (n->i[0] == L_ADJ || n->i[0] == L_TAN) {
        const char *x = p->ir->m->states[n->i[1]]->name;
        buf_printf(b, p->latex ? "%s_{%s}" : "%s_%s", name, x);
        return;
    }
    if (p->latex && !strcmp(name, "theta")) name = "\\theta";
    buf_puts(b, name);
}

static int call(Pr *p, Buf *b, const char *f, int a) {
    if (p->latex && !strcmp(f, "sqrt")) {
        buf_puts(b, "\\sqrt{"), pr(p, b, a), buf_puts(b, "}");
        return Q_ATOM;
    }
    if (p->latex && !strcmp(f, "abs")) {
        buf_puts(b, "\\left|"), pr(p, b, a), buf_puts(b, "\\right|");
        return Q_ATOM;
    }
    if (p->latex && f[0] != '\\')
        buf_printf(b, "\\operatorname{%s}", f);
    else
        buf_puts(b, f);
    buf_puts(b, p->latex ? "\\left(" : "("), pr(p, b, a), buf_puts(b, p->latex ? "\\right)" : ")");
    return Q_ATOM;
}

static int pr(Pr *p, Buf *b, int id) {
    Node n = p->ir->n[id];
    if (n.name && id != p->top) {
        p->named_used[id] = true;
        buf_puts(b, n.name);
        return Q_ATOM;
    }
    switch (n.op) {
    case OP_NUM: num(b, n.num); return n.num < 0 ? Q_NEG : Q_ATOM;
    case OP_LEAF: leaf(p, b, &n); return Q_ATOM;
    case OP_ADD:
    case OP_SUB:
        wrap(p, b, n.a, Q_ADD, false);
        buf_puts(b, n.op == OP_ADD ? " + " : " - ");
        wrap(p, b, n.b, Q_ADD, n.op == OP_SUB);
        return Q_ADD;
    case OP_MUL:
        wrap(p, b, n.a, Q_MUL, false);
        buf_puts(b, p->latex ? " \\cdot " : "*");
        wrap(p, b, n.b, Q_MUL, true);
        return Q_MUL;
    case OP_DIV:
        if (p->latex) {
            buf_puts(b, "\\frac{"), pr(p, b, n.a), buf_puts(b, "}{"), pr(p, b, n.b), buf_puts(b, "}");
            return Q_ATOM;
        }
        wrap(p, b, n.a, Q_MUL, false), buf_puts(b, "/"), wrap(p, b, n.b, Q_MUL, true);
        return Q_MUL;
    case OP_MATMUL:
        wrap(p, b, n.a, Q_MUL, false), buf_puts(b, p->latex ? " " : " @ "), wrap(p, b, n.b, Q_MUL, true);
        return Q_MUL;
    case OP_POW:
        wrap(p, b, n.a, Q_POW, true);
        buf_puts(b, p->latex ? "^{" : "^");
        if (p->latex)
            pr(p, b, n.b), buf_puts(b, "}");
        else
            wrap(p, b, n.b, Q_POW, false);
        return Q_POW;
    case OP_NEG: {
        /* -(a*b) reads as -a*b; sums and negatives keep their brackets */
        Buf t = {0};
        int q = pr(p, &t, n.a);
        bool w = q < Q_MUL || q == Q_NEG;
        buf_puts(b, "-");
        buf_puts(b, w ? (p->latex ? "\\left(" : "(") : "");
        buf_puts(b, t.s ? t.s : "");
        buf_puts(b, w ? (p->latex ? "\\right)" : ")") : "");
        buf_free(&t);
        return Q_NEG;
    }
    case OP_TRANS: wrap(p, b, n.a, Q_ATOM, false), buf_puts(b, p->latex ? "^{\\top}" : "'"); return Q_ATOM;
    case OP_BCAST: return pr(p, b, n.a);
    case OP_SUM: return call(p, b, "sum", n.a);
    case OP_OUTER:
    case OP_CONCAT:
        buf_printf(b, p->latex ? "\\operatorname{%s}\\left(" : "%s(", op_name[n.op]);
        pr(p, b, n.a), buf_puts(b, ", "), pr(p, b, n.b), buf_puts(b, p->latex ? "\\right)" : ")");
        return Q_ATOM;
    case OP_EMBED:
        /* a scalar placed in a short vector reads best as the vector */
        if (p->ir->n[n.a].shape.rank == 0 && n.inshape.rank == 1 && n.inshape.d[0] <= 8) {
            buf_puts(b, "[");
            for (int k = 0; k < n.inshape.d[0]; k++) {
                if (k) buf_puts(b, ", ");
                if (k == n.i[0])
                    pr(p, b, n.a);
                else
                    buf_puts(b, "0");
            }
            buf_puts(b, "]");
            return Q_ATOM;
        }
        /* fall through */
    case OP_SLICE: {
        Shape in = n.op == OP_SLICE ? p->ir->n[n.a].shape : n.inshape;
        if (n.op == OP_EMBED) buf_puts(b, "embed(");
        wrap(p, b, n.a, Q_ATOM, false);
        buf_puts(b, "[");
        for (int k = 0; k < in.rank; k++) {
            if (k) buf_puts(b, ", ");
            if (n.i[4] & (1 << k))
                buf_printf(b, "%d", n.i[2 * k]);
            else
                buf_printf(b, "%d:%d", n.i[2 * k], n.i[2 * k + 1]);
        }
        buf_puts(b, "]");
        if (n.op == OP_EMBED) buf_printf(b, " in %s)", shape_str(in, p->a));
        return Q_ATOM;
    }
    default: return call(p, b, fname(p, n.op), n.a);
    }
}

static void line(Pr *p, Buf *b, const char *lhs, int root) {
    buf_printf(b, p->latex ? "%s &= " : "  %s = ", lhs);
    if (root < 0)
        buf_puts(b, "0");
    else
        p->top = -1, pr(p, b, root);
    buf_puts(b, p->latex ? " \\\\\n" : "\n");
}

void print_derive(Buf *b, Program *pg, bool latex) {
    Ir *ir = pg->ir;
    Model *m = pg->m;
    Pr p = {.ir = ir, .latex = latex, .a = arena_new()};
    Span sp0 = {0, 0};
    /* The variables: states, params, t, then each input and its ddt. */
    int nin = m->nstates + m->nparams + 1 + 2 * m->ninputs;
    Sym **var = calloc((size_t)nin, sizeof *var);
    LeafKind *kind = calloc((size_t)nin, sizeof *kind);
    int *idx = calloc((size_t)nin, sizeof *idx);
    for (int k = 0, i = 0; k < nin; k++) {
        int at = k < m->nstates ? k : k - m->nstates;
        if (k < m->nstates)
            var[k] = m->states[k], kind[k] = L_STATE, idx[k] = k;
        else if (at < m->nparams)
            var[k] = m->params[at], kind[k] = L_PARAM, idx[k] = at;
        else if (at == m->nparams)
            var[k] = m->time, kind[k] = L_TIME, idx[k] = 0, i = 0;
        else
            var[k] = m->inputs[i / 2], kind[k] = i % 2 ? L_DINPUT : L_INPUT, idx[k] = i / 2, i++;
    }
    /* Differentiate first (the graph grows), then print.  Scalar equations
     * are differentiated one at a time with a_X = 1. */
    int *g = calloc((size_t)m->nstates * nin + 1, sizeof *g);
    for (int x = 0; x < m->nstates; x++) {
        Sym *X = m->states[x];
        int seed = X->shape.rank == 0 ? ir_num(ir, 1, shape0(), sp0) : ir_leaf(ir, L_ADJ, x, X->shape, sp0);
        int len = ir->len;
        int *grad = deriv_reverse(ir, &pg->f.roots[x], &seed, 1);
        for (int k = 0; k < nin; k++) {
            int leaf_id = ir_leaf(ir, kind[k], idx[k], var[k]->shape, sp0);
            g[x * nin + k] = leaf_id < len ? grad[leaf_id] : -1;
        }
        free(grad);
    }
    p.named_used = calloc(ir->len + 1, 1);
    for (int x = 0; x < m->nstates; x++) {
        Sym *X = m->states[x];
        bool scalar = X->shape.rank == 0;
        buf_printf(b, latex ? "%% d%s/dt\n\\begin{aligned}\n" : "d%s/dt = ", X->name);
        if (!latex) p.top = -1, pr(&p, b, pg->f.roots[x]), buf_puts(b, "\n");
        for (int k = 0; k < nin; k++) {
            if (g[x * nin + k] < 0) continue;
            const char *v = var[k]->name, *lhs;
            if (kind[k] == L_DINPUT) v = arena_printf(p.a, latex ? "\\dot{%s}" : "(ddt(%s))", v);
            if (latex)
                lhs = scalar ? arena_printf(p.a, "\\frac{\\partial \\dot{%s}}{\\partial %s}", X->name, v)
                             : arena_printf(p.a, "a_{%s}^{\\top} \\frac{\\partial \\dot{%s}}{\\partial %s}", X->name,
                                            X->name, v);
            else
                lhs = scalar ? arena_printf(p.a, "d(d%s/dt)/d%s", X->name, v)
                             : arena_printf(p.a, "a_%s' d(d%s/dt)/d%s", X->name, X->name, v);
            line(&p, b, lhs, g[x * nin + k]);
        }
        if (latex) buf_puts(b, "\\end{aligned}\n");
    }
    free(g), free(var), free(kind), free(idx);
    /* definitions of the lets used above; a let's own lets have smaller ids,
     * so walk down to find them all, then print in source order */
    char **defs = calloc(ir->len + 1, sizeof *defs);
    for (int id = ir->len - 1; id >= 0; id--) {
        if (!p.named_used[id]) continue;
        Buf d = {0};
        buf_printf(&d, latex ? "%s = " : "  %s = ", ir->n[id].name);
        p.top = id, pr(&p, &d, id);
        buf_puts(&d, "\n");
        defs[id] = buf_take(&d);
    }
    bool any = false;
    for (int id = 0; id < ir->len; id++) {
        if (!defs[id]) continue;
        if (!any) buf_puts(b, latex ? "%% where\n" : "where\n"), any = true;
        buf_puts(b, defs[id]);
        free(defs[id]);
    }
    free(defs);
    arena_free(p.a);
    free(p.named_used);
}
