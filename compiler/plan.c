/* plan.c — where each IR node's value lives in a generated function: the
 * storage plan both backends follow (emit_c.c prints it as C, emit_llvm.c
 * builds it as LLVM IR), so they compute the same operations in the same
 * order; and the work size of the generated code, checked against its limit.
 *
 * Requires: the roots of one function's outputs.  Gives every node reached
 * from them a mode:
 *   N a literal, L a leaf read from an argument, S a scalar local,
 *   W a tensor in the work buffer (at woff), I inlined into its single
 *   consumer, F a matrix-vector product computed inside the loop of its
 *   single elementwise consumer (fuse[consumer] or out_fuse[output]).
 * Elementwise chains and views are inlined unless a consumer reads them more
 * than once per element (the operands of products), or the inlined
 * expression would be more than MAX_INLINE operations deep.  A tensor in
 * the work buffer read only by a concat is placed in its slice of the
 * concat's storage (inplace), so a concat of n parts costs its own size,
 * not n intermediate copies.
 */
#include "compiler.h"

#include <string.h>

/* The deepest expression inlined into one statement; a longer chain (a
 * gradient summed over many uses) is stored every MAX_INLINE operations, so
 * the printed expressions stay small and the emitters' recursion shallow. */
enum { MAX_INLINE = 64 };

static Node *N(Ir *ir, int id) { return &ir->n[id]; }

/* A pure view (transpose, slice, broadcast) of such a value costs only
 * index arithmetic. */
static bool cheap(const Plan *p, Ir *ir, int id) {
    char m = p->mode[id];
    if (m == 'N' || m == 'L' || m == 'S' || m == 'W') return true;
    Op op = N(ir, id)->op;
    return m == 'I' && (op == OP_TRANS || op == OP_SLICE || op == OP_BCAST) && cheap(p, ir, N(ir, id)->a);
}

/* ---- batch-major tiles ------------------------------------------------- */

/* A product goes batch-major when its matrix has at least GEMM_MIN
 * elements; a tile holds up to TILE samples.  Both were chosen, not tuned:
 * the spiral's 50 × 2 stays per sample, bench/scale's H ≥ 50 goes
 * batch-major and gains at every shape measured (bench/scale/README.md). */
enum { GEMM_MIN = 24 * 24, TILE = 64 };

/* A per-sample vector whose elements lie contiguous in each sample's row:
 * its own work slot, or a whole state, adjoint or tangent variable. */
static bool row_operand(const Plan *p, Ir *ir, int id) {
    Node *n = N(ir, id);
    if (!n->varies || n->shape.rank != 1) return false;
    if (p->mode[id] == 'W') return true;
    return p->mode[id] == 'L' && (n->i[0] == L_STATE || n->i[0] == L_ADJ || n->i[0] == L_TAN);
}

/* A matrix the same for every sample, stored whole (a parameter, or a
 * tensor computed before the batch loop), or the transpose of one:
 * returns the stored node (-1: none), *trans when id is its transpose. */
static int stored_matrix(const Plan *p, Ir *ir, int id, bool *trans) {
    Node *n = N(ir, id);
    *trans = false;
    if (n->varies || n->shape.rank != 2) return -1;
    if (n->op == OP_TRANS && p->mode[id] == 'I') *trans = true, id = n->a, n = N(ir, id);
    if (p->mode[id] == 'W' || (p->mode[id] == 'L' && n->i[0] == L_PARAM)) return id;
    return -1;
}

