/* emit_c.c — C99 for f, its VJP and JVP, the Jacobian, the loss and the
 * descriptor (DESIGN.md §3).
 *
 * Requires: a Program whose roots are derived and simplified.
 *
 * Each function is a loop over the batch around per-sample code; values
 * that do not depend on the sample (functions of θ, t and constants only)
 * are computed once before the loop.  Every IR node reached from the
 * function's outputs gets a storage mode:
 *   N a literal, L a leaf read from an argument, S a scalar local,
 *   W a tensor in the work buffer, I inlined into its single consumer.
 * Elementwise chains and views (transpose, slice, broadcast, outer) are
 * inlined, so `tanh(W1 @ z^3 + b1)` is one matrix-vector loop and one
 * elementwise loop, and transposes in VJPs cost no copy.  The emitted code
 * allocates nothing and has no mutable globals.
 */
#include "compiler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_c.inc"  /* nd_gemm_c: compiler/nd_gemm.h as a string */
#include "model_h.inc" /* nodec_model_h: runtime/nodec_model.h as a string */

/* Helpers besides the functions' (ops.c), in the order they are printed:
 * the functions' come between H_CUBE and H_NEXT. */
enum { H_SQ, H_CUBE, H_NEXT, H_UNIFORM, H_NORMAL, H_COUNT };

typedef enum { OUT_SET, OUT_ACC, OUT_TOTAL } OutKind;

/* One output of a function: root written to base[offset + …]. */
typedef struct Out {
    int root;         /* -1: zero */
    OutKind kind;     /* =, += per sample, or a summed scalar */
    const char *base; /* C name of the per-sample or global output pointer */
    int offset;
    Shape shape;
    const char *guard; /* emitted as `if (guard)`, or NULL */
} Out;

typedef struct Em {
    Program *pg;
    Ir *ir;
    const char *prefix;
    char *mode; /* per node: 0, 'N', 'L', 'S', 'W', 'I' */
    int *uses;
    bool *multi; /* read several times by its consumer */
    int *woff;
    int wsize;
    bool used_base[16];
    bool helper[H_COUNT];
    bool func_used[OP_COUNT]; /* a function of FUNCS is called */
    bool *const_used;         /* per const: read by some function */
    int *user;                /* the single user of a node: a node id, or -2-k for output k */
    int *fuse;                /* node C computed in the loop of matrix product fuse[C] */
    int *out_fuse;            /* the same for output k */
    bool *inplace;            /* already in its slice of the concat that reads it */
    const char *facc;         /* the name of an 'F' node's sum where it is read */
    /* batch-major tiles (plan.c): per-sample values are in ws, a sample's
     * own work, when tile > 1 */
    int tile, stride, tbase;
    Gemm *gemm;
    int ngemm;
    bool *is_gemm, *out_gemm;
    bool used_gemm; /* some function calls nd_gemm */
    Arena *a;
} Em;

/* Per-sample inputs and outputs, by leaf kind and output name. */
enum { B_Z, B_A, B_V, B_PRED, B_OBS, B_U, B_DZ, B_AZ, B_OUT, B_GRAD, B_COUNT_ };
static const char *const base_name[] = {"zb", "ab", "vb", "pb", "ob", "ub", "dzb", "azb", "outb", "gb"};
static const char *const base_src[] = {"z", "a", "v", "pred", "obs", "u", "dzdt", "az", "out", "grad"};

static Node *N(Em *e, int id) { return &e->ir->n[id]; }

/* The work buffer node id's slot is in: a sample's own (tiled) or the one. */
static const char *W(Em *e, int id) { return e->tile > 1 && N(e, id)->varies ? "ws" : "w"; }

static void indent(Buf *b, int lv) {
    for (int i = 0; i < lv; i++) buf_puts(b, "    ");
}

static void lit(Buf *b, double v) {
    char tmp[48];
    snprintf(tmp, sizeof tmp, "%.17g", v);
    if (!strpbrk(tmp, ".en")) strcat(tmp, ".0");
    buf_puts(b, tmp);
}

/* Index text: "i", "3", or "(i + 3)". */
static const char *ix_add(Em *e, const char *i, int k) {
    if (k == 0) return i;
    return arena_printf(e->a, "(%s + %d)", i, k);
}

/* An index that is a number: "3". */
static bool literal(const char *s, int *v) {
    if (!*s || strspn(s, "0123456789") != strlen(s)) return false;
    *v = atoi(s);
    return true;
}

/* Flat element index of (i, j) in a row-major tensor of shape s, plus off;
 * folded to one number when the indices are numbers. */
static const char *flat(Em *e, int off, Shape s, const char *i, const char *j) {
    int iv, jv = 0;
    bool wide = s.rank == 2 && s.d[1] > 1; /* j matters */
    if (s.rank == 0) return arena_printf(e->a, "%d", off);
    if (literal(i, &iv) && (!wide || literal(j, &jv)))
        return arena_printf(e->a, "%d", off + iv * (wide ? s.d[1] : 1) + jv);
    if (!wide) return off == 0 ? i : arena_printf(e->a, "%d + %s", off, i);
    bool ci = literal(i, &iv), cj = literal(j, &jv);
    if (ci) off += iv * s.d[1]; /* theta[200 + k], not theta[150 + 1 * 50 + k] */
    if (cj) off += jv;
    const char *x = ci   ? j
                    : cj ? arena_printf(e->a, "%s * %d", i, s.d[1])
                         : arena_printf(e->a, "%s * %d + %s", i, s.d[1], j);
    return off == 0 ? x : arena_printf(e->a, "%d + %s", off, x);
}

/* ---- expressions ----------------------------------------------------- */

enum { P_ADD = 70, P_MUL = 80, P_UNARY = 90, P_ATOM = 100 };

static int expr(Em *e, Buf *o, int id, const char *i, const char *j);

/* Writes operand `id` at (i, j), parenthesised when weaker than `prec`. */
static void sub(Em *e, Buf *o, int id, const char *i, const char *j, int prec, bool strict) {
    Buf t = {0};
    int p = expr(e, &t, id, i, j);
    bool wrap = strict ? p <= prec : p < prec;
    if (wrap) buf_putc(o, '(');
    buf_puts(o, t.s);
    if (wrap) buf_putc(o, ')');
    buf_free(&t);
}

static void call1(Em *e, Buf *o, const char *fn, int a, const char *i, const char *j) {
    buf_printf(o, "%s(", fn);
    expr(e, o, a, i, j);
    buf_putc(o, ')');
}

static const char *leaf_access(Em *e, const Node *n, const char *i, const char *j) {
    Model *m = e->pg->m;
    int k = n->i[1];
    switch ((LeafKind)n->i[0]) {
    case L_TIME: return "t";
    case L_PARAM: return arena_printf(e->a, "theta[%s]", flat(e, m->params[k]->offset, n->shape, i, j));
    case L_CONST:
        e->const_used[k] = true;
        return arena_printf(e->a, "%s_c%d[%s]", e->prefix, k, flat(e, 0, n->shape, i, j));
    case L_STATE: e->used_base[B_Z] = true; break;
    case L_ADJ: e->used_base[B_A] = true; break;
    case L_TAN: e->used_base[B_V] = true; break;
    case L_PRED: e->used_base[B_PRED] = true; break;
    case L_OBS: e->used_base[B_OBS] = true; break;
    case L_INPUT:
    case L_DINPUT:
    case L_D2INPUT: { /* the sample's row of u: values, u′, u″ */
        e->used_base[B_U] = true;
        int off = m->inputs[k]->offset + m->n_input * (n->i[0] - L_INPUT);
        return arena_printf(e->a, "ub[%s]", flat(e, off, n->shape, i, j));
    }
    }
    static const int base_of[] = {[L_STATE] = B_Z, [L_ADJ] = B_A, [L_TAN] = B_V, [L_PRED] = B_PRED, [L_OBS] = B_OBS};
    int off = n->i[0] == L_PRED || n->i[0] == L_OBS ? 0 : m->states[k]->offset;
    return arena_printf(e->a, "%s[%s]", base_name[base_of[n->i[0]]], flat(e, off, n->shape, i, j));
}

