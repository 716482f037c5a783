/* lower.c — each generated function's loop-level form: the schedule that
 * both backends print statement by statement (emit_c.c as C, emit_llvm.c as
 * LLVM IR), so it is decided once.  `nodec emit --dump=loops` prints it.
 *
 * Requires: the outputs of one function and whether it loops over a batch
 * of samples (f, vjp, f_vjp, jvp; the losses too, untiled).  The storage
 * plan (plan.c) says where each value lives and which products go over a
 * tile; this file orders the work:
 *
 *   the values that do not depend on the sample, once (LW_NODE before any
 *   loop); then either
 *     one loop over the samples (LW_SAMPLES … LW_SAMPLES_END) computing the
 *     per-sample values in node order and then the outputs, or
 *     a loop over tiles (LW_TILES … LW_TILES_END) in which each stretch of
 *     per-sample values between two tile products (LW_GEMM) is a loop over
 *     the tile's samples, the outputs in the last one, and the gradients
 *     computed as products over the tile after it.
 *   Outputs go in order; neighbours with the same guard (the `if` on an
 *   optional output pointer) share one LW_GUARD, and neighbours with the
 *   same first dimension one loop (LW_OUTS).
 *
 * What is left to the printers is how one node, one product variant, one
 * output element is spelled.
 */
#include "compiler.h"

static void put(Lowered *lw, LwKind k, int a, int b, Arena *ar) {
    if (lw->n == lw->cap) {
        int cap = lw->cap ? 2 * lw->cap : 64;
        LwStmt *s = arena_alloc(ar, sizeof *s * (size_t)cap);
        for (int i = 0; i < lw->n; i++) s[i] = lw->s[i];
        lw->s = s, lw->cap = cap;
    }
    lw->s[lw->n++] = (LwStmt){k, a, b};
}

/* An output that writes nothing (a zero gradient or total) is left out. */
static bool skipped(const Plan *p, const PlanOut *o, int k) {
    return (o->root < 0 && (o->total || o->acc)) || p->out_gemm[k];
}

/* An output written by a plain loop over its elements, which can share that
 * loop with its neighbours. */
static bool mergeable(const Plan *p, const PlanOut *o, int k) {
    return !o->total && o->shape.rank >= 1 && p->out_fuse[k] < 0 && (o->root >= 0 || !o->acc);
}

static void outputs(Lowered *lw, const PlanOut *outs, int nouts, Arena *ar) {
    const Plan *p = &lw->p;
    int open = 0; /* the guard open, 0: none */
    for (int k = 0; k < nouts; k++) {
        if (skipped(p, &outs[k], k)) continue;
        int g = outs[k].guard;
        if (open && g != open) put(lw, LW_GUARD_END, open, 0, ar), open = 0;
        if (g && !open) put(lw, LW_GUARD, k, 0, ar), open = g;
        int last = k;
        if (mergeable(p, &outs[k], k))
            while (last + 1 < nouts && mergeable(p, &outs[last + 1], last + 1) && !p->out_gemm[last + 1] &&
                   outs[last + 1].shape.d[0] == outs[k].shape.d[0] && outs[last + 1].guard == g)
                last++;
        put(lw, last == k ? LW_OUT : LW_OUTS, k, last, ar);
        k = last;
    }
    if (open) put(lw, LW_GUARD_END, open, 0, ar);
}

int lower(Lowered *lw, Ir *ir, const PlanOut *outs, int nouts, bool batch, Arena *ar) {
    *lw = (Lowered){0};
    Plan *p = &lw->p;
    int w = plan_storage(p, ir, outs, nouts, batch, ar);
    if (p->over >= 0) return -1;
    for (int id = 0; id < ir->len; id++)
        if ((p->mode[id] == 'S' || p->mode[id] == 'W') && !ir->n[id].varies) put(lw, LW_NODE, id, 0, ar);
    if (p->tile == 1) {
        put(lw, LW_SAMPLES, 0, 0, ar);
        for (int id = 0; id < ir->len; id++)
            if ((p->mode[id] == 'S' || p->mode[id] == 'W') && ir->n[id].varies) put(lw, LW_NODE, id, 0, ar);
        outputs(lw, outs, nouts, ar);
        put(lw, LW_SAMPLES_END, 0, 0, ar);
        return w;
    }
    put(lw, LW_TILES, 0, 0, ar);
    bool open = false;
    for (int id = 0; id < ir->len; id++) {
        if ((p->mode[id] != 'S' && p->mode[id] != 'W') || !ir->n[id].varies) continue;
        if (!p->is_gemm[id]) {
            if (!open) put(lw, LW_SAMPLES, 0, 0, ar), open = true;
            put(lw, LW_NODE, id, 0, ar);
            continue;
        }
        if (open) put(lw, LW_SAMPLES_END, 0, 0, ar), open = false;
        for (int g = 0; g < p->ngemm; g++)
            if (p->gemm[g].node == id) put(lw, LW_GEMM, g, 0, ar);
    }
    if (!open) put(lw, LW_SAMPLES, 0, 0, ar);
    outputs(lw, outs, nouts, ar);
    put(lw, LW_SAMPLES_END, 0, 0, ar);
    for (int g = 0; g < p->ngemm; g++)
        if (p->gemm[g].out >= 0) put(lw, LW_GEMM, g, 0, ar);
    put(lw, LW_TILES_END, 0, 0, ar);
    return w;
}

