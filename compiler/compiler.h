/* compiler.h — nodec's one internal header, sectioned by the file that
 * defines each part.  The pipeline (driver.c: nc_compile) is
 *
 *   source → lexer.l/parser.y → AST (ast.c) → sema.c (names, shapes)
 *          → ir.c (tensor IR, hash-consed, simplified as built by simplify.c)
 *          → deriv.c (reverse and forward mode on the IR)
 *          → plan.c (where each value lives) → lower.c (the loops)
 *          → emit_c.c (C) or emit_llvm.c (the JIT), which print the loops
 *
 * Every AST and IR node carries the byte span of the source it came from;
 * line and column are computed only when a diagnostic is printed.
 */
#ifndef NODEC_COMPILER_H
#define NODEC_COMPILER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "support.h" /* Buf, fnv1a64, rng_ */

/* The compiler's hash of sources and names (source_hash, init salts):
 * FNV-1a from the basis nodec 0.1 used (a digit short of FNV's), kept so
 * that a seed gives the same θ and a model the same hash as before. */
#define NC_HASH_BASIS 1469598103934665603ull
#define nc_hash(s, n) fnv1a64_from(NC_HASH_BASIS, (s), (n))

#define NODEC_VERSION "0.1.0"

/* Limits, reported to the user when crossed. */
enum {
    MAX_DIM = 1000000,   /* one dimension */
    MAX_ELEMS = 1 << 24, /* elements in one tensor, declared or computed */
    MAX_WORK = 1 << 27,  /* doubles of scratch a generated function may need (1 GiB) */
    MAX_NEST = 256,      /* bracket nesting */
    MAX_DEPTH = 1000,    /* expression tree depth */
    MAX_ERRORS = 20,     /* diagnostics before giving up */
};

typedef struct Span {
    int beg, end;
} Span; /* byte offsets, end-exclusive */

typedef struct Shape {
    int rank; /* 0 scalar, 1 vector, 2 matrix */
    int d[2]; /* unused dimensions are 1 */
} Shape;

/* ---- util.c ---------------------------------------------------------- */

typedef struct Arena Arena;
Arena *arena_new(void);
void arena_free(Arena *a);
void *arena_alloc(Arena *a, size_t n); /* zeroed */
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_printf(Arena *a, const char *fmt, ...);

typedef struct Source {
    const char *path; /* as given by the user, for messages */
    const char *text; /* NUL-terminated; may contain other NULs */
    int len;
} Source;

/* Diagnostics go to a sink: a FILE (the command line) or a Buf (the REPL
 * and tests).  Library code never exits. */
typedef struct Diag {
    const Source *src;
    FILE *out; /* when non-NULL, messages are written here */
    Buf *buf;  /* otherwise appended here */
    int nerrors;
    bool at_eof; /* a syntax error was at end of input (REPL: incomplete) */
    bool fatal;  /* stop reporting: too many or unrecoverable */
} Diag;

/* The catalogue of messages: every error and note nodec reports about a
 * model file, one line each (STYLE.md §7).  `nodec --messages` lists them;
 * tests/errors checks each appears in some expected output. */
