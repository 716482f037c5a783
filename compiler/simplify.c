/* simplify.c — algebraic simplification and constant folding, applied to
 * every node as ir_op builds it (a peephole on construction, like LLVM's
 * IRBuilder folding).
 *
 * Requires: the operands exist.  Returns an equivalent node or -1.
 * Zeros made by differentiation are structural: x·0 becomes 0 without
 * looking at x, which is what symbolic differentiation needs.  Folding
 * never produces NaN, ±Inf or −0.0: such results are left unfolded, so the
 * generated code computes them at run time exactly as written (Lua lcode.c).
 */
#include "compiler.h"

#include <math.h>

bool fold_ok(double v) { return isfinite(v) && !(v == 0 && signbit(v)); }

static double eval(Op op, double x, double y) {
    switch (op) {
    case OP_ADD: return x + y;
    case OP_SUB: return x - y;
    case OP_MUL: return x * y;
    case OP_DIV: return x / y;
    case OP_POW: return pow(x, y);
    case OP_NEG: return -x;
    default: return op_is_func(op) ? func_value(op, x) : NAN;
    }
}

static Node *N(Ir *ir, int id) { return &ir->n[id]; }
static bool num(Ir *ir, int id) { return id >= 0 && ir->n[id].op == OP_NUM; }
static bool is(Ir *ir, int id, double v) { return ir_is_num(ir, id, v); }
static bool scalar_num(Ir *ir, int id) { return num(ir, id) && N(ir, id)->shape.rank == 0; }

/* x, broadcast to the shape the operation would have had. */
static int fit(Ir *ir, int x, Shape s, Span sp) { return shape_eq(N(ir, x)->shape, s) ? x : ir_bcast(ir, x, s, sp); }