/* ---- the loops as text (`nodec emit --dump=loops`) ----------------------- */

static void indent(Buf *b, int lv) {
    for (int i = 0; i < lv; i++) buf_puts(b, "  ");
}

void lower_dump(Buf *b, Program *pg) {
    static const char *const fn_name[] = {"f", "vjp", "f_vjp", "jvp", "loss", "loss_grad"};
    Model *m = pg->m;
    Ir *ir = pg->ir;
    Arena *a = arena_new();
    PlanOut *outs = arena_alloc(a, sizeof *outs * (2 * (size_t)m->nstates + (size_t)m->nparams + 2));
    for (int fn = 0; fn < 6; fn++) {
        int nouts = plan_outputs(pg, fn, outs);
        Lowered lw;
        int w = lower(&lw, ir, outs, nouts, fn < 4, a);
        buf_printf(b, "%s: %d doubles of work\n", fn_name[fn], w);
        int lv = 1;
        for (int i = 0; i < lw.n; i++) {
            LwStmt s = lw.s[i];
            if (s.kind == LW_SAMPLES_END || s.kind == LW_TILES_END || s.kind == LW_GUARD_END) {
                lv--;
                continue;
            }
            indent(b, lv);
            switch (s.kind) {
            case LW_NODE: {
                Node *n = &ir->n[s.a];
                buf_printf(b, "%%%d = %s %s", s.a, op_name[n->op], shape_str(n->shape, a));
                if (lw.p.fuse[s.a] >= 0) buf_printf(b, " (with %%%d @ in its loop)", lw.p.fuse[s.a]);
                if (n->name) buf_printf(b, "  ; %s", n->name);
                buf_putc(b, '\n');
                break;
            }
            case LW_TILES:
                buf_printf(b, "for each tile of %d samples (each its own w[0:%d] at w[%d]):\n", lw.p.tile, lw.p.stride,
                           lw.p.tbase);
                lv++;
                break;
            case LW_SAMPLES: buf_printf(b, "for each sample%s:\n", lw.p.tile > 1 ? " of the tile" : ""), lv++; break;
            case LW_GEMM: {
                Gemm *g = &lw.p.gemm[s.a];
                if (g->node >= 0)
                    buf_printf(b,
                               "%%%d = %%%d @ %s%%%d for the tile's samples at once (nd_gemm, [tile, %d] × [%d, %d])\n",
                               g->node, g->x, g->trans ? "transpose " : "", g->mat, g->k, g->k, g->n);
                else
                    buf_printf(b,
                               "output %d += Σ over the tile's samples of outer(%%%d, %%%d) (nd_gemm, [%d, tile] × "
                               "[tile, %d])\n",
                               g->out, g->x, g->y, g->m, g->n);
                break;
            }
            case LW_GUARD: buf_printf(b, "if output %d's pointer is given:\n", s.a), lv++; break;
            case LW_OUT:
                buf_printf(b, "output %d%s%s\n", s.a, outs[s.a].total ? " (summed over the batch)" : "",
                           lw.p.out_fuse[s.a] >= 0 ? " (a product's rows, in its loop)" : "");
                break;
            case LW_OUTS: buf_printf(b, "outputs %d to %d, one loop over %d\n", s.a, s.b, outs[s.a].shape.d[0]); break;
            default: break;
            }
        }
    }
    arena_free(a);
}