#define MESSAGES(X)                                                                                                    \
    X(M_USED_BEFORE_DECL, "'%s' is used before its declaration on line %d")                                            \
    X(M_UNKNOWN_NAME, "unknown %s '%s'")                                                                               \
    X(M_ARRAY_LITERAL_MIXES_NUMBERS, "array literal mixes numbers and rows")                                           \
    X(M_RAGGED_ARRAY_LITERAL_ROW, "ragged array literal: row %d has %d element%s, row 1 has %d")                       \
    X(M_ARRAY_LITERAL_HAS_MORE, "array literal has more than %d elements")                                             \
    X(M_ARRAYS_HAVE_AT_MOST, "arrays have at most 2 dimensions")                                                       \
    X(M_ARRAY_LITERAL_ELEMENTS_MUST, "array literal elements must be numbers")                                         \
    X(M_FUNCTION_AS_VALUE, "'%s' is a function, not a value")                                                          \
    X(M_INITIALIZER_MISPLACED, "'%s' is an initializer; it can only follow '=' in a declaration")                      \
    X(M_THE_LOSS_CANNOT_USE, "the loss cannot use '%s'")                                                               \
    X(M_NEEDS_VECTORS_OR_MATRICES, "'@' needs vectors or matrices, not a scalar")                                      \
    X(M_CANNOT_MULTIPLY_BY_INNER, "'@' cannot multiply %s by %s: inner dimensions %d and %d differ")                   \
    X(M_SHAPE_MISMATCH_IN_AND, "shape mismatch in '%c': %s and %s")                                                    \
    X(M_NOT_A_FUNCTION, "'%s' is %s, not a function")                                                                  \
    X(M_UNKNOWN_FUNCTION, "unknown function '%s'")                                                                     \
    X(M_ARITY_VARIADIC, "'%s' needs at least one argument")                                                            \
    X(M_ARITY, "'%s' takes %d argument%s, got %d")                                                                     \
    X(M_DOT_NEEDS_TWO_VECTORS, "'dot' needs two vectors of the same length, got %s and %s")                            \
    X(M_OUTER_NEEDS_TWO_VECTORS, "'outer' needs two vectors, got %s and %s")                                           \
    X(M_CONCAT_JOINS_SCALARS_AND, "'concat' joins scalars and vectors, not a matrix %s")                               \
    X(M_CONCAT_RESULT_HAS_MORE, "'concat' result has more than %d elements")                                           \
    X(M_DERIV_BY_NAME, "'%s' differentiates by a state or a let, named; this is %s")                                   \
    X(M_DERIV_SHAPE, "'%s' differentiates scalars and vectors, by a scalar or a vector; %s is %s")                     \
    X(M_DERIV_ARG_SHAPE, "the %s of '%s' must have the shape of %s, %s, but it is %s")                                 \
    X(M_DDT_NOT_INPUT, "'ddt' takes the name of an input; this is %s")                                                 \
    X(M_UNKNOWN_INTERP, "unknown interpolation '%.*s' for input '%s'")                                                 \
    X(M_NEEDS_SQUARE, "'%s' needs a square matrix, not %s")                                                            \
    X(M_RESULT_TOO_LARGE, "the result of '%s' would have %lld elements; at most %d are allowed")                       \
    X(M_INDEX_SCALAR, "%s is a scalar and cannot be indexed")                                                          \
    X(M_TOO_MANY_INDICES_HAS, "too many indices: %s has %d dimension%s")                                               \
    X(M_INDICES_MUST_BE_WHOLE, "indices must be whole-number constants")                                               \
    X(M_INDEX_OUT_OF_RANGE, "index %.*s is out of range for a dimension of size %d")                                   \
    X(M_SLICE_IS_OUT_OF, "slice %ld:%ld is out of range for a dimension of size %d")                                   \
    X(M_SLICE_IS_EMPTY, "slice %ld:%ld is empty")                                                                      \
    X(M_DECLARE_T, "'t' is time and cannot be declared")                                                               \
    X(M_DECLARE_BUILTIN, "'%s' is a built-in name and cannot be declared")                                             \
    X(M_REDEFINITION_OF, "redefinition of '%s'")                                                                       \
    X(M_NOTE_FIRST_DECL, "'%s' was first declared here")                                                               \
    X(M_DIMENSIONS_MUST_BE_WHOLE, "dimensions must be whole numbers")                                                  \
    X(M_DIMENSION_IS_NOT_POSITIVE, "dimension %ld is not positive")                                                    \
    X(M_DIMENSION_TOO_LARGE, "dimension %.*s is too large (at most %d)")                                               \
    X(M_WOULD_HAVE_ELEMENTS_AT, "'%s' would have %ld elements; at most %d are allowed")                                \
    X(M_CONST_NEEDS_A_VALUE, "const '%s' needs a value")                                                               \
    X(M_INITIALIZER_HAS_SHAPE_BUT, "initializer has shape %s but '%s' is declared %s")                                 \
    X(M_RANDOM_INIT_NOT_PARAM, "a %s cannot have a random initializer")                                                \
    X(M_INIT_ARITY, "'%s' takes 2 arguments (%s), got %d")                                                             \
    X(M_THE_ARGUMENTS_OF_MUST, "the arguments of '%s' must be numbers")                                                \
    X(M_INVALID_INITIALIZER_FOR, "invalid initializer for %s '%s'")                                                    \
    X(M_EXPECTED_D_AND_A, "expected 'd' and a state name before '/dt', got '%s'")                                      \
    X(M_STATE_IS_DECLARED_AFTER, "state '%s' is declared after its equation, on line %d")                              \
    X(M_EQUATION_FOR_WHICH_IS, "equation for '%s', which is not a declared state")                                     \
    X(M_NOT_A_STATE, "'%s' is %s, not a state")                                                                        \
    X(M_SECOND_EQUATION_FOR, "second equation for '%s'")                                                               \
    X(M_NOTE_FIRST_EQUATION, "the first equation for '%s' is here")                                                    \
    X(M_EXPECTED_DT_AFTER_GOT, "expected 'dt' after '/', got '%s'")                                                    \
    X(M_THE_EQUATION_FOR_HAS, "the equation for '%s' has shape %s but '%s' is %s")                                     \
    X(M_THE_LOSS_IS_DEFINED, "the loss is defined twice")                                                              \
    X(M_NOTE_FIRST_LOSS, "the first loss is here")                                                                     \
    X(M_THE_LOSS_TAKES_ARGUMENTS, "the loss takes 2 arguments (pred, obs), got %d")                                    \
    X(M_THE_TWO_LOSS_ARGUMENTS, "the two loss arguments need different names")                                         \
    X(M_LOSS_ARG_T, "'t' is time and cannot name a loss argument")                                                     \
    X(M_THE_LOSS_MUST_BE, "the loss must be a scalar, but this is %s")                                                 \
    X(M_THE_MODEL_IS_NAMED, "the model is named twice")                                                                \
    X(M_NOTE_FIRST_MODEL, "first named here")                                                                          \
    X(M_CANNOT_NAME_A_MODEL, "'%s' cannot name a model (names starting 'nodec' are reserved)")                         \
    X(M_NO_STATE, "the model has no state; declare one, e.g. `state z[2]`, and give it an equation `dz/dt = …`")       \
    X(M_STATE_HAS_NO_EQUATION, "state '%s' has no equation")                                                           \
    X(M_THE_STATES_HAVE_ELEMENTS, "the states have %ld elements and the params %ld; at most %d each are allowed")      \
    X(M_EXPRESSION_TOO_DEEP, "expression has more than %d nested operations")                                          \
    X(M_WORK_TOO_LARGE, "storing this value passes the limit of %d doubles (%d MiB) of scratch memory") /* plan.c */   \
    X(M_SYNTAX, "%s") /* parser.y: "unexpected X; expected Y" */                                                       \
    X(M_NOTE_UNCLOSED_BRACKET, "this bracket is not closed")                                                           \
    X(M_PARSER_TOO_DEEP, "expression nested too deeply for the parser (more than %d levels)")                          \
    X(M_NUMBER_IS_OUT_OF, "number '%s' is out of range")                                                               \
    X(M_BRACKETS_NESTED_MORE_THAN, "brackets nested more than %d deep")                                                \
    X(M_UNEXPECTED_UTF8_CHARACTER, "unexpected character '%.*s'")                                                      \
    X(M_INVALID_BYTE, "invalid byte 0x%02X: not UTF-8 text")                                                           \
    X(M_CONTROL_CHARACTER, "unexpected control character 0x%02X")                                                      \
    X(M_UNEXPECTED_CHARACTER, "unexpected character '%c'")