/* The operation of node id at element (i, j), from its operands. */
static int expr_op(Em *e, Buf *o, int id, const char *i, const char *j) {
    Node n = *N(e, id);
    if (op_is_func(n.op)) {
        e->func_used[n.op] = true;
        call1(e, o, func_def[n.op].c, n.a, i, j);
        return P_ATOM;
    }
    Shape sa = n.a >= 0 ? N(e, n.a)->shape : shape0();
    switch (n.op) {
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV: {
        int p = n.op == OP_ADD || n.op == OP_SUB ? P_ADD : P_MUL;
        sub(e, o, n.a, i, j, p, false);
        buf_printf(o, " %s ", op_name[n.op]);
        sub(e, o, n.b, i, j, p, n.op == OP_SUB || n.op == OP_DIV);
        return p;
    }
    case OP_POW: {
        Node *b = N(e, n.b);
        if (b->op == OP_NUM && b->shape.rank == 0) {
            double c = b->num;
            if (c == 2) return e->helper[H_SQ] = true, call1(e, o, "nd_sq", n.a, i, j), P_ATOM;
            if (c == 3) return e->helper[H_CUBE] = true, call1(e, o, "nd_cube", n.a, i, j), P_ATOM;
            if (c == 0.5) return call1(e, o, "sqrt", n.a, i, j), P_ATOM;
            if (c == -1) {
                buf_puts(o, "1.0 / ");
                sub(e, o, n.a, i, j, P_MUL, true);
                return P_MUL;
            }
        }
        buf_puts(o, "pow(");
        expr(e, o, n.a, i, j);
        buf_puts(o, ", ");
        expr(e, o, n.b, i, j);
        buf_putc(o, ')');
        return P_ATOM;
    }
    case OP_NEG:
        buf_putc(o, '-');
        sub(e, o, n.a, i, j, P_UNARY, true);
        return P_UNARY;
    case OP_BCAST: return expr(e, o, n.a, i, j);
    case OP_TRANS: return expr(e, o, n.a, j, i);
    case OP_OUTER:
        sub(e, o, n.a, i, j, P_MUL, false);
        buf_puts(o, " * ");
        sub(e, o, n.b, j, i, P_MUL, true);
        return P_MUL;
    case OP_SLICE: {
        /* kept dimensions take the result's indices in order */
        const char *res[2] = {i, j}, *src[2];
        int r = 0;
        for (int k = 0; k < 2; k++) {
            if (k >= sa.rank || (n.i[4] & (1 << k)))
                src[k] = arena_printf(e->a, "%d", n.i[2 * k]);
            else
                src[k] = ix_add(e, res[r++], n.i[2 * k]);
        }
        return expr(e, o, n.a, src[0], src[1]);
    }
    default: ice("expr_op: %s is not inlinable", op_name[n.op]);
    }
    return P_ATOM;
}

static int expr(Em *e, Buf *o, int id, const char *i, const char *j) {
    Node *n = N(e, id);
    switch (e->mode[id]) {
    case 'N': lit(o, n->num); return n->num < 0 ? P_UNARY : P_ATOM;
    case 'L': buf_puts(o, leaf_access(e, n, i, j)); return P_ATOM;
    case 'S': buf_printf(o, "s%d", id); return P_ATOM;
    case 'W': buf_printf(o, "%s[%s]", W(e, id), flat(e, e->woff[id], n->shape, i, j)); return P_ATOM;
    case 'I': return expr_op(e, o, id, i, j);
    case 'F': buf_puts(o, e->facc); return P_ATOM; /* inside its product's loop */
    }
    ice("expr: node %%%d has no storage", id);
    return 0;
}

/* ---- statements ------------------------------------------------------ */

/* Opens loops over the elements of shape s; returns how many were opened. */
static int loops(Buf *b, int lv, Shape s) {
    if (s.rank >= 1) indent(b, lv), buf_printf(b, "for (int i = 0; i < %d; i++)%s\n", s.d[0], s.rank == 2 ? "" : " {");
    if (s.rank == 2) indent(b, lv + 1), buf_printf(b, "for (int j = 0; j < %d; j++) {\n", s.d[1]);
    return s.rank;
}

static void close_loops(Buf *b, int lv, int n) {
    if (n) indent(b, lv + n - 1), buf_puts(b, "}\n");
}

/* What a matrix-vector product's loop stores for row i: its own work slot,
 * or an elementwise consumer fused into the loop (`acc` is the row's sum). */
typedef struct Epi {
    int node;
    const struct Out *out;
} Epi;

static void emit_out_elem(Em *e, Buf *b, const struct Out *out, const char *i, const char *j);

/* Row i's store, its sum being in the variable `acc`. */
static void epilogue(Em *e, Buf *b, int lv, int id, Epi epi, const char *i, const char *acc) {
    e->facc = acc;
    indent(b, lv);
    if (epi.out)
        emit_out_elem(e, b, epi.out, i, "0");
    else if (epi.node >= 0)
        buf_printf(b, "%s[%s] = ", W(e, epi.node), flat(e, e->woff[epi.node], N(e, epi.node)->shape, i, "0")),
            expr_op(e, b, epi.node, i, "0"), buf_puts(b, ";\n");
    else
        buf_printf(b, "%s[%s] = %s;\n", W(e, id), flat(e, e->woff[id], N(e, id)->shape, i, "0"), acc);
}

/* Several sums over k at once, one pass: acc_r = Σ_k a(r, k) · x(k) for the
 * rows r < nr (a_rows: a is indexed (r, k), else (k, r) with x first). */
static void multi_dot(Em *e, Buf *b, int lv, int nr, int n, int a, int x, bool a_rows) {
    for (int r = 0; r < nr; r++) {
        char rs[16];
        snprintf(rs, sizeof rs, "%d", r);
        indent(b, lv), buf_printf(b, "double acc%d = ", r);
        if (a_rows)
            sub(e, b, a, rs, "0", P_MUL, false), buf_puts(b, " * "), sub(e, b, x, "0", "0", P_MUL, true);
        else
            sub(e, b, x, "0", "0", P_MUL, false), buf_puts(b, " * "), sub(e, b, a, "0", rs, P_MUL, true);
        buf_puts(b, ";\n");
    }
    indent(b, lv), buf_printf(b, "for (int k = 1; k < %d; k++) {\n", n);
    indent(b, lv + 1), buf_puts(b, "const double xk = "), expr(e, b, x, "k", "0"), buf_puts(b, ";\n");
    for (int r = 0; r < nr; r++) {
        char rs[16];
        snprintf(rs, sizeof rs, "%d", r);
        indent(b, lv + 1), buf_printf(b, "acc%d += ", r);
        if (a_rows)
            sub(e, b, a, rs, "k", P_MUL, false), buf_puts(b, " * xk;\n");
        else
            buf_puts(b, "xk * "), sub(e, b, a, "k", rs, P_MUL, true), buf_puts(b, ";\n");
    }
    indent(b, lv), buf_puts(b, "}\n");
}

