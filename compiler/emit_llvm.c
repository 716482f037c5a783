/* emit_llvm.c — the LLVM backend: the Program's IR lowered to LLVM IR through
 * LLVM's C API, optimised by a short pass pipeline (below: `pipeline`) and
 * compiled in memory by ORC's LLJIT.  The result is a `nodec_model` the
 * runtime cannot tell from linked emitted C (DESIGN.md §3, STYLE.md §11).
 * docs/jit.md has the measurements behind the choices below.
 *
 * Requires: a Program whose roots are derived and simplified (nc_compile).
 *
 * The lowering follows emit_c.c step for step so that the two backends
 * compute the same numbers in the same order: the same storage plan
 * (N literal, L leaf, S scalar, W work buffer, I inlined into its consumer,
 * F a matrix-vector product computed in its elementwise consumer's loop),
 * the same hoisting of sample-independent values before the batch loop, the
 * same loops and accumulators for products (short sums unrolled, every sum
 * started from its first term), the same helper definitions
 * (sigmoid, softplus, splitmix64, Box-Muller), the same libm calls.  No
 * fast-math flags are set, so LLVM may not reassociate or contract, and
 * chains of + and * are evaluated in the order C parses emit_c.c's text
 * (below), so results agree with the emitted C's to the last bit.
 *
 * Two things differ from what gcc sees, both for speed: `work` is marked
 * noalias (it is scratch no other argument points into), and loops are
 * unrolled by explicit hints rather than by LLVM's unroller (FULL_UNROLL).
 *
 * Two modules: the eager one holds what training calls (f, f_vjp, loss,
 * loss_grad, init_params) and is compiled to machine code by nc_load_llvm;
 * the lazy one (vjp, jvp, jac_z) is optimised then too, but its machine
 * code is made on the first call of one of its functions: the descriptor
 * points at ORC stubs (lazy re-exports of <fn>.lazy), as in
 * llvm/examples/OrcV2Examples/OrcV2CBindingsLazy.c.
 *
 * Ownership (following llvm/examples/OrcV2Examples/OrcV2CBindings*.c):
 *   - a ThreadSafeContext owns the LLVMContext the modules are built in;
 *     the ThreadSafeModules made from them keep it alive, so we drop our
 *     reference at the end of nc_load_llvm;
 *   - a module belongs to us until it is wrapped in a TSM, the TSM until
 *     LLJIT accepts it;
 *   - the TargetMachine used for the pass pipeline is handed to the JIT's
 *     target machine builder, which destroys it;
 *   - the LLJIT (one per loaded model) owns the compiled code and its
 *     JITDylib; a ResourceTracker tracks the model's modules in it, so the
 *     code can be removed on its own (the REPL keeps one per definition);
 *   - the lazy functions' stubs and trampolines belong to an
 *     IndirectStubsManager and a LazyCallThroughManager of the Jit record,
 *     disposed of before the LLJIT;
 *   - the descriptor and everything it points to (names, shapes, z0) live in
 *     an Arena owned by the Jit record hung on LoadedModel.jit.
 * nc_unload_llvm releases all of it; every failure in nc_load_llvm goes
 * through the one cleanup path at its end.
 */
#include "compiler.h"

#include <math.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/DebugInfo.h> /* temporary metadata nodes, for loop IDs */
#include <llvm-c/Error.h>
#include <llvm-c/IRReader.h> /* the access group, a distinct node */
#include <llvm-c/LLJIT.h>
#include <llvm-c/Support.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "nodec_model.h"

/* nd_gemm, the tile product JIT code calls (the emitted C copies the same
 * text); through CBLAS when nodec was built with one. */
#ifdef NODEC_HAVE_CBLAS
#define ND_CBLAS
#endif
#include "nd_gemm.h"

/* Per-sample rows of the batch, by leaf kind and output (as in emit_c.c). */
enum { B_Z, B_A, B_V, B_PRED, B_OBS, B_U, B_DZ, B_AZ, B_OUT, B_GRAD, B_NROWS };

/* Where a function's output goes: a per-sample row, or a pointer argument
 * or local accumulated over the batch. */
typedef enum { OUT_SET, OUT_ACC, OUT_TOTAL } OutKind;

typedef struct Out {
    int root;         /* -1: zero */
    OutKind kind;     /* =, += per sample, or a summed scalar */
    int row;          /* B_DZ…B_GRAD for per-sample outputs, else -1 */
    LLVMValueRef ptr; /* OUT_ACC, OUT_TOTAL: the double * written */
    int offset;
    Shape shape;
    LLVMValueRef guard; /* i1: store only when true; NULL: always */
} Out;

/* Library functions the generated code calls.  The first group is libm,
 * called exactly where the emitted C calls it; sqrt and fabs are lowered to
 * LLVM intrinsics (one instruction), as gcc does for the emitted C. */
enum { LIB_TANH, LIB_EXP, LIB_LOG, LIB_LOG1P, LIB_SIN, LIB_COS, LIB_POW, LIB_COUNT };
static const char *const lib_name[LIB_COUNT] = {"tanh", "exp", "log", "log1p", "sin", "cos", "pow"};

/* Vector tanh, exp, log and log1p from glibc's libmvec (tanh and log1p
 * since 2.35), for the loop vectorizer: tanh is most of a tanh network's
 * time, and the 4-wide AVX2 variant is about four times faster per element
 * than scalar tanh (within 4 ulp of it, as glibc documents; docs/vmath.md
 * measured all four).  exp and log1p are softplus and sigmoid, which the
 * emitted C also vectorises through libmvec.  Only the widths this CPU runs
 * are offered. */
enum { N_VEC = 4, N_WIDTH = 3 }; /* LIB_TANH … LIB_LOG1P; SSE2, AVX2, AVX-512 */
typedef struct VecVariant {
    char name[24];
    int width;
    void *addr;
} VecVariant;
static VecVariant vec[N_VEC][N_WIDTH];
static char vec_attr[N_VEC][512]; /* "vector-function-abi-variant", or "" */
static bool vec_any, vec8;        /* some variant; 8-wide tanh */

/* A sum over k of a few rows or columns of a product (emit_c.c's
 * multi_dot), kept back to share its loop with the next one (flush). */
typedef struct Epi {
    int node;
    const struct Out *out;
} Epi;
typedef struct Red {
    int id;    /* the product */
    Epi epi;   /* few long rows: where its rows go */
    bool cols; /* xᵀB with few columns: the sums go to id's own slot */
    int nr, n; /* nr sums of n terms */
    int a, x;  /* Σ_k a(r, k)·x(k) when a_rows, else Σ_k x(k)·a(k, r) */
    bool a_rows;
} Red;
enum { MAX_RED = 4, MAX_SUMS = 8 };

/* Helpers defined in the module, mirroring emit_c.c's nd_* functions. */
enum { H_SIGMOID, H_RELU, H_SOFTPLUS, H_STEP, H_SIGN, H_NEXT, H_UNIFORM, H_NORMAL, H_COUNT };

typedef struct Em {
    Program *pg;
    Ir *ir;
    Arena *a;
    LLVMContextRef cx;
    LLVMModuleRef mod;
    LLVMBuilderRef bd;
    LLVMTypeRef f64, i64, i32, i1, pf64, vd;
    LLVMValueRef fn;         /* the function being built */
    LLVMBasicBlockRef entry; /* holds its allocas */
    /* storage plan, per node (emit_c.c's plan) */
    char *mode;
    int *uses;
    bool *multi;
    int *user;     /* the single user of a node: a node id, or -2-k for output k */
    int *fuse;     /* node C computed in the loop of matrix product fuse[C] */
    int *out_fuse; /* the same for output k */
    bool *inplace; /* already in its slice of the concat that reads it */
    int *woff;
    int wsize;
    LLVMValueRef *val; /* S nodes: their value */
    LLVMValueRef facc; /* F nodes: the row's sum, inside their product's loop */
    /* batch-major tiles (plan.c): per-sample values are at ws, the sample's
     * own work, when tile > 1 */
    int tile, stride, tbase;
    Gemm *gemm;
    int ngemm;
    bool *is_gemm, *out_gemm;
    LLVMValueRef ws;
    LLVMValueRef gemm_fn;
    LLVMTypeRef gemm_ty;
    /* the function's arguments and per-sample rows */
    LLVMValueRef t, theta, work;
    LLVMValueRef row[B_NROWS];
    LLVMValueRef *cglob; /* per const symbol: its global array, or NULL */
    LLVMTypeRef *cty;
    LLVMValueRef lib[LIB_COUNT], sqrt_fn, fabs_fn;
    LLVMTypeRef fn1_ty, fn2_ty, sqrt_ty, fabs_ty;
    LLVMValueRef helper[H_COUNT];
    LLVMTypeRef helper_ty[H_COUNT];
    LLVMValueRef fns[8]; /* f vjp jvp jac_z loss loss_grad init_params f_vjp */
    bool lazy;           /* building the module compiled on first call */
    /* parallel loops (par_open): their memory accesses' access group, and
     * how many are open where the builder is */
    LLVMMetadataRef group;
    int npar;
    struct Loop *loop; /* the innermost loop open */
    Red red[MAX_RED];  /* sums waiting for their loop */
    int nred;
} Em;

static Node *N(Em *e, int id) { return &e->ir->n[id]; }

/* The work buffer node id's slot is in: a sample's own (tiled) or the one. */
static LLVMValueRef W(Em *e, int id) { return e->tile > 1 && N(e, id)->varies ? e->ws : e->work; }

/* ---- small builders -------------------------------------------------- */

static LLVMValueRef cf(Em *e, double v) { return LLVMConstReal(e->f64, v); }
static LLVMValueRef ci(Em *e, long long v) { return LLVMConstInt(e->i64, (unsigned long long)v, true); }

static LLVMValueRef add(Em *e, LLVMValueRef x, LLVMValueRef y) { return LLVMBuildNSWAdd(e->bd, x, y, ""); }
static LLVMValueRef addk(Em *e, LLVMValueRef x, int k) { return k ? add(e, x, ci(e, k)) : x; }

static LLVMValueRef gep(Em *e, LLVMValueRef base, LLVMValueRef ix) {
    return LLVMBuildInBoundsGEP2(e->bd, e->f64, base, &ix, 1, "");
}
/* A load or store in a parallel loop joins its access group (locals'
 * accesses excepted: a sum kept in a local is carried from one iteration to
 * the next until SROA makes it a register). */
static LLVMValueRef grouped(Em *e, LLVMValueRef inst, LLVMValueRef p) {
    if (e->npar && !LLVMIsAAllocaInst(p))
        LLVMSetMetadata(inst, LLVMGetMDKindIDInContext(e->cx, "llvm.access.group", 17),
                        LLVMMetadataAsValue(e->cx, e->group));
    return inst;
}
static LLVMValueRef load(Em *e, LLVMValueRef p) { return grouped(e, LLVMBuildLoad2(e->bd, e->f64, p, ""), p); }
static void store(Em *e, LLVMValueRef v, LLVMValueRef p) { grouped(e, LLVMBuildStore(e->bd, v, p), p); }

static LLVMBasicBlockRef block(Em *e, const char *name) { return LLVMAppendBasicBlockInContext(e->cx, e->fn, name); }

/* A double local, in the entry block so mem2reg/SROA turn it into SSA. */
static LLVMValueRef local(Em *e, LLVMTypeRef ty) {
    LLVMBuilderRef b = LLVMCreateBuilderInContext(e->cx);
    LLVMValueRef first = LLVMGetFirstInstruction(e->entry);
    if (first)
        LLVMPositionBuilderBefore(b, first);
    else
        LLVMPositionBuilderAtEnd(b, e->entry);
    LLVMValueRef v = LLVMBuildAlloca(b, ty, "");
    LLVMDisposeBuilder(b);
    return v;
}

/* Flat element index of (i, j) in a row-major tensor of shape s, plus off
 * (emit_c.c's flat()). */
static LLVMValueRef flat(Em *e, int off, Shape s, LLVMValueRef i, LLVMValueRef j) {
    LLVMValueRef x;
    if (s.rank == 0) return ci(e, off);
    if (s.rank == 1 || s.d[1] == 1)
        x = i;
    else
        x = add(e, LLVMBuildNSWMul(e->bd, i, ci(e, s.d[1]), ""), j);
    return off ? add(e, ci(e, off), x) : x;
}

/* Unrolling: LLVM's loop unroller does not run here (`pipeline` has only the
 * full unrolling that loop hints force); in the O2 pipeline it multiplied
 * the code, and the time to compile it, several times over for no
 * measurable speed.  Instead, the batch loop
 * is marked neither to vectorise nor to unroll (like the emitted C under gcc
 * -O2: one sample at a time; batches are mostly small), and loops of at
 * most FULL_UNROLL iterations are marked to unroll fully, as gcc's
 * complete unrolling does, so `W @ z` with two columns is straight-line
 * code and the loop around it can vectorise. */
enum { FULL_UNROLL = 8 };

/* A counted loop `for (iv = 0; iv < n; iv++)`, tested at the top; LLVM's
 * loop rotation turns it into the usual form. */
typedef struct Loop {
    LLVMBasicBlockRef head, body, exit;
    LLVMValueRef iv;
    bool batch;      /* the batch loop: neither vectorised nor unrolled */
    bool small;      /* a constant trip count of at most FULL_UNROLL: unrolled */
    bool parallel;   /* no iteration touches memory another one writes */
    bool vcall;      /* its body calls a function libmvec has (lib1): not unrolled, so it may vectorise */
    struct Loop *up; /* the loop around it */
} Loop;

/* for (iv = lo; iv < n; iv++) */
static LLVMValueRef loop_from(Em *e, Loop *l, int lo, LLVMValueRef n) {
    l->batch = l->parallel = l->vcall = false;
    l->small = LLVMIsAConstantInt(n) && LLVMConstIntGetSExtValue(n) - lo <= FULL_UNROLL;
    l->up = e->loop, e->loop = l;
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(e->bd);
    l->head = block(e, "loop"), l->body = block(e, "body"), l->exit = block(e, "done");
    LLVMBuildBr(e->bd, l->head);
    LLVMPositionBuilderAtEnd(e->bd, l->head);
    l->iv = LLVMBuildPhi(e->bd, LLVMTypeOf(n), "i");
    LLVMValueRef start = LLVMConstInt(LLVMTypeOf(n), (unsigned long long)lo, false);
    LLVMAddIncoming(l->iv, &start, &pre, 1);
    LLVMBuildCondBr(e->bd, LLVMBuildICmp(e->bd, LLVMIntSLT, l->iv, n, ""), l->body, l->exit);
    LLVMPositionBuilderAtEnd(e->bd, l->body);
    return l->iv;
}