typedef enum {
#define X(id, text) id,
    MESSAGES(X)
#undef X
        M_COUNT
} MsgId;
extern const char *const msg_text[];
#define MSG(id) msg_text[id]

void error_at(Diag *d, Span sp, const char *hint, const char *fmt, ...);
void note_at(Diag *d, Span sp, const char *fmt, ...);
void error_plain(Diag *d, const char *fmt, ...);
_Noreturn void ice(const char *fmt, ...); /* internal compiler error: a bug in nodec */
bool source_read(const char *path, Source *src, Arena *a, char *err, size_t errlen);
const char *shape_str(Shape s, Arena *a); /* "[2, 3]", "scalar" */
bool shape_eq(Shape a, Shape b);
int shape_size(Shape s);
Shape shape0(void);
Shape shape1(int n);
Shape shape2(int m, int n);
int edit_distance(const char *a, const char *b);

/* ---- ast.c ----------------------------------------------------------- */

typedef enum {
    A_NUM,
    A_NAME,
    A_UNARY,
    A_BINARY,
    A_CALL,
    A_INDEX,
    A_TRANSPOSE,
    A_ARRAY,
} AstKind;

/* One index in x[…]: a number, or a range lo:hi with either end optional. */
typedef struct Index {
    bool range;
    struct Ast *lo, *hi; /* for a plain index, lo is the index */
    Span span;
} Index;

typedef struct Sym Sym;

typedef struct Ast {
    AstKind kind;
    Span span;
    int op;            /* A_UNARY, A_BINARY: '-', '+', '*', '/', '^', '@' */
    double num;        /* A_NUM */
    bool is_int;       /* A_NUM written without '.' or exponent */
    const char *name;  /* A_NAME, A_CALL */
    Span name_span;    /* A_CALL: the function name */
    struct Ast *a, *b; /* operands */
    struct Ast **args; /* A_CALL arguments, A_ARRAY elements */
    int nargs;
    Index idx[2]; /* A_INDEX */
    int nidx;
    int depth;
    /* sema.c */
    Shape shape;
    Sym *sym;    /* A_NAME, A_ARRAY: what it names */
    int builtin; /* A_CALL: a Builtin, or B_FUNC + an Op of FUNCS */
    int lohi[4]; /* A_INDEX: bounds per dimension, end-exclusive */
    int dropped; /* A_INDEX: bit k set when dimension k was indexed */
} Ast;

typedef enum { S_MODEL, S_STATE, S_PARAM, S_CONST, S_LET, S_EQ, S_LOSS, S_NOISE, S_INPUT } StmtKind;

typedef struct Stmt {
    StmtKind kind;
    Span span;        /* the whole statement */
    const char *name; /* declared name; S_EQ: the 'dX' part */
    Span name_span;
    const char *name2; /* S_EQ: the 'dt' part */
    bool eq_before;    /* sema: a state whose equation came first (reported) */
    Span name2_span;
    struct Ast *dims[2]; /* declared shape, or NULL */
    int ndims;
    bool has_dims;
    Span dims_span;
    struct Ast *expr;      /* initializer, let value, equation or loss body */
    const char **lossargs; /* S_LOSS */
    Span *lossarg_spans;
    int nlossargs;
    struct Stmt *next;
} Stmt;

typedef struct Parse {
    Arena *arena;
    Diag *diag;
    Stmt *first, *last;
    int nest;              /* bracket depth, for newlines and the nesting limit */
    int pos;               /* lexer: byte offset of the next token */
    bool eof_sent;         /* lexer: the final NEWLINE was sent */
    bool allow_incomplete; /* REPL: states may still lack equations */
    Span open[MAX_NEST];   /* where each open bracket is, for messages */
} Parse;