/* Σ_k a(k)·b(k) as `decl acc = …`: unrolled when short, else a loop; the
 * sum starts from its first term (0 + x is not x in IEEE arithmetic). */
static void dot(Em *e, Buf *b, int lv, const char *decl, const char *acc, int n, int a, const char *ai, int bb,
                const char *bj, bool a_first_row) {
    /* a is accessed at (ai, k) when a_first_row, else at (k, ai); b at (k, bj) */
    indent(b, lv), buf_printf(b, "%s = ", decl);
    int terms = n <= 4 ? n : 1;
    for (int k = 0; k < terms; k++) {
        char ks[16];
        snprintf(ks, sizeof ks, "%d", k);
        if (k) buf_puts(b, " + ");
        sub(e, b, a, a_first_row ? ai : ks, a_first_row ? ks : ai, P_MUL, false);
        buf_puts(b, " * ");
        sub(e, b, bb, ks, bj, P_MUL, true);
    }
    buf_puts(b, ";\n");
    if (n > 4) {
        indent(b, lv), buf_printf(b, "for (int k = 1; k < %d; k++) %s += ", n, acc);
        sub(e, b, a, a_first_row ? ai : "k", a_first_row ? "k" : ai, P_MUL, false);
        buf_puts(b, " * ");
        sub(e, b, bb, "k", bj, P_MUL, true);
        buf_puts(b, ";\n");
    }
}

static void emit_matmul(Em *e, Buf *b, int lv, int id, Epi epi) {
    Node n = *N(e, id);
    Shape x = N(e, n.a)->shape, y = N(e, n.b)->shape;
    if (x.rank == 1 && y.rank == 1) { /* a·b */
        char decl[32], acc[16];
        snprintf(decl, sizeof decl, "double s%d", id), snprintf(acc, sizeof acc, "s%d", id);
        dot(e, b, lv, decl, acc, x.d[0], n.a, "0", n.b, "0", false);
        if (e->mode[id] == 'W') indent(b, lv), buf_printf(b, "%s[%d] = s%d;\n", W(e, id), e->woff[id], id);
    } else if (x.rank == 2 && y.rank == 1 && x.d[0] <= 4 && x.d[1] > 4) { /* few long rows: one pass */
        indent(b, lv), buf_puts(b, "{\n");
        multi_dot(e, b, lv + 1, x.d[0], x.d[1], n.a, n.b, true);
        for (int r = 0; r < x.d[0]; r++) {
            char rs[16], acc[16];
            snprintf(rs, sizeof rs, "%d", r), snprintf(acc, sizeof acc, "acc%d", r);
            epilogue(e, b, lv + 1, id, epi, rs, acc);
        }
        indent(b, lv), buf_puts(b, "}\n");
    } else if (x.rank == 2 && y.rank == 1 && x.d[1] <= 4) { /* A x, short rows */
        /* x's few elements are read once, before the loop: read in it, beside
         * the loop's stores to the same work buffer, they keep gcc from
         * vectorising it (tanh(W1 @ z + b1) through libmvec); as the JIT does */
        indent(b, lv), buf_puts(b, "{\n");
        for (int k = 0; k < x.d[1]; k++) {
            char ks[16];
            snprintf(ks, sizeof ks, "%d", k);
            indent(b, lv + 1), buf_printf(b, "const double x%d = ", k), expr(e, b, n.b, ks, "0"), buf_puts(b, ";\n");
        }
        indent(b, lv + 1), buf_printf(b, "for (int i = 0; i < %d; i++) {\n", x.d[0]);
        indent(b, lv + 2), buf_puts(b, "double acc = ");
        for (int k = 0; k < x.d[1]; k++) {
            char ks[16];
            snprintf(ks, sizeof ks, "%d", k);
            if (k) buf_puts(b, " + ");
            sub(e, b, n.a, "i", ks, P_MUL, false), buf_printf(b, " * x%d", k);
        }
        buf_puts(b, ";\n");
        epilogue(e, b, lv + 2, id, epi, "i", "acc");
        indent(b, lv + 1), buf_puts(b, "}\n");
        indent(b, lv), buf_puts(b, "}\n");
    } else if (x.rank == 2 && y.rank == 1) { /* A x: row dot products */
        indent(b, lv), buf_printf(b, "for (int i = 0; i < %d; i++) {\n", x.d[0]);
        dot(e, b, lv + 1, "double acc", "acc", x.d[1], n.a, "i", n.b, "0", true);
        epilogue(e, b, lv + 1, id, epi, "i", "acc");
        indent(b, lv), buf_puts(b, "}\n");
    } else if (x.rank == 1 && x.d[0] <= 4) { /* xᵀ B, few rows: one pass over the columns */
        indent(b, lv), buf_printf(b, "for (int i = 0; i < %d; i++) {\n", y.d[1]);
        dot(e, b, lv + 1, "double acc", "acc", x.d[0], n.a, "0", n.b, "i", false);
        epilogue(e, b, lv + 1, id, epi, "i", "acc");
        indent(b, lv), buf_puts(b, "}\n");
    } else if (x.rank == 1 && y.d[1] <= 4) { /* xᵀ B, few columns: their sums in one pass */
        indent(b, lv), buf_puts(b, "{\n");
        multi_dot(e, b, lv + 1, y.d[1], x.d[0], n.b, n.a, false);
        for (int j = 0; j < y.d[1]; j++)
            indent(b, lv + 1), buf_printf(b, "%s[%d] = acc%d;\n", W(e, id), e->woff[id] + j, j);
        indent(b, lv), buf_puts(b, "}\n");
    } else if (x.rank == 1) { /* xᵀ B: accumulate rows of B, contiguous */
        const char *dst = arena_printf(e->a, "%s[%s]", W(e, id), flat(e, e->woff[id], n.shape, "j", "0"));
        indent(b, lv), buf_puts(b, "{\n");
        indent(b, lv + 1), buf_puts(b, "const double x0 = "), expr(e, b, n.a, "0", "0"), buf_puts(b, ";\n");
        indent(b, lv + 1), buf_printf(b, "for (int j = 0; j < %d; j++) %s = x0 * ", y.d[1], dst);
        sub(e, b, n.b, "0", "j", P_MUL, true), buf_puts(b, ";\n");
        indent(b, lv), buf_puts(b, "}\n");
        indent(b, lv), buf_printf(b, "for (int k = 1; k < %d; k++) {\n", x.d[0]);
        indent(b, lv + 1), buf_puts(b, "const double xk = "), expr(e, b, n.a, "k", "0"), buf_puts(b, ";\n");
        indent(b, lv + 1), buf_printf(b, "for (int j = 0; j < %d; j++) %s += xk * ", y.d[1], dst);
        sub(e, b, n.b, "k", "j", P_MUL, true), buf_puts(b, ";\n");
        indent(b, lv), buf_puts(b, "}\n");
    } else { /* A B */
        indent(b, lv), buf_printf(b, "for (int i = 0; i < %d; i++)\n", x.d[0]);
        indent(b, lv + 1), buf_printf(b, "for (int j = 0; j < %d; j++) {\n", y.d[1]);
        int m = x.d[1];
        indent(b, lv + 2), buf_puts(b, "double acc = ");
        for (int k = 0; k < (m <= 4 ? m : 1); k++) {
            char ks[16];
            snprintf(ks, sizeof ks, "%d", k);
            if (k) buf_puts(b, " + ");
            sub(e, b, n.a, "i", ks, P_MUL, false), buf_puts(b, " * "), sub(e, b, n.b, ks, "j", P_MUL, true);
        }
        buf_puts(b, ";\n");
        if (m > 4) {
            indent(b, lv + 2), buf_printf(b, "for (int k = 1; k < %d; k++) acc += ", m);
            sub(e, b, n.a, "i", "k", P_MUL, false), buf_puts(b, " * "), sub(e, b, n.b, "k", "j", P_MUL, true);
            buf_puts(b, ";\n");
        }
        indent(b, lv + 2), buf_printf(b, "%s[%s] = acc;\n", W(e, id), flat(e, e->woff[id], n.shape, "i", "j"));
        indent(b, lv + 1), buf_puts(b, "}\n");
    }
}