static LLVMValueRef loop_open(Em *e, Loop *l, LLVMValueRef n) { return loop_from(e, l, 0, n); }

/* A loop over the elements of one tensor or output, which it writes (or
 * adds to) element by element from other tensors and the inputs: no two
 * iterations touch the same memory (every work tensor has its own range,
 * plan.c; outputs overlap nothing, nodec_model.h).  Marked
 * llvm.loop.parallel_accesses, so the vectoriser need not prove it: LLVM's
 * dependence analysis ignores the trip count and, for w[52 + i] = … w[2 + i]
 * (a distance of 50 doubles, not a multiple of 4), limited the loop to 2
 * lanes against store-to-load forwarding stalls that cannot happen.  It
 * allows no reordering of arithmetic (reductions still need fast-math). */
static LLVMValueRef par_open(Em *e, Loop *l, LLVMValueRef n) {
    LLVMValueRef i = loop_from(e, l, 0, n);
    l->parallel = true;
    e->npar++;
    return i;
}

/* A loop ID `!{self, hints…}`, fresh for each loop. */
static LLVMValueRef loop_id(Em *e, const Loop *l) {
    LLVMMetadataRef hint[2], ops[4];
    int n = 1;
    if (l->batch) {
        LLVMMetadataRef vec[2] = {LLVMMDStringInContext2(e->cx, "llvm.loop.vectorize.enable", 26),
                                  LLVMValueAsMetadata(LLVMConstInt(e->i1, 0, false))};
        hint[0] = LLVMMDNodeInContext2(e->cx, vec, 2);
        hint[1] = LLVMMDStringInContext2(e->cx, "llvm.loop.unroll.disable", 24);
        ops[n++] = hint[0], ops[n++] = LLVMMDNodeInContext2(e->cx, &hint[1], 1);
    } else if (l->vcall) { /* the vectoriser's, not the full unroller's */
        hint[0] = LLVMMDStringInContext2(e->cx, "llvm.loop.unroll.disable", 24);
        ops[n++] = LLVMMDNodeInContext2(e->cx, &hint[0], 1);
    } else if (l->small) {
        hint[0] = LLVMMDStringInContext2(e->cx, "llvm.loop.unroll.full", 21);
        ops[n++] = LLVMMDNodeInContext2(e->cx, &hint[0], 1);
    }
    if (l->parallel) {
        LLVMMetadataRef par[2] = {LLVMMDStringInContext2(e->cx, "llvm.loop.parallel_accesses", 27), e->group};
        ops[n++] = LLVMMDNodeInContext2(e->cx, par, 2);
    }
    LLVMMetadataRef self = LLVMTemporaryMDNode(e->cx, NULL, 0);
    ops[0] = self;
    LLVMMetadataRef id = LLVMMDNodeInContext2(e->cx, ops, (size_t)n);
    LLVMMetadataReplaceAllUsesWith(self, id); /* and disposes of the temporary */
    return LLVMMetadataAsValue(e->cx, id);
}

static void loop_close(Em *e, Loop *l) {
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(e->bd);
    LLVMValueRef next = LLVMBuildNSWAdd(e->bd, l->iv, LLVMConstInt(LLVMTypeOf(l->iv), 1, false), "");
    LLVMValueRef br = LLVMBuildBr(e->bd, l->head);
    LLVMAddIncoming(l->iv, &next, &latch, 1);
    LLVMPositionBuilderAtEnd(e->bd, l->exit);
    e->loop = l->up;
    if (l->parallel) e->npar--;
    if (l->batch || l->small || l->parallel || l->vcall)
        LLVMSetMetadata(br, LLVMGetMDKindIDInContext(e->cx, "llvm.loop", 9), loop_id(e, l));
}

/* Loops over the elements of shape s (emit_c.c's loops()): i and j are the
 * indices, constant 0 where the shape has no such dimension. */
typedef struct Nest {
    Loop l[2];
    int n;
    LLVMValueRef i, j;
} Nest;

static void nest_open(Em *e, Nest *k, Shape s, bool parallel) {
    LLVMValueRef (*open)(Em *, Loop *, LLVMValueRef) = parallel ? par_open : loop_open;
    k->n = s.rank;
    k->i = k->j = ci(e, 0);
    if (s.rank >= 1) k->i = open(e, &k->l[0], ci(e, s.d[0]));
    if (s.rank == 2) k->j = open(e, &k->l[1], ci(e, s.d[1]));
}

static void nest_close(Em *e, Nest *k) {
    for (int d = k->n - 1; d >= 0; d--) loop_close(e, &k->l[d]);
}

static void flush(Em *e);

/* if (cond) { … }: returns the continuation block to close with.  Sums
 * kept back (flush) are computed on the side of the `if` they came from. */
static LLVMBasicBlockRef if_open(Em *e, LLVMValueRef cond) {
    flush(e);
    LLVMBasicBlockRef then = block(e, "then"), cont = block(e, "endif");
    LLVMBuildCondBr(e->bd, cond, then, cont);
    LLVMPositionBuilderAtEnd(e->bd, then);
    return cont;
}

static void if_close(Em *e, LLVMBasicBlockRef cont) {
    flush(e);
    LLVMBuildBr(e->bd, cont);
    LLVMPositionBuilderAtEnd(e->bd, cont);
}

static LLVMValueRef call(Em *e, LLVMTypeRef ty, LLVMValueRef fn, LLVMValueRef *args, int n) {
    return LLVMBuildCall2(e->bd, ty, fn, args, (unsigned)n, "");
}

static LLVMValueRef lib1(Em *e, int which, LLVMValueRef x) {
    LLVMValueRef c = call(e, e->fn1_ty, e->lib[which], &x, 1);
    if (which < N_VEC && vec_attr[which][0]) { /* the loop vectorizer may call libmvec instead */
        if (e->loop) e->loop->vcall = true;
        static const char key[] = "vector-function-abi-variant";
        const char *v = vec_attr[which];
        LLVMAddCallSiteAttribute(c, LLVMAttributeFunctionIndex,
                                 LLVMCreateStringAttribute(e->cx, key, sizeof key - 1, v, (unsigned)strlen(v)));
    }
    return c;
}

/* A function of FUNCS (ops.c) whose C is a libm call, called by that name:
 * through lib1 (and libmvec) when it is one of lib_name, else declared on
 * first use; define_allowed lets JIT code call every such name. */
static LLVMValueRef libm_call(Em *e, Op op, LLVMValueRef x) {
    const char *name = func_def[op].c;
    for (int k = 0; k < LIB_COUNT; k++)
        if (!strcmp(lib_name[k], name)) return lib1(e, k, x);
    LLVMValueRef fn = LLVMGetNamedFunction(e->mod, name);
    if (!fn) fn = LLVMAddFunction(e->mod, name, e->fn1_ty);
    return call(e, e->fn1_ty, fn, &x, 1);
}

/* ---- helpers defined in the module ----------------------------------- */

/* Starts an internal helper function; the caller's builder position is
 * saved in *saved and restored by helper_end. */
typedef struct Saved {
    LLVMValueRef fn;
    LLVMBasicBlockRef entry, at;
    int npar; /* a helper's accesses belong to no loop of the caller */
} Saved;

static LLVMValueRef helper_begin(Em *e, int h, const char *name, LLVMTypeRef ty, Saved *s) {
    *s = (Saved){e->fn, e->entry, LLVMGetInsertBlock(e->bd), e->npar};
    e->npar = 0;
    LLVMValueRef fn = LLVMAddFunction(e->mod, name, ty);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    unsigned inl = LLVMGetEnumAttributeKindForName("alwaysinline", 12);
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(e->cx, inl, 0));
    e->helper[h] = fn, e->helper_ty[h] = ty;
    e->fn = fn;
    e->entry = block(e, "entry");
    LLVMPositionBuilderAtEnd(e->bd, e->entry);
    return fn;
}

static void helper_end(Em *e, Saved *s) {
    e->fn = s->fn, e->entry = s->entry, e->npar = s->npar;
    if (s->at) LLVMPositionBuilderAtEnd(e->bd, s->at);
}

/* x > 0 ? a : b, with a and b built by the caller's blocks (sigmoid and
 * softplus branch like their C so only one exp is evaluated). */
static LLVMValueRef helper(Em *e, int h) {
    if (e->helper[h]) return e->helper[h];
    Saved s;
    LLVMTypeRef d1 = LLVMFunctionType(e->f64, &e->f64, 1, false);
    switch (h) {
    case H_SIGMOID:    /* e = exp(-fabs(x)); (x >= 0 ? 1 : e) / (1 + e) */
    case H_SOFTPLUS: { /* (x > 0 ? x : 0) + log1p(exp(-fabs(x))) */
        /* compiler/vmath.c's branch-free forms, which the loop vectoriser
         * takes as it takes the emitted C's; the same numbers as branching
         * on the sign (0 + y is y for y = log1p(…) > 0) */
        LLVMValueRef fn = helper_begin(e, h, h == H_SIGMOID ? "nd_sigmoid" : "nd_softplus", d1, &s);
        LLVMValueRef x = LLVMGetParam(fn, 0), r;
        LLVMValueRef ax = call(e, e->fabs_ty, e->fabs_fn, &x, 1);
        LLVMValueRef em = lib1(e, LIB_EXP, LLVMBuildFNeg(e->bd, ax, ""));
        if (h == H_SIGMOID) {
            LLVMValueRef ge = LLVMBuildFCmp(e->bd, LLVMRealOGE, x, cf(e, 0), "");
            r = LLVMBuildFDiv(e->bd, LLVMBuildSelect(e->bd, ge, cf(e, 1), em, ""),
                              LLVMBuildFAdd(e->bd, cf(e, 1), em, ""), "");
        } else {
            LLVMValueRef gt = LLVMBuildFCmp(e->bd, LLVMRealOGT, x, cf(e, 0), "");
            r = LLVMBuildFAdd(e->bd, LLVMBuildSelect(e->bd, gt, x, cf(e, 0), ""), lib1(e, LIB_LOG1P, em), "");
        }
        LLVMBuildRet(e->bd, r);
        break;
    }
    case H_RELU:   /* x > 0 ? x : 0 */
    case H_STEP: { /* x > 0 ? 1 : 0 */
        LLVMValueRef fn = helper_begin(e, h, h == H_RELU ? "nd_relu" : "nd_step", d1, &s);
        LLVMValueRef x = LLVMGetParam(fn, 0);
        LLVMValueRef gt = LLVMBuildFCmp(e->bd, LLVMRealOGT, x, cf(e, 0), "");
        LLVMBuildRet(e->bd, LLVMBuildSelect(e->bd, gt, h == H_RELU ? x : cf(e, 1), cf(e, 0), ""));
        break;
    }
    case H_SIGN: { /* (x > 0) - (x < 0) */
        LLVMValueRef fn = helper_begin(e, h, "nd_sign", d1, &s);
        LLVMValueRef x = LLVMGetParam(fn, 0);
        LLVMValueRef gt = LLVMBuildZExt(e->bd, LLVMBuildFCmp(e->bd, LLVMRealOGT, x, cf(e, 0), ""), e->i32, "");
        LLVMValueRef lt = LLVMBuildZExt(e->bd, LLVMBuildFCmp(e->bd, LLVMRealOLT, x, cf(e, 0), ""), e->i32, "");
        LLVMBuildRet(e->bd, LLVMBuildSIToFP(e->bd, LLVMBuildSub(e->bd, gt, lt, ""), e->f64, ""));
        break;
    }
    case H_NEXT: { /* splitmix64 (Steele, Lea, Flood 2014) on *s */
        LLVMTypeRef pi64 = LLVMPointerType(e->i64, 0);
        LLVMValueRef fn = helper_begin(e, h, "nd_next", LLVMFunctionType(e->i64, &pi64, 1, false), &s);
        LLVMValueRef sp = LLVMGetParam(fn, 0);
        LLVMValueRef x = LLVMBuildAdd(e->bd, LLVMBuildLoad2(e->bd, e->i64, sp, ""),
                                      LLVMConstInt(e->i64, 0x9E3779B97F4A7C15ull, false), "");
        LLVMBuildStore(e->bd, x, sp);
        static const unsigned long long mul[2] = {0xBF58476D1CE4E5B9ull, 0x94D049BB133111EBull};
        static const int shr[3] = {30, 27, 31};
        for (int k = 0; k < 3; k++) {
            x = LLVMBuildXor(e->bd, x, LLVMBuildLShr(e->bd, x, LLVMConstInt(e->i64, shr[k], false), ""), "");
            if (k < 2) x = LLVMBuildMul(e->bd, x, LLVMConstInt(e->i64, mul[k], false), "");
        }
        LLVMBuildRet(e->bd, x);
        break;
    }
    case H_UNIFORM: { /* (double)(next(s) >> 11) / 2^53 */
        LLVMValueRef next = helper(e, H_NEXT);
        LLVMTypeRef pi64 = LLVMPointerType(e->i64, 0);
        LLVMValueRef fn = helper_begin(e, h, "nd_uniform", LLVMFunctionType(e->f64, &pi64, 1, false), &s);
        LLVMValueRef sp = LLVMGetParam(fn, 0);
        LLVMValueRef x = call(e, e->helper_ty[H_NEXT], next, &sp, 1);
        x = LLVMBuildUIToFP(e->bd, LLVMBuildLShr(e->bd, x, LLVMConstInt(e->i64, 11, false), ""), e->f64, "");
        LLVMBuildRet(e->bd, LLVMBuildFDiv(e->bd, x, cf(e, 9007199254740992.0), ""));
        break;
    }
    case H_NORMAL: { /* Box-Muller: u = 1 - uniform, v = uniform, in that order */
        LLVMValueRef uni = helper(e, H_UNIFORM);
        LLVMTypeRef pi64 = LLVMPointerType(e->i64, 0);
        LLVMValueRef fn = helper_begin(e, h, "nd_normal", LLVMFunctionType(e->f64, &pi64, 1, false), &s);
        LLVMValueRef sp = LLVMGetParam(fn, 0);
        LLVMValueRef u = LLVMBuildFSub(e->bd, cf(e, 1), call(e, e->helper_ty[H_UNIFORM], uni, &sp, 1), "");
        LLVMValueRef v = call(e, e->helper_ty[H_UNIFORM], uni, &sp, 1);
        LLVMValueRef r = LLVMBuildFMul(e->bd, cf(e, -2), lib1(e, LIB_LOG, u), "");
        r = call(e, e->sqrt_ty, e->sqrt_fn, &r, 1);
        LLVMValueRef c = lib1(e, LIB_COS, LLVMBuildFMul(e->bd, cf(e, 6.283185307179586), v, ""));
        LLVMBuildRet(e->bd, LLVMBuildFMul(e->bd, r, c, ""));
        break;
    }
    default: ice("emit_llvm: no helper %d", h);
    }
    helper_end(e, &s);
    return e->helper[h];
}