Ast *ast_num(Parse *p, double v, bool is_int, Span sp);
Ast *ast_name(Parse *p, const char *name, Span sp);
Ast *ast_unary(Parse *p, int op, Ast *a, Span sp);
Ast *ast_binary(Parse *p, int op, Ast *a, Ast *b, Span sp);
Ast *ast_call(Parse *p, const char *name, Span name_sp, Ast **args, int n, Span sp);
Ast *ast_index(Parse *p, Ast *a, Index *idx, int n, Span sp);
Ast *ast_transpose(Parse *p, Ast *a, Span sp);
Ast *ast_array(Parse *p, Ast **elems, int n, Span sp);
Stmt *stmt_new(Parse *p, StmtKind k, Span sp);
void stmt_add(Parse *p, Stmt *s);
void ast_dump(Buf *b, const Stmt *s, const Source *src);

/* An Ast list for the grammar's lists. */
typedef struct AstList {
    Ast **v;
    int n, cap;
} AstList;
void astlist_push(Parse *p, AstList *l, Ast *a);

/* ---- grammar/parser.y ------------------------------------------------ */

/* Parses src into p->first…; returns false on syntax errors. */
bool parse_source(Parse *p, const Source *src);

/* ---- sema.c ---------------------------------------------------------- */

/* The built-in functions besides the elementwise ones of FUNCS: name,
 * arity (-1: one or more), the IR operation when there is one. */
#define BUILTINS(X)                                                                                                    \
    X(SUM, "sum", 1, OP_SUM)                                                                                           \
    X(MEAN, "mean", 1, OP_SUM)                                                                                         \
    X(DOT, "dot", 2, OP_MATMUL)                                                                                        \
    X(OUTER, "outer", 2, OP_OUTER)                                                                                     \
    X(CONCAT, "concat", -1, OP_CONCAT)                                                                                 \
    X(JACOBIAN, "jacobian", 2, OP_NUM) /* derivative operators: lowered by ir.c through deriv.c */                     \
    X(JVP, "jvp", 3, OP_NUM)                                                                                           \
    X(VJP, "vjp", 3, OP_NUM)                                                                                           \
    X(TRACE, "trace", 1, OP_NUM)                                                                                       \
    X(DIAG, "diag", 1, OP_NUM)                                                                                         \
    X(DDT, "ddt", 1, OP_NUM) /* ddt(u) of an input u: a leaf (ir.c) */

typedef enum {
#define X(id, name, nargs, op) B_##id,
    BUILTINS(X)
#undef X
        B_COUNT
} Builtin;
#define B_FUNC B_COUNT /* the elementwise functions follow: B_FUNC + their Op */

typedef enum { SYM_STATE, SYM_PARAM, SYM_CONST, SYM_LET, SYM_TIME, SYM_LOSSARG, SYM_INPUT } SymKind;
const char *sym_kind_a(SymKind k); /* "a state", "an input", … for messages */

/* INIT_PARAM: a state whose initial value is a param's (`state x = x0`: learned). */
typedef enum {
    INIT_NONE,
    INIT_VALUE,
    INIT_ZEROS,
    INIT_ONES,
    INIT_GLOROT,
    INIT_UNIFORM,
    INIT_NORMAL,
    INIT_PARAM
} InitKind;

struct Sym {
    SymKind kind;
    const char *name;
    Span span;
    Shape shape;
    int index;  /* position among the symbols of its kind */
    int offset; /* states: in z; params: in θ; loss args: in pred; inputs: among the n_input values */
    InitKind init;
    double *values; /* INIT_VALUE: shape_size(shape) numbers */
    double a, b;    /* uniform lo, hi; normal mean, std */
    Ast *expr;      /* SYM_LET */
    Sym *z0_param;  /* SYM_STATE with INIT_PARAM: the param it starts from */
    int noise;      /* SYM_STATE declared `noise`: NODEC_NOISE_NORMAL or _RADEMACHER; dX/dt = 0 */
    int interp;     /* SYM_INPUT: NODEC_INTERP_LINEAR, _CUBIC or _HOLD */
    Ast *eq;        /* SYM_STATE: its equation */
    Span eq_span;
    int ir;         /* ir.c: the lowered node, -1 before */
    bool poisoned;  /* its declaration had an error: uses stay silent */
    bool eq_before; /* a state whose equation came first (reported) */
};

typedef struct Model {
    const char *name;
    const Source *src;
    Sym **states;
    int nstates;
    Sym **params;
    int nparams;
    Sym **consts;
    int nconsts;
    Sym **lets;
    int nlets;
    Sym **inputs; /* `input u[2] = linear` (DESIGN.md §7): per-sample values that change with t */
    int ninputs;
    int n_input;   /* their doubles: one sample's row of u holds 3·n_input (values, u′, u″) */
    bool uses_ddt; /* some expression takes ddt(·) of an input */
    Sym **syms;
    int nsyms;            /* every named symbol, for lookup */
    int n_state, n_param; /* total doubles */
    Ast *loss;            /* NULL: mean squared error */
    Sym *lossargs[2];
    bool has_z0;    /* every state has a value */
    bool z0_params; /* some state starts from a param (INIT_PARAM) */
    bool has_noise; /* some state is a noise */
    Sym *time;
    Sym *incomplete; /* a state without an equation (allow_incomplete) */
} Model;