/* Computes node id into its local or work slot. */
static void emit_node(Em *e, Buf *b, int lv, int id) {
    Node n = *N(e, id);
    if (e->fuse[id] >= 0) { /* computed inside its operand's product loop */
        emit_matmul(e, b, lv, e->fuse[id], (Epi){id, NULL});
        return;
    }
    if (n.op == OP_MATMUL) {
        emit_matmul(e, b, lv, id, (Epi){-1, NULL});
        return;
    }
    if (n.op == OP_SUM) {
        Shape s = N(e, n.a)->shape;
        indent(b, lv), buf_printf(b, "double s%d = 0;\n", id);
        int k = loops(b, lv, s);
        indent(b, lv + k), buf_printf(b, "s%d += ", id), expr(e, b, n.a, "i", "j"), buf_puts(b, ";\n");
        close_loops(b, lv, k);
        if (e->mode[id] == 'W') indent(b, lv), buf_printf(b, "%s[%d] = s%d;\n", W(e, id), e->woff[id], id);
        return;
    }
    if (e->mode[id] == 'S') {
        indent(b, lv), buf_printf(b, "const double s%d = ", id), expr_op(e, b, id, "0", "0"), buf_puts(b, ";\n");
        return;
    }
    if (n.op == OP_EMBED) {
        indent(b, lv),
            buf_printf(b, "for (int i = 0; i < %d; i++) %s[%d + i] = 0;\n", shape_size(n.shape), W(e, id), e->woff[id]);
        Shape g = N(e, n.a)->shape;
        const char *res[2] = {"i", "j"}, *dst[2];
        int r = 0;
        for (int k = 0; k < 2; k++) {
            if (k >= n.shape.rank || (n.i[4] & (1 << k)))
                dst[k] = arena_printf(e->a, "%d", n.i[2 * k]);
            else
                dst[k] = ix_add(e, res[r++], n.i[2 * k]);
        }
        int k = loops(b, lv, g);
        indent(b, lv + k), buf_printf(b, "%s[%s] = ", W(e, id), flat(e, e->woff[id], n.shape, dst[0], dst[1]));
        expr(e, b, n.a, "i", "j"), buf_puts(b, ";\n");
        close_loops(b, lv, k);
        return;
    }
    if (n.op == OP_CONCAT) {
        int la = shape_size(N(e, n.a)->shape), lb = shape_size(N(e, n.b)->shape);
        int parts[2] = {n.a, n.b}, at[2] = {0, la}, len[2] = {la, lb};
        for (int p = 0; p < 2; p++) {
            if (e->inplace[parts[p]]) continue;
            if (N(e, parts[p])->shape.rank == 0) {
                indent(b, lv), buf_printf(b, "%s[%d] = ", W(e, id), e->woff[id] + at[p]);
            } else {
                indent(b, lv),
                    buf_printf(b, "for (int i = 0; i < %d; i++) %s[%d + i] = ", len[p], W(e, id), e->woff[id] + at[p]);
            }
            expr(e, b, parts[p], "i", "0"), buf_puts(b, ";\n");
        }
        return;
    }
    int k = loops(b, lv, n.shape);
    indent(b, lv + k), buf_printf(b, "%s[%s] = ", W(e, id), flat(e, e->woff[id], n.shape, "i", "j"));
    expr_op(e, b, id, "i", "j"), buf_puts(b, ";\n");
    close_loops(b, lv, k);
}

/* `base[off + idx] = expr;` for one element of an output. */
static void emit_out_elem(Em *e, Buf *b, const Out *out, const char *i, const char *j) {
    buf_printf(b, "%s[%s] %s ", out->base, flat(e, out->offset, out->shape, i, j), out->kind == OUT_ACC ? "+=" : "=");
    if (out->root < 0)
        buf_puts(b, "0");
    else
        expr(e, b, out->root, i, j);
    buf_puts(b, ";\n");
}

static void emit_out(Em *e, Buf *b, int lv, const Out *out, int k) {
    if (out->kind == OUT_TOTAL) {
        indent(b, lv), buf_printf(b, "%s += ", out->base), expr(e, b, out->root, "0", "0"), buf_puts(b, ";\n");
    } else if (e->out_fuse[k] >= 0) {
        emit_matmul(e, b, lv, e->out_fuse[k], (Epi){-1, out});
    } else {
        int n = loops(b, lv, out->shape);
        indent(b, lv + n);
        emit_out_elem(e, b, out, "i", "j");
        close_loops(b, lv, n);
    }
}

/* ---- the loops (lower.c) ------------------------------------------------ */

static void plan(Em *e, const Plan *p, int wsize) {
    e->wsize = wsize;
    e->mode = p->mode, e->uses = p->uses, e->multi = p->multi, e->woff = p->woff;
    e->user = p->user, e->fuse = p->fuse, e->out_fuse = p->out_fuse, e->inplace = p->inplace;
    e->tile = p->tile, e->stride = p->stride, e->tbase = p->tbase, e->gemm = p->gemm, e->ngemm = p->ngemm;
    e->is_gemm = p->is_gemm, e->out_gemm = p->out_gemm;
}

/* Outputs a to b, one loop over their first dimension (LW_OUTS). */
static void emit_outs(Em *e, Buf *loop, const Out *outs, int a, int b, int lv) {
    indent(loop, lv), buf_printf(loop, "for (int i = 0; i < %d; i++) {\n", outs[a].shape.d[0]);
    for (int q = a; q <= b; q++) {
        if (outs[q].shape.rank == 2) {
            indent(loop, lv + 1), buf_printf(loop, "for (int j = 0; j < %d; j++)\n", outs[q].shape.d[1]);
            indent(loop, lv + 2), emit_out_elem(e, loop, &outs[q], "i", "j");
        } else {
            indent(loop, lv + 1), emit_out_elem(e, loop, &outs[q], "i", "0");
        }
    }
    indent(loop, lv), buf_puts(loop, "}\n");
}

/* The per-sample row pointers the code in `code` uses (outputs: always),
 * for sample `bexpr`, at level lv. */
static void emit_rows(Em *e, Buf *b, int lv, const int *row_len, const int *row_base, int nrows, const char *bexpr,
                      bool outs) {
    for (int k = 0; k < nrows; k++) {
        int bi = row_base[k];
        bool out = bi >= B_DZ;
        if (out ? !outs : !e->used_base[bi]) continue;
        indent(b, lv);
        if (bi == B_AZ) /* az may be NULL */
            buf_printf(b, "double *azb = az ? az + (long)%s * %d : 0;\n", bexpr, row_len[k]);
        else
            buf_printf(b, "%sdouble *%s = %s + (long)%s * %d;\n", out ? "" : "const ", base_name[bi], base_src[bi],
                       bexpr, row_len[k]);
    }
}

/* Where a per-sample vector operand of a tile product starts for the tile's
 * first sample, and the distance between samples. */
