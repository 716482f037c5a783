/* ops.c — the elementwise functions of FUNCS (compiler.h), defined in one
 * place: their names, their C, their value at a number (constant folding,
 * simplify.c) and their derivative (deriv.c).  sema.c looks models' calls
 * up here, emit_c.c spells them from here, print.c prints them from here.
 * The JIT (emit_llvm.c) calls a libm function by its C name and builds the
 * nd_ helpers in LLVM IR.
 */
#include "compiler.h"

#include <math.h>
#include <string.h>

const FuncDef func_def[OP_COUNT] = {
#define X(id, name, user, c, tex, value, deriv) [OP_##id] = {name, c, tex, user},
    FUNCS(X)
#undef X
};

int func_lookup(const char *name) {
    for (int op = 0; op < OP_COUNT; op++)
        if (op_is_func(op) && func_def[op].user && !strcmp(func_def[op].name, name)) return op;
    return -1;
}

/* What the helpers compute (emit_c.c's text below, emit_llvm.c's IR). */
static double nd_sigmoid(double x) { return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)); }
static double nd_softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

double func_value(Op op, double x) {
    switch (op) {
#define X(id, name, user, c, tex, value, deriv)                                                                        \
    case OP_##id: return (value);
        FUNCS(X)
#undef X
    default: return NAN;
    }
}

/* The helpers' C.  sigmoid and softplus are vmath.c's branch-free forms
 * (the same bits as the branching ones above), so their loops vectorise. */
const char *func_helper_src(Op op) {
    switch (op) {
    case OP_SIGMOID: return vmath_sigmoid_src();
    case OP_SOFTPLUS: return vmath_softplus_src();
    case OP_RELU: return "static double nd_relu(double x) { return x > 0 ? x : 0; }\n";
    case OP_STEP: return "static double nd_step(double x) { return x > 0 ? 1 : 0; }\n";
    case OP_SIGN: return "static double nd_sign(double x) { return (x > 0) - (x < 0); }\n";
    case OP_OBSERVED: return "static double nd_observed(double x) { return x == x; }\n";
    case OP_OR_ZERO: return "static double nd_or_zero(double x) { return x == x ? x : 0; }\n";
    default: return NULL;
    }
}

/* The derivatives' vocabulary: ARG the operand, RES the result. */
#define ARG (ir->n[id].a)
#define RES id
#define D_NUM(v) ir_num(ir, (v), shape0(), sp)
#define D_SUB(a, b) ir_op(ir, OP_SUB, (a), (b), sp)
#define D_MUL(a, b) ir_op(ir, OP_MUL, (a), (b), sp)
#define D_DIV(a, b) ir_op(ir, OP_DIV, (a), (b), sp)
#define D_NEG(a) ir_op(ir, OP_NEG, (a), -1, sp)
#define D_F(f, a) ir_op(ir, OP_##f, (a), -1, sp)

int func_deriv(Ir *ir, int id) {
    Span sp = ir->n[id].span;
    switch (ir->n[id].op) {
#define X(id_, name, user, c, tex, value, deriv)                                                                       \
    case OP_##id_: return deriv;
        FUNCS(X)
#undef X
    default: ice("func_deriv: %s is not a function", op_name[ir->n[id].op]);
    }
    return -1;
}