/* Checks the parsed statements and builds the Model; NULL on errors. */
Model *sema_check(Parse *p, const char *default_name);
const char *func_names_hint(void);

/* ---- ir.c ------------------------------------------------------------ */

/* Leaves of the IR: what a value is read from. */
/* L_INPUT, L_DINPUT and L_D2INPUT are an input's value u, ddt(u) = u′ and
 * u″ (made only by differentiation, for aᵀ∂f/∂t): read from the sample's
 * row of u at the input's offset, n_input + it and 2·n_input + it. */
typedef enum { L_STATE, L_PARAM, L_CONST, L_TIME, L_ADJ, L_TAN, L_PRED, L_OBS, L_INPUT, L_DINPUT, L_D2INPUT } LeafKind;

/* The elementwise functions of one argument, defined once, one line each:
 *   id; the name (the language's and the printed one); whether models may
 *   call it (STEP and SIGN are made by differentiation only); the emitted
 *   C's call: a libm function, or an nd_ helper whose text ops.c holds (the
 *   JIT builds those in LLVM IR, emit_llvm.c); LaTeX (NULL: the name
 *   upright); the value at a number x (constant folding); the derivative
 *   in terms of the operand ARG and the result RES, with ops.c's D_ macros.
 * The value and the derivative are expanded only in ops.c.  The JIT calls
 * a libm function by the C name. */
#define FUNCS(X)                                                                                                       \
    X(TANH, "tanh", 1, "tanh", "\\tanh", tanh(x), D_SUB(D_NUM(1), D_MUL(RES, RES)))                                    \
    X(SIGMOID, "sigmoid", 1, "nd_sigmoid", "\\sigma", nd_sigmoid(x), D_MUL(RES, D_SUB(D_NUM(1), RES)))                 \
    X(RELU, "relu", 1, "nd_relu", NULL, x > 0 ? x : 0, D_F(STEP, ARG))                                                 \
    X(SOFTPLUS, "softplus", 1, "nd_softplus", NULL, nd_softplus(x), D_F(SIGMOID, ARG))                                 \
    X(EXP, "exp", 1, "exp", "\\exp", exp(x), RES)                                                                      \
    X(LOG, "log", 1, "log", "\\log", log(x), D_DIV(D_NUM(1), ARG))                                                     \
    X(SIN, "sin", 1, "sin", "\\sin", sin(x), D_F(COS, ARG))                                                            \
    X(COS, "cos", 1, "cos", "\\cos", cos(x), D_NEG(D_F(SIN, ARG)))                                                     \
    X(SQRT, "sqrt", 1, "sqrt", NULL, sqrt(x), D_DIV(D_NUM(0.5), RES))                                                  \
    X(ABS, "abs", 1, "fabs", NULL, fabs(x), D_F(SIGN, ARG))                                                            \
    X(STEP, "step", 0, "nd_step", NULL, x > 0, D_NUM(0))              /* relu': 1 where x > 0 */                       \
    X(SIGN, "sign", 0, "nd_sign", NULL, (x > 0) - (x < 0), D_NUM(0))  /* abs' */                                       \
    X(OBSERVED, "observed", 1, "nd_observed", NULL, x == x, D_NUM(0)) /* 0 for a missing (NaN) observation, else 1 */  \
    X(OR_ZERO, "or_zero", 1, "nd_or_zero", NULL, x == x ? x : 0, D_F(OBSERVED, ARG)) /* NaN → 0 */

/* The other IR operations: name, arity, printed name and class.
 * Class: E elementwise (reads each operand element once, same index),
 * V view (cheap re-indexing), R reduction or product (materialised).
 * The functions above follow them in Op, each of arity 1 and class E. */
#define IR_OPS(X)                                                                                                      \
    X(NUM, 0, "num", 'L')                                                                                              \
    X(LEAF, 0, "leaf", 'L')                                                                                            \
    X(ADD, 2, "+", 'E')                                                                                                \
    X(SUB, 2, "-", 'E')                                                                                                \
    X(MUL, 2, "*", 'E')                                                                                                \
    X(DIV, 2, "/", 'E')                                                                                                \
    X(POW, 2, "^", 'E')                                                                                                \
    X(NEG, 1, "neg", 'E')                                                                                              \
    X(BCAST, 1, "bcast", 'V') /* scalar → shape */                                                                   \
    X(TRANS, 1, "transpose", 'V')                                                                                      \
    X(SLICE, 1, "slice", 'V') /* i0..i3: lo0 hi0 lo1 hi1; i4: dropped dims */                                          \
    X(OUTER, 2, "outer", 'V')                                                                                          \
    X(EMBED, 1, "embed", 'R') /* slice's adjoint: g placed in zeros */                                                 \
    X(CONCAT, 2, "concat", 'R')                                                                                        \
    X(SUM, 1, "sum", 'R')                                                                                              \
    X(MATMUL, 2, "@", 'R')

typedef enum {
#define X(name, arity, str, cls) OP_##name,
    IR_OPS(X)
#undef X
#define X(id, name, user, c, tex, value, deriv) OP_##id,
        FUNCS(X)
#undef X
            OP_COUNT
} Op;