static const char *gemm_rows(Em *e, int id, int *ld) {
    Node *n = N(e, id);
    if (e->mode[id] == 'W') return *ld = e->stride, arena_printf(e->a, "w + %d", e->tbase + e->woff[id]);
    static const char *const leaf_src[] = {[L_STATE] = "z", [L_ADJ] = "a", [L_TAN] = "v"};
    *ld = e->pg->m->n_state;
    return arena_printf(e->a, "%s + (long)b0 * %d + %d", leaf_src[n->i[0]], *ld, e->pg->m->states[n->i[1]]->offset);
}

static void emit_gemm(Em *e, Buf *b, const Gemm *g, const Out *outs) {
    int lda, ldb;
    const char *A = gemm_rows(e, g->x, &lda);
    e->used_gemm = true;
    if (g->node >= 0) { /* the tile's products, each into its sample's slot */
        const char *B = e->mode[g->mat] == 'W'
                            ? arena_printf(e->a, "w + %d", e->woff[g->mat])
                            : arena_printf(e->a, "theta + %d", e->pg->m->params[N(e, g->mat)->i[1]]->offset);
        buf_printf(b, "        nd_gemm(nt, %d, %d, %s, %d, 1, %s, %d, %d, w + %d, %d, 0);\n", g->n, g->k, A, lda, B,
                   g->trans ? 1 : g->n, g->trans ? g->k : 1, e->tbase + e->woff[g->node], e->stride);
        return;
    }
    const char *Y = gemm_rows(e, g->y, &ldb); /* a gradient: Σ over the tile of outer(x, y) */
    const Out *o = &outs[g->out];
    buf_printf(b, "        %snd_gemm(%d, %d, nt, %s, 1, %d, %s, %d, 1, %s + %d, %d, 1);\n",
               o->guard ? arena_printf(e->a, "if (%s) ", o->guard) : "", g->m, g->n, A, lda, Y, ldb, o->base, o->offset,
               g->n);
}

/* The body of generated function fn (plan_outputs' numbering), printed from its loops (lower.c): the
 * values computed once, then the loop over the samples, or the tiles' loop
 * with a loop over the tile's samples for each stretch between products.
 * A loop over samples is printed when it closes, with the row pointers its
 * code uses. */
static void emit_body(Em *e, Buf *b, const Out *outs, int nouts, const int *row_len, const int *row_base, int nrows,
                      int fn) {
    /* the plan's view of the outputs (plan.c lists them in this order) */
    PlanOut *po = arena_alloc(e->a, sizeof *po * (2 * (size_t)e->pg->m->nstates + (size_t)e->pg->m->nparams + 2));
    if (plan_outputs(e->pg, fn, po) != nouts) ice("emit_c: function %d has other outputs than its plan", fn);
    Lowered lw;
    int w = lower(&lw, e->ir, po, nouts, fn < 4, e->a);
    if (w < 0) ice("a work size past MAX_WORK reached the C emitter (plan_check refuses it)");
    plan(e, &lw.p, w);
    memset(e->used_base, 0, sizeof e->used_base);
    if (e->wsize) buf_puts(b, "    double *w = work;\n");
    Buf run = {0};
    bool tiled = false, in_run = false, outputs = false;
    int lv = 1; /* of the statements being printed */
    for (int i = 0; i < lw.n; i++) {
        LwStmt st = lw.s[i];
        Buf *o = in_run ? &run : b;
        switch (st.kind) {
        case LW_NODE: emit_node(e, o, lv, st.a); break;
        case LW_TILES:
            buf_printf(b, "    for (int b0 = 0; b0 < B; b0 += %d) {\n", e->tile);
            buf_printf(b, "        const int nt = B - b0 < %d ? B - b0 : %d;\n", e->tile, e->tile);
            tiled = true, lv = 2;
            break;
        case LW_TILES_END: buf_puts(b, "    }\n"), lv = 1; break;
        case LW_SAMPLES:
            in_run = true, outputs = false, lv = tiled ? 3 : 2;
            memset(e->used_base, 0, sizeof e->used_base);
            break;
        case LW_SAMPLES_END:
            if (!tiled) {
                buf_puts(b, "    for (int b = 0; b < B; b++) {\n");
                emit_rows(e, b, 2, row_len, row_base, nrows, "b", true);
                if (run.s) buf_puts(b, run.s);
                buf_puts(b, "    }\n");
            } else if (run.s) {
                buf_puts(b, "        for (int bb = 0; bb < nt; bb++) {\n");
                if (strstr(run.s, "ws["))
                    buf_printf(b, "            double *ws = w + %d + (long)bb * %d;\n", e->tbase, e->stride);
                emit_rows(e, b, 3, row_len, row_base, nrows, "(b0 + bb)", outputs);
                buf_puts(b, run.s);
                buf_puts(b, "        }\n");
            }
            buf_free(&run), run = (Buf){0}, in_run = false, lv = tiled ? 2 : 1;
            break;
        case LW_GEMM: emit_gemm(e, b, &e->gemm[st.a], outs); break;
        case LW_GUARD: indent(o, lv), buf_printf(o, "if (%s) {\n", outs[st.a].guard), lv++, outputs = true; break;
        case LW_GUARD_END: lv--, indent(o, lv), buf_puts(o, "}\n"); break;
        case LW_OUT: emit_out(e, o, lv, &outs[st.a], st.a), outputs = true; break;
        case LW_OUTS: emit_outs(e, o, outs, st.a, st.b, lv), outputs = true; break;
        }
    }
    buf_free(&run);
}

/* ---- functions ------------------------------------------------------- */

/* Models with inputs take u after z (nodec_model.h's nodec_inputs): the
 * parameter, its (void), and its per-sample row of 3·n_input doubles. */
#define U_PARAM(e) ((e)->pg->m->ninputs ? "const double *ND_RESTRICT u,\n    " : "")
#define U_VOID(e) ((e)->pg->m->ninputs ? "(void)u, " : "")

static int with_u(Em *e, int *row_len, int *row_base, int nrows) {
    if (!e->pg->m->ninputs) return nrows;
    row_len[nrows] = 3 * e->pg->m->n_input, row_base[nrows] = B_U;
    return nrows + 1;
}

static Out out_state(Em *e, int root, OutKind k, const char *base, int i, const char *guard) {
    Sym *y = e->pg->m->states[i];
    return (Out){root, k, base, y->offset, y->shape, guard};
}

static void emit_f(Em *e, Buf *b) {
    Model *m = e->pg->m;
    buf_printf(b,
               "void %s_f(int B, double t, const double *ND_RESTRICT z, %sconst double *ND_RESTRICT theta,\n"
               "    double *ND_RESTRICT dzdt, double *ND_RESTRICT work)\n{\n",
               e->prefix, U_PARAM(e));
    buf_printf(b, "    (void)t, (void)z, %s(void)theta, (void)work;\n", U_VOID(e));
    Out *outs = arena_alloc(e->a, sizeof(Out) * (m->nstates + 1));
    for (int i = 0; i < m->nstates; i++) outs[i] = out_state(e, e->pg->f.roots[i], OUT_SET, "dzb", i, NULL);
    int rl[] = {m->n_state, m->n_state, 0}, rb[] = {B_Z, B_DZ, 0};
    emit_body(e, b, outs, m->nstates, rl, rb, with_u(e, rl, rb, 2), 0);
    buf_puts(b, "}\n\n");
}