static LLVMValueRef call_helper(Em *e, int h, LLVMValueRef x) {
    LLVMValueRef fn = helper(e, h);
    if ((h == H_SIGMOID || h == H_SOFTPLUS) && vec_any && e->loop) e->loop->vcall = true; /* exp, log1p inlined */
    return call(e, e->helper_ty[h], fn, &x, 1);
}

/* ---- expressions ----------------------------------------------------- */

static LLVMValueRef ex(Em *e, int id, LLVMValueRef i, LLVMValueRef j);

static LLVMValueRef leaf(Em *e, const Node *n, LLVMValueRef i, LLVMValueRef j) {
    Model *m = e->pg->m;
    int k = n->i[1];
    switch ((LeafKind)n->i[0]) {
    case L_TIME: return e->t;
    case L_PARAM: return load(e, gep(e, e->theta, flat(e, m->params[k]->offset, n->shape, i, j)));
    case L_CONST: {
        LLVMValueRef ix[2] = {ci(e, 0), flat(e, 0, n->shape, i, j)};
        return load(e, LLVMBuildInBoundsGEP2(e->bd, e->cty[k], e->cglob[k], ix, 2, ""));
    }
    case L_STATE: return load(e, gep(e, e->row[B_Z], flat(e, m->states[k]->offset, n->shape, i, j)));
    case L_ADJ: return load(e, gep(e, e->row[B_A], flat(e, m->states[k]->offset, n->shape, i, j)));
    case L_TAN: return load(e, gep(e, e->row[B_V], flat(e, m->states[k]->offset, n->shape, i, j)));
    case L_PRED: return load(e, gep(e, e->row[B_PRED], flat(e, 0, n->shape, i, j)));
    case L_OBS: return load(e, gep(e, e->row[B_OBS], flat(e, 0, n->shape, i, j)));
    case L_INPUT: /* the sample's row of u: values, u′, u″ */
    case L_DINPUT:
    case L_D2INPUT: {
        int off = m->inputs[k]->offset + m->n_input * (n->i[0] - L_INPUT);
        return load(e, gep(e, e->row[B_U], flat(e, off, n->shape, i, j)));
    }
    }
    ice("emit_llvm: leaf kind %d", n->i[0]);
    return NULL;
}

/* ---- C's evaluation order -------------------------------------------
 *
 * emit_c.c prints a + (b + c) as `a + b + c`: it parenthesises the right
 * operand of + and * only when it binds more weakly, so the C compiler
 * evaluates ((a + b) + c).  In floating point that can differ in the last
 * bit from the IR's tree.  To compute exactly what the emitted C computes,
 * chains of + - (and of * / outer and x^-1) are evaluated as C parses their
 * text: a left fold over the operands in print order, with the same
 * precedences and the same parenthesisation rule as emit_c.c's sub(). */

enum { P_ADD = 70, P_MUL = 80, P_UNARY = 90, P_ATOM = 100 };

static bool is_recip(Em *e, const Node *n) {
    Node *b = N(e, n->b);
    return n->op == OP_POW && b->op == OP_NUM && b->shape.rank == 0 && b->num == -1;
}

/* An inlined view's operand and the indices it reads it at. */
static int view(Em *e, int id, LLVMValueRef *i, LLVMValueRef *j) {
    Node n = *N(e, id);
    if (n.op == OP_TRANS) {
        LLVMValueRef t = *i;
        *i = *j, *j = t;
    } else if (n.op == OP_SLICE) {
        /* kept dimensions take the result's indices in order */
        Shape sa = N(e, n.a)->shape;
        LLVMValueRef res[2] = {*i, *j}, src[2];
        int r = 0;
        for (int k = 0; k < 2; k++) {
            if (k >= sa.rank || (n.i[4] & (1 << k)))
                src[k] = ci(e, n.i[2 * k]);
            else
                src[k] = addk(e, res[r++], n.i[2 * k]);
        }
        *i = src[0], *j = src[1];
    }
    return n.a;
}

static bool is_view(Em *e, int id) {
    Op op = N(e, id)->op;
    return e->mode[id] == 'I' && (op == OP_BCAST || op == OP_TRANS || op == OP_SLICE);
}

/* The precedence of node id as emit_c.c's expr() prints it. */
static int prec(Em *e, int id) {
    Node *n = N(e, id);
    switch (e->mode[id]) {
    case 'N': return n->num < 0 ? P_UNARY : P_ATOM;
    case 'I': break;
    default: return P_ATOM;
    }
    switch (n->op) {
    case OP_ADD:
    case OP_SUB: return P_ADD;
    case OP_MUL:
    case OP_DIV:
    case OP_OUTER: return P_MUL;
    case OP_POW: return is_recip(e, n) ? P_MUL : P_ATOM;
    case OP_NEG: return P_UNARY;
    case OP_BCAST:
    case OP_TRANS:
    case OP_SLICE: return prec(e, n->a);
    default: return P_ATOM;
    }
}

/* acc = acc op v, or v for the first operand. */
static void push(Em *e, LLVMValueRef *acc, Op op, LLVMValueRef v) {
    if (!*acc) {
        *acc = v;
        return;
    }
    switch (op) {
    case OP_ADD: *acc = LLVMBuildFAdd(e->bd, *acc, v, ""); break;
    case OP_SUB: *acc = LLVMBuildFSub(e->bd, *acc, v, ""); break;
    case OP_MUL: *acc = LLVMBuildFMul(e->bd, *acc, v, ""); break;
    case OP_DIV: *acc = LLVMBuildFDiv(e->bd, *acc, v, ""); break;
    default: ice("emit_llvm: push %s", op_name[op]);
    }
}

static void chain_node(Em *e, int id, LLVMValueRef i, LLVMValueRef j, int p, LLVMValueRef *acc, Op op);

/* One operand of a chain at level p: spliced into it when C's parser would
 * (printed unparenthesised at the same level), else evaluated whole. */
static void chain_operand(Em *e, int x, LLVMValueRef i, LLVMValueRef j, int p, bool strict, LLVMValueRef *acc, Op op) {
    int q = prec(e, x);
    bool wrapped = strict ? q <= p : q < p;
    if (wrapped || q != p) {
        push(e, acc, op, ex(e, x, i, j));
        return;
    }
    while (is_view(e, x)) x = view(e, x, &i, &j);
    chain_node(e, x, i, j, p, acc, op);
}

/* The operands of binary node id, printed at level p, folded into *acc;
 * the first is combined with op. */
static void chain_node(Em *e, int id, LLVMValueRef i, LLVMValueRef j, int p, LLVMValueRef *acc, Op op) {
    Node n = *N(e, id);
    switch (n.op) {
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
        chain_operand(e, n.a, i, j, p, false, acc, op);
        chain_operand(e, n.b, i, j, p, n.op == OP_SUB || n.op == OP_DIV, acc, n.op);
        return;
    case OP_OUTER: /* a * b, b read transposed */
        chain_operand(e, n.a, i, j, p, false, acc, op);
        chain_operand(e, n.b, j, i, p, true, acc, OP_MUL);
        return;
    case OP_POW: /* x^-1 is printed 1.0 / x */
        push(e, acc, op, cf(e, 1));
        chain_operand(e, n.a, i, j, p, true, acc, OP_DIV);
        return;
    default: ice("emit_llvm: chain of %s", op_name[n.op]);
    }
}

static LLVMValueRef chain(Em *e, int id, LLVMValueRef i, LLVMValueRef j) {
    Node *n = N(e, id);
    LLVMValueRef acc = NULL;
    chain_node(e, id, i, j, n->op == OP_ADD || n->op == OP_SUB ? P_ADD : P_MUL, &acc, OP_ADD);
    return acc;
}

/* The operation of node id at element (i, j), from its operands
 * (emit_c.c's expr_op, one case per C spelling). */
static LLVMValueRef ex_op(Em *e, int id, LLVMValueRef i, LLVMValueRef j) {
    Node n = *N(e, id);
    LLVMBuilderRef bd = e->bd;
    switch (n.op) {
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
    case OP_OUTER: return chain(e, id, i, j);
    case OP_POW: {
        Node *b = N(e, n.b);
        if (b->op == OP_NUM && b->shape.rank == 0) {
            double c = b->num;
            if (c == 2 || c == 3) { /* nd_sq, nd_cube: x * x (* x) */
                LLVMValueRef x = ex(e, n.a, i, j);
                LLVMValueRef r = LLVMBuildFMul(bd, x, x, "");
                return c == 3 ? LLVMBuildFMul(bd, r, x, "") : r;
            }
            if (c == 0.5) {
                LLVMValueRef x = ex(e, n.a, i, j);
                return call(e, e->sqrt_ty, e->sqrt_fn, &x, 1);
            }
            if (c == -1) return chain(e, id, i, j);
        }
        LLVMValueRef args[2] = {ex(e, n.a, i, j), ex(e, n.b, i, j)};
        return call(e, e->fn2_ty, e->lib[LIB_POW], args, 2);
    }
    case OP_NEG: return LLVMBuildFNeg(bd, ex(e, n.a, i, j), "");
    case OP_SQRT: {
        LLVMValueRef x = ex(e, n.a, i, j);
        return call(e, e->sqrt_ty, e->sqrt_fn, &x, 1);
    }
    case OP_ABS: {
        LLVMValueRef x = ex(e, n.a, i, j);
        return call(e, e->fabs_ty, e->fabs_fn, &x, 1);
    }
    case OP_SIGMOID: return call_helper(e, H_SIGMOID, ex(e, n.a, i, j));
    case OP_RELU: return call_helper(e, H_RELU, ex(e, n.a, i, j));
    case OP_SOFTPLUS: return call_helper(e, H_SOFTPLUS, ex(e, n.a, i, j));
    case OP_STEP: return call_helper(e, H_STEP, ex(e, n.a, i, j));
    case OP_SIGN: return call_helper(e, H_SIGN, ex(e, n.a, i, j));
    case OP_OBSERVED: /* x == x: 0 for NaN (ops.c) */
    case OP_OR_ZERO: {
        LLVMValueRef x = ex(e, n.a, i, j), num = LLVMBuildFCmp(e->bd, LLVMRealOEQ, x, x, "");
        return LLVMBuildSelect(e->bd, num, n.op == OP_OBSERVED ? cf(e, 1) : x, cf(e, 0), "");
    }
    case OP_BCAST:
    case OP_TRANS:
    case OP_SLICE: {
        int a = view(e, id, &i, &j);
        return ex(e, a, i, j);
    }
    default:
        if (op_is_func(n.op) && !func_helper_src(n.op)) return libm_call(e, n.op, ex(e, n.a, i, j));
        ice("emit_llvm: %s is not inlinable", op_name[n.op]);
    }
    return NULL;
}

static LLVMValueRef ex(Em *e, int id, LLVMValueRef i, LLVMValueRef j) {
    Node *n = N(e, id);
    switch (e->mode[id]) {
    case 'N': return cf(e, n->num);
    case 'L': return leaf(e, n, i, j);
    case 'S': return e->val[id];
    case 'W': return load(e, gep(e, W(e, id), flat(e, e->woff[id], n->shape, i, j)));
    case 'I': return ex_op(e, id, i, j);
    case 'F': /* inside its product's loop */
        if (!e->facc) ice("emit_llvm: fused product %%%d read outside its loop", id);
        return e->facc;
    }
    ice("emit_llvm: node %%%d has no storage", id);
    return NULL;
}

/* ---- statements ------------------------------------------------------ */

/* What a matrix-vector product's loop stores for row i (emit_c.c's Epi,
 * declared above): its own work slot, or an elementwise consumer fused into
 * the loop, a tensor or an output, that reads the row's sum as its 'F'
 * operand. */

/* `base[off + idx] = v` (or `+=`) for one element of an output. */
static void out_elem(Em *e, const Out *o, LLVMValueRef i, LLVMValueRef j) {
    LLVMValueRef base = o->kind == OUT_ACC ? o->ptr : e->row[o->row];
    LLVMValueRef p = gep(e, base, flat(e, o->offset, o->shape, i, j));
    LLVMValueRef v = o->root < 0 ? cf(e, 0) : ex(e, o->root, i, j);
    if (o->kind == OUT_ACC) v = LLVMBuildFAdd(e->bd, load(e, p), v, "");
    store(e, v, p);
}

static void epilogue(Em *e, int id, Epi epi, LLVMValueRef i, LLVMValueRef acc) {
    LLVMValueRef zero = ci(e, 0);
    e->facc = acc;
    if (epi.out)
        out_elem(e, epi.out, i, zero);
    else if (epi.node >= 0)
        store(e, ex_op(e, epi.node, i, zero),
              gep(e, W(e, epi.node), flat(e, e->woff[epi.node], N(e, epi.node)->shape, i, zero)));
    else
        store(e, acc, gep(e, W(e, id), flat(e, e->woff[id], N(e, id)->shape, i, zero)));
    e->facc = NULL;
}

/* One term a(k)·b(k) of a dot product: a at (ai, k) when a_row, else at
 * (k, ai); b at (k, bj). */
static LLVMValueRef term(Em *e, int a, LLVMValueRef ai, int b, LLVMValueRef bj, bool a_row, LLVMValueRef k) {
    LLVMValueRef x = a_row ? ex(e, a, ai, k) : ex(e, a, k, ai);
    return LLVMBuildFMul(e->bd, x, ex(e, b, k, bj), "");
}

/* Σ_k a(k)·b(k) over n terms (emit_c.c's dot()): unrolled when short, else
 * a loop; the sum starts from its first term (0 + x is not x for x = -0). */
static LLVMValueRef dot(Em *e, int n, int a, LLVMValueRef ai, int b, LLVMValueRef bj, bool a_row) {
    LLVMValueRef acc = NULL;
    for (int k = 0; k < (n <= 4 ? n : 1); k++) push(e, &acc, OP_ADD, term(e, a, ai, b, bj, a_row, ci(e, k)));
    if (n <= 4) return acc;
    LLVMValueRef s = local(e, e->f64);
    store(e, acc, s);
    Loop l;
    LLVMValueRef k = loop_from(e, &l, 1, ci(e, n));
    store(e, LLVMBuildFAdd(e->bd, load(e, s), term(e, a, ai, b, bj, a_row, k), ""), s);
    loop_close(e, &l);
    return load(e, s);
}

/* Whether node id's value, its inlined operations followed, reads work in
 * [lo, hi) (either buffer: a tiled sample's own or the one). */