extern const char *const op_name[];
extern const int op_arity[];
extern const char op_class[];
#define op_is_func(op) ((op) >= OP_TANH)

/* ---- ops.c: the functions of FUNCS ----------------------------------- */

typedef struct FuncDef {
    const char *name, *c, *tex;
    bool user; /* models may call it */
} FuncDef;
extern const FuncDef func_def[OP_COUNT]; /* set for the ops of FUNCS */
int func_lookup(const char *name);       /* a function models may call: its Op, else -1 */
double func_value(Op op, double x);      /* f(x), for folding */
const char *func_helper_src(Op op);      /* the nd_ helper's C text, NULL for a libm call */
/* The derivative of node id = f(x) in terms of x and id itself (a node of
 * the same graph). */
struct Ir;
int func_deriv(struct Ir *ir, int id);

typedef struct Node {
    Op op;
    Shape shape;
    int a, b;      /* operands, -1 when absent */
    int i[5];      /* LEAF: kind, symbol index; SLICE/EMBED: bounds */
    Shape inshape; /* EMBED: the shape of the result's source */
    double num;    /* NUM: the value of every element */
    Span span;
    const char *name; /* set when the node is a user's let, for printing */
    bool varies;      /* depends on per-sample data (z, u, a, v, pred, obs) */
} Node;

typedef struct Ir {
    Model *m;
    Node *n;
    int len, cap;
    int *hash; /* open addressing over node ids, -1 empty */
    int hcap;
    bool fold;     /* simplify while building (off only for tests) */
    bool no_tiles; /* plan.c: every function one sample at a time (tests, `emit --no-tiles`) */
} Ir;

Ir *ir_new(Model *m);
void ir_free(Ir *ir);
int ir_num(Ir *ir, double v, Shape s, Span sp);
int ir_leaf(Ir *ir, LeafKind k, int sym, Shape s, Span sp);
int ir_op(Ir *ir, Op op, int a, int b, Span sp); /* shape inferred */
int ir_slice(Ir *ir, int a, const int lohi[4], int dropped, Span sp);
int ir_embed(Ir *ir, int g, const int lohi[4], int dropped, Shape in, Span sp);
int ir_bcast(Ir *ir, int a, Shape s, Span sp);
int ir_raw(Ir *ir, Node n); /* hash-conses, no simplification */
Shape ir_infer(Ir *ir, Op op, int a, int b);
bool ir_is_num(Ir *ir, int id, double v);
bool ir_verify(Ir *ir, const int *roots, int nroots, Buf *err);

/* The functions nodec emits, as roots in one shared graph. */
typedef struct Func {
    int *roots; /* one per output variable, -1 when zero */
    int nroots;
} Func;

/* The generated functions of a program, listed once: driver.c frees and
 * verifies them, the dumps print them, in this order. */
#define PROGRAM_FUNCS(X)                                                                                               \
    X(f)         /* per state var */                                                                                   \
    X(vjp_z)     /* per state var: aᵀ∂f/∂X */                                                                    \
    X(vjp_p)     /* per param var: aᵀ∂f/∂P */                                                                    \
    X(vjp_t)     /* one: aᵀ∂f/∂t */                                                                              \
    X(jvp)       /* per state var */                                                                                   \
    X(loss)      /* one */                                                                                             \
    X(loss_grad) /* one: ∂ℓ/∂pred, shape [n_state] */

typedef struct Program {
    Model *m;
    Ir *ir;
#define X(name) Func name;
    PROGRAM_FUNCS(X)
#undef X
} Program;

Func ir_func(int n);               /* n roots, all -1 (zero) */
int ir_lower_expr(Ir *ir, Ast *e); /* an AST expression, lets memoised */
void ir_lower(Program *pg);        /* f and loss */
void ir_dump(Buf *b, Ir *ir, const char *title, const char *const *labels, const int *roots, int nroots);
const char *leaf_name(Ir *ir, const Node *n);
bool ir_f_uses_t(Program *pg); /* f depends on t */

/* ---- simplify.c ------------------------------------------------------ */

/* Returns an equivalent existing or simpler node for op(a, b), or -1 when
 * no rule applies.  Called by ir_op before a node is made. */
int simplify_op(Ir *ir, Op op, int a, int b, Span sp);
bool fold_ok(double v); /* constant folding never makes NaN, ±Inf or -0.0 */

/* ---- deriv.c --------------------------------------------------------- */

/* Reverse mode: given roots r[k] with seeds s[k] (same shapes), returns in
 * grad[leaf node id] the gradient of Σ_k <s_k, r_k> for every leaf up to
 * node id `upto` (grad has ir->len entries at the time of the call, -1 = 0). */
int *deriv_reverse(Ir *ir, const int *roots, const int *seeds, int n);
/* Forward mode: tangents of the roots for tangent inputs tan[leaf id]. */
void deriv_forward(Ir *ir, const int *roots, int n, const int *leaf_tan, int *out);
/* The partial derivatives of node e by node x, everything x is computed
 * from held fixed (the language's jvp and vjp): (∂e/∂x)·v, shaped like e,
 * and aᵀ·∂e/∂x, shaped like x; -1 when zero. */