static void emit_vjp(Em *e, Buf *b) {
    Model *m = e->pg->m;
    Program *pg = e->pg;
    buf_printf(b,
               "void %s_vjp(int B, double t, const double *ND_RESTRICT z, %sconst double *ND_RESTRICT theta,\n"
               "    const double *ND_RESTRICT a, double *ND_RESTRICT az, double *ND_RESTRICT atheta,\n"
               "    double *ND_RESTRICT at, double *ND_RESTRICT work)\n{\n",
               e->prefix, U_PARAM(e));
    buf_printf(b, "    (void)t, (void)z, %s(void)theta, (void)a, (void)az, (void)atheta, (void)work;\n", U_VOID(e));
    if (m->n_param) buf_printf(b, "    if (atheta)\n        for (int i = 0; i < %d; i++) atheta[i] = 0;\n", m->n_param);
    buf_puts(b, "    if (at) *at = 0;\n");
    int n = m->nstates + m->nparams + 1, k = 0;
    Out *outs = arena_alloc(e->a, sizeof(Out) * n);
    for (int i = 0; i < m->nstates; i++) outs[k++] = out_state(e, pg->vjp_z.roots[i], OUT_SET, "azb", i, "az");
    for (int i = 0; i < m->nparams; i++) {
        Sym *y = m->params[i];
        outs[k++] = (Out){pg->vjp_p.roots[i], OUT_ACC, "atheta", y->offset, y->shape, "atheta"};
    }
    outs[k++] = (Out){pg->vjp_t.roots[0], OUT_TOTAL, "*at", 0, shape0(), "at"};
    int rl[] = {m->n_state, m->n_state, m->n_state, 0}, rb[] = {B_Z, B_A, B_AZ, 0};
    emit_body(e, b, outs, k, rl, rb, with_u(e, rl, rb, 3), 1);
    buf_puts(b, "}\n\n");
}

/* f and the VJP in one body: the forward values are computed once. */
static void emit_f_vjp(Em *e, Buf *b) {
    Model *m = e->pg->m;
    Program *pg = e->pg;
    buf_printf(b,
               "void %s_f_vjp(int B, double t, const double *ND_RESTRICT z, %sconst double *ND_RESTRICT theta,\n"
               "    const double *ND_RESTRICT a, double *ND_RESTRICT dzdt, double *ND_RESTRICT az,\n"
               "    double *ND_RESTRICT atheta, double *ND_RESTRICT at, double *ND_RESTRICT work)\n{\n",
               e->prefix, U_PARAM(e));
    buf_printf(b, "    (void)t, (void)z, %s(void)theta, (void)a, (void)az, (void)atheta, (void)work;\n", U_VOID(e));
    if (m->n_param) buf_printf(b, "    if (atheta)\n        for (int i = 0; i < %d; i++) atheta[i] = 0;\n", m->n_param);
    buf_puts(b, "    if (at) *at = 0;\n");
    int k = 0;
    Out *outs = arena_alloc(e->a, sizeof(Out) * (2 * m->nstates + m->nparams + 1));
    for (int i = 0; i < m->nstates; i++) outs[k++] = out_state(e, pg->f.roots[i], OUT_SET, "dzb", i, NULL);
    for (int i = 0; i < m->nstates; i++) outs[k++] = out_state(e, pg->vjp_z.roots[i], OUT_SET, "azb", i, "az");
    for (int i = 0; i < m->nparams; i++) {
        Sym *y = m->params[i];
        outs[k++] = (Out){pg->vjp_p.roots[i], OUT_ACC, "atheta", y->offset, y->shape, "atheta"};
    }
    outs[k++] = (Out){pg->vjp_t.roots[0], OUT_TOTAL, "*at", 0, shape0(), "at"};
    int rl[] = {m->n_state, m->n_state, m->n_state, m->n_state, 0}, rb[] = {B_Z, B_A, B_DZ, B_AZ, 0};
    emit_body(e, b, outs, k, rl, rb, with_u(e, rl, rb, 4), 2);
    buf_puts(b, "}\n\n");
}

static void emit_jvp(Em *e, Buf *b) {
    Model *m = e->pg->m;
    buf_printf(b,
               "void %s_jvp(int B, double t, const double *ND_RESTRICT z, %sconst double *ND_RESTRICT theta,\n"
               "    const double *ND_RESTRICT v, double *ND_RESTRICT out, double *ND_RESTRICT work)\n{\n",
               e->prefix, U_PARAM(e));
    buf_printf(b, "    (void)t, (void)z, %s(void)theta, (void)v, (void)work;\n", U_VOID(e));
    Out *outs = arena_alloc(e->a, sizeof(Out) * (m->nstates + 1));
    for (int i = 0; i < m->nstates; i++) outs[i] = out_state(e, e->pg->jvp.roots[i], OUT_SET, "outb", i, NULL);
    int rl[] = {m->n_state, m->n_state, m->n_state, 0}, rb[] = {B_Z, B_V, B_OUT, 0};
    emit_body(e, b, outs, m->nstates, rl, rb, with_u(e, rl, rb, 3), 3);
    buf_puts(b, "}\n\n");
}

static void emit_loss(Em *e, Buf *b, bool grad) {
    Model *m = e->pg->m;
    if (grad)
        buf_printf(b,
                   "double %s_loss_grad(int B, const double *ND_RESTRICT pred, const double *ND_RESTRICT obs,\n"
                   "    double *ND_RESTRICT grad, double *ND_RESTRICT work)\n{\n",
                   e->prefix);
    else
        buf_printf(b,
                   "double %s_loss(int B, const double *ND_RESTRICT pred, const double *ND_RESTRICT obs,\n"
                   "    double *ND_RESTRICT work)\n{\n",
                   e->prefix);
    buf_puts(b, "    double total = 0;\n    (void)pred, (void)obs, (void)work;\n");
    Out outs[2];
    int n = 0;
    outs[n++] = (Out){e->pg->loss.roots[0], OUT_TOTAL, "total", 0, shape0(), NULL};
    if (grad) outs[n++] = (Out){e->pg->loss_grad.roots[0], OUT_SET, "gb", 0, shape1(m->n_state), NULL};
    int rl[] = {m->n_state, m->n_state, m->n_state}, rb[] = {B_PRED, B_OBS, B_GRAD};
    emit_body(e, b, outs, n, rl, rb, grad ? 3 : 2, grad ? 5 : 4);
    buf_puts(b, "    return total;\n}\n\n");
}

static void emit_jac(Em *e, Buf *b, int vjp_work) {
    int n = e->pg->m->n_state;
    buf_printf(b,
               "/* Row i of ∂f/∂z is e_iᵀ∂f/∂z: one VJP per row, e_i kept in work[0..%d). */\n"
               "void %s_jac_z(double t, const double *z, %sconst double *theta, double *J, double *work)\n{\n"
               "    double *e = work;\n"
               "    for (int i = 0; i < %d; i++) e[i] = 0;\n"
               "    for (int i = 0; i < %d; i++) {\n"
               "        e[i] = 1;\n"
               "        %s_vjp(1, t, z, %stheta, e, J + (long)i * %d, 0, 0, work + %d);\n"
               "        e[i] = 0;\n"
               "    }\n}\n\n",
               n, e->prefix, e->pg->m->ninputs ? "const double *u, " : "", n, n, e->prefix,
               e->pg->m->ninputs ? "u, " : "", n, n);
    (void)vjp_work;
}

/* ---- parameters and the descriptor ----------------------------------- */

static void emit_values(Buf *b, const double *v, int n) {
    for (int i = 0; i < n; i++) {
        buf_puts(b, i % 4 == 0 ? "\n    " : " ");
        lit(b, v[i]);
        buf_putc(b, ',');
    }
    buf_puts(b, "\n");
}