static bool reads_work(Em *e, int id, int lo, int hi) {
    if (id < 0) return false;
    if (e->mode[id] == 'W') return e->woff[id] < hi && lo < e->woff[id] + shape_size(N(e, id)->shape);
    return e->mode[id] == 'I' && (reads_work(e, N(e, id)->a, lo, hi) || reads_work(e, N(e, id)->b, lo, hi));
}

/* The sums waiting in e->red, computed in one loop over k, then stored in
 * the order they came (emit_c.c's multi_dot, one after another): each sum
 * starts from its first term and adds the others in order, so the numbers
 * are the emitted C's.  One loop carries the independent sums of both
 * products: spiral's f_vjp has two (W2 @ h for dz/dt, (W1ᵀ…) for the VJP),
 * each a chain of 49 dependent additions, which in two loops took half the
 * function's time waiting on the adder. */
static void flush(Em *e) {
    if (!e->nred) return;
    int nred = e->nred;
    e->nred = 0;
    Red *rd = e->red;
    LLVMValueRef s[MAX_RED][4], zero = ci(e, 0), k0 = ci(e, 0);
    for (int g = 0; g < nred; g++)
        for (int r = 0; r < rd[g].nr; r++) {
            LLVMValueRef rr = ci(e, r);
            s[g][r] = local(e, e->f64);
            store(e,
                  rd[g].a_rows ? term(e, rd[g].a, rr, rd[g].x, zero, true, k0)
                               : term(e, rd[g].x, zero, rd[g].a, rr, false, k0),
                  s[g][r]);
        }
    Loop l;
    LLVMValueRef k = loop_from(e, &l, 1, ci(e, rd[0].n));
    for (int g = 0; g < nred; g++) {
        LLVMValueRef xk = ex(e, rd[g].x, k, zero);
        for (int r = 0; r < rd[g].nr; r++) {
            LLVMValueRef ark = rd[g].a_rows ? ex(e, rd[g].a, ci(e, r), k) : ex(e, rd[g].a, k, ci(e, r));
            LLVMValueRef p = rd[g].a_rows ? LLVMBuildFMul(e->bd, ark, xk, "") : LLVMBuildFMul(e->bd, xk, ark, "");
            store(e, LLVMBuildFAdd(e->bd, load(e, s[g][r]), p, ""), s[g][r]);
        }
    }
    loop_close(e, &l);
    for (int g = 0; g < nred; g++)
        for (int r = 0; r < rd[g].nr; r++) {
            LLVMValueRef acc = load(e, s[g][r]);
            if (rd[g].cols)
                store(e, acc, gep(e, W(e, rd[g].id), ci(e, e->woff[rd[g].id] + r)));
            else
                epilogue(e, rd[g].id, rd[g].epi, ci(e, r), acc);
        }
}

/* Queues sum r: it joins the waiting ones when it has as many terms and its
 * loop reads nothing they store (their stores come after the loop), else
 * they are flushed first. */
static void defer(Em *e, Red r) {
    bool join = e->nred > 0 && e->nred < MAX_RED && e->red[0].n == r.n;
    int sums = r.nr;
    for (int g = 0; join && g < e->nred; g++) {
        const Red *q = &e->red[g];
        int w = q->cols || (!q->epi.out && q->epi.node < 0) ? q->id : q->epi.out ? -1 : q->epi.node;
        if (w >= 0) {
            int lo = e->woff[w], hi = lo + shape_size(N(e, w)->shape);
            join = !reads_work(e, r.a, lo, hi) && !reads_work(e, r.x, lo, hi);
        }
        sums += q->nr;
    }
    if (!join || sums > MAX_SUMS) flush(e);
    e->red[e->nred++] = r;
}

/* Node id, with the operations inlined into it, calls a function libmvec
 * has a vector variant of (tanh, exp, log; sigmoid and softplus call exp
 * and log1p). */
static bool vec_call(Em *e, int id, bool root) {
    if (id < 0 || (!root && e->mode[id] != 'I')) return false;
    Op op = N(e, id)->op;
    if (op == OP_TANH || op == OP_EXP || op == OP_LOG || op == OP_SIGMOID || op == OP_SOFTPLUS) return true;
    return vec_call(e, N(e, id)->a, false) || vec_call(e, N(e, id)->b, false);
}

/* A product (emit_c.c's emit_matmul, case for case); epi says where a
 * matrix-vector product's rows go. */
static void matmul(Em *e, int id, Epi epi) {
    Node n = *N(e, id);
    Shape x = N(e, n.a)->shape, y = N(e, n.b)->shape;
    LLVMBuilderRef bd = e->bd;
    LLVMValueRef zero = ci(e, 0);
    Loop li, lj, lk;
    bool rows = x.rank == 2 && y.rank == 1 && x.d[0] <= 4 && x.d[1] > 4;
    bool cols = x.rank == 1 && x.d[0] > 4 && y.rank == 2 && y.d[1] <= 4;
    if (rows || cols) { /* few long rows, or xᵀ B with few columns: their sums in one pass */
        if (rows) defer(e, (Red){id, epi, false, x.d[0], x.d[1], n.a, n.b, true});
        if (cols) defer(e, (Red){id, epi, true, y.d[1], x.d[0], n.b, n.a, false});
        return;
    }
    flush(e);
    if (x.rank == 1 && y.rank == 1) { /* a·b */
        e->val[id] = dot(e, x.d[0], n.a, zero, n.b, zero, false);
        if (e->mode[id] == 'W') store(e, e->val[id], gep(e, W(e, id), ci(e, e->woff[id])));
    } else if (x.rank == 2 && y.rank == 1 && x.d[1] <= 4) { /* A x, short rows */
        /* x's few elements are loaded once, before the loop: left in it
         * beside the loop's stores to the same work buffer they would keep
         * it from vectorising (tanh(W1 @ u + b1) through libmvec) */
        LLVMValueRef xv[4], acc = NULL;
        for (int k = 0; k < x.d[1]; k++) xv[k] = ex(e, n.b, ci(e, k), zero);
        LLVMValueRef i = par_open(e, &li, ci(e, x.d[0]));
        for (int k = 0; k < x.d[1]; k++) push(e, &acc, OP_ADD, LLVMBuildFMul(bd, ex(e, n.a, i, ci(e, k)), xv[k], ""));
        epilogue(e, id, epi, i, acc);
        loop_close(e, &li);
    } else if (x.rank == 2 && y.rank == 1 && epi.node >= 0 && vec_any && vec_call(e, epi.node, true)) {
        /* A x with a consumer that calls tanh (exp, log) fused in: the sums
         * into the consumer's slot, then the consumer in a loop of its own.
         * Around the dot product's loop the row loop would not vectorise
         * and the call would stay scalar (neural_cde's tanh(A @ h + a), 8
         * rows of 16); alone it calls libmvec.  Each element's operations
         * are the same: the same bits. */
        Node *c = N(e, epi.node);
        LLVMValueRef i = par_open(e, &li, ci(e, x.d[0]));
        store(e, dot(e, x.d[1], n.a, i, n.b, zero, true),
              gep(e, W(e, epi.node), flat(e, e->woff[epi.node], c->shape, i, zero)));
        loop_close(e, &li);
        i = par_open(e, &li, ci(e, x.d[0]));
        epilogue(e, id, epi, i, load(e, gep(e, W(e, epi.node), flat(e, e->woff[epi.node], c->shape, i, zero))));
        loop_close(e, &li);
    } else if (x.rank == 2 && y.rank == 1) { /* A x: row dot products */
        LLVMValueRef i = par_open(e, &li, ci(e, x.d[0]));
        epilogue(e, id, epi, i, dot(e, x.d[1], n.a, i, n.b, zero, true));
        loop_close(e, &li);
    } else if (x.rank == 1 && x.d[0] <= 4) { /* xᵀ B, few rows: one pass over the columns */
        LLVMValueRef i = par_open(e, &li, ci(e, y.d[1]));
        epilogue(e, id, epi, i, dot(e, x.d[0], n.a, zero, n.b, i, false));
        loop_close(e, &li);
    } else if (x.rank == 1) { /* xᵀ B: accumulate rows of B, contiguous */
        LLVMValueRef x0 = ex(e, n.a, zero, zero);
        LLVMValueRef j = par_open(e, &lj, ci(e, y.d[1]));
        store(e, LLVMBuildFMul(bd, x0, ex(e, n.b, zero, j), ""),
              gep(e, W(e, id), flat(e, e->woff[id], n.shape, j, zero)));
        loop_close(e, &lj);
        LLVMValueRef k = loop_from(e, &lk, 1, ci(e, x.d[0]));
        LLVMValueRef xk = ex(e, n.a, k, zero);
        j = par_open(e, &lj, ci(e, y.d[1])); /* the loop over k is not parallel */
        LLVMValueRef dst = gep(e, W(e, id), flat(e, e->woff[id], n.shape, j, zero));
        LLVMValueRef p = LLVMBuildFMul(bd, xk, ex(e, n.b, k, j), "");
        store(e, LLVMBuildFAdd(bd, load(e, dst), p, ""), dst);
        loop_close(e, &lj);
        loop_close(e, &lk);
    } else { /* A B */
        LLVMValueRef i = par_open(e, &li, ci(e, x.d[0]));
        LLVMValueRef j = par_open(e, &lj, ci(e, y.d[1]));
        store(e, dot(e, x.d[1], n.a, i, n.b, j, true), gep(e, W(e, id), flat(e, e->woff[id], n.shape, i, j)));
        loop_close(e, &lj);
        loop_close(e, &li);
    }
}

/* Computes node id into its value or work slot (emit_c.c's emit_node). */
static void node(Em *e, int id) {
    Node n = *N(e, id);
    LLVMValueRef zero = ci(e, 0);
    Nest k;
    if (e->fuse[id] >= 0) { /* computed inside its operand's product loop */
        matmul(e, e->fuse[id], (Epi){id, NULL});
        return;
    }
    if (n.op == OP_MATMUL) {
        matmul(e, id, (Epi){-1, NULL});
        return;
    }
    flush(e);
    if (n.op == OP_SUM) {
        LLVMValueRef acc = local(e, e->f64);
        store(e, cf(e, 0), acc);
        nest_open(e, &k, N(e, n.a)->shape, false);
        store(e, LLVMBuildFAdd(e->bd, load(e, acc), ex(e, n.a, k.i, k.j), ""), acc);
        nest_close(e, &k);
        e->val[id] = load(e, acc);
        if (e->mode[id] == 'W') store(e, e->val[id], gep(e, W(e, id), ci(e, e->woff[id])));
        return;
    }
    if (e->mode[id] == 'S') {
        e->val[id] = ex_op(e, id, zero, zero);
        return;
    }
    if (n.op == OP_EMBED) {
        Loop l;
        LLVMValueRef i = par_open(e, &l, ci(e, shape_size(n.shape)));
        store(e, cf(e, 0), gep(e, W(e, id), addk(e, i, e->woff[id])));
        loop_close(e, &l);
        nest_open(e, &k, N(e, n.a)->shape, true);
        LLVMValueRef res[2] = {k.i, k.j}, dst[2];
        int r = 0;
        for (int d = 0; d < 2; d++) {
            if (d >= n.shape.rank || (n.i[4] & (1 << d)))
                dst[d] = ci(e, n.i[2 * d]);
            else
                dst[d] = addk(e, res[r++], n.i[2 * d]);
        }
        store(e, ex(e, n.a, k.i, k.j), gep(e, W(e, id), flat(e, e->woff[id], n.shape, dst[0], dst[1])));
        nest_close(e, &k);
        return;
    }
    if (n.op == OP_CONCAT) {
        int la = shape_size(N(e, n.a)->shape), lb = shape_size(N(e, n.b)->shape);
        int parts[2] = {n.a, n.b}, at[2] = {0, la}, len[2] = {la, lb};
        for (int p = 0; p < 2; p++) {
            if (e->inplace[parts[p]]) continue;
            if (N(e, parts[p])->shape.rank == 0) {
                store(e, ex(e, parts[p], zero, zero), gep(e, W(e, id), ci(e, e->woff[id] + at[p])));
            } else {
                Loop l;
                LLVMValueRef i = par_open(e, &l, ci(e, len[p]));
                store(e, ex(e, parts[p], i, zero), gep(e, W(e, id), addk(e, i, e->woff[id] + at[p])));
                loop_close(e, &l);
            }
        }
        return;
    }
    nest_open(e, &k, n.shape, true);
    store(e, ex_op(e, id, k.i, k.j), gep(e, W(e, id), flat(e, e->woff[id], n.shape, k.i, k.j)));
    nest_close(e, &k);
}

/* Output k on its own (emit_c.c's emit_out); the caller opened its guard. */
static void out(Em *e, const Out *o, int k) {
    LLVMValueRef zero = ci(e, 0);
    if (e->out_fuse[k] < 0 || o->kind == OUT_TOTAL) flush(e);
    if (o->kind == OUT_TOTAL) {
        store(e, LLVMBuildFAdd(e->bd, load(e, o->ptr), ex(e, o->root, zero, zero), ""), o->ptr);
    } else if (e->out_fuse[k] >= 0) {
        matmul(e, e->out_fuse[k], (Epi){-1, o});
    } else {
        Nest l;
        nest_open(e, &l, o->shape, true);
        out_elem(e, o, l.i, l.j);
        nest_close(e, &l);
    }
}

/* ---- storage decisions (plan.c, shared with emit_c.c) ------------------ */

/* Generated function fn's loops (lower.c) and the storage plan behind them,
 * from plan.c's list of its outputs (in outs' order). */
static int plan(Em *e, int nouts, int fn, Lowered *lw) {
    PlanOut *po = arena_alloc(e->a, sizeof *po * (2 * (size_t)e->pg->m->nstates + (size_t)e->pg->m->nparams + 2));
    if (plan_outputs(e->pg, fn, po) != nouts) ice("emit_llvm: function %d has other outputs than its plan", fn);
    e->wsize = lower(lw, e->ir, po, nouts, fn < 4, e->a);
    if (e->wsize < 0) ice("a work size past MAX_WORK reached the JIT (nc_load_llvm checks it first)");
    Plan *p = &lw->p;
    e->mode = p->mode, e->uses = p->uses, e->multi = p->multi, e->woff = p->woff;
    e->user = p->user, e->fuse = p->fuse, e->out_fuse = p->out_fuse, e->inplace = p->inplace;
    e->tile = p->tile, e->stride = p->stride, e->tbase = p->tbase, e->gemm = p->gemm, e->ngemm = p->ngemm;
    e->is_gemm = p->is_gemm, e->out_gemm = p->out_gemm;
    e->val = arena_alloc(e->a, sizeof(LLVMValueRef) * (size_t)(e->ir->len + 1));
    return e->wsize;
}