int deriv_jvp(Ir *ir, int e, int x, int v);
int deriv_vjp(Ir *ir, int e, int x, int a);
void deriv_program(Program *pg); /* vjp_*, jvp, loss_grad */

/* ---- plan.c ---------------------------------------------------------- */

/* One output of a generated function, as the storage plan sees it. */
typedef struct PlanOut {
    int root;   /* -1: zero */
    bool total; /* a scalar summed over the batch */
    Shape shape;
    bool acc;  /* a tensor summed over the batch (a parameter's gradient) */
    int guard; /* written only when an optional pointer is given: outputs of
                  one pointer share the id (1 az, 2 atheta, 3 at); 0: always */
} PlanOut;

/* A product computed for a whole tile of samples at once (batch-major), by
 * nd_gemm (nd_gemm.h): C (m × n) = Σ_p a(i, p) · Bm(p, j), where for
 *   a product node (node ≥ 0): row i of C is sample i's result, in its
 *     slot of the tile's work (ldc = the per-sample size); a(i, p) is
 *     element p of sample i's operand x; m = the samples of the tile; Bm is
 *     the stored matrix `mat` (a parameter or a value computed before the
 *     batch loop, [k, n]) or, when trans, its transpose (mat is [n, k]);
 *   a parameter's gradient (out = k ≥ 0, node -1): C is the output's
 *     [m, n] block of atheta, added to; a(i, p) = element i of sample p's
 *     left operand x, Bm's row p the right operand y of sample p; k = the
 *     samples of the tile. */
typedef struct Gemm {
    int node, out; /* one of them is -1 */
    int x, y;      /* per-sample operands: x always, y for a gradient */
    int mat;       /* product: the matrix node */
    bool trans;    /* product: Bm = matᵀ */
    int m, n, k;   /* the fixed dimensions (the tile's is given at run time) */
} Gemm;

typedef struct Plan {
    char *mode; /* per node: 0, 'N', 'L', 'S', 'W', 'I', 'F' */
    int *uses;
    bool *multi;   /* read several times by its consumer */
    int *woff;     /* 'W': offset in the work buffer */
    int *user;     /* the single user of a node: a node id, or -2-k for output k */
    int *fuse;     /* node C computed in the loop of matrix product fuse[C] */
    int *out_fuse; /* the same for output k */
    bool *inplace; /* 'W' in its slice of its single user, a concat, which does not copy it */
    int wsize;     /* doubles of work */
    int over;      /* -1, or the node whose storage passed MAX_WORK (the plan is then void) */
    /* Batch-major tiles (when tile > 1): the samples are taken `tile` at a
     * time; each sample of a tile has its own copy of the per-sample
     * values, whose offsets are in [0, stride), at work + tbase + stride·(its
     * index in the tile); the values computed before the batch loop are at
     * their offsets in work, as when untiled.  The nodes are computed in
     * node order, a loop over the tile's samples around each run between
     * two products in gemm[]; the gradients in gemm[] come after the
     * per-sample outputs. */
    int tile, stride, tbase;
    Gemm *gemm;
    int ngemm;
    bool *is_gemm;  /* per node: computed by a tile product */
    bool *out_gemm; /* per output */
} Plan;

/* Plans every node reached from outs (arrays from a); returns the work size,
 * or -1 when it would pass MAX_WORK.  batch: the function loops over
 * samples with per-sample rows (f, vjp, f_vjp, jvp), so it may be tiled. */
int plan_storage(Plan *p, Ir *ir, const PlanOut *outs, int nouts, bool batch, Arena *a);
/* The work size of the generated code: the largest any function (f, vjp,
 * f_vjp, jvp, loss, loss_grad, and jac_z's n_state + vjp's) needs.  -1 when
 * that passes MAX_WORK, with *over (when non-NULL) the node that passed it. */
int plan_work_size(Program *pg, int *over);
/* The outputs of generated function fn (0 f, 1 vjp, 2 f_vjp, 3 jvp, 4 loss,
 * 5 loss_grad) in the emitters' order; outs has room for 2 nstates +
 * nparams + 2.  Returns their number. */
int plan_outputs(Program *pg, int fn, PlanOut *outs);
/* Reports a work size past MAX_WORK at the user's expression whose value
 * passed it; false then.  nc_compile runs it after differentiation. */
bool plan_check(Program *pg, Diag *d);
/* Prints each generated function's plan: its work size, the values kept in
 * the work buffer (where) and the products fused into a loop (which). */
void plan_dump(Buf *b, Program *pg);

/* ---- lower.c --------------------------------------------------------- */

/* A generated function's loop-level form, printed statement by statement by
 * both backends (lower.c has the order it sets). */
typedef enum {
    LW_NODE,        /* compute node a (before any loop: once per call) */
    LW_TILES,       /* open the loop over tiles of p.tile samples */
    LW_TILES_END,   /* close it */
    LW_SAMPLES,     /* open the loop over the samples (of the batch, or of the tile) */
    LW_SAMPLES_END, /* close it */
    LW_GEMM,        /* p.gemm[a], for the tile's samples at once */
    LW_GUARD,       /* open `if` output a's optional pointer is given */
    LW_GUARD_END,   /* close it */
    LW_OUT,         /* output a on its own */
    LW_OUTS,        /* outputs a to b in one loop over their first dimension */
} LwKind;