static void emit_init(Em *e, Buf *b) {
    Model *m = e->pg->m;
    Buf body = {0};
    for (int i = 0; i < m->nparams; i++) {
        Sym *y = m->params[i];
        int n = shape_size(y->shape), off = y->offset;
        /* Glorot: fan_in is the number of columns, fan_out of rows. */
        int fan_in = y->shape.rank == 2 ? y->shape.d[1] : n, fan_out = y->shape.rank == 2 ? y->shape.d[0] : n;
        uint64_t salt = nc_hash(y->name, strlen(y->name));
        buf_printf(&body, "    /* %s %s */\n", y->name, shape_str(y->shape, e->a));
        switch (y->init) {
        case INIT_NONE:
        case INIT_PARAM: /* states only */
        case INIT_ZEROS:
        case INIT_ONES:
            buf_printf(&body, "    for (int i = 0; i < %d; i++) theta[%d + i] = %s;\n", n, off,
                       y->init == INIT_ONES ? "1" : "0");
            break;
        case INIT_VALUE:
            buf_printf(&body, "    {\n        static const double v[%d] = {", n);
            emit_values(&body, y->values, n);
            buf_printf(&body, "        };\n        for (int i = 0; i < %d; i++) theta[%d + i] = v[i];\n    }\n", n,
                       off);
            break;
        case INIT_GLOROT:
        case INIT_UNIFORM: {
            double lo = y->a, hi = y->b;
            if (y->init == INIT_GLOROT) hi = sqrt(6.0 / (fan_in + fan_out)), lo = -hi;
            e->helper[H_UNIFORM] = e->helper[H_NEXT] = true;
            buf_printf(&body, "    s = seed ^ 0x%016llxull;\n", (unsigned long long)salt);
            buf_printf(&body, "    for (int i = 0; i < %d; i++) theta[%d + i] = ", n, off);
            lit(&body, lo), buf_puts(&body, " + ("), lit(&body, hi - lo), buf_puts(&body, ") * nd_uniform(&s);\n");
            break;
        }
        case INIT_NORMAL:
            e->helper[H_NORMAL] = e->helper[H_UNIFORM] = e->helper[H_NEXT] = true;
            buf_printf(&body, "    s = seed ^ 0x%016llxull;\n", (unsigned long long)salt);
            buf_printf(&body, "    for (int i = 0; i < %d; i++) theta[%d + i] = ", n, off);
            lit(&body, y->a), buf_puts(&body, " + "), lit(&body, y->b), buf_puts(&body, " * nd_normal(&s);\n");
            break;
        }
    }
    buf_printf(b, "void %s_init_params(double *theta, unsigned long long seed)\n{\n", e->prefix);
    if (e->helper[H_NEXT]) buf_puts(b, "    unsigned long long s;\n");
    buf_puts(b, "    (void)theta, (void)seed;\n");
    if (body.s) buf_puts(b, body.s);
    buf_puts(b, "}\n\n");
    buf_free(&body);
}

static void emit_vars(Em *e, Buf *b, const char *what, Sym **v, int n) {
    if (!n) return;
    buf_printf(b, "static const nodec_var %s_%s[%d] = {\n", e->prefix, what, n);
    for (int i = 0; i < n; i++) {
        Sym *y = v[i];
        buf_printf(b, "    {\"%s\", %d, {%d, %d}, %d, %d},\n", y->name, y->shape.rank, y->shape.d[0], y->shape.d[1],
                   y->offset, shape_size(y->shape));
    }
    buf_puts(b, "};\n");
}

/* A table of one signed char per element of the symbols v (n elements in
 * all), the Sym's int field at `field`: _noise of the states, _interp of
 * the inputs. */
static void emit_codes(Buf *b, const char *p, const char *what, Sym **v, int nv, int n, size_t field) {
    buf_printf(b, "static const signed char %s_%s[%d] = {", p, what, n);
    for (int i = 0; i < nv; i++) {
        int code;
        memcpy(&code, (const char *)v[i] + field, sizeof code);
        for (int k = 0; k < shape_size(v[i]->shape); k++)
            buf_printf(b, "%s%d,", (v[i]->offset + k) % 16 ? " " : "\n    ", code);
    }
    buf_puts(b, "\n};\n");
}

static const char *const helper_src[] = {
    [H_SQ] = "static double nd_sq(double x) { return x * x; }\n",
    [H_CUBE] = "static double nd_cube(double x) { return x * x * x; }\n",
    [H_NEXT] = "/* splitmix64 (Steele, Lea, Flood 2014) */\n"
               "static unsigned long long nd_next(unsigned long long *s)\n{\n"
               "    unsigned long long x = (*s += 0x9E3779B97F4A7C15ull);\n"
               "    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;\n"
               "    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;\n"
               "    return x ^ (x >> 31);\n}\n",
    [H_UNIFORM] =
        "static double nd_uniform(unsigned long long *s) { return (double)(nd_next(s) >> 11) / 9007199254740992.0; }\n",
    [H_NORMAL] = "/* Box-Muller */\n"
                 "static double nd_normal(unsigned long long *s)\n{\n"
                 "    double u = 1 - nd_uniform(s), v = nd_uniform(s);\n"
                 "    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);\n}\n",
};

/* Emits every function into `code`; returns the work size. */
static int emit_functions(Em *e, Buf *code) {
    int wf, wv, wj, wl, wg;
    emit_f(e, code), wf = e->wsize;
    emit_vjp(e, code), wv = e->wsize;
    emit_jvp(e, code), wj = e->wsize;
    emit_f_vjp(e, code);
    if (e->wsize > wj) wj = e->wsize;
    emit_jac(e, code, wv);
    emit_loss(e, code, false), wl = e->wsize;
    emit_loss(e, code, true), wg = e->wsize;
    emit_init(e, code);
    int w = wf;
    int all[] = {wv, wj, wl, wg, e->pg->m->n_state + wv};
    for (int i = 0; i < 5; i++)
        if (all[i] > w) w = all[i];
    int planned = emit_work_size(e->pg);
    if (w != planned) ice("the emitted functions need %d doubles of work, their plan %d", w, planned);
    return w;
}

int emit_work_size(Program *pg) {
    int w = plan_work_size(pg, NULL);
    if (w < 0) ice("a work size past MAX_WORK reached the C emitter (plan_check refuses it)");
    return w;
}

static void banner(Buf *b, Program *pg, const EmitOpts *o, const char *what) {
    buf_printf(b,
               "/* %s.%s — generated by nodec %s from %s (source FNV-1a %016llx).\n"
               " * Do not edit: change the model and run `nodec emit` again.  C99, needs only <math.h>;\n"
               " * no allocation, no mutable globals.  DESIGN.md §3 describes the interface. */\n",
               pg->m->name, what, NODEC_VERSION, o->source_path ? o->source_path : "<input>",
               (unsigned long long)o->source_hash);
}