/* Outputs a to b, one loop over their first dimension (LW_OUTS). */
static void outs_loop(Em *e, const Out *outs, int a, int b) {
    Loop li, lj;
    flush(e);
    LLVMValueRef i = par_open(e, &li, ci(e, outs[a].shape.d[0])); /* outputs are disjoint */
    for (int q = a; q <= b; q++) {
        if (outs[q].shape.rank == 2) {
            LLVMValueRef j = par_open(e, &lj, ci(e, outs[q].shape.d[1]));
            out_elem(e, &outs[q], i, j);
            loop_close(e, &lj);
        } else {
            out_elem(e, &outs[q], i, ci(e, 0));
        }
    }
    loop_close(e, &li);
}

/* The per-sample rows of sample b (a 32-bit index). */
static void set_rows(Em *e, LLVMValueRef b, const int *rows, LLVMValueRef *args, int nrows) {
    /* Row pointers: unused ones are deleted as dead code.  az may be NULL:
     * its row is computed without `inbounds` and only stored through under
     * its guard. */
    LLVMValueRef b64 = LLVMBuildSExt(e->bd, b, e->i64, "");
    LLVMValueRef off = LLVMBuildNSWMul(e->bd, b64, ci(e, e->pg->m->n_state), "");
    for (int k = 0; k < nrows; k++)
        if (rows[k] == B_U) /* a row of 3·n_input */
            e->row[B_U] = gep(e, args[k], LLVMBuildNSWMul(e->bd, b64, ci(e, 3 * (long long)e->pg->m->n_input), ""));
        else
            e->row[rows[k]] =
                rows[k] == B_AZ ? LLVMBuildGEP2(e->bd, e->f64, args[k], &off, 1, "") : gep(e, args[k], off);
}

/* Where a per-sample vector operand of a tile product starts for the
 * tile's first sample b0, and the distance between samples (emit_c.c's
 * gemm_rows). */
static LLVMValueRef gemm_rows(Em *e, int id, LLVMValueRef b0, const int *rows, LLVMValueRef *args, int nrows, int *ld) {
    Node *n = N(e, id);
    if (e->mode[id] == 'W') return *ld = e->stride, gep(e, e->work, ci(e, e->tbase + e->woff[id]));
    static const int row_of[] = {[L_STATE] = B_Z, [L_ADJ] = B_A, [L_TAN] = B_V};
    LLVMValueRef base = NULL;
    for (int k = 0; k < nrows; k++)
        if (rows[k] == row_of[n->i[0]]) base = args[k];
    *ld = e->pg->m->n_state;
    LLVMValueRef off = LLVMBuildNSWMul(e->bd, LLVMBuildSExt(e->bd, b0, e->i64, ""), ci(e, *ld), "");
    return gep(e, gep(e, base, off), ci(e, e->pg->m->states[n->i[1]]->offset));
}

static void gemm_call(Em *e, LLVMValueRef m, LLVMValueRef n, LLVMValueRef k, LLVMValueRef A, long sai, long sak,
                      LLVMValueRef B, long sbp, long sbj, LLVMValueRef C, long ldc, int acc) {
    LLVMValueRef args[] = {m, n,          k,          A, ci(e, sai), ci(e, sak),
                           B, ci(e, sbp), ci(e, sbj), C, ci(e, ldc), LLVMConstInt(e->i32, (unsigned)acc, false)};
    call(e, e->gemm_ty, e->gemm_fn, args, 12);
}

static LLVMValueRef i32c(Em *e, int v) { return LLVMConstInt(e->i32, (unsigned long long)v, false); }

/* One tile product (emit_c.c's emit_gemm). */
static void gemm(Em *e, const Gemm *g, const Out *outs, LLVMValueRef b0, LLVMValueRef nt, const int *rows,
                 LLVMValueRef *args, int nrows) {
    int lda, ldb;
    LLVMValueRef A = gemm_rows(e, g->x, b0, rows, args, nrows, &lda);
    if (g->node >= 0) {
        LLVMValueRef B = e->mode[g->mat] == 'W' ? gep(e, e->work, ci(e, e->woff[g->mat]))
                                                : gep(e, e->theta, ci(e, e->pg->m->params[N(e, g->mat)->i[1]]->offset));
        gemm_call(e, nt, i32c(e, g->n), i32c(e, g->k), A, lda, 1, B, g->trans ? 1 : g->n, g->trans ? g->k : 1,
                  gep(e, e->work, ci(e, e->tbase + e->woff[g->node])), e->stride, 0);
        return;
    }
    LLVMValueRef Y = gemm_rows(e, g->y, b0, rows, args, nrows, &ldb);
    const Out *o = &outs[g->out];
    LLVMBasicBlockRef cont = o->guard ? if_open(e, o->guard) : NULL;
    gemm_call(e, i32c(e, g->m), i32c(e, g->n), nt, A, 1, lda, Y, ldb, 1, gep(e, o->ptr, ci(e, o->offset)), g->n, 1);
    if (cont) if_close(e, cont);
}

/* A loop over the tile's samples: opens it, sets ws and the rows. */
static void sample_open(Em *e, Loop *l, LLVMValueRef b0, LLVMValueRef nt, const int *rows, LLVMValueRef *args,
                        int nrows) {
    LLVMValueRef bb = loop_open(e, l, nt);
    l->batch = true;
    LLVMValueRef off = LLVMBuildNSWMul(e->bd, LLVMBuildSExt(e->bd, bb, e->i64, ""), ci(e, e->stride), "");
    e->ws = gep(e, e->work, add(e, ci(e, e->tbase), off));
    set_rows(e, LLVMBuildNSWAdd(e->bd, b0, bb, ""), rows, args, nrows);
}

/* The body of generated function fn, built from its loops (lower.c; emit_c.c
 * prints the same).  rows[k] names a per-sample row of n_state doubles read
 * from or written to the argument args[k]. */
static void body(Em *e, const Out *outs, int nouts, LLVMValueRef B, const int *rows, LLVMValueRef *args, int nrows,
                 int fn) {
    Lowered lw;
    plan(e, nouts, fn, &lw);
    bool tiled = false;
    Loop ls; /* the loop over samples */
    LLVMBasicBlockRef head = NULL, exit = NULL, cont = NULL;
    LLVMValueRef b0 = NULL, nt = NULL, T = NULL;
    for (int i = 0; i < lw.n; i++) {
        LwStmt st = lw.s[i];
        switch (st.kind) {
        case LW_NODE: node(e, st.a); break;
        case LW_TILES: { /* for (b0 = 0; b0 < B; b0 += tile) */
            flush(e);
            tiled = true;
            LLVMBasicBlockRef pre = LLVMGetInsertBlock(e->bd), tbody = block(e, "tbody");
            head = block(e, "tile"), exit = block(e, "tdone");
            LLVMBuildBr(e->bd, head);
            LLVMPositionBuilderAtEnd(e->bd, head);
            b0 = LLVMBuildPhi(e->bd, e->i32, "b0");
            LLVMValueRef zero32 = LLVMConstInt(e->i32, 0, false);
            LLVMAddIncoming(b0, &zero32, &pre, 1);
            LLVMBuildCondBr(e->bd, LLVMBuildICmp(e->bd, LLVMIntSLT, b0, B, ""), tbody, exit);
            LLVMPositionBuilderAtEnd(e->bd, tbody);
            LLVMValueRef left = LLVMBuildNSWSub(e->bd, B, b0, "");
            T = i32c(e, e->tile);
            nt = LLVMBuildSelect(e->bd, LLVMBuildICmp(e->bd, LLVMIntSLT, left, T, ""), left, T, "nt");
            break;
        }
        case LW_TILES_END: {
            LLVMBasicBlockRef latch = LLVMGetInsertBlock(e->bd);
            LLVMValueRef next = LLVMBuildNSWAdd(e->bd, b0, T, "");
            LLVMBuildBr(e->bd, head);
            LLVMAddIncoming(b0, &next, &latch, 1);
            LLVMPositionBuilderAtEnd(e->bd, exit);
            break;
        }
        case LW_SAMPLES:
            flush(e);
            if (tiled) {
                sample_open(e, &ls, b0, nt, rows, args, nrows);
            } else {
                LLVMValueRef b = loop_open(e, &ls, B);
                ls.batch = true;
                set_rows(e, b, rows, args, nrows);
            }
            break;
        case LW_SAMPLES_END: flush(e), loop_close(e, &ls); break;
        case LW_GEMM: gemm(e, &e->gemm[st.a], outs, b0, nt, rows, args, nrows); break;
        case LW_GUARD: cont = if_open(e, outs[st.a].guard); break;
        case LW_GUARD_END: if_close(e, cont); break;
        case LW_OUT: out(e, &outs[st.a], st.a); break;
        case LW_OUTS: outs_loop(e, outs, st.a, st.b); break;
        }
    }
}

/* ---- functions ------------------------------------------------------- */

/* The lazy module's functions are named <model>_<fn>.lazy; <model>_<fn>
 * is the JIT's stub that compiles the module on the first call. */
#define LAZY_SUFFIX ".lazy"

static LLVMValueRef function(Em *e, const char *suffix, LLVMTypeRef ret, LLVMTypeRef *params, int n) {
    const char *name = arena_printf(e->a, "%s_%s%s", e->pg->m->name, suffix, e->lazy ? LAZY_SUFFIX : "");
    LLVMValueRef fn = LLVMAddFunction(e->mod, name, LLVMFunctionType(ret, params, (unsigned)n, false));
    /* Every pointer is noalias, as the emitted C declares it restrict: a
     * function's outputs and work overlap nothing else it reads or writes
     * (nodec_model.h; inputs may share, which noalias allows, as restrict
     * does, for memory no one writes).  Without it LLVM reloaded w[j] in
     * the loops that add to atheta, and checked the batch's rows for
     * overlap at run time. */
    unsigned k = LLVMGetEnumAttributeKindForName("noalias", 7);
    for (int i = 0; i < n; i++)
        if (LLVMGetTypeKind(params[i]) == LLVMPointerTypeKind)
            LLVMAddAttributeAtIndex(fn, (unsigned)i + 1, LLVMCreateEnumAttribute(e->cx, k, 0));
    /* With AVX-512, 8 lanes even where LLVM's tuning for the CPU prefers 4
     * (Intel's server cores): libmvec's 8-wide tanh takes 1.85 ns per
     * element against 2.5 for the 4-wide one (docs/vmath.md); code tuned
     * as skylake-avx512 was 1.3x slower on spiral. */
    if (vec8) {
        static const char key[] = "prefer-vector-width", val[] = "512";
        LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                                LLVMCreateStringAttribute(e->cx, key, sizeof key - 1, val, sizeof val - 1));
    }
    e->fn = fn;
    e->entry = block(e, "entry");
    LLVMPositionBuilderAtEnd(e->bd, e->entry);
    return fn;
}

static Out out_state(Em *e, int root, OutKind k, int row, int i, LLVMValueRef guard) {
    Sym *y = e->pg->m->states[i];
    return (Out){root, k, row, NULL, y->offset, y->shape, guard};
}

static LLVMValueRef nonnull(Em *e, LLVMValueRef p) { return LLVMBuildIsNotNull(e->bd, p, ""); }

/* Models with inputs take u after z (nodec_model.h's nodec_inputs): the
 * parameter list with it (ps has room for one more; returns the count),
 * and P(k), the index of parameter k of the list without it. */
static int with_u_param(Em *e, LLVMTypeRef *ps, int n) {
    if (!e->pg->m->ninputs) return n;
    memmove(ps + 3, ps + 2, sizeof *ps * (size_t)(n - 2));
    ps[2] = e->pf64;
    return n + 1;
}
#define P(k) ((k) + ((k) > 2 && e->pg->m->ninputs))

/* The row of u (parameter 3 when there are inputs) among a function's rows. */
static int with_u_row(Em *e, int *rows, LLVMValueRef *args, int nrows) {
    if (!e->pg->m->ninputs) return nrows;
    rows[nrows] = B_U, args[nrows] = LLVMGetParam(e->fn, 3);
    return nrows + 1;
}

/* f(B, t, z, [u,] θ, dzdt, work) */
static int build_f(Em *e) {
    Model *m = e->pg->m;
    LLVMTypeRef ps[] = {e->i32, e->f64, e->pf64, e->pf64, e->pf64, e->pf64, NULL};
    LLVMValueRef fn = e->fns[0] = function(e, "f", e->vd, ps, with_u_param(e, ps, 6));
    e->t = LLVMGetParam(fn, 1), e->theta = LLVMGetParam(fn, P(3)), e->work = LLVMGetParam(fn, P(5));
    Out *outs = arena_alloc(e->a, sizeof(Out) * (m->nstates + 1));
    for (int i = 0; i < m->nstates; i++) outs[i] = out_state(e, e->pg->f.roots[i], OUT_SET, B_DZ, i, NULL);
    int rows[] = {B_Z, B_DZ, 0};
    LLVMValueRef args[] = {LLVMGetParam(fn, 2), LLVMGetParam(fn, P(4)), NULL};
    body(e, outs, m->nstates, LLVMGetParam(fn, 0), rows, args, with_u_row(e, rows, args, 2), 0);
    LLVMBuildRetVoid(e->bd);
    return e->wsize;
}

/* The VJP's summed outputs start from zero: they are overwritten, not
 * accumulated into. */
static void zero_totals(Em *e, LLVMValueRef ath, LLVMValueRef has_ath, LLVMValueRef at, LLVMValueRef has_at) {
    if (e->pg->m->n_param) {
        LLVMBasicBlockRef cont = if_open(e, has_ath);
        Loop l;
        LLVMValueRef i = loop_open(e, &l, ci(e, e->pg->m->n_param));
        store(e, cf(e, 0), gep(e, ath, i));
        loop_close(e, &l);
        if_close(e, cont);
    }
    LLVMBasicBlockRef cont = if_open(e, has_at);
    store(e, cf(e, 0), at);
    if_close(e, cont);
}