int simplify_op(Ir *ir, Op op, int a, int b, Span sp) {
    Shape s = ir_infer(ir, op, a, b);
    /* constant operands: fold elementwise operations */
    if (op_class[op] == 'E' && num(ir, a) && (b < 0 || num(ir, b))) {
        double v = eval(op, N(ir, a)->num, b >= 0 ? N(ir, b)->num : 0);
        if (fold_ok(v)) return ir_num(ir, v, s, sp);
    }
    /* a splat beside a full-shaped operand is just its scalar */
    if (op_class[op] == 'E' && b >= 0 && !(num(ir, a) && num(ir, b))) {
        if (num(ir, a) && N(ir, a)->shape.rank && shape_eq(N(ir, b)->shape, s))
            return ir_op(ir, op, ir_num(ir, N(ir, a)->num, shape0(), sp), b, sp);
        if (num(ir, b) && N(ir, b)->shape.rank && shape_eq(N(ir, a)->shape, s))
            return ir_op(ir, op, a, ir_num(ir, N(ir, b)->num, shape0(), sp), sp);
    }
    switch (op) {
    case OP_ADD:
        if (is(ir, a, 0)) return fit(ir, b, s, sp);
        if (is(ir, b, 0)) return fit(ir, a, s, sp);
        if (N(ir, b)->op == OP_NEG) return ir_op(ir, OP_SUB, a, N(ir, b)->a, sp);
        if (N(ir, a)->op == OP_NEG) return ir_op(ir, OP_SUB, b, N(ir, a)->a, sp);
        if (num(ir, b) && !num(ir, a)) return ir_op(ir, OP_ADD, b, a, sp); /* constants first */
        break;
    case OP_SUB:
        if (is(ir, b, 0)) return fit(ir, a, s, sp);
        if (is(ir, a, 0)) return fit(ir, ir_op(ir, OP_NEG, b, -1, sp), s, sp);
        if (N(ir, b)->op == OP_NEG) return ir_op(ir, OP_ADD, a, N(ir, b)->a, sp);
        if (a == b) return ir_num(ir, 0, s, sp);
        break;
    case OP_MUL:
        if (is(ir, a, 0) || is(ir, b, 0)) return ir_num(ir, 0, s, sp);
        if (is(ir, a, 1)) return fit(ir, b, s, sp);
        if (is(ir, b, 1)) return fit(ir, a, s, sp);
        if (is(ir, a, -1)) return fit(ir, ir_op(ir, OP_NEG, b, -1, sp), s, sp);
        if (is(ir, b, -1)) return fit(ir, ir_op(ir, OP_NEG, a, -1, sp), s, sp);
        if (scalar_num(ir, b) && !num(ir, a)) return ir_op(ir, OP_MUL, b, a, sp);
        /* c1 * (c2 * x) = (c1 c2) * x */
        if (scalar_num(ir, a) && N(ir, b)->op == OP_MUL && scalar_num(ir, N(ir, b)->a)) {
            double v = N(ir, a)->num * N(ir, N(ir, b)->a)->num;
            if (fold_ok(v)) return ir_op(ir, OP_MUL, ir_num(ir, v, shape0(), sp), N(ir, b)->b, sp);
        }
        if (N(ir, a)->op == OP_NEG && N(ir, b)->op == OP_NEG) return ir_op(ir, OP_MUL, N(ir, a)->a, N(ir, b)->a, sp);
        if (N(ir, b)->op == OP_NEG) return ir_op(ir, OP_NEG, ir_op(ir, OP_MUL, a, N(ir, b)->a, sp), -1, sp);
        if (N(ir, a)->op == OP_NEG && !num(ir, b))
            return ir_op(ir, OP_NEG, ir_op(ir, OP_MUL, N(ir, a)->a, b, sp), -1, sp);
        /* x * (1 / y) = x / y */
        if (N(ir, b)->op == OP_DIV && is(ir, N(ir, b)->a, 1)) return ir_op(ir, OP_DIV, a, N(ir, b)->b, sp);
        break;
    case OP_DIV:
        if (is(ir, a, 0)) return ir_num(ir, 0, s, sp);
        if (is(ir, b, 1)) return fit(ir, a, s, sp);
        if (N(ir, b)->op == OP_NEG) return ir_op(ir, OP_NEG, ir_op(ir, OP_DIV, a, N(ir, b)->a, sp), -1, sp);
        if (N(ir, a)->op == OP_NEG && !num(ir, b))
            return ir_op(ir, OP_NEG, ir_op(ir, OP_DIV, N(ir, a)->a, b, sp), -1, sp);
        break;
    case OP_POW:
        if (is(ir, b, 1)) return fit(ir, a, s, sp);
        if (is(ir, b, 0) || is(ir, a, 1)) return ir_num(ir, 1, s, sp);
        break;
    case OP_NEG:
        if (N(ir, a)->op == OP_NEG) return N(ir, a)->a;
        if (N(ir, a)->op == OP_SUB) return ir_op(ir, OP_SUB, N(ir, a)->b, N(ir, a)->a, sp);
        break;
    case OP_TRANS:
        if (N(ir, a)->shape.rank < 2) return a;
        if (N(ir, a)->op == OP_TRANS) return N(ir, a)->a;
        if (num(ir, a)) return ir_num(ir, N(ir, a)->num, s, sp);
        break;
    case OP_SUM:
        if (N(ir, a)->shape.rank == 0) return a;
        if (num(ir, a)) {
            double v = N(ir, a)->num * shape_size(N(ir, a)->shape);
            if (fold_ok(v)) return ir_num(ir, v, s, sp);
        }
        if (N(ir, a)->op == OP_BCAST)
            return ir_op(ir, OP_MUL, ir_num(ir, shape_size(N(ir, a)->shape), shape0(), sp), N(ir, a)->a, sp);
        if (N(ir, a)->op == OP_EMBED) return ir_op(ir, OP_SUM, N(ir, a)->a, -1, sp);
        break;
    case OP_MATMUL:
    case OP_OUTER:
        if (is(ir, a, 0) || is(ir, b, 0)) return ir_num(ir, 0, s, sp);
        break;
    case OP_CONCAT:
        if (num(ir, a) && num(ir, b) && N(ir, a)->num == N(ir, b)->num) return ir_num(ir, N(ir, a)->num, s, sp);
        break;
    default: break;
    }
    return -1;
}