void emit_header(Buf *b, Program *pg, const EmitOpts *o) {
    const char *p = pg->m->name;
    Arena *a = arena_new();
    char *up = arena_strndup(a, p, strlen(p));
    for (char *c = up; *c; c++)
        if (*c >= 'a' && *c <= 'z') *c -= 32;
    banner(b, pg, o, "h");
    buf_printf(b, "#ifndef %s_NODEC_H\n#define %s_NODEC_H\n\n", up, up);
    buf_puts(b, nodec_model_h);
    buf_puts(b, "\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
    buf_printf(b, "#define %s_NODEC_VERSION \"%s\"\n", up, NODEC_VERSION);
    buf_printf(b, "#define %s_N_STATE %d   /* doubles per state */\n", up, pg->m->n_state);
    buf_printf(b, "#define %s_N_PARAM %d   /* doubles in θ */\n", up, pg->m->n_param);
    buf_printf(b, "#define %s_WORK_SIZE %d /* doubles of scratch for any function below */\n", up, emit_work_size(pg));
    /* with inputs, u (a row of 3·n_input doubles per sample) follows z */
    const char *u = pg->m->ninputs ? "const double *u, " : "";
    if (pg->m->ninputs)
        buf_printf(b,
                   "#define %s_N_INPUT %d   /* doubles of the inputs; a sample's row of u holds 3 times as many */\n",
                   up, pg->m->n_input);
    buf_putc(b, '\n');
    buf_printf(b,
               "void %s_f(int B, double t, const double *z, %sconst double *theta, double *dzdt, double *work);\n"
               "void %s_vjp(int B, double t, const double *z, %sconst double *theta, const double *a,\n"
               "    double *az, double *atheta, double *at, double *work);\n"
               "void %s_jvp(int B, double t, const double *z, %sconst double *theta, const double *v, double *out,\n"
               "    double *work);\n"
               "void %s_jac_z(double t, const double *z, %sconst double *theta, double *J, double *work);\n"
               "double %s_loss(int B, const double *pred, const double *obs, double *work);\n"
               "double %s_loss_grad(int B, const double *pred, const double *obs, double *grad, double *work);\n"
               "void %s_init_params(double *theta, unsigned long long seed);\n"
               "void %s_f_vjp(int B, double t, const double *z, %sconst double *theta, const double *a,\n"
               "    double *dzdt, double *az, double *atheta, double *at, double *work);\n\n"
               "extern const nodec_model %s_model;\n",
               p, u, p, u, p, u, p, u, p, p, p, p, u, p);
    buf_printf(b, "\n#ifdef __cplusplus\n}\n#endif\n\n#endif /* %s_NODEC_H */\n", up);
    arena_free(a);
}

void emit_source(Buf *b, Program *pg, const EmitOpts *o) {
    Model *m = pg->m;
    const char *p = m->name;
    Em e = {.pg = pg, .ir = pg->ir, .prefix = p, .a = arena_new()};
    e.const_used = arena_alloc(e.a, (size_t)m->nconsts + 1);
    Buf code = {0};
    int work = emit_functions(&e, &code);
    banner(b, pg, o, "c");
    if (o->blas)
        buf_puts(b,
                 "#ifndef ND_CBLAS\n#define ND_CBLAS 1 /* nodec emit --blas: link a CBLAS (-lopenblas) */\n#endif\n");
    buf_printf(b, "#include <math.h>\n\n#include \"%s.h\"\n\n", p);
    buf_puts(b, vmath_prelude()), buf_putc(b, '\n');
    buf_puts(b, "/* Where a function writes, its pointers never overlap (DESIGN.md §3). */\n"
                "#ifdef __cplusplus\n#define ND_RESTRICT __restrict\n#else\n#define ND_RESTRICT restrict\n#endif\n\n");
    for (int h = 0; h < H_COUNT; h++) {
        if (h == H_NEXT)
            for (int op = 0; op < OP_COUNT; op++)
                if (e.func_used[op] && func_helper_src(op)) buf_puts(b, func_helper_src(op));
        if (e.helper[h]) buf_puts(b, helper_src[h]);
    }
    if (e.used_gemm) buf_puts(b, "\n"), buf_puts(b, nd_gemm_c);
    if (e.helper[H_SQ] || e.helper[H_CUBE] || e.func_used[OP_SIGMOID] || e.helper[H_NEXT]) buf_putc(b, '\n');
    for (int i = 0; i < m->nconsts; i++) {
        Sym *y = m->consts[i];
        if (y->shape.rank == 0 || y->init != INIT_VALUE || !e.const_used[i]) continue;
        buf_printf(b, "/* %s %s */\nstatic const double %s_c%d[%d] = {", y->name, shape_str(y->shape, e.a), p, i,
                   shape_size(y->shape));
        emit_values(b, y->values, shape_size(y->shape));
        buf_puts(b, "};\n\n");
    }
    buf_puts(b, code.s);
    emit_vars(&e, b, "states", m->states, m->nstates);
    emit_vars(&e, b, "params", m->params, m->nparams);
    if (m->has_z0) {
        buf_printf(b, "static const double %s_z0[%d] = {", p, m->n_state);
        for (int i = 0; i < m->nstates; i++) emit_values(b, m->states[i]->values, shape_size(m->states[i]->shape));
        buf_puts(b, "};\n");
    }
    if (m->z0_params) { /* states that start from a param: where in θ */
        buf_printf(b, "static const int %s_z0_from[%d] = {", p, m->n_state);
        for (int i = 0; i < m->nstates; i++) {
            Sym *y = m->states[i];
            for (int k = 0; k < shape_size(y->shape); k++)
                buf_printf(b, "%s%d,", (y->offset + k) % 16 ? " " : "\n    ",
                           y->init == INIT_PARAM ? y->z0_param->offset + k : -1);
        }
        buf_puts(b, "\n};\n");
    }
    if (m->has_noise) /* states that are noises: how each element is drawn */
        emit_codes(b, p, "noise", m->states, m->nstates, m->n_state, offsetof(Sym, noise));
    bool uses_t = ir_f_uses_t(pg);
    /* with inputs, the functions that take u are in <m>_inputs, and the
     * descriptor's own are NULL (nodec_model.h) */
    if (m->ninputs) {
        emit_vars(&e, b, "input_vars", m->inputs, m->ninputs);
        emit_codes(b, p, "interp", m->inputs, m->ninputs, m->n_input, offsetof(Sym, interp));
        buf_printf(b,
                   "static const nodec_inputs %s_inputs = {\n"
                   "    %d, %d, %s_input_vars, %s_interp, %d,\n"
                   "    %s_f, %s_vjp, %s_jvp, %s_jac_z, %s_f_vjp,\n"
                   "};\n",
                   p, m->n_input, m->ninputs, p, p, m->uses_ddt, p, p, p, p, p);
    }
    static const char *const fn_suffix[5] = {"f", "vjp", "jvp", "jac_z", "f_vjp"};
    const char *fn[5];
    for (int k = 0; k < 5; k++) fn[k] = m->ninputs ? "0" : arena_printf(e.a, "%s_%s", p, fn_suffix[k]);
    buf_printf(b,
               "\nconst nodec_model %s_model = {\n"
               "    NODEC_ABI_VERSION, \"%s\", \"%016llx\",\n"
               "    %d, %d,\n"
               "    %d, %s%s,\n"
               "    %d, %s%s,\n"
               "    %d, %d, %s%s,\n"
               "    %s, %s, %s, %s, %s_loss, %s_loss_grad, %s_init_params,\n"
               "    %s, %s%s, %s%s, %s%s%s,\n"
               "};\n",
               p, p, (unsigned long long)o->source_hash, m->n_state, m->n_param, m->nstates, p, "_states", m->nparams,
               m->nparams ? p : "0", m->nparams ? "_params" : "", work, uses_t, m->has_z0 ? p : "0",
               m->has_z0 ? "_z0" : "", fn[0], fn[1], fn[2], fn[3], p, p, p, fn[4], m->z0_params ? p : "0",
               m->z0_params ? "_z0_from" : "", m->has_noise ? p : "0", m->has_noise ? "_noise" : "",
               m->ninputs ? "&" : "0", m->ninputs ? p : "", m->ninputs ? "_inputs" : "");
    buf_free(&code), arena_free(e.a);
}