/* vjp(B, t, z, [u,] θ, a, az, aθ, at, work); a NULL output is skipped */
static int build_vjp(Em *e) {
    Model *m = e->pg->m;
    Program *pg = e->pg;
    LLVMTypeRef ps[] = {e->i32, e->f64, e->pf64, e->pf64, e->pf64, e->pf64, e->pf64, e->pf64, e->pf64, NULL};
    LLVMValueRef fn = e->fns[1] = function(e, "vjp", e->vd, ps, with_u_param(e, ps, 9));
    e->t = LLVMGetParam(fn, 1), e->theta = LLVMGetParam(fn, P(3)), e->work = LLVMGetParam(fn, P(8));
    LLVMValueRef az = LLVMGetParam(fn, P(5)), ath = LLVMGetParam(fn, P(6)), at = LLVMGetParam(fn, P(7));
    LLVMValueRef has_az = nonnull(e, az), has_ath = nonnull(e, ath), has_at = nonnull(e, at);
    zero_totals(e, ath, has_ath, at, has_at);
    int k = 0;
    Out *outs = arena_alloc(e->a, sizeof(Out) * (m->nstates + m->nparams + 1));
    for (int i = 0; i < m->nstates; i++) outs[k++] = out_state(e, pg->vjp_z.roots[i], OUT_SET, B_AZ, i, has_az);
    for (int i = 0; i < m->nparams; i++) {
        Sym *y = m->params[i];
        outs[k++] = (Out){pg->vjp_p.roots[i], OUT_ACC, -1, ath, y->offset, y->shape, has_ath};
    }
    outs[k++] = (Out){pg->vjp_t.roots[0], OUT_TOTAL, -1, at, 0, shape0(), has_at};
    int rows[] = {B_Z, B_A, B_AZ, 0};
    LLVMValueRef args[] = {LLVMGetParam(fn, 2), LLVMGetParam(fn, P(4)), az, NULL};
    body(e, outs, k, LLVMGetParam(fn, 0), rows, args, with_u_row(e, rows, args, 3), 1);
    LLVMBuildRetVoid(e->bd);
    return e->wsize;
}

/* f_vjp(B, t, z, [u,] θ, a, dzdt, az, aθ, at, work): f and the VJP in one body,
 * the forward values computed once (emit_c.c's emit_f_vjp); a NULL VJP
 * output is skipped. */
static int build_f_vjp(Em *e) {
    Model *m = e->pg->m;
    Program *pg = e->pg;
    LLVMTypeRef ps[] = {e->i32, e->f64, e->pf64, e->pf64, e->pf64, e->pf64, e->pf64, e->pf64, e->pf64, e->pf64, NULL};
    LLVMValueRef fn = e->fns[7] = function(e, "f_vjp", e->vd, ps, with_u_param(e, ps, 10));
    e->t = LLVMGetParam(fn, 1), e->theta = LLVMGetParam(fn, P(3)), e->work = LLVMGetParam(fn, P(9));
    LLVMValueRef az = LLVMGetParam(fn, P(6)), ath = LLVMGetParam(fn, P(7)), at = LLVMGetParam(fn, P(8));
    LLVMValueRef has_az = nonnull(e, az), has_ath = nonnull(e, ath), has_at = nonnull(e, at);
    zero_totals(e, ath, has_ath, at, has_at);
    int k = 0;
    Out *outs = arena_alloc(e->a, sizeof(Out) * (2 * m->nstates + m->nparams + 1));
    for (int i = 0; i < m->nstates; i++) outs[k++] = out_state(e, pg->f.roots[i], OUT_SET, B_DZ, i, NULL);
    for (int i = 0; i < m->nstates; i++) outs[k++] = out_state(e, pg->vjp_z.roots[i], OUT_SET, B_AZ, i, has_az);
    for (int i = 0; i < m->nparams; i++) {
        Sym *y = m->params[i];
        outs[k++] = (Out){pg->vjp_p.roots[i], OUT_ACC, -1, ath, y->offset, y->shape, has_ath};
    }
    outs[k++] = (Out){pg->vjp_t.roots[0], OUT_TOTAL, -1, at, 0, shape0(), has_at};
    int rows[] = {B_Z, B_A, B_DZ, B_AZ, 0};
    LLVMValueRef args[] = {LLVMGetParam(fn, 2), LLVMGetParam(fn, P(4)), LLVMGetParam(fn, P(5)), az, NULL};
    body(e, outs, k, LLVMGetParam(fn, 0), rows, args, with_u_row(e, rows, args, 4), 2);
    LLVMBuildRetVoid(e->bd);
    return e->wsize;
}

/* jvp(B, t, z, [u,] θ, v, out, work) */
static int build_jvp(Em *e) {
    Model *m = e->pg->m;
    LLVMTypeRef ps[] = {e->i32, e->f64, e->pf64, e->pf64, e->pf64, e->pf64, e->pf64, NULL};
    LLVMValueRef fn = e->fns[2] = function(e, "jvp", e->vd, ps, with_u_param(e, ps, 7));
    e->t = LLVMGetParam(fn, 1), e->theta = LLVMGetParam(fn, P(3)), e->work = LLVMGetParam(fn, P(6));
    Out *outs = arena_alloc(e->a, sizeof(Out) * (m->nstates + 1));
    for (int i = 0; i < m->nstates; i++) outs[i] = out_state(e, e->pg->jvp.roots[i], OUT_SET, B_OUT, i, NULL);
    int rows[] = {B_Z, B_V, B_OUT, 0};
    LLVMValueRef args[] = {LLVMGetParam(fn, 2), LLVMGetParam(fn, P(4)), LLVMGetParam(fn, P(5)), NULL};
    body(e, outs, m->nstates, LLVMGetParam(fn, 0), rows, args, with_u_row(e, rows, args, 3), 3);
    LLVMBuildRetVoid(e->bd);
    return e->wsize;
}

/* jac_z(t, z, [u,] θ, J, work): row i of ∂f/∂z is e_iᵀ∂f/∂z, one VJP per row,
 * e_i kept in work[0..n_state) and the VJP's scratch after it. */
static void build_jac(Em *e) {
    int n = e->pg->m->n_state, nu = e->pg->m->ninputs ? 1 : 0;
    LLVMTypeRef ps[] = {e->f64, e->pf64, e->pf64, e->pf64, e->pf64, e->pf64};
    LLVMValueRef fn = e->fns[3] = function(e, "jac_z", e->vd, ps, 5 + nu);
    LLVMValueRef work = LLVMGetParam(fn, 4 + nu), J = LLVMGetParam(fn, 3 + nu);
    Loop l;
    LLVMValueRef i = loop_open(e, &l, ci(e, n));
    store(e, cf(e, 0), gep(e, work, i));
    loop_close(e, &l);
    i = loop_open(e, &l, ci(e, n));
    store(e, cf(e, 1), gep(e, work, i));
    LLVMValueRef null = LLVMConstNull(e->pf64);
    LLVMValueRef args[10] = {LLVMConstInt(e->i32, 1, false), LLVMGetParam(fn, 0), LLVMGetParam(fn, 1)},
                 *rest = args + 3;
    if (nu) *rest++ = LLVMGetParam(fn, 2); /* u */
    *rest++ = LLVMGetParam(fn, 2 + nu), *rest++ = work, *rest++ = gep(e, J, LLVMBuildNSWMul(e->bd, i, ci(e, n), ""));
    *rest++ = null, *rest++ = null, *rest++ = gep(e, work, ci(e, n));
    call(e, LLVMGlobalGetValueType(e->fns[1]), e->fns[1], args, 9 + nu);
    store(e, cf(e, 0), gep(e, work, i));
    loop_close(e, &l);
    LLVMBuildRetVoid(e->bd);
}

/* loss(B, pred, obs, work) and loss_grad(B, pred, obs, grad, work): Σ_b ℓ */
static int build_loss(Em *e, bool grad) {
    Model *m = e->pg->m;
    LLVMTypeRef ps[] = {e->i32, e->pf64, e->pf64, e->pf64, e->pf64};
    LLVMValueRef fn = e->fns[grad ? 5 : 4] = function(e, grad ? "loss_grad" : "loss", e->f64, ps, grad ? 5 : 4);
    e->t = NULL, e->theta = NULL, e->work = LLVMGetParam(fn, grad ? 4 : 3);
    LLVMValueRef total = local(e, e->f64);
    store(e, cf(e, 0), total);
    Out outs[2];
    int n = 0;
    outs[n++] = (Out){e->pg->loss.roots[0], OUT_TOTAL, -1, total, 0, shape0(), NULL};
    if (grad) outs[n++] = (Out){e->pg->loss_grad.roots[0], OUT_SET, B_GRAD, NULL, 0, shape1(m->n_state), NULL};
    int rows[] = {B_PRED, B_OBS, B_GRAD};
    LLVMValueRef args[] = {LLVMGetParam(fn, 1), LLVMGetParam(fn, 2), grad ? LLVMGetParam(fn, 3) : NULL};
    body(e, outs, n, LLVMGetParam(fn, 0), rows, args, grad ? 3 : 2, grad ? 5 : 4);
    LLVMBuildRet(e->bd, load(e, total));
    return e->wsize;
}

/* A private constant array of doubles. */
static LLVMValueRef const_array(Em *e, const char *name, const double *v, int n, LLVMTypeRef *ty) {
    LLVMValueRef *el = arena_alloc(e->a, sizeof(LLVMValueRef) * (size_t)n);
    for (int i = 0; i < n; i++) el[i] = cf(e, v[i]);
    *ty = LLVMArrayType(e->f64, (unsigned)n);
    LLVMValueRef g = LLVMAddGlobal(e->mod, *ty, name);
    LLVMSetInitializer(g, LLVMConstArray(e->f64, el, (unsigned)n));
    LLVMSetGlobalConstant(g, true);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    LLVMSetUnnamedAddr(g, true);
    return g;
}

/* init_params(θ, seed): the emitted C's initializers, draw for draw. */
static void build_init(Em *e) {
    Model *m = e->pg->m;
    LLVMTypeRef ps[] = {e->pf64, e->i64};
    LLVMValueRef fn = e->fns[6] = function(e, "init_params", e->vd, ps, 2);
    LLVMValueRef theta = LLVMGetParam(fn, 0), seed = LLVMGetParam(fn, 1);
    LLVMValueRef s = local(e, e->i64);
    for (int p = 0; p < m->nparams; p++) {
        Sym *y = m->params[p];
        int n = shape_size(y->shape), off = y->offset;
        /* Glorot: fan_in is the number of columns, fan_out of rows. */
        int fan_in = y->shape.rank == 2 ? y->shape.d[1] : n, fan_out = y->shape.rank == 2 ? y->shape.d[0] : n;
        uint64_t salt = nc_hash(y->name, strlen(y->name));
        LLVMValueRef src = NULL;
        LLVMTypeRef src_ty = NULL;
        if (y->init == INIT_VALUE) src = const_array(e, arena_printf(e->a, "init_%s", y->name), y->values, n, &src_ty);
        if (y->init == INIT_GLOROT || y->init == INIT_UNIFORM || y->init == INIT_NORMAL)
            LLVMBuildStore(e->bd, LLVMBuildXor(e->bd, seed, LLVMConstInt(e->i64, salt, false), ""), s);
        Loop l;
        LLVMValueRef i = loop_open(e, &l, ci(e, n)), v = NULL;
        switch (y->init) {
        case INIT_NONE:
        case INIT_PARAM: /* states only */
        case INIT_ZEROS:
        case INIT_ONES: v = cf(e, y->init == INIT_ONES ? 1 : 0); break;
        case INIT_VALUE: {
            LLVMValueRef ix[2] = {ci(e, 0), i};
            v = load(e, LLVMBuildInBoundsGEP2(e->bd, src_ty, src, ix, 2, ""));
            break;
        }
        case INIT_GLOROT:
        case INIT_UNIFORM: {
            double lo = y->a, hi = y->b;
            if (y->init == INIT_GLOROT) hi = sqrt(6.0 / (fan_in + fan_out)), lo = -hi;
            LLVMValueRef fu = helper(e, H_UNIFORM);
            LLVMValueRef u = call(e, e->helper_ty[H_UNIFORM], fu, &s, 1);
            v = LLVMBuildFAdd(e->bd, cf(e, lo), LLVMBuildFMul(e->bd, cf(e, hi - lo), u, ""), "");
            break;
        }
        case INIT_NORMAL: {
            LLVMValueRef fn = helper(e, H_NORMAL);
            LLVMValueRef r = call(e, e->helper_ty[H_NORMAL], fn, &s, 1);
            v = LLVMBuildFAdd(e->bd, cf(e, y->a), LLVMBuildFMul(e->bd, cf(e, y->b), r, ""), "");
            break;
        }
        }
        store(e, v, gep(e, theta, addk(e, i, off)));
        loop_close(e, &l);
    }
    LLVMBuildRetVoid(e->bd);
}

/* Declarations of libm and the intrinsics; the constants' arrays. */
static void declare(Em *e) {
    Model *m = e->pg->m;
    LLVMTypeRef two[2] = {e->f64, e->f64};
    e->fn1_ty = LLVMFunctionType(e->f64, two, 1, false);
    e->fn2_ty = LLVMFunctionType(e->f64, two, 2, false);
    /* tanh, exp, log, log1p as pure functions (errno is never read), so
     * loops calling them can be vectorised.  Not sin and cos: a pure sin
     * beside a cos would be merged into sincos, which is not on the
     * allow-list. */
    static const char *const pure[] = {"readnone", "nounwind", "willreturn"};
    for (int k = 0; k < LIB_COUNT; k++) {
        e->lib[k] = LLVMAddFunction(e->mod, lib_name[k], k == LIB_POW ? e->fn2_ty : e->fn1_ty);
        for (int a = 0; a < 3 && k < N_VEC; a++) {
            unsigned kind = LLVMGetEnumAttributeKindForName(pure[a], strlen(pure[a]));
            LLVMAddAttributeAtIndex(e->lib[k], LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(e->cx, kind, 0));
        }
    }
    /* The vector variants a call names must exist in the module; the
     * llvm.compiler.used array keeps the declarations until the vectorizer
     * has run (as LLVM's InjectTLIMappings does). */
    LLVMTypeRef i8p = LLVMPointerType(LLVMInt8TypeInContext(e->cx), 0);
    LLVMValueRef used[N_VEC * N_WIDTH];
    int nused = 0;
    for (int f = 0; f < N_VEC; f++)
        for (int i = 0; i < N_WIDTH && vec_attr[f][0]; i++) {
            if (!vec[f][i].addr) continue;
            LLVMTypeRef vt = LLVMVectorType(e->f64, (unsigned)vec[f][i].width);
            LLVMValueRef fn = LLVMAddFunction(e->mod, vec[f][i].name, LLVMFunctionType(vt, &vt, 1, false));
            used[nused++] = LLVMConstBitCast(fn, i8p);
        }
    if (nused) {
        LLVMTypeRef at = LLVMArrayType(i8p, (unsigned)nused);
        LLVMValueRef g = LLVMAddGlobal(e->mod, at, "llvm.compiler.used");
        LLVMSetLinkage(g, LLVMAppendingLinkage);
        LLVMSetSection(g, "llvm.metadata");
        LLVMSetInitializer(g, LLVMConstArray(i8p, used, (unsigned)nused));
    }
    LLVMTypeRef gp[] = {e->i32,  e->i32, e->i32, e->pf64, e->i64, e->i64,
                        e->pf64, e->i64, e->i64, e->pf64, e->i64, e->i32};
    e->gemm_ty = LLVMFunctionType(e->vd, gp, 12, false);
    e->gemm_fn = LLVMAddFunction(e->mod, "nd_gemm", e->gemm_ty);
    unsigned sq = LLVMLookupIntrinsicID("llvm.sqrt", 9), fa = LLVMLookupIntrinsicID("llvm.fabs", 9);
    e->sqrt_fn = LLVMGetIntrinsicDeclaration(e->mod, sq, &e->f64, 1);
    e->sqrt_ty = LLVMIntrinsicGetType(e->cx, sq, &e->f64, 1);
    e->fabs_fn = LLVMGetIntrinsicDeclaration(e->mod, fa, &e->f64, 1);
    e->fabs_ty = LLVMIntrinsicGetType(e->cx, fa, &e->f64, 1);
    e->cglob = arena_alloc(e->a, sizeof(LLVMValueRef) * (size_t)(m->nconsts + 1));
    e->cty = arena_alloc(e->a, sizeof(LLVMTypeRef) * (size_t)(m->nconsts + 1));
    for (int i = 0; i < m->nconsts; i++) {
        Sym *y = m->consts[i];
        if (y->shape.rank == 0 || y->init != INIT_VALUE) continue;
        e->cglob[i] =
            const_array(e, arena_printf(e->a, "%s_c%d", m->name, i), y->values, shape_size(y->shape), &e->cty[i]);
    }
}