/* Marks the products and gradients worth computing over a tile. */
static void plan_gemms(Plan *p, Ir *ir, const PlanOut *outs, int nouts, bool batch, const bool *r, Arena *a) {
    int len = ir->len, cap = 0;
    for (int id = 0; id < len; id++) cap += r[id] && N(ir, id)->op == OP_MATMUL;
    for (int k = 0; k < nouts; k++) cap += outs[k].acc;
    p->gemm = arena_alloc(a, sizeof(Gemm) * ((size_t)cap + 1));
    p->is_gemm = arena_alloc(a, (size_t)len + 1);
    p->out_gemm = arena_alloc(a, (size_t)nouts + 1);
    p->ngemm = 0;
    if (!batch) return;
    for (int id = 0; id < len; id++) {
        Node *n = N(ir, id);
        if (!r[id] || n->op != OP_MATMUL || !n->varies || n->shape.rank != 1 || p->mode[id] != 'W') continue;
        Shape x = N(ir, n->a)->shape;
        bool mx = x.rank == 2; /* M @ x, else x @ M */
        int vec = mx ? n->b : n->a;
        bool trans;
        int mat = stored_matrix(p, ir, mx ? n->a : n->b, &trans);
        if (mat < 0 || !row_operand(p, ir, vec) || shape_size(N(ir, mat)->shape) < GEMM_MIN) continue;
        /* Bm(q, j) is M's (j, q) for M @ x, (q, j) for x @ M: the stored
         * matrix itself, or its transpose */
        bool bt = mx != trans;
        int len_x = shape_size(N(ir, vec)->shape);
        p->gemm[p->ngemm++] = (Gemm){id, -1, vec, -1, mat, bt, 0, shape_size(n->shape), len_x};
        p->is_gemm[id] = true;
    }
    for (int k = 0; k < nouts; k++) {
        int rt = outs[k].root;
        if (!outs[k].acc || rt < 0 || N(ir, rt)->op != OP_OUTER || shape_size(outs[k].shape) < GEMM_MIN) continue;
        Node *n = N(ir, rt);
        if (!row_operand(p, ir, n->a) || !row_operand(p, ir, n->b)) continue;
        p->gemm[p->ngemm++] = (Gemm){-1, k, n->a, n->b, -1, false, outs[k].shape.d[0], outs[k].shape.d[1], 0};
        p->out_gemm[k] = true;
    }
}

/* plan_storage with `limit` doubles of work available. */
static int plan_within(Plan *p, Ir *ir, const PlanOut *outs, int nouts, bool batch, Arena *a, int limit) {
    int len = ir->len;
    p->mode = arena_alloc(a, (size_t)len + 1);
    p->uses = arena_alloc(a, sizeof(int) * ((size_t)len + 1));
    p->multi = arena_alloc(a, (size_t)len + 1);
    p->woff = arena_alloc(a, sizeof(int) * ((size_t)len + 1));
    p->user = arena_alloc(a, sizeof(int) * ((size_t)len + 1));
    p->fuse = arena_alloc(a, sizeof(int) * ((size_t)len + 1));
    p->out_fuse = arena_alloc(a, sizeof(int) * ((size_t)nouts + 1));
    p->inplace = arena_alloc(a, (size_t)len + 1);
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
            if (x.rank == 2 && y.rank == 2)
                p->multi[n->a] = y.d[1] > 1, p->multi[n->b] = x.d[0] > 1;
            else if (x.rank == 2)
                p->multi[n->b] = x.d[0] > 1;
            else if (y.rank == 2)
                p->multi[n->a] = y.d[1] > 1;
        }
        if (n->op == OP_OUTER) p->multi[n->a] = true, p->multi[n->b] = true;
    }
    int *depth = arena_alloc(a, sizeof(int) * ((size_t)len + 1)); /* of an inlined expression */
    for (int id = 0; id < len; id++) {
        if (!r[id]) continue;
        Node *n = N(ir, id);
        char m;
        if (n->op == OP_NUM)
            m = 'N';
        else if (n->op == OP_LEAF)
            m = 'L';
        else if (n->shape.rank == 0)
            m = 'S';
        else if (op_class[n->op] == 'R')
            m = 'W';
        else if (p->uses[id] == 1 && !p->multi[id])
            m = 'I';
        else
            m = 'W';
        if (m == 'W' && (n->op == OP_TRANS || n->op == OP_SLICE || n->op == OP_BCAST) && cheap(p, ir, n->a)) m = 'I';
        if (m == 'I') {
            int da = n->a >= 0 ? depth[n->a] : 0, db = n->b >= 0 ? depth[n->b] : 0;
            depth[id] = 1 + (da > db ? da : db);
            if (depth[id] > MAX_INLINE) m = 'W', depth[id] = 0;
        }
        p->mode[id] = m;
    }
    /* Products over tiles; then every per-sample scalar gets a work slot
     * too, since it may be read in a later run of the tile's loops. */
    p->tile = 1;
    plan_gemms(p, ir, outs, nouts, batch && !ir->no_tiles, r, a);
    if (p->ngemm)
        for (int id = 0; id < len; id++)
            if (p->mode[id] == 'S' && N(ir, id)->varies) p->mode[id] = 'W';
    /* A matrix-vector product read once, through elementwise operations, by
     * a tensor or an output of its shape is computed in that consumer's loop. */
    for (int id = 0; id < len; id++) {
        Node *n = N(ir, id);
        if (p->mode[id] != 'W' || n->op != OP_MATMUL || p->uses[id] != 1 || n->shape.rank != 1 || p->is_gemm[id])
            continue;
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
    /* Work offsets: each tensor its own range, in node order, except the
     * parts placed in a concat, which take their slice of its range (users
     * have higher ids, so theirs are known first). */
    for (int id = 0; id < len; id++) {
        int u = p->user[id];
        p->inplace[id] = p->mode[id] == 'W' && p->uses[id] == 1 && u >= 0 && N(ir, u)->op == OP_CONCAT &&
                         N(ir, u)->varies == N(ir, id)->varies; /* tiled, they live in different places */
    }
    /* Tiled, the per-sample values come first: [0, stride) is what each
     * sample of a tile has its own copy of. */
    int64_t total = 0, per_sample = 0;
    p->over = -1;
    for (int pass = 0; pass < 2; pass++) {
        for (int id = 0; id < len; id++) {
            if (p->mode[id] != 'W' || p->inplace[id] || (p->ngemm && N(ir, id)->varies != (pass == 0))) continue;
            if (!p->ngemm && pass) continue;
            p->woff[id] = (int)total;
            total += shape_size(N(ir, id)->shape);
            if (total > limit && p->over < 0) p->over = id, total = limit; /* offsets stay in range */
        }
        if (pass == 0) per_sample = total;
    }
    for (int id = len - 1; id >= 0; id--) {
        if (!p->inplace[id]) continue;
        Node *u = N(ir, p->user[id]);
        p->woff[id] = p->woff[p->user[id]] + (id == u->a ? 0 : shape_size(N(ir, u->a)->shape));
    }
    p->wsize = (int)total, p->stride = (int)per_sample, p->tbase = 0;
    if (p->over >= 0 || !p->ngemm) return p->over < 0 ? p->wsize : -1;
    /* Tiled: the tile's samples after the values of the one work buffer; as
     * many samples per tile as fit, else one sample at a time. */
    p->tile = TILE;
    while (p->tile > 2 && total + per_sample * p->tile > limit) p->tile /= 2;
    if (total + per_sample * p->tile > limit) {
        memset(p->is_gemm, 0, (size_t)len);
        memset(p->out_gemm, 0, (size_t)nouts);
        p->ngemm = 0, p->tile = 1;
        return p->wsize;
    }
    p->tbase = (int)total;
    p->wsize = (int)(total + per_sample * p->tile);
    return p->wsize;
}

