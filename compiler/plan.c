/* plan.c — where each IR node's value lives in a generated function: the
 * storage plan both backends follow (emit_c.c prints it as C, emit_llvm.c
 * builds it as LLVM IR), so they compute the same operations in the same
 * order.
 *
 * Requires: the roots of one function's outputs.  Gives every node reached
 * from them a mode:
 *   N a literal, L a leaf read from an argument, S a scalar local,
 *   W a tensor in the work buffer (at woff), I inlined into its single
 *   consumer, F a matrix-vector product computed inside the loop of its
 *   single elementwise consumer (fuse[consumer] or out_fuse[output]).
 * Elementwise chains and views are inlined unless a consumer reads them more
 * than once per element (the operands of products).
 */
#include "compiler.h"

static Node *N(Ir *ir, int id) { return &ir->n[id]; }

/* A pure view (transpose, slice, broadcast) of such a value costs only
 * index arithmetic. */
static bool cheap(const Plan *p, Ir *ir, int id) {
    char m = p->mode[id];
    if (m == 'N' || m == 'L' || m == 'S' || m == 'W') return true;
    Op op = N(ir, id)->op;
    return m == 'I' && (op == OP_TRANS || op == OP_SLICE || op == OP_BCAST) && cheap(p, ir, N(ir, id)->a);
}

int plan_storage(Plan *p, Ir *ir, const PlanOut *outs, int nouts, Arena *a) {
    int len = ir->len;
    p->mode = arena_alloc(a, (size_t)len + 1);
    p->uses = arena_alloc(a, sizeof(int) * ((size_t)len + 1));
    p->multi = arena_alloc(a, (size_t)len + 1);
    p->woff = arena_alloc(a, sizeof(int) * ((size_t)len + 1));
    p->user = arena_alloc(a, sizeof(int) * ((size_t)len + 1));
    p->fuse = arena_alloc(a, sizeof(int) * ((size_t)len + 1));
    p->out_fuse = arena_alloc(a, sizeof(int) * ((size_t)nouts + 1));
    for (int id = 0; id < len; id++) p->fuse[id] = -1;
    for (int k = 0; k < nouts; k++) p->out_fuse[k] = -1;
    /* uses, the single user, and who reads an operand more than once */
    bool *r = arena_alloc(a, (size_t)len + 1);
    for (int k = 0; k < nouts; k++)
        if (outs[k].root >= 0) r[outs[k].root] = true, p->uses[outs[k].root]++, p->user[outs[k].root] = -2 - k;
    for (int id = len - 1; id >= 0; id--) {
        if (!r[id]) continue;
        Node *n = N(ir, id);
        if (n->a >= 0) r[n->a] = true, p->uses[n->a]++, p->user[n->a] = id;
        if (n->b >= 0) r[n->b] = true, p->uses[n->b]++, p->user[n->b] = id;
        if (n->op == OP_MATMUL) {
            Shape x = N(ir, n->a)->shape, y = N(ir, n->b)->shape;
            if (x.rank == 2 && y.rank == 2) p->multi[n->a] = y.d[1] > 1, p->multi[n->b] = x.d[0] > 1;
            else if (x.rank == 2) p->multi[n->b] = x.d[0] > 1;
            else if (y.rank == 2) p->multi[n->a] = y.d[1] > 1;
        }
        if (n->op == OP_OUTER) p->multi[n->a] = true, p->multi[n->b] = true;
    }
    for (int id = 0; id < len; id++) {
        if (!r[id]) continue;
        Node *n = N(ir, id);
        char m;
        if (n->op == OP_NUM) m = 'N';
        else if (n->op == OP_LEAF) m = 'L';
        else if (n->shape.rank == 0) m = 'S';
        else if (op_class[n->op] == 'R') m = 'W';
        else if (p->uses[id] == 1 && !p->multi[id]) m = 'I';
        else m = 'W';
        p->mode[id] = m;
        if (m == 'W' && (n->op == OP_TRANS || n->op == OP_SLICE || n->op == OP_BCAST) && cheap(p, ir, n->a))
            p->mode[id] = 'I';
    }
    /* A matrix-vector product read once, through elementwise operations, by
     * a tensor or an output of its shape is computed in that consumer's loop. */
    for (int id = 0; id < len; id++) {
        Node *n = N(ir, id);
        if (p->mode[id] != 'W' || n->op != OP_MATMUL || p->uses[id] != 1 || n->shape.rank != 1) continue;
        Shape x = N(ir, n->a)->shape;
        bool rowwise = x.rank == 2 || (x.rank == 1 && x.d[0] <= 4); /* one row of the result per i */
        if (!rowwise) continue;
        int c = p->user[id];
        while (c >= 0 && p->mode[c] == 'I' && op_class[N(ir, c)->op] == 'E') c = p->user[c];
        if (c >= 0 && p->mode[c] == 'W' && op_class[N(ir, c)->op] == 'E' && shape_eq(N(ir, c)->shape, n->shape) &&
            N(ir, c)->varies == n->varies && p->fuse[c] < 0)
            p->fuse[c] = id, p->mode[id] = 'F';
        else if (c <= -2 && !outs[-2 - c].total && shape_eq(outs[-2 - c].shape, n->shape) && n->varies &&
                 p->out_fuse[-2 - c] < 0)
            p->out_fuse[-2 - c] = id, p->mode[id] = 'F';
    }
    p->wsize = 0;
    for (int id = 0; id < len; id++)
        if (p->mode[id] == 'W') p->woff[id] = p->wsize, p->wsize += shape_size(N(ir, id)->shape);
    return p->wsize;
}