/* Starts building into mod: its own declarations, constants and helpers. */
static void begin_module(Em *e, LLVMModuleRef mod, bool lazy) {
    e->mod = mod;
    e->lazy = lazy;
    memset(e->helper, 0, sizeof e->helper);
    declare(e);
}

/* The access group of every parallel loop's loads and stores: one is
 * enough, as a loop claims only the accesses made while it is open.  It must
 * be a distinct empty node, which LLVM 14's C API can only get by parsing;
 * the context keeps it when the scratch module goes. */
static LLVMMetadataRef access_group(LLVMContextRef cx) {
    static const char text[] = "!g = !{!0}\n!0 = distinct !{}\n";
    LLVMMemoryBufferRef mb = LLVMCreateMemoryBufferWithMemoryRangeCopy(text, sizeof text - 1, "access_group");
    LLVMModuleRef m = NULL;
    char *msg = NULL;
    if (LLVMParseIRInContext(cx, mb, &m, &msg)) /* takes mb */
        ice("emit_llvm: LLVM cannot parse an access group: %s", msg ? msg : "?");
    LLVMValueRef g;
    LLVMGetNamedMetadataOperands(m, "g", &g);
    LLVMMetadataRef md = LLVMValueAsMetadata(g);
    LLVMDisposeModule(m);
    return md;
}

/* Builds the functions training needs into `eager` (f, f_vjp, loss,
 * loss_grad, init_params) and the others into `lazy` (vjp, jvp, jac_z);
 * returns the work size (emit_c.c's emit_functions: the largest
 * function's, and jac_z's n_state + vjp's). */
static int build_modules(Em *e, LLVMModuleRef eager, LLVMModuleRef lazy) {
    e->f64 = LLVMDoubleTypeInContext(e->cx);
    e->i64 = LLVMInt64TypeInContext(e->cx);
    e->i32 = LLVMInt32TypeInContext(e->cx);
    e->i1 = LLVMInt1TypeInContext(e->cx);
    e->vd = LLVMVoidTypeInContext(e->cx);
    e->pf64 = LLVMPointerType(e->f64, 0);
    e->bd = LLVMCreateBuilderInContext(e->cx);
    e->group = access_group(e->cx);
    begin_module(e, eager, false);
    int wf = build_f(e), wfv = build_f_vjp(e), wl = build_loss(e, false), wg = build_loss(e, true);
    build_init(e);
    begin_module(e, lazy, true);
    int wv = build_vjp(e), wj = build_jvp(e);
    build_jac(e);
    LLVMDisposeBuilder(e->bd);
    int w = wf, all[] = {wv, wj, wfv, wl, wg, e->pg->m->n_state + wv};
    for (int i = 0; i < 6; i++)
        if (all[i] > w) w = all[i];
    int planned = plan_work_size(e->pg, NULL);
    if (w != planned) ice("the JIT's functions need %d doubles of work, their plan %d", w, planned);
    return w;
}

/* ---- the JIT --------------------------------------------------------- */

/* The optimisation pipeline: what nodec's code needs of LLVM's O2.  Helpers
 * inlined (they are marked alwaysinline, as gcc inlines the static nd_*);
 * locals to registers (sroa); repeated loads and index arithmetic merged
 * (early-cse, instcombine); loops rotated and their invariants hoisted
 * (licm); loops of at most FULL_UNROLL iterations unrolled by their hint;
 * and the loop vectoriser, which the VJP's transposed products need (without
 * it spiral's vjp is ~10 % slower).  The rest of default<O2> (inliner
 * pipeline, GVN, indvars, SLP vectoriser, loop idiom, jump threading…)
 * cost ~2.5x the time for no speed bench/jit could see (docs/jit.md). */
static const char pipeline[] = "always-inline,function(sroa,early-cse,instcombine,simplifycfg,loop-mssa(loop-rotate,"
                               "licm),loop(loop-unroll-full),loop-simplify,lcssa,loop-vectorize,instcombine,"
                               "simplifycfg)";

/* What a loaded model owns; LoadedModel.jit points here.  The descriptor
 * comes first, so lm->model points into this record. */
typedef struct Jit {
    nodec_model desc;
    nodec_inputs inputs;                   /* desc.inputs points here for a model with inputs */
    LLVMOrcLLJITRef lljit;                 /* owns the JITDylib and compiled code */
    LLVMOrcResourceTrackerRef rt;          /* the model's modules within it */
    LLVMOrcIndirectStubsManagerRef ism;    /* the lazy functions' stubs */
    LLVMOrcLazyCallThroughManagerRef lctm; /* their trampolines to the compiler */
    Arena *arena;                          /* names, shapes, z0 */
} Jit;

/* The only process symbols JIT code may call.  Besides libm, LLVM's own
 * passes and code generator may introduce memset/memcpy/memmove (a zeroing
 * loop becomes a memset): the LangRef requires every environment to
 * provide them. */
static const struct {
    const char *name;
    void *addr;
} allowed[] = {
    {"tanh", (void *)tanh},       {"exp", (void *)exp},       {"log", (void *)log},       {"log1p", (void *)log1p},
    {"sin", (void *)sin},         {"cos", (void *)cos},       {"sqrt", (void *)sqrt},     {"pow", (void *)pow},
    {"fabs", (void *)fabs},       {"memset", (void *)memset}, {"memcpy", (void *)memcpy}, {"memmove", (void *)memmove},
    {"nd_gemm", (void *)nd_gemm},
};

static pthread_once_t llvm_once = PTHREAD_ONCE_INIT;
static bool llvm_ready;

static void find_vector_math(void) {
    void *mvec = dlopen("libmvec.so.1", RTLD_NOW | RTLD_LOCAL); /* kept open for the JIT's lifetime */
    if (!mvec || getenv("NODEC_NO_LIBMVEC")) return;
    __builtin_cpu_init();
    static const char isa[N_WIDTH] = {'b', 'd', 'e'};
    bool ok[N_WIDTH] = {true, __builtin_cpu_supports("avx2") != 0, __builtin_cpu_supports("avx512f") != 0};
    for (int f = 0; f < N_VEC; f++) {
        Buf b = {0};
        for (int i = 0; i < N_WIDTH; i++) {
            VecVariant *v = &vec[f][i];
            v->width = 2 << i;
            snprintf(v->name, sizeof v->name, "_ZGV%cN%dv_%s", isa[i], v->width, lib_name[f]);
            if (!ok[i] || !(v->addr = dlsym(mvec, v->name))) continue;
            buf_printf(&b, "%s_ZGV_LLVM_N%dv_%s(%s)", b.len ? "," : "", v->width, lib_name[f], v->name);
        }
        if (b.s && b.len < sizeof vec_attr[f]) memcpy(vec_attr[f], b.s, b.len + 1), vec_any = true;
        buf_free(&b);
    }
    vec8 = vec_attr[LIB_TANH][0] && vec[LIB_TANH][2].addr;
}

static void llvm_init(void) {
    llvm_ready = !LLVMInitializeNativeTarget() && !LLVMInitializeNativeAsmPrinter();
    find_vector_math();
    /* A vectorised loop's remainder 2 lanes at a time: spiral's 50 units
     * are 6 × 8 + 2, and the last two through the SSE2 variant
     * (_ZGVbN2v_tanh) instead of scalar tanh made f_vjp ~10 % faster.
     * LLVM's vectoriser adds such an epilogue by itself only behind main
     * loops of 16 lanes or more; the option is LLVM's (process-wide), hence
     * set once, and only when the JIT calls libmvec.  NODEC_JIT_LLVM_ARGS
     * replaces it (one argument, e.g. -epilogue-vectorization-force-VF=1:
     * none). */
    const char *arg = getenv("NODEC_JIT_LLVM_ARGS");
    if (!arg && vec_any) arg = "-epilogue-vectorization-force-VF=2";
    if (arg && *arg) {
        const char *argv[] = {"nodec", arg};
        LLVMParseCommandLineOptions(2, argv, NULL);
    }
}

/* Writes an LLVM error's message to err and consumes the error. */
static bool fail_llvm(LLVMErrorRef le, const char *what, char *err, size_t errlen) {
    char *msg = LLVMGetErrorMessage(le);
    snprintf(err, errlen, "%s: %s", what, msg);
    LLVMDisposeErrorMessage(msg);
    return false;
}

/* A TargetMachine for the host CPU and its features. */
static LLVMTargetMachineRef host_machine(char *err, size_t errlen) {
    char *triple = LLVMGetDefaultTargetTriple(), *msg = NULL;
    LLVMTargetRef target;
    LLVMTargetMachineRef tm = NULL;
    if (LLVMGetTargetFromTriple(triple, &target, &msg)) {
        snprintf(err, errlen, "LLVM has no target for %s: %s", triple, msg);
        LLVMDisposeMessage(msg);
    } else {
        char *cpu = LLVMGetHostCPUName(), *features = LLVMGetHostCPUFeatures();
        tm = LLVMCreateTargetMachine(target, triple, getenv("NODEC_JIT_CPU") ? getenv("NODEC_JIT_CPU") : cpu, features,
                                     LLVMCodeGenLevelDefault, LLVMRelocDefault, LLVMCodeModelJITDefault);
        LLVMDisposeMessage(cpu), LLVMDisposeMessage(features);
        if (!tm) snprintf(err, errlen, "LLVM cannot make a target machine for %s", triple);
    }
    LLVMDisposeMessage(triple);
    return tm;
}

/* Where a lazy function's stub jumps when its module failed to compile (the
 * JIT has printed why).  Nothing can be returned through the descriptor's
 * function types; the module was verified and the same target compiled the
 * eager one, so this is a bug. */
static void lazy_failed(void) { ice("the LLVM JIT could not compile a function on its first call"); }

/* The descriptor's tables, copied into the Jit's arena. */
static nodec_var *vars(Arena *a, Sym **v, int n) {
    if (!n) return NULL;
    nodec_var *out = arena_alloc(a, sizeof *out * (size_t)n);
    for (int i = 0; i < n; i++) {
        Sym *y = v[i];
        out[i] = (nodec_var){arena_strndup(a, y->name, strlen(y->name)),
                             y->shape.rank,
                             {y->shape.d[0], y->shape.d[1]},
                             y->offset,
                             shape_size(y->shape)};
    }
    return out;
}

static void fill_descriptor(Jit *j, Program *pg, const EmitOpts *o, int work) {
    Model *m = pg->m;
    Arena *a = j->arena;
    double *z0 = NULL;
    if (m->has_z0) {
        z0 = arena_alloc(a, sizeof(double) * (size_t)m->n_state);
        for (int i = 0; i < m->nstates; i++)
            memcpy(z0 + m->states[i]->offset, m->states[i]->values,
                   sizeof(double) * (size_t)shape_size(m->states[i]->shape));
    }
    nodec_model *d = &j->desc;
    d->abi_version = NODEC_ABI_VERSION;
    d->name = arena_strndup(a, m->name, strlen(m->name));
    d->source_hash = arena_printf(a, "%016llx", (unsigned long long)o->source_hash);
    d->n_state = m->n_state, d->n_param = m->n_param;
    d->n_state_vars = m->nstates, d->state_vars = vars(a, m->states, m->nstates);
    d->n_param_vars = m->nparams, d->param_vars = vars(a, m->params, m->nparams);
    d->work_size = work;
    d->uses_t = ir_f_uses_t(pg);
    d->z0 = z0;
    if (m->z0_params) { /* states that start from a param: where in θ (emit_c.c's z0_from) */
        int *from = arena_alloc(a, sizeof(int) * (size_t)m->n_state);
        for (int i = 0; i < m->nstates; i++) {
            Sym *y = m->states[i];
            for (int k = 0; k < shape_size(y->shape); k++)
                from[y->offset + k] = y->init == INIT_PARAM ? y->z0_param->offset + k : -1;
        }
        d->z0_from = from;
    }
    if (m->has_noise) { /* states that are noises (emit_c.c's _noise) */
        signed char *noise = arena_alloc(a, (size_t)m->n_state);
        for (int i = 0; i < m->nstates; i++)
            memset(noise + m->states[i]->offset, m->states[i]->noise, (size_t)shape_size(m->states[i]->shape));
        d->noise = noise;
    }
    if (m->ninputs) { /* emit_c.c's _inputs; the functions are set by nc_load_llvm */
        signed char *interp = arena_alloc(a, (size_t)m->n_input);
        for (int i = 0; i < m->ninputs; i++)
            memset(interp + m->inputs[i]->offset, m->inputs[i]->interp, (size_t)shape_size(m->inputs[i]->shape));
        j->inputs = (nodec_inputs){
            m->n_input, m->ninputs, vars(a, m->inputs, m->ninputs), interp, m->uses_ddt, NULL, NULL, NULL, NULL, NULL};
        d->inputs = &j->inputs;
    }
}