int plan_storage(Plan *p, Ir *ir, const PlanOut *outs, int nouts, bool batch, Arena *a) {
    return plan_within(p, ir, outs, nouts, batch, a, MAX_WORK);
}

/* ---- the work size of the generated functions -------------------------- */

int plan_outputs(Program *pg, int fn, PlanOut *outs) {
    Model *m = pg->m;
    int k = 0;
    switch (fn) {
    case 0: /* f */
    case 2: /* f_vjp: f's outputs, then the VJP's */
        for (int i = 0; i < m->nstates; i++)
            outs[k++] = (PlanOut){pg->f.roots[i], false, m->states[i]->shape, false, 0};
        if (fn == 0) break;
        /* fall through */
    case 1: /* vjp */
        for (int i = 0; i < m->nstates; i++)
            outs[k++] = (PlanOut){pg->vjp_z.roots[i], false, m->states[i]->shape, false, 1};
        for (int i = 0; i < m->nparams; i++)
            outs[k++] = (PlanOut){pg->vjp_p.roots[i], false, m->params[i]->shape, true, 2};
        outs[k++] = (PlanOut){pg->vjp_t.roots[0], true, shape0(), false, 3};
        break;
    case 3: /* jvp */
        for (int i = 0; i < m->nstates; i++)
            outs[k++] = (PlanOut){pg->jvp.roots[i], false, m->states[i]->shape, false, 0};
        break;
    case 4: /* loss */
    case 5: /* loss_grad */
        outs[k++] = (PlanOut){pg->loss.roots[0], true, shape0(), false, 0};
        if (fn == 5) outs[k++] = (PlanOut){pg->loss_grad.roots[0], false, shape1(m->n_state), false, 0};
        break;
    }
    return k;
}