typedef struct LwStmt {
    LwKind kind;
    int a, b;
} LwStmt;

typedef struct Lowered {
    Plan p; /* where the values live (plan_storage) */
    LwStmt *s;
    int n, cap;
} Lowered;

/* Plans and orders one function (arrays from a); returns its work size, or
 * -1 when the plan passes MAX_WORK.  batch: it loops over samples with
 * per-sample rows, and may be tiled. */
int lower(Lowered *lw, Ir *ir, const PlanOut *outs, int nouts, bool batch, Arena *a);
/* Prints each generated function's loops (`nodec emit --dump=loops`). */
void lower_dump(Buf *b, Program *pg);

/* ---- emit_c.c -------------------------------------------------------- */

typedef struct EmitOpts {
    const char *source_path;
    uint64_t source_hash;
    bool blas; /* `emit --blas`: the source defines ND_CBLAS (tile products through cblas_dgemm) */
} EmitOpts;

void emit_header(Buf *b, Program *pg, const EmitOpts *o);
void emit_source(Buf *b, Program *pg, const EmitOpts *o);
int emit_work_size(Program *pg);

/* ---- vmath.c --------------------------------------------------------- */

/* Vector math for the emitted C (docs/vmath.md).  The prelude goes after
 * `#include <math.h>` in every emitted .c; it is empty unless the file is
 * compiled with -DND_VECTOR_MATH, so standalone emitted C stays plain
 * C99 + libm.  The sigmoid and softplus helpers are branch-free, so their
 * loops vectorise. */
const char *vmath_prelude(void);
const char *vmath_sigmoid_src(void);
const char *vmath_softplus_src(void);
/* The flags the cc backend adds before the source file, NULL-terminated. */
const char *const *vmath_cflags(void);

/* ---- print.c --------------------------------------------------------- */

/* Readable math for `nodec derive`: plain text or LaTeX. */
void print_derive(Buf *b, Program *pg, bool latex);

/* ---- driver.c -------------------------------------------------------- */

typedef struct Compilation {
    Arena *arena;
    Source src;
    Parse parse;
    Model *model;
    Program *prog;
    Diag diag;
    bool allow_incomplete; /* REPL: accept states without equations yet */
} Compilation;

/* The stages of the pipeline, in order; each can be printed (nc_dump). */
#define STAGES(X)                                                                                                      \
    X(AST, "ast")     /* parse: the statements */                                                                      \
    X(SEMA, "sema")   /* names, shapes, sizes */                                                                       \
    X(IR, "ir")       /* f and the loss, lowered and simplified */                                                     \
    X(DERIV, "deriv") /* the VJPs, the JVP, ∂ℓ/∂pred */                                                          \
    X(PLAN, "plan")   /* where each value of each generated function lives */                                          \
    X(LOOPS, "loops") /* each generated function's loops, which both backends print */                                 \
    X(C, "c")         /* the emitted header and source */

typedef enum {
#define X(id, name) STAGE_##id,
    STAGES(X)
#undef X
        STAGE_COUNT
} Stage;
extern const char *const stage_names[];
int nc_stage_from_name(const char *name); /* -1 when unknown */

/* Runs the pipeline on a source text up to and including stop_at
 * (STAGE_DERIV and later: everything); false when there were errors
 * (already reported to `diag`). */
bool nc_compile(Compilation *c, Stage stop_at);
/* Prints what stage s made (nc_compile must have reached it). */
void nc_dump(Buf *b, Compilation *c, Stage s, const EmitOpts *o);
/* The parts of a model a statement defines, for the REPL's replacement:
 * "model", a declared name, "d<state>/dt" or "loss". */
const char *nc_stmt_key(const Stmt *s, Arena *a);
void nc_free(Compilation *c);
char *nc_model_name_from_path(const char *path, Arena *a);

/* A model made callable by a backend (tools/load.c: the system C compiler,
 * or the JIT plugin, emit_llvm.c), with whoever owns its code. */
typedef struct LoadedModel {
    void *dl;
    const struct nodec_model *model;
    char dir[256];
    void *jit; /* emit_llvm.c: the JIT that owns the code, or NULL */
} LoadedModel;

/* ---- emit_llvm.c ----------------------------------------------------- */

/* Built only with the CMake option NODEC_LLVM, which defines NODEC_HAVE_LLVM,
 * into the plugin libnodec_jit that driver.c opens on first use (nc_load).
 * nc_load_llvm compiles the Program with LLVM's ORC JIT in memory and fills
 * lm->model exactly as the emitted C would (same names, shapes, offsets,
 * work size, and the same θ for the same seed); lm->jit owns the code.
 * f, f_vjp, the loss and init_params are compiled at once; vjp, jvp and
 * jac_z on their first call.  nc_unload_llvm frees it (nothing when lm->jit
 * is NULL) and clears lm->jit and lm->model. */
bool nc_load_llvm(Program *pg, const EmitOpts *o, LoadedModel *lm, char *err, size_t errlen);
void nc_unload_llvm(LoadedModel *lm);

#endif