/* Defines the allow-list in the JITDylib as absolute symbols. */
static LLVMErrorRef define_allowed(LLVMOrcLLJITRef lljit, LLVMOrcJITDylibRef jd) {
    enum { N_ALLOWED = sizeof allowed / sizeof *allowed };
    LLVMJITCSymbolMapPair pairs[N_ALLOWED + N_VEC * N_WIDTH + OP_COUNT];
    LLVMJITSymbolFlags fl = {LLVMJITSymbolGenericFlagsExported | LLVMJITSymbolGenericFlagsCallable, 0};
    int n = 0;
    for (int i = 0; i < N_ALLOWED; i++, n++) /* the pool entry's reference passes to LLVMOrcAbsoluteSymbols */
        pairs[n] = (LLVMJITCSymbolMapPair){LLVMOrcLLJITMangleAndIntern(lljit, allowed[i].name),
                                           {(LLVMOrcExecutorAddress)(uintptr_t)allowed[i].addr, fl}};
    for (int op = 0; op < OP_COUNT; op++) { /* and libm's other functions of FUNCS (ops.c) */
        if (!op_is_func(op) || func_helper_src(op)) continue;
        bool listed = false;
        for (int i = 0; i < N_ALLOWED; i++) listed |= !strcmp(allowed[i].name, func_def[op].c);
        void *addr = listed ? NULL : dlsym(RTLD_DEFAULT, func_def[op].c);
        if (addr)
            pairs[n++] = (LLVMJITCSymbolMapPair){LLVMOrcLLJITMangleAndIntern(lljit, func_def[op].c),
                                                 {(LLVMOrcExecutorAddress)(uintptr_t)addr, fl}};
    }
    for (int f = 0; f < N_VEC; f++) /* and libmvec's variants, where this CPU has them */
        for (int i = 0; i < N_WIDTH; i++)
            if (vec_attr[f][0] && vec[f][i].addr)
                pairs[n++] = (LLVMJITCSymbolMapPair){LLVMOrcLLJITMangleAndIntern(lljit, vec[f][i].name),
                                                     {(LLVMOrcExecutorAddress)(uintptr_t)vec[f][i].addr, fl}};
    LLVMOrcMaterializationUnitRef mu = LLVMOrcAbsoluteSymbols(pairs, (size_t)n);
    LLVMErrorRef le = LLVMOrcJITDylibDefine(jd, mu);
    if (le) LLVMOrcDisposeMaterializationUnit(mu);
    return le;
}

static const char *const fn_suffix[8] = {"f", "vjp", "jvp", "jac_z", "loss", "loss_grad", "init_params", "f_vjp"};
/* The functions of the lazy module (build_modules), by index in fn_suffix. */
enum { N_LAZY = 3 };
static const int lazy_fn[N_LAZY] = {1, 2, 3};

/* NODEC_JIT_PERFMAP=1: the eager functions in /tmp/perf-<pid>.map, so that
 * `perf report` names them (each taken to end where the next begins). */
static void perf_map(const char *model, void *const addr[8]) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/perf-%d.map", (int)getpid());
    FILE *f = fopen(path, "a");
    if (!f) return;
    for (int k = 0; k < 8; k++) {
        uintptr_t a = (uintptr_t)addr[k], end = a + 4096;
        bool lazy = false;
        for (int q = 0; q < N_LAZY; q++) lazy |= lazy_fn[q] == k;
        if (lazy) continue;
        for (int q = 0; q < 8; q++)
            if ((uintptr_t)addr[q] > a && (uintptr_t)addr[q] < end) end = (uintptr_t)addr[q];
        fprintf(f, "%lx %lx %s_%s\n", (unsigned long)a, (unsigned long)(end - a), model, fn_suffix[k]);
    }
    fclose(f);
}

bool nc_load_llvm(Program *pg, const EmitOpts *o, LoadedModel *lm, char *err, size_t errlen) {
    memset(lm, 0, sizeof *lm);
    pthread_once(&llvm_once, llvm_init);
    if (!llvm_ready) return snprintf(err, errlen, "LLVM has no native target in this build"), false;
    if (plan_work_size(pg, NULL) < 0) /* the plans would be void: nothing to build */
        return snprintf(err, errlen, "the model needs more than %d doubles of scratch memory", MAX_WORK), false;

    bool ok = false;
    char *msg = NULL;
    LLVMErrorRef le;
    Em e = {.pg = pg, .ir = pg->ir, .a = arena_new()};
    Jit *j = calloc(1, sizeof *j);
    /* Ours until handed on: tsctx → tsm (modules), tm → jtmb → builder → lljit. */
    LLVMOrcThreadSafeContextRef tsctx = LLVMOrcCreateNewThreadSafeContext();
    LLVMModuleRef mod[2] = {NULL, NULL}; /* eager, lazy */
    LLVMOrcThreadSafeModuleRef tsm = NULL;
    LLVMTargetMachineRef tm = NULL;
    LLVMOrcLLJITBuilderRef builder = NULL;
    LLVMOrcMaterializationUnitRef mu = NULL;
    LLVMPassBuilderOptionsRef popts = NULL;
    LLVMOrcJITDylibRef jd;
    if (!j || !tsctx) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    j->arena = arena_new();

    /* Lower the IR into two modules of the thread-safe context. */
    e.cx = LLVMOrcThreadSafeContextGetContext(tsctx);
    mod[0] = LLVMModuleCreateWithNameInContext(pg->m->name, e.cx);
    mod[1] = LLVMModuleCreateWithNameInContext(arena_printf(e.a, "%s" LAZY_SUFFIX, pg->m->name), e.cx);
    int work = build_modules(&e, mod[0], mod[1]);
    if (!(tm = host_machine(err, errlen))) goto done;
    char *triple = LLVMGetTargetMachineTriple(tm);
    LLVMTargetDataRef layout = LLVMCreateTargetDataLayout(tm);
    for (int k = 0; k < 2; k++) {
        LLVMSetTarget(mod[k], triple);
        LLVMSetModuleDataLayout(mod[k], layout);
    }
    LLVMDisposeMessage(triple);
    LLVMDisposeTargetData(layout);
    for (int k = 0; k < 2; k++) {
        if (LLVMVerifyModule(mod[k], LLVMReturnStatusAction, &msg)) {
            snprintf(err, errlen, "internal error: nodec made invalid LLVM IR (a bug in nodec):\n%.1500s", msg);
            goto done;
        }
        LLVMDisposeMessage(msg); /* "" */
        msg = NULL;
    }

    /* Optimise both modules now: only the lazy one's machine code waits for
     * its first call.  (Optimising it then too, in LLJIT's IR transform
     * layer, would save ~4 ms more, but LLVM 14's C binding of that layer
     * leaks a ThreadSafeModule per module.) */
    popts = LLVMCreatePassBuilderOptions();
    LLVMPassBuilderOptionsSetLoopVectorization(popts, true);
    LLVMPassBuilderOptionsSetLoopUnrolling(popts, false); /* see FULL_UNROLL */
    if (getenv("NODEC_JIT_DUMP"))                         /* and before optimisation */
        for (int k = 0; k < 2; k++) {
            char path[512], *msg = NULL;
            snprintf(path, sizeof path, "%s.%d.raw.ll", getenv("NODEC_JIT_DUMP"), k);
            if (LLVMPrintModuleToFile(mod[k], path, &msg)) LLVMDisposeMessage(msg);
        }
    for (int k = 0; k < 2; k++)
        if ((le = LLVMRunPasses(mod[k], getenv("NODEC_JIT_PIPELINE") ? getenv("NODEC_JIT_PIPELINE") : pipeline, tm,
                                popts))) {
            fail_llvm(le, "LLVM's optimiser failed", err, errlen);
            goto done;
        }
    if (getenv("NODEC_JIT_DUMP")) /* the optimised IR, for whoever tunes this */
        for (int k = 0; k < 2; k++) {
            char path[512], *msg = NULL;
            snprintf(path, sizeof path, "%s.%d.ll", getenv("NODEC_JIT_DUMP"), k);
            if (LLVMPrintModuleToFile(mod[k], path, &msg)) LLVMDisposeMessage(msg);
        }

    /* The JIT compiles for the same machine: the builder takes tm. */
    builder = LLVMOrcCreateLLJITBuilder();
    LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm));
    tm = NULL;
    le = LLVMOrcCreateLLJIT(&j->lljit, builder); /* consumes the builder */
    builder = NULL;
    if (le) {
        fail_llvm(le, "cannot create the LLVM JIT", err, errlen);
        goto done;
    }
    jd = LLVMOrcLLJITGetMainJITDylib(j->lljit);
    if ((le = define_allowed(j->lljit, jd))) {
        fail_llvm(le, "cannot define the JIT's library symbols", err, errlen);
        goto done;
    }

    /* Hand the modules to the JIT, tracked by the model's resource tracker;
     * nothing is compiled until a symbol is looked up. */
    j->rt = LLVMOrcJITDylibCreateResourceTracker(jd);
    for (int k = 0; k < 2; k++) {
        tsm = LLVMOrcCreateNewThreadSafeModule(mod[k], tsctx); /* owns mod[k] now */
        mod[k] = NULL;
        le = LLVMOrcLLJITAddLLVMIRModuleWithRT(j->lljit, j->rt, tsm);
        tsm = NULL; /* the JIT takes it, even when it fails */
        if (le) {
            fail_llvm(le, "the LLVM JIT rejected the model", err, errlen);
            goto done;
        }
    }

    /* The lazy module's functions behind stubs: <fn> calls <fn>.lazy, looked
     * up (so compiled) on the first call (llvm/examples/OrcV2Examples/
     * OrcV2CBindingsLazy). */
    const char *jtriple = LLVMOrcLLJITGetTripleString(j->lljit);
    if (!(j->ism = LLVMOrcCreateLocalIndirectStubsManager(jtriple))) {
        snprintf(err, errlen, "the LLVM JIT has no stubs for %s", jtriple);
        goto done;
    }
    if ((le = LLVMOrcCreateLocalLazyCallThroughManager(jtriple, LLVMOrcLLJITGetExecutionSession(j->lljit),
                                                       (LLVMOrcJITTargetAddress)(uintptr_t)lazy_failed, &j->lctm))) {
        fail_llvm(le, "the LLVM JIT cannot compile lazily", err, errlen);
        goto done;
    }
    LLVMOrcCSymbolAliasMapPair alias[N_LAZY];
    for (int k = 0; k < N_LAZY; k++) {
        const char *name = arena_printf(e.a, "%s_%s", pg->m->name, fn_suffix[lazy_fn[k]]);
        LLVMJITSymbolFlags fl = {LLVMJITSymbolGenericFlagsExported | LLVMJITSymbolGenericFlagsCallable, 0};
        alias[k] = (LLVMOrcCSymbolAliasMapPair){
            LLVMOrcLLJITMangleAndIntern(j->lljit, name),
            {LLVMOrcLLJITMangleAndIntern(j->lljit, arena_printf(e.a, "%s" LAZY_SUFFIX, name)), fl}};
    }
    mu = LLVMOrcLazyReexports(j->lctm, j->ism, jd, alias, N_LAZY); /* takes the names' references */
    if ((le = LLVMOrcJITDylibDefine(jd, mu))) {
        fail_llvm(le, "the LLVM JIT rejected the lazy functions", err, errlen);
        goto done;
    }
    mu = NULL;

    /* Looking up the eager functions compiles their module; the lazy ones
     * are their stubs.  Then fill the descriptor. */
    void *addr[8];
    for (int k = 0; k < 8; k++) {
        LLVMOrcExecutorAddress a;
        const char *name = arena_printf(e.a, "%s_%s", pg->m->name, fn_suffix[k]);
        if ((le = LLVMOrcLLJITLookup(j->lljit, &a, name))) {
            fail_llvm(le, "the LLVM JIT could not compile the model", err, errlen);
            goto done;
        }
        addr[k] = (void *)(uintptr_t)a;
    }
    if (getenv("NODEC_JIT_PERFMAP")) perf_map(pg->m->name, addr);
    fill_descriptor(j, pg, o, work);
    /* ISO C forbids converting void * to function pointers; POSIX allows it */
    if (j->desc.inputs) { /* the functions that take u; the descriptor's own stay NULL */
        memcpy(&j->inputs.f, &addr[0], sizeof(void *));
        memcpy(&j->inputs.vjp, &addr[1], sizeof(void *));
        memcpy(&j->inputs.jvp, &addr[2], sizeof(void *));
        memcpy(&j->inputs.jac_z, &addr[3], sizeof(void *));
        memcpy(&j->inputs.f_vjp, &addr[7], sizeof(void *));
    } else {
        memcpy(&j->desc.f, &addr[0], sizeof(void *));
        memcpy(&j->desc.vjp, &addr[1], sizeof(void *));
        memcpy(&j->desc.jvp, &addr[2], sizeof(void *));
        memcpy(&j->desc.jac_z, &addr[3], sizeof(void *));
        memcpy(&j->desc.f_vjp, &addr[7], sizeof(void *));
    }
    memcpy(&j->desc.loss, &addr[4], sizeof(void *));
    memcpy(&j->desc.loss_grad, &addr[5], sizeof(void *));
    memcpy(&j->desc.init_params, &addr[6], sizeof(void *));
    lm->jit = j;
    lm->model = &j->desc;
    ok = true;

done: /* the one cleanup path: release whatever is still ours */
    if (msg) LLVMDisposeMessage(msg);
    if (mu) LLVMOrcDisposeMaterializationUnit(mu);
    if (popts) LLVMDisposePassBuilderOptions(popts);
    if (builder) LLVMOrcDisposeLLJITBuilder(builder);
    if (tm) LLVMDisposeTargetMachine(tm);
    if (tsm) LLVMOrcDisposeThreadSafeModule(tsm);
    for (int k = 0; k < 2; k++)
        if (mod[k]) LLVMDisposeModule(mod[k]);
    if (tsctx) LLVMOrcDisposeThreadSafeContext(tsctx); /* the TSM keeps its own reference */
    arena_free(e.a);
    if (!ok && j) {
        LoadedModel tmp = {.jit = j};
        nc_unload_llvm(&tmp);
    }
    return ok;
}

void nc_unload_llvm(LoadedModel *lm) {
    Jit *j = lm->jit;
    if (!j) return;
    LLVMErrorRef le;
    if (j->rt) {
        if ((le = LLVMOrcResourceTrackerRemove(j->rt))) LLVMConsumeError(le);
        LLVMOrcReleaseResourceTracker(j->rt);
    }
    /* stubs and trampolines before the JIT, as in OrcV2CBindingsLazy.c */
    if (j->ism) LLVMOrcDisposeIndirectStubsManager(j->ism);
    if (j->lctm) LLVMOrcDisposeLazyCallThroughManager(j->lctm);
    if (j->lljit && (le = LLVMOrcDisposeLLJIT(j->lljit))) LLVMConsumeError(le);
    if (j->arena) arena_free(j->arena);
    free(j);
    lm->jit = NULL;
    lm->model = NULL;
}