int plan_work_size(Program *pg, int *over) {
    Model *m = pg->m;
    Arena *a = arena_new();
    PlanOut *outs = arena_alloc(a, sizeof *outs * (2 * (size_t)m->nstates + (size_t)m->nparams + 2));
    int w = 0, bad = -1;
    for (int fn = 0; fn < 6 && bad < 0; fn++) {
        Plan p;
        /* jac_z keeps e_i in work[0, n_state) and gives the VJP the rest */
        int base = fn == 1 ? m->n_state : 0;
        int size = plan_within(&p, pg->ir, outs, plan_outputs(pg, fn, outs), fn < 4, a, MAX_WORK - base);
        if (p.over >= 0)
            bad = p.over;
        else if (base + size > w)
            w = base + size;
    }
    arena_free(a);
    if (over) *over = bad;
    return bad < 0 ? w : -1;
}

bool plan_check(Program *pg, Diag *d) {
    int over;
    if (plan_work_size(pg, &over) >= 0) return true;
    error_at(d, pg->ir->n[over].span,
             "the results of matrix products and concats, and the tensors products read, are kept whole "
             "in memory; make them smaller or fewer",
             MSG(M_WORK_TOO_LARGE), MAX_WORK, (int)((int64_t)MAX_WORK * 8 >> 20));
    return false;
}

/* ---- the plan as text (`nodec emit --dump=plan`) ------------------------- */

void plan_dump(Buf *b, Program *pg) {
    static const char *const fn_name[] = {"f", "vjp", "f_vjp", "jvp", "loss", "loss_grad"};
    Model *m = pg->m;
    Ir *ir = pg->ir;
    Arena *a = arena_new();
    PlanOut *outs = arena_alloc(a, sizeof *outs * (2 * (size_t)m->nstates + (size_t)m->nparams + 2));
    for (int fn = 0; fn < 6; fn++) {
        Plan p;
        int nouts = plan_outputs(pg, fn, outs);
        int w = plan_storage(&p, ir, outs, nouts, fn < 4, a);
        int count[128] = {0};
        buf_printf(b, "%s: %d doubles of work%s\n", fn_name[fn], w, fn == 1 ? " (jac_z adds n_state before it)" : "");
        if (p.tile > 1)
            buf_printf(b, "  tiles of %d samples, each w[0:%d] of its own, the first at w[%d]\n", p.tile, p.stride,
                       p.tbase);
        for (int g = 0; g < p.ngemm; g++) {
            Gemm *gm = &p.gemm[g];
            if (gm->node >= 0)
                buf_printf(b, "  %%%d @ over the tile: [tile, %d] = [tile, %d] %%%d times %s%%%d\n", gm->node, gm->n,
                           gm->k, gm->x, gm->trans ? "the transpose of " : "", gm->mat);
            else
                buf_printf(b, "  output %d += [%d, %d] summed over the tile: %%%d' times %%%d\n", gm->out, gm->m, gm->n,
                           gm->x, gm->y);
        }
        for (int id = 0; id < ir->len; id++) {
            char md = p.mode[id];
            count[(unsigned char)md]++;
            if (md != 'W' && md != 'F') continue;
            Node *n = N(ir, id);
            buf_printf(b, "  %%%d %s %s", id, op_name[n->op], shape_str(n->shape, a));
            if (md == 'W')
                buf_printf(b, " -> w[%d:%d]%s", p.woff[id], p.woff[id] + shape_size(n->shape),
                           p.inplace[id] ? " (its slice of a concat)" : "");
            for (int c = 0; md == 'F' && c < ir->len; c++)
                if (p.fuse[c] == id) buf_printf(b, " in the loop of %%%d %s", c, op_name[N(ir, c)->op]);
            for (int k = 0; md == 'F' && k < nouts; k++)
                if (p.out_fuse[k] == id) buf_printf(b, " in the loop of output %d", k);
            if (n->name) buf_printf(b, "  ; %s", n->name);
            buf_putc(b, '\n');
        }
        buf_printf(b, "  inlined %d, scalar locals %d, leaves %d, literals %d\n", count['I'], count['S'], count['L'],
                   count['N']);
    }
    arena_free(a);
}
