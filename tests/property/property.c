/* property.c — a property test of the emitted derivatives (label
 * `property`): random well-typed models, compiled to C, whose VJPs, JVPs
 * and Jacobians must agree with finite differences of their f.
 *
 * A seeded generator writes models of 20–30 states, each state's equation
 * one random expression of the state's shape over the states, parameters,
 * constants, lets and t, using every operator and function of DESIGN.md §2
 * in every shape combination the language allows.  Values are kept in
 * safe domains by construction: log and sqrt see only positive arguments
 * (exp(…), 1 + x^2, softplus(tanh(…)), 2 + sin(…), a state), divisors
 * are at least 0.3, a variable exponent has a positive base, and any
 * subexpression whose estimated magnitude exceeds 6 is squashed by
 * tanh/sin/cos — so f, and its derivatives of the orders finite
 * differences need, stay moderate at every sample point.
 *
 * Each model is checked twice, in a child process (an ICE aborts, and a
 * broken kernel may crash; two children run at once):
 *  1. check_model (check.c, `nodec check`) with tolerance 1e-5: central
 *     differences of aᵀf with h = 1e-5 err by h²|f'''|/6 + ε|aᵀf|/h, about
 *     1e-10·|f'''| + 2e-11·|aᵀf|; with |f'''| and |aᵀf| below 1e3 here that
 *     is under 1e-7 of the gradient scale: 100× margin, while a wrong rule
 *     gives relative errors of 1e-2 to 1.
 *  2. per expression: for each state k, the VJP with the adjoint on k's
 *     block only (∂/∂z, ∂/∂θ, ∂/∂t), rows of k in the JVP and in jac_z,
 *     against a five-point stencil (error h⁴|f⁽⁵⁾|/30 + 1.5ε|f|/h; with
 *     h = 1e-4 below 1e-10 absolute), normalised by that expression's own
 *     gradient size, tolerance 1e-6.  This attributes a failure to one
 *     expression and cannot be hidden by a larger neighbour.
 * Every fourth model has inputs too (`input w0[2] = cubic`, DESIGN.md §7),
 * used in its expressions as values and as ddt(w0).  Its twin, where each
 * input is a state w0 and its ddt another state w0d (equations 0), is an
 * ordinary model, and goes through 2. in its place; and
 *  3. the input model, called with a random row of u (values, u′, u″),
 *     must give the twin's f, ∂f/∂z (VJP, JVP, jac_z) and ∂f/∂θ at
 *     z_twin = (z, u, u′), and aᵀ∂f/∂t = the twin's aᵀ∂f/∂t
 *     + ⟨a_w, u′⟩ + ⟨a_wd, u″⟩ from the twin's VJP over the input states,
 *     all within 1e-10 relative (INPUT_TOL): an independent reference for
 *     the chain through u(t) and ddt(u)(t).  Part 1 (check_model) moves u
 *     along its Taylor expansion for its difference in t (check.c).
 * A relu or abs kink inside a stencil gives a wrong difference; it is
 * rare (≈1e-3 per expression at h = 1e-4), so a failure counts only if
 * it repeats at two further random points.  The emitted C is also
 * compiled with -std=c99 -pedantic -Wall -Wextra -Werror: every model
 * with -fsyntax-only, every fifth one with -O2 as well.
 *
 * Usage: property [SEED].  Environment: NODEC_PROPERTY_SEED, _EXPRS (at
 * least this many expressions, default 1000; fewer under ASan if slow),
 * _JOBS (default 2), _STRICT (0 none, 1 sampled, 2 all at -O2), _OUT (where
 * failing models are written, default the working directory), _VERBOSE.
 * Prints the seed, a coverage table and `N passed, M failed`.
 */
#define _POSIX_C_SOURCE 200809L
#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nodec_model.h"

extern char **environ;

/* ---- random numbers ---------------------------------------------------- */

typedef struct Rng { unsigned long long s; } Rng;

static unsigned long long next64(Rng *r) { /* splitmix64 */
    unsigned long long x = (r->s += 0x9E3779B97F4A7C15ull);
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}
static double rnd(Rng *r) { return (double)(next64(r) >> 11) / 9007199254740992.0; }
static double uni(Rng *r, double lo, double hi) { return lo + (hi - lo) * rnd(r); }
static int irand(Rng *r, int n) { return (int)(next64(r) % (unsigned long long)n); }
static int irange(Rng *r, int lo, int hi) { return lo + irand(r, hi - lo + 1); } /* inclusive */
static bool chance(Rng *r, double p) { return rnd(r) < p; }

/* ---- coverage: what the generator produced, each must appear ------------ */

#define FEATURES(X) \
    X(ADD, "+") X(SUB, "-") X(MUL, "*") X(DIV, "/") X(NEG, "unary -") \
    X(BCAST, "scalar op tensor") X(BCAST_EQ, "scalar equation, tensor state") \
    X(POW_INT, "x^2, x^3") X(POW_REAL, "pos^real") X(POW_VAR, "pos^expr") X(POW_NUMBASE, "2^expr") \
    X(MM_MV, "[m,n]@[n]") X(MM_MM, "[m,n]@[n,p]") X(MM_VM, "[n]@[n,p]") X(MM_VV, "[n]@[n]") \
    X(TRANS_M, "matrix'") X(TRANS_V, "vector'") X(TRANS_VAR, "W' (name)") \
    X(IDX_V, "z[i]") X(IDX_NEG, "z[-i]") X(IDX_MIJ, "M[i,j]") X(IDX_MI_J, "M[i][j]") X(IDX_ROW, "M[i]") \
    X(SLICE_V, "z[a:b]") X(SLICE_OPEN, "z[:b], z[a:]") X(SLICE_M, "M[a:b,c:d]") X(SLICE_COL, "M[:,j]") \
    X(SLICE_ROWPART, "M[i,c:d]") X(SLICE_COLPART, "M[a:b,j]") X(IDX_EXPR, "(expr)[…]") \
    X(TANH, "tanh") X(SIGMOID, "sigmoid") X(RELU, "relu") X(SOFTPLUS, "softplus") X(EXP, "exp") \
    X(LOG, "log") X(SIN, "sin") X(COS, "cos") X(SQRT, "sqrt") X(ABS, "abs") X(SUM, "sum") \
    X(MEAN, "mean") X(DOT, "dot") X(OUTER, "outer") X(CONCAT, "concat") \
    X(TIME, "t") X(NUMBER, "number") X(CONST_S, "const scalar") X(CONST_A, "const array") \
    X(LIT_V, "[1, 2] inline") X(LIT_M, "[[1, 2], …] inline") \
    X(STATE_S, "state scalar") X(STATE_V, "state vector") X(STATE_M, "state matrix") \
    X(PARAM_S, "param scalar") X(PARAM_V, "param vector") X(PARAM_M, "param matrix") \
    X(LET, "let") X(DIM1, "dimension 1") X(DIM_BIG, "dimension 5-7") \
    X(UPLUS, "unary +") X(SELF, "x op x") X(CHAIN, "f(g(h(…)))") X(POW_01, "x^0, x^1, x^4") \
    X(NUMSPELL, "57e-2, .5") X(SLICE_NEGHI, "z[a:-k]") X(TRANS_IDX, "W'[…]") X(REDUCE_S, "sum(scalar)") X(LOSS, "custom loss") X(Z0, "state with z0") \
    X(INPUT, "input") X(DDT, "ddt(input)")

enum {
#define X(id, s) F_##id,
    FEATURES(X)
#undef X
    F_COUNT
};
static const char *const feature_names[] = {
#define X(id, s) s,
    FEATURES(X)
#undef X
};
static long coverage[F_COUNT];

/* ---- the generator ------------------------------------------------------ */

typedef struct Sh { int r, m, n; } Sh; /* rank; vector [m]; matrix [m, n] */

static Sh S0(void) { return (Sh){0, 1, 1}; }
static Sh S1(int m) { return (Sh){1, m, 1}; }
static Sh S2(int m, int n) { return (Sh){2, m, n}; }
static bool sh_eq(Sh a, Sh b) { return a.r == b.r && (a.r < 1 || a.m == b.m) && (a.r < 2 || a.n == b.n); }
static int sh_size(Sh s) { return s.r == 0 ? 1 : s.r == 1 ? s.m : s.m * s.n; }

typedef enum { V_STATE, V_PARAM, V_CONST, V_LET, V_LOSSARG, V_INPUT, V_DDT } VarKind;
typedef struct Var { const char *name; Sh s; double b; VarKind k; } Var;

typedef struct Ex { const char *s; double b; } Ex; /* text, |value| bound estimate */

enum { MAX_VARS = 128, MAX_STATES = 30, MAX_INPUTS = 3 };

typedef struct Gen {
    Rng r;
    Arena *a;
    Var v[MAX_VARS];
    int nv;
    bool in_loss; /* only pred, obs and consts are visible, no t */
} Gen;

/* A model's source in parts, so a failing equation can be written alone. */
typedef struct ModelSrc {
    const char *head;               /* model, params, consts, states, lets */
    const char *state[MAX_STATES];  /* names */
    const char *eq[MAX_STATES];     /* right-hand sides */
    int nstates;
    const char *loss;               /* the loss line, or "" */
    int ninputs;                    /* w0, w1, …: inputs (every fourth model) */
    const char *input_decl[MAX_INPUTS], *twin_decl[MAX_INPUTS]; /* `input w0…` and the twin's `state w0…, w0d…` */
} ModelSrc;

static const char *P(Gen *g, const char *fmt, ...) {
    Buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    char *s = arena_strndup(g->a, b.s, b.len);
    buf_free(&b);
    return s;
}

/* Mostly 2–4; 1 for the degenerate case; 5–7 for the emitter's loops
 * (it unrolls sums of up to 4 terms). */
static int dim(Gen *g) {
    double x = rnd(&g->r);
    int d = x < 0.07 ? 1 : x < 0.17 ? irange(&g->r, 5, 7) : irange(&g->r, 2, 4);
    if (d == 1) coverage[F_DIM1]++;
    if (d > 4) coverage[F_DIM_BIG]++;
    return d;
}

static Sh rand_shape(Gen *g, int w0, int w1, int w2) {
    int x = irand(&g->r, w0 + w1 + w2);
    if (x < w0) return S0();
    if (x < w0 + w1) return S1(dim(g));
    return S2(dim(g), dim(g));
}

/* A number in [-2, 2], written with at most two decimals; negative ones in
 * parentheses when used inside an expression. */
static double rnum(Gen *g) {
    double v = round(uni(&g->r, -2, 2) * 100) / 100;
    return v == 0 ? 0.5 : v;
}
static const char *num_str(Gen *g, double v, bool paren) {
    const char *t = P(g, "%g", v);
    double x = rnd(&g->r);
    if (x < 0.05) t = P(g, "%de-2", (int)lround(v * 100)), coverage[F_NUMSPELL]++;
    else if (x < 0.1 && v > 0 && v < 1) t = P(g, ".%02d", (int)lround(v * 100)), coverage[F_NUMSPELL]++;
    return v < 0 && paren ? P(g, "(%s)", t) : t;
}

static const char *lit_vec(Gen *g, int n, double *b) {
    Buf x = {0};
    buf_putc(&x, '[');
    for (int i = 0; i < n; i++) {
        double v = rnum(g);
        if (fabs(v) > *b) *b = fabs(v);
        buf_printf(&x, "%s%g", i ? ", " : "", v);
    }
    buf_putc(&x, ']');
    const char *s = P(g, "%s", x.s);
    buf_free(&x);
    return s;
}

static const char *lit_mat(Gen *g, int m, int n, double *b) {
    Buf x = {0};
    buf_putc(&x, '[');
    for (int i = 0; i < m; i++) buf_printf(&x, "%s%s", i ? ", " : "", lit_vec(g, n, b));
    buf_putc(&x, ']');
    const char *s = P(g, "%s", x.s);
    buf_free(&x);
    return s;
}

static void cover_var(Var *v) {
    static const int f[3][3] = {{F_STATE_S, F_STATE_V, F_STATE_M}, {F_PARAM_S, F_PARAM_V, F_PARAM_M}};
    if (v->k == V_STATE || v->k == V_PARAM) coverage[f[v->k][v->s.r]]++;
    if (v->k == V_CONST) coverage[v->s.r ? F_CONST_A : F_CONST_S]++;
    if (v->k == V_LET) coverage[F_LET]++;
    if (v->k == V_INPUT) coverage[F_INPUT]++;
    if (v->k == V_DDT) coverage[F_DDT]++;
}

/* Picks a variable for which ok(v, s) holds, or NULL. */
static Var *pick_var(Gen *g, Sh s, bool (*ok)(Var *, Sh)) {
    Var *c[MAX_VARS];
    int n = 0;
    for (int i = 0; i < g->nv; i++)
        if (ok(&g->v[i], s)) c[n++] = &g->v[i];
    return n ? c[irand(&g->r, n)] : NULL;
}

static bool exact(Var *v, Sh s) { return sh_eq(v->s, s); }
static bool longer_vec(Var *v, Sh s) { return v->s.r == 1 && v->s.m > s.m; }
static bool any_vec(Var *v, Sh s) { return (void)s, v->s.r == 1; }
static bool any_mat(Var *v, Sh s) { return (void)s, v->s.r == 2; }
static bool mat_cols(Var *v, Sh s) { return v->s.r == 2 && v->s.n == s.m; }       /* row M[i] is [n] */
static bool mat_rows(Var *v, Sh s) { return v->s.r == 2 && v->s.m == s.m; }       /* column M[:, j] */
static bool mat_wide(Var *v, Sh s) { return v->s.r == 2 && v->s.n > s.m; }        /* M[i, c:d] */
static bool mat_tall(Var *v, Sh s) { return v->s.r == 2 && v->s.m > s.m; }        /* M[a:b, j] */
static bool mat_trans(Var *v, Sh s) { return v->s.r == 2 && v->s.m == s.n && v->s.n == s.m; }
static bool mat_big_t(Var *v, Sh s) { return v->s.r == 2 && v->s.n >= s.m && v->s.m >= s.n; }
static bool mat_big(Var *v, Sh s) {
    return v->s.r == 2 && v->s.m >= s.m && v->s.n >= s.n && (v->s.m > s.m || v->s.n > s.n);
}

/* lo:hi of length n in a dimension of size L, in one of its spellings. */
static const char *range_str(Gen *g, int L, int n) {
    int lo = irand(&g->r, L - n + 1), hi = lo + n;
    if (n == L && chance(&g->r, 0.5)) return coverage[F_SLICE_OPEN]++, ":";
    if (lo == 0 && chance(&g->r, 0.5)) return coverage[F_SLICE_OPEN]++, P(g, ":%d", hi);
    if (hi == L && chance(&g->r, 0.5)) {
        coverage[F_SLICE_OPEN]++;
        return chance(&g->r, 0.5) ? P(g, "%d:", lo) : P(g, "-%d:", n);
    }
    if (hi < L && chance(&g->r, 0.2)) return coverage[F_SLICE_NEGHI]++, P(g, "%d:-%d", lo, L - hi);
    return P(g, "%d:%d", lo, hi);
}

static const char *index_str(Gen *g, int L) {
    int i = irand(&g->r, L);
    if (chance(&g->r, 0.2)) return coverage[F_IDX_NEG]++, P(g, "-%d", L - i);
    return P(g, "%d", i);
}

/* A leaf of shape s: a name, a piece of one, a number, t, a literal. */
static Ex leaf(Gen *g, Sh s) {
    for (;;) {
        int k = irand(&g->r, 8);
        Var *v;
        if (k < 3) { /* the name itself: most often */
            if (!(v = pick_var(g, s, exact))) continue;
            cover_var(v);
            return (Ex){v->name, v->b};
        }
        if (s.r == 0) {
            switch (k) {
            case 3:
                coverage[F_NUMBER]++;
                double x = rnum(g);
                return (Ex){num_str(g, x, true), fabs(x)};
            case 4:
                if (g->in_loss) continue;
                coverage[F_TIME]++;
                return (Ex){"t", 1};
            case 5:
                if (!(v = pick_var(g, s, any_vec))) continue;
                cover_var(v), coverage[F_IDX_V]++;
                return (Ex){P(g, "%s[%s]", v->name, index_str(g, v->s.m)), v->b};
            case 6:
            case 7:
                if (!(v = pick_var(g, s, any_mat))) continue;
                cover_var(v);
                if (chance(&g->r, 0.15))
                    return coverage[F_TRANS_IDX]++,
                           (Ex){P(g, "%s'[%s, %s]", v->name, index_str(g, v->s.n), index_str(g, v->s.m)), v->b};
                if (chance(&g->r, 0.3))
                    return coverage[F_IDX_MI_J]++,
                           (Ex){P(g, "%s[%s][%s]", v->name, index_str(g, v->s.m), index_str(g, v->s.n)), v->b};
                coverage[F_IDX_MIJ]++;
                return (Ex){P(g, "%s[%s, %s]", v->name, index_str(g, v->s.m), index_str(g, v->s.n)), v->b};
            }
        } else if (s.r == 1) {
            switch (k) {
            case 3:
                if (!(v = pick_var(g, s, longer_vec))) continue;
                cover_var(v), coverage[F_SLICE_V]++;
                return (Ex){P(g, "%s[%s]", v->name, range_str(g, v->s.m, s.m)), v->b};
            case 4:
                if (!(v = pick_var(g, s, mat_cols))) continue;
                cover_var(v), coverage[F_IDX_ROW]++;
                return (Ex){P(g, chance(&g->r, 0.5) ? "%s[%s]" : "%s[%s, :]", v->name, index_str(g, v->s.m)), v->b};
            case 5:
                if (!(v = pick_var(g, s, mat_rows))) continue;
                cover_var(v), coverage[F_SLICE_COL]++;
                return (Ex){P(g, "%s[:, %s]", v->name, index_str(g, v->s.n)), v->b};
            case 6:
                if (chance(&g->r, 0.5)) {
                    if (!(v = pick_var(g, s, mat_wide))) continue;
                    cover_var(v), coverage[F_SLICE_ROWPART]++;
                    return (Ex){P(g, "%s[%s, %s]", v->name, index_str(g, v->s.m), range_str(g, v->s.n, s.m)), v->b};
                }
                if (!(v = pick_var(g, s, mat_tall))) continue;
                cover_var(v), coverage[F_SLICE_COLPART]++;
                return (Ex){P(g, "%s[%s, %s]", v->name, range_str(g, v->s.m, s.m), index_str(g, v->s.n)), v->b};
            case 7: {
                if (!chance(&g->r, 0.3)) continue;
                coverage[F_LIT_V]++;
                double b = 0;
                const char *t = lit_vec(g, s.m, &b);
                return (Ex){t, b};
            }
            }
        } else {
            switch (k) {
            case 3:
                if (!(v = pick_var(g, s, mat_big_t))) continue;
                cover_var(v), coverage[F_TRANS_IDX]++;
                return (Ex){P(g, "%s'[%s, %s]", v->name, range_str(g, v->s.n, s.m), range_str(g, v->s.m, s.n)), v->b};
            case 4:
                if (!(v = pick_var(g, s, mat_trans))) continue;
                cover_var(v), coverage[F_TRANS_VAR]++;
                return (Ex){P(g, "%s'", v->name), v->b};
            case 5:
            case 6:
                if (!(v = pick_var(g, s, mat_big))) continue;
                cover_var(v), coverage[F_SLICE_M]++;
                return (Ex){P(g, "%s[%s, %s]", v->name, range_str(g, v->s.m, s.m), range_str(g, v->s.n, s.n)), v->b};
            case 7: {
                if (!chance(&g->r, 0.3)) continue;
                coverage[F_LIT_M]++;
                double b = 0;
                const char *t = lit_mat(g, s.m, s.n, &b);
                return (Ex){t, b};
            }
            }
        }
    }
}

static Ex gen(Gen *g, Sh s, int d);

static Ex fn(Gen *g, int f, const char *name, Ex x, double b) {
    coverage[f]++;
    return (Ex){P(g, "%s(%s)", name, x.s), b};
}

/* |value| <= 1. */
static Ex bounded(Gen *g, Sh s, int d) {
    Ex x = gen(g, s, d);
    switch (irand(&g->r, 4)) {
    case 0: return fn(g, F_TANH, "tanh", x, 1);
    case 1: return fn(g, F_SIN, "sin", x, 1);
    case 2: return fn(g, F_COS, "cos", x, 1);
    default: return fn(g, F_SIGMOID, "sigmoid", x, 1);
    }
}

static Ex squash(Gen *g, Ex x, double limit) {
    if (x.b <= limit) return x;
    switch (irand(&g->r, 3)) {
    case 0: return fn(g, F_TANH, "tanh", x, 1);
    case 1: return fn(g, F_SIN, "sin", x, 1);
    default: return fn(g, F_COS, "cos", x, 1);
    }
}

/* Positive, at least 0.2 everywhere: for log, sqrt, divisors and bases.
 * `lo` receives a lower bound. */
static Ex positive(Gen *g, Sh s, int d, double *lo) {
    for (;;) {
        Ex x;
        switch (irand(&g->r, 8)) {
        case 0:
            x = squash(g, gen(g, s, d - 1), 3);
            coverage[F_POW_INT]++, coverage[F_ADD]++;
            *lo = 1;
            return (Ex){P(g, "(1 + (%s)^2)", x.s), 1 + x.b * x.b};
        case 1:
            x = gen(g, s, d - 1);
            if (x.b > 2) x = bounded(g, s, d - 1);
            *lo = exp(-x.b);
            return fn(g, F_EXP, "exp", x, exp(x.b));
        case 2:
            *lo = 0.31;
            return fn(g, F_SOFTPLUS, "softplus", bounded(g, s, d - 1), 1.32);
        case 3:
            x = gen(g, s, d - 1);
            coverage[F_ADD]++;
            *lo = 1;
            if (chance(&g->r, 0.5)) return coverage[F_SIN]++, (Ex){P(g, "(2 + sin(%s))", x.s), 3};
            return coverage[F_COS]++, (Ex){P(g, "(2 + cos(%s))", x.s), 3};
        case 4:
            x = gen(g, s, d - 1);
            coverage[F_ADD]++, coverage[F_SIGMOID]++;
            *lo = 1;
            return (Ex){P(g, "(1 + sigmoid(%s))", x.s), 2};
        case 5:
            x = gen(g, s, d - 1);
            coverage[F_ADD]++, coverage[F_ABS]++;
            *lo = 1;
            return (Ex){P(g, "(1 + abs(%s))", x.s), 1 + x.b};
        case 6: { /* a state: z is drawn from [0.2, 1.2]; pred and obs too */
            Var *v = pick_var(g, s, exact);
            if (!v || (v->k != V_STATE && v->k != V_LOSSARG)) continue;
            cover_var(v);
            *lo = 0.2;
            return (Ex){v->name, v->b};
        }
        case 7:
            if (d < 2) continue;
            x = positive(g, s, d - 1, lo);
            *lo = sqrt(*lo);
            return fn(g, F_SQRT, "sqrt", x, sqrt(x.b));
        }
    }
}

static const char *const matmul_fmt = "(%s @ %s)";

/* One random production of shape s; false when it does not fit s. */
static bool production(Gen *g, Sh s, int d, Ex *out) {
    Rng *r = &g->r;
    Ex x, y;
    double lo;
    switch (irand(r, 14)) {
    case 12: { /* one subexpression twice: hash-consing and x−x, x·x, x/x rules */
        x = gen(g, s, d - 1);
        coverage[F_SELF]++;
        switch (irand(r, 5)) {
        case 0: coverage[F_SUB]++, *out = (Ex){P(g, "(%s - %s)", x.s, x.s), 0}; return true;
        case 1: coverage[F_ADD]++, *out = (Ex){P(g, "(%s + %s)", x.s, x.s), 2 * x.b}; return true;
        case 2: coverage[F_MUL]++, *out = (Ex){P(g, "(%s * %s)", x.s, x.s), x.b * x.b}; return true;
        case 3: coverage[F_ADD]++, *out = (Ex){P(g, "(%s + -(%s))", x.s, x.s), 0}; return true;
        default:
            y = positive(g, s, d, &lo);
            coverage[F_DIV]++;
            *out = (Ex){P(g, "(%s / %s)", y.s, y.s), 1};
            return true;
        }
    }
    case 13: { /* a chain of smooth functions */
        static const char *const f[] = {"tanh", "sin", "cos", "sigmoid", "softplus", "-"};
        static const int fe[] = {F_TANH, F_SIN, F_COS, F_SIGMOID, F_SOFTPLUS, F_NEG};
        x = gen(g, s, d - 2);
        int n = irange(r, 3, 6);
        for (int i = 0; i < n; i++) {
            int k = irand(r, 6);
            coverage[fe[k]]++;
            x = (Ex){P(g, "%s(%s)", f[k], x.s), k == 4 ? x.b + 0.7 : k == 5 ? x.b : 1};
        }
        coverage[F_CHAIN]++;
        *out = x;
        return true;
    }
    case 0:
    case 1: { /* + - *, possibly broadcasting a scalar */
        int op = irand(r, 3);
        bool bc = s.r > 0 && chance(r, 0.3);
        bool left = chance(r, 0.5);
        x = gen(g, bc && left ? S0() : s, d - 1);
        y = gen(g, bc && !left ? S0() : s, d - 1);
        if (bc) coverage[F_BCAST]++;
        coverage[op == 0 ? F_ADD : op == 1 ? F_SUB : F_MUL]++;
        *out = (Ex){P(g, "(%s %c %s)", x.s, "+-*"[op], y.s), op < 2 ? x.b + y.b : x.b * y.b};
        return true;
    }
    case 2: { /* division by something at least 0.2: s/s, number/s, scalar/s, s/scalar */
        int form = irand(r, s.r ? 4 : 2);
        if (form == 1) {
            double v = rnum(g);
            x = (Ex){num_str(g, v, true), fabs(v)};
            coverage[F_NUMBER]++;
        } else {
            x = gen(g, form == 2 ? S0() : s, d - 1);
        }
        y = positive(g, form == 3 ? S0() : s, d, &lo);
        if (form >= 2) coverage[F_BCAST]++;
        coverage[F_DIV]++;
        *out = (Ex){P(g, "(%s / %s)", x.s, y.s), x.b / lo};
        return true;
    }
    case 3: /* powers */
        switch (irand(r, 4)) {
        case 0:
            x = squash(g, gen(g, s, d - 1), 2.5);
            coverage[F_POW_INT]++;
            if (chance(r, 0.15)) {
                int k = (int[]){0, 1, 4}[irand(r, 3)];
                coverage[F_POW_01]++;
                *out = (Ex){P(g, "(%s)^%d", x.s, k), k == 0 ? 1 : pow(x.b, k)};
            } else if (chance(r, 0.6)) *out = (Ex){P(g, "(%s)^2", x.s), x.b * x.b};
            else *out = (Ex){P(g, "(%s)^3", x.s), x.b * x.b * x.b};
            return true;
        case 1: {
            static const double e[] = {0.5, 1.5, -0.5, -1, -2, 2.5};
            double k = e[irand(r, 6)];
            x = positive(g, s, d, &lo);
            coverage[F_POW_REAL]++;
            *out = (Ex){P(g, k < 0 ? "(%s)^(%g)" : "(%s)^%g", x.s, k), k < 0 ? pow(lo, k) : pow(x.b, k)};
            return true;
        }
        case 2: { /* one side may be a scalar */
            int form = s.r ? irand(r, 3) : 0;
            x = positive(g, form == 1 ? S0() : s, d, &lo);
            y = bounded(g, form == 2 ? S0() : s, d - 1);
            if (form) coverage[F_BCAST]++;
            coverage[F_POW_VAR]++;
            double m = fmax(x.b, 1 / lo);
            *out = (Ex){P(g, "(%s)^(%s)", x.s, y.s), m};
            return true;
        }
        default:
            y = bounded(g, s, d - 1);
            coverage[F_POW_NUMBASE]++;
            *out = (Ex){P(g, "2^(%s)", y.s), 2};
            return true;
        }
    case 4:
        x = gen(g, s, d - 1);
        if (chance(r, 0.15)) return coverage[F_UPLUS]++, *out = (Ex){P(g, "+(%s)", x.s), x.b}, true;
        coverage[F_NEG]++;
        *out = (Ex){P(g, "-(%s)", x.s), x.b};
        return true;
    case 5:
    case 6: { /* elementwise functions */
        int k = irand(r, 10);
        switch (k) {
        case 0: *out = fn(g, F_TANH, "tanh", gen(g, s, d - 1), 1); return true;
        case 1: *out = fn(g, F_SIGMOID, "sigmoid", gen(g, s, d - 1), 1); return true;
        case 2: x = gen(g, s, d - 1), *out = fn(g, F_RELU, "relu", x, x.b); return true;
        case 3: x = gen(g, s, d - 1), *out = fn(g, F_SOFTPLUS, "softplus", x, x.b + 0.7); return true;
        case 4: *out = fn(g, F_SIN, "sin", gen(g, s, d - 1), 1); return true;
        case 5: *out = fn(g, F_COS, "cos", gen(g, s, d - 1), 1); return true;
        case 6: x = gen(g, s, d - 1), *out = fn(g, F_ABS, "abs", x, x.b); return true;
        case 7:
            x = squash(g, gen(g, s, d - 1), 2);
            *out = fn(g, F_EXP, "exp", x, exp(x.b));
            return true;
        case 8:
            x = positive(g, s, d, &lo);
            *out = fn(g, F_LOG, "log", x, fmax(fabs(log(lo)), log(x.b)) + 0.1);
            return true;
        default:
            x = positive(g, s, d, &lo);
            *out = fn(g, F_SQRT, "sqrt", x, sqrt(x.b));
            return true;
        }
    }
    case 7: { /* matrix products */
        int k = dim(g);
        if (s.r == 0) {
            x = gen(g, S1(k), d - 1), y = gen(g, S1(k), d - 1);
            coverage[F_MM_VV]++;
        } else if (s.r == 1 && chance(r, 0.5)) {
            x = gen(g, S2(s.m, k), d - 1), y = gen(g, S1(k), d - 1);
            coverage[F_MM_MV]++;
        } else if (s.r == 1) {
            x = gen(g, S1(k), d - 1), y = gen(g, S2(k, s.m), d - 1);
            coverage[F_MM_VM]++;
        } else {
            x = gen(g, S2(s.m, k), d - 1), y = gen(g, S2(k, s.n), d - 1);
            coverage[F_MM_MM]++;
        }
        *out = (Ex){P(g, matmul_fmt, x.s, y.s), k * x.b * y.b};
        return true;
    }
    case 8: /* transpose */
        if (s.r == 0) return false;
        if (s.r == 1) {
            if (!chance(r, 0.3)) return false;
            x = gen(g, s, d - 1);
            coverage[F_TRANS_V]++;
        } else {
            x = gen(g, S2(s.n, s.m), d - 1);
            coverage[F_TRANS_M]++;
        }
        *out = (Ex){P(g, "(%s)'", x.s), x.b};
        return true;
    case 9: /* indexing and slicing a computed value */
        coverage[F_IDX_EXPR]++;
        if (s.r == 0) {
            if (chance(r, 0.5)) {
                int L = dim(g);
                x = gen(g, S1(L), d - 1);
                coverage[F_IDX_V]++;
                *out = (Ex){P(g, "(%s)[%s]", x.s, index_str(g, L)), x.b};
            } else {
                int m = dim(g), n = dim(g);
                x = gen(g, S2(m, n), d - 1);
                coverage[F_IDX_MIJ]++;
                *out = (Ex){P(g, "(%s)[%s, %s]", x.s, index_str(g, m), index_str(g, n)), x.b};
            }
        } else if (s.r == 1) {
            int L = s.m + irange(r, 0, 2);
            switch (irand(r, 3)) {
            case 0:
                x = gen(g, S1(L), d - 1);
                coverage[F_SLICE_V]++;
                *out = (Ex){P(g, "(%s)[%s]", x.s, range_str(g, L, s.m)), x.b};
                break;
            case 1:
                x = gen(g, S2(L, s.m), d - 1);
                coverage[F_IDX_ROW]++;
                *out = (Ex){P(g, "(%s)[%s]", x.s, index_str(g, L)), x.b};
                break;
            default:
                x = gen(g, S2(s.m, L), d - 1);
                coverage[F_SLICE_COL]++;
                *out = (Ex){P(g, "(%s)[:, %s]", x.s, index_str(g, L)), x.b};
                break;
            }
        } else {
            int M = s.m + irange(r, 0, 1), N = s.n + irange(r, 0, 1);
            x = gen(g, S2(M, N), d - 1);
            coverage[F_SLICE_M]++;
            *out = (Ex){P(g, "(%s)[%s, %s]", x.s, range_str(g, M, s.m), range_str(g, N, s.n)), x.b};
        }
        return true;
    case 10: /* reductions to a scalar; outer products to a matrix */
        if (s.r == 0) {
            switch (irand(r, 3)) {
            case 0: {
                Sh t = rand_shape(g, 1, 4, 2);
                if (t.r == 0) coverage[F_REDUCE_S]++;
                x = gen(g, t, d - 1);
                *out = fn(g, F_SUM, "sum", x, x.b * sh_size(t));
                return true;
            }
            case 1: x = gen(g, rand_shape(g, 1, 4, 2), d - 1), *out = fn(g, F_MEAN, "mean", x, x.b); return true;
            default: {
                int k = dim(g);
                x = gen(g, S1(k), d - 1), y = gen(g, S1(k), d - 1);
                coverage[F_DOT]++;
                *out = (Ex){P(g, "dot(%s, %s)", x.s, y.s), k * x.b * y.b};
                return true;
            }
            }
        }
        if (s.r == 2) {
            x = gen(g, S1(s.m), d - 1), y = gen(g, S1(s.n), d - 1);
            coverage[F_OUTER]++;
            *out = (Ex){P(g, "outer(%s, %s)", x.s, y.s), x.b * y.b};
            return true;
        }
        return false;
    case 11: { /* concat of scalars and vectors */
        if (s.r != 1) return false;
        Buf b = {0};
        double bd = 0;
        int left = s.m, parts = 0;
        while (left > 0) {
            int n = irange(r, 1, left);
            Ex p = gen(g, n == 1 && chance(r, 0.5) ? S0() : S1(n), d - 1);
            buf_printf(&b, "%s%s", parts++ ? ", " : "", p.s);
            bd = fmax(bd, p.b);
            left -= n;
        }
        coverage[F_CONCAT]++;
        *out = (Ex){P(g, "concat(%s)", b.s), bd};
        buf_free(&b);
        return true;
    }
    }
    return false;
}

static Ex gen(Gen *g, Sh s, int d) {
    if (d <= 0 || chance(&g->r, 0.12)) return leaf(g, s);
    Ex e;
    while (!production(g, s, d, &e)) {
    }
    return squash(g, e, 6);
}

/* ---- models ------------------------------------------------------------- */

static Var *add_var(Gen *g, const char *name, Sh s, double b, VarKind k) {
    if (g->nv == MAX_VARS) ice("property: too many variables");
    g->v[g->nv] = (Var){name, s, b, k};
    return &g->v[g->nv++];
}

static const char *dims_str(Gen *g, Sh s) {
    return s.r == 0 ? "" : s.r == 1 ? P(g, "[%d]", s.m) : P(g, "[%d, %d]", s.m, s.n);
}

/* A parameter's initializer and a bound on its values (check.c perturbs θ
 * by 10% and 0.01). */
static const char *param_init(Gen *g, Sh s, double *b) {
    switch (irand(&g->r, s.r == 2 ? 6 : 5)) {
    case 0: *b = 1.1; return " = uniform(-1, 1)";
    case 1: *b = 2; return " = normal(0, 0.5)";
    case 2: *b = 1.1; return " = ones";
    case 3: *b = 0.02; return ""; /* zeros */
    case 4: {
        double x = 0;
        const char *t = s.r == 0 ? num_str(g, x = rnum(g), false) : s.r == 1 ? lit_vec(g, s.m, &x) : lit_mat(g, s.m, s.n, &x);
        *b = fabs(x) * 1.1 + 0.01;
        return P(g, " = %s", t);
    }
    default: *b = 1.9; return " = glorot";
    }
}

static void gen_model(unsigned long long seed, int idx, Arena *a, ModelSrc *ms) {
    Gen *g = calloc(1, sizeof *g);
    g->r.s = seed * 0x9E3779B97F4A7C15ull + (unsigned long long)idx * 0xD1B54A32D192ED03ull + 1;
    g->a = a;
    Buf h = {0};
    buf_printf(&h, "# nodec property test: model %d of seed %llu\nmodel pm%d\n\n", idx, seed, idx);
    /* parameters: one 7-vector and one 7×7 matrix so that every shape
     * can be sliced from something, then random ones */
    int np = 0;
    for (int i = 0; i < 9; i++) {
        Sh s = i == 0 ? S1(7) : i == 1 ? S2(7, 7) : rand_shape(g, 1, 1, 1);
        double b;
        const char *init = param_init(g, s, &b);
        const char *name = P(g, "p%d", np++);
        if (s.r == 0 && !*init && chance(&g->r, 0.5)) { /* `param a, b`: one declaration */
            const char *name2 = P(g, "p%d", np++);
            buf_printf(&h, "param %s, %s\n", name, name2);
            add_var(g, name2, s, b, V_PARAM);
        } else {
            buf_printf(&h, "param %s%s%s\n", name, dims_str(g, s), init);
        }
        add_var(g, name, s, b, V_PARAM);
    }
    /* constants: scalar, vector, matrix */
    for (int i = 0; i < 3; i++) {
        Sh s = i == 0 ? S0() : i == 1 ? S1(dim(g)) : S2(dim(g), dim(g));
        double b = 0;
        const char *v = s.r == 0 ? num_str(g, b = rnum(g), false) : s.r == 1 ? lit_vec(g, s.m, &b) : lit_mat(g, s.m, s.n, &b);
        const char *name = P(g, "c%d", i);
        buf_printf(&h, "const %s = %s\n", name, v);
        add_var(g, name, s, fabs(b), V_CONST);
    }
    /* states */
    ms->nstates = irange(&g->r, 20, MAX_STATES);
    Sh shapes[MAX_STATES];
    for (int i = 0; i < ms->nstates; i++) {
        Sh s = shapes[i] = rand_shape(g, 3, 4, 3);
        const char *name = ms->state[i] = P(g, "z%d", i);
        if (chance(&g->r, 0.1)) {
            double b = 0;
            const char *v = s.r == 0 ? num_str(g, rnum(g), false) : s.r == 1 ? lit_vec(g, s.m, &b) : lit_mat(g, s.m, s.n, &b);
            buf_printf(&h, "state %s%s = %s\n", name, s.r == 0 ? "" : dims_str(g, s), v);
            coverage[F_Z0]++;
        } else if (s.r == 0 && i + 1 < ms->nstates && chance(&g->r, 0.3)) {
            shapes[i + 1] = S0();
            ms->state[i + 1] = P(g, "z%d", i + 1);
            buf_printf(&h, "state %s, %s\n", name, ms->state[i + 1]);
            add_var(g, name, s, 1.2, V_STATE);
            name = ms->state[++i];
        } else {
            buf_printf(&h, "state %s%s\n", name, dims_str(g, s));
        }
        add_var(g, name, s, 1.2, V_STATE);
    }
    /* inputs, after the states (so the twin's states w0, w0d come after
     * the model's own): values and ddt in [-1, 1] */
    ms->ninputs = 0;
    if (idx % 4 == 3) {
        static const char *const interp[] = {"", " = linear", " = cubic", " = hold"};
        ms->ninputs = irange(&g->r, 1, MAX_INPUTS);
        for (int i = 0; i < ms->ninputs; i++) {
            Sh s = rand_shape(g, 1, 1, 1);
            const char *name = P(g, "w%d", i), *d = dims_str(g, s);
            ms->input_decl[i] = P(g, "input %s%s%s\n", name, d, interp[irand(&g->r, 4)]);
            ms->twin_decl[i] = P(g, "state %s%s, %sd%s\n", name, d, name, d);
            buf_puts(&h, ms->input_decl[i]);
            add_var(g, name, s, 1, V_INPUT);
            add_var(g, P(g, "ddt(%s)", name), s, 1, V_DDT);
        }
    }
    /* lets over everything so far */
    int nlets = irange(&g->r, 3, 6);
    buf_puts(&h, "\n");
    for (int i = 0; i < nlets; i++) {
        Sh s = rand_shape(g, 1, 1, 1);
        Ex e = gen(g, s, irange(&g->r, 1, 3));
        const char *name = P(g, "l%d", i);
        buf_printf(&h, "let %s = %s\n", name, e.s);
        add_var(g, name, s, e.b, V_LET);
    }
    ms->head = P(g, "%s", h.s);
    buf_free(&h);
    /* one equation per state */
    for (int i = 0; i < ms->nstates; i++) {
        Sh s = shapes[i];
        if (s.r > 0 && chance(&g->r, 0.05)) s = S0(), coverage[F_BCAST_EQ]++;
        ms->eq[i] = gen(g, s, chance(&g->r, 0.2) ? 4 : irange(&g->r, 2, 3)).s; /* C size ~ compile time */
    }
    /* a custom loss in some models: pred, obs and constants only */
    ms->loss = "";
    if (!ms->ninputs && chance(&g->r, 0.4)) { /* (the twin's pred would be longer) */
        int n = 0;
        for (int i = 0; i < ms->nstates; i++) n += sh_size(shapes[i]);
        int keep = 0;
        for (int i = 0; i < g->nv; i++)
            if (g->v[i].k == V_CONST) g->v[keep++] = g->v[i];
        g->nv = keep;
        add_var(g, "pred", S1(n), 1.2, V_LOSSARG);
        add_var(g, "obs", S1(n), 1.2, V_LOSSARG);
        g->in_loss = true;
        coverage[F_LOSS]++;
        ms->loss = P(g, "loss(pred, obs) = %s\n", gen(g, S0(), irange(&g->r, 2, 3)).s);
    }
    free(g);
}

/* The model's text; with only >= 0, the other equations are 0, for a
 * reproducer of one expression. */
static char *model_text(const ModelSrc *ms, int only) {
    Buf b = {0};
    buf_puts(&b, ms->head);
    buf_puts(&b, "\n");
    for (int i = 0; i < ms->nstates; i++)
        buf_printf(&b, "d%s/dt = %s\n", ms->state[i], only < 0 || only == i ? ms->eq[i] : "0");
    if (*ms->loss) buf_printf(&b, "\n%s", ms->loss);
    return buf_take(&b);
}

/* Replaces every `from` in s (allocated) by `to`; returns the new text. */
static char *replace_all(char *s, const char *from, const char *to) {
    Buf b = {0};
    size_t n = strlen(from);
    for (const char *p = s, *q; *p; p = q + n) {
        if (!(q = strstr(p, from))) {
            buf_puts(&b, p);
            break;
        }
        buf_printf(&b, "%.*s%s", (int)(q - p), p, to);
    }
    free(s);
    return buf_take(&b);
}

/* The twin of a model with inputs (part 3 above): model pmNt, each input a
 * state w and ddt(w) a state wd, both with equation 0. */
static char *twin_text(const ModelSrc *ms, int idx) {
    char *s = model_text(ms, -1), from[64], to[64];
    snprintf(from, sizeof from, "model pm%d\n", idx), snprintf(to, sizeof to, "model pm%dt\n", idx);
    s = replace_all(s, from, to);
    for (int i = 0; i < ms->ninputs; i++) {
        s = replace_all(s, ms->input_decl[i], ms->twin_decl[i]);
        snprintf(from, sizeof from, "ddt(w%d)", i), snprintf(to, sizeof to, "w%dd", i);
        s = replace_all(s, from, to);
        snprintf(to, sizeof to, "dw%d/dt = 0\ndw%dd/dt = 0\n", i, i);
        s = strcat(realloc(s, strlen(s) + strlen(to) + 1), to);
    }
    return s;
}

static long env_long(const char *name, long dflt) {
    const char *s = getenv(name);
    return s && *s ? strtol(s, NULL, 10) : dflt;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- checking one model (in a child process) ---------------------------- */

enum { POINTS = 3 };
static const double EXPR_TOL = 1e-6, CHECK_TOL = 1e-5, INPUT_TOL = 1e-10;

/* max|g − fd| over max(‖g‖∞, ‖fd‖∞, 1e-3).  The floor: a difference
 * carries roundoff of about ε|f|/h ≈ 1e-12·|f|, up to 1e-10 here, so
 * gradients below 1e-3 (an expression that does not depend on a
 * coordinate, or barely) are compared absolutely, to 1e-3·tol. */
static double relerr(const double *g, const double *fd, int n, int stride_g, int stride_fd) {
    double diff = 0, scale = 0;
    for (int i = 0; i < n; i++) {
        double x = g[i * stride_g], y = fd[i * stride_fd], d = fabs(x - y);
        if (!(d <= diff)) diff = d; /* NaN propagates */
        scale = fmax(scale, fmax(fabs(x), fabs(y)));
    }
    if (isnan(diff)) return INFINITY;
    return diff / fmax(scale, 1e-3);
}

typedef struct Probe {
    const nodec_model *m;
    int ns, np, nc; /* nc = ns + np + 1 coordinates: z, θ, t */
    FILE *log;
    double *z, *th, *th0, t, *work, *f, *J, *Jz, *a, *v, *jv, *az, *ath, *grad, *fd;
} Probe;

static double *coord(Probe *p, int c) { return c < p->ns ? &p->z[c] : c < p->ns + p->np ? &p->th[c - p->ns] : &p->t; }

static bool finite_f(Probe *p) {
    p->m->f(1, p->t, p->z, p->th, p->f, p->work);
    for (int i = 0; i < p->ns; i++)
        if (!isfinite(p->f[i])) return false;
    return true;
}

/* err[k] = the worst relative error of state k's derivatives at one random
 * point; false when f is not finite at any of 50 draws. */
static bool probe_point(Probe *p, Rng *r, double *err) {
    int ns = p->ns, np = p->np, nc = p->nc;
    const nodec_model *m = p->m;
    int tries = 0;
    do {
        for (int i = 0; i < ns; i++) p->z[i] = uni(r, 0.2, 1.2);
        for (int i = 0; i < np; i++) p->th[i] = p->th0[i] * (1 + 0.1 * uni(r, -1, 1)) + 0.01 * uni(r, -1, 1);
        p->t = uni(r, 0, 1);
    } while (!finite_f(p) && ++tries < 50);
    if (tries == 50) return false;
    /* J[i][c] = ∂f_i/∂x_c by the five-point stencil */
    for (int c = 0; c < nc; c++) {
        double *x = coord(p, c), x0 = *x, h = 1e-4 * fmax(1, fabs(x0));
        static const double off[4] = {2, 1, -1, -2}, w[4] = {-1, 8, -8, 1};
        for (int i = 0; i < ns; i++) p->J[i * nc + c] = 0;
        for (int q = 0; q < 4; q++) {
            *x = x0 + off[q] * h;
            m->f(1, p->t, p->z, p->th, p->f, p->work);
            for (int i = 0; i < ns; i++) p->J[i * nc + c] += w[q] * p->f[i];
        }
        *x = x0;
        for (int i = 0; i < ns; i++) p->J[i * nc + c] /= 12 * h;
    }
    for (int i = 0; i < ns; i++) p->v[i] = uni(r, -1, 1);
    m->jvp(1, p->t, p->z, p->th, p->v, p->jv, p->work);
    m->jac_z(p->t, p->z, p->th, p->Jz, p->work);
    for (int k = 0; k < m->n_state_vars; k++) {
        int off = m->state_vars[k].offset, sz = m->state_vars[k].size;
        for (int i = 0; i < ns; i++) p->a[i] = i >= off && i < off + sz ? uni(r, -1, 1) : 0;
        double at = 0;
        m->vjp(1, p->t, p->z, p->th, p->a, p->az, p->ath, &at, p->work);
        /* aᵀ∂f/∂(z, θ, t) */
        memcpy(p->grad, p->az, sizeof(double) * ns);
        memcpy(p->grad + ns, p->ath, sizeof(double) * np);
        p->grad[ns + np] = at;
        for (int c = 0; c < nc; c++) {
            double s = 0;
            for (int i = off; i < off + sz; i++) s += p->a[i] * p->J[i * nc + c];
            p->fd[c] = s;
        }
        double e1 = relerr(p->grad, p->fd, nc, 1, 1);
        /* rows of ∂f/∂z · v */
        for (int i = off; i < off + sz; i++) {
            double s = 0;
            for (int c = 0; c < ns; c++) s += p->J[i * nc + c] * p->v[c];
            p->fd[i - off] = s;
        }
        double e2 = relerr(p->jv + off, p->fd, sz, 1, 1);
        /* rows of jac_z */
        for (int i = off; i < off + sz; i++) {
            for (int c = 0; c < ns; c++) p->fd[(i - off) * ns + c] = p->J[i * nc + c];
        }
        double e3 = relerr(p->Jz + off * ns, p->fd, sz * ns, 1, 1), e = fmax(e1, fmax(e2, e3));
        err[k] = e;
        if (e > EXPR_TOL && p->log) fprintf(p->log, "  z%d at t=%.17g: vjp %.2g, jvp %.2g, jac_z %.2g\n", k, p->t, e1, e2, e3);
    }
    return true;
}

/* Part 3 (the file's comment) at one random point: err[k] = the worst
 * relative difference of state variable k's f, VJP (z, θ, t), JVP and
 * jac_z rows between the input model m and its twin mt. */
static void input_point(const nodec_model *m, const nodec_model *mt, Rng *r, const double *th0, double *err) {
    const nodec_inputs *in = m->inputs;
    int ns = m->n_state, np = m->n_param, nt = mt->n_state, ni = in->n_input;
    double *z = calloc(ns, sizeof(double)), *zt = calloc(nt, sizeof(double)), *u = calloc(3 * ni, sizeof(double));
    double *th = calloc(np + 1, sizeof(double)), *w = calloc(m->work_size + 1, sizeof(double));
    double *wt = calloc(mt->work_size + 1, sizeof(double)), *a = calloc(nt, sizeof(double));
    double *f = calloc(ns, sizeof(double)), *ft = calloc(nt, sizeof(double)), *az = calloc(ns, sizeof(double));
    double *azt = calloc(nt, sizeof(double)), *ath = calloc(np + 1, sizeof(double));
    double *atht = calloc(np + 1, sizeof(double)), *J = calloc((size_t)ns * ns, sizeof(double));
    double *Jt = calloc((size_t)nt * nt, sizeof(double)), *Jts = calloc((size_t)ns * ns, sizeof(double));
    int *at_w = calloc(2 * ni + 1, sizeof(int)); /* where input element i and its ddt are in the twin's z */
    for (int i = 0; i < ns; i++) z[i] = zt[i] = uni(r, 0.2, 1.2);
    for (int i = 0; i < np; i++) th[i] = th0[i] * (1 + 0.1 * uni(r, -1, 1)) + 0.01 * uni(r, -1, 1);
    for (int i = 0; i < 3 * ni; i++) u[i] = uni(r, -1, 1);
    double t = uni(r, 0, 1);
    for (int k = 0; k < in->n_input_vars; k++) {
        const nodec_var *iv = &in->input_vars[k];
        for (int v = 0; v < mt->n_state_vars; v++) {
            const char *name = mt->state_vars[v].name;
            size_t len = strlen(iv->name);
            if (strncmp(name, iv->name, len) || (name[len] && strcmp(name + len, "d"))) continue;
            for (int e = 0; e < iv->size; e++) at_w[(name[len] ? ni : 0) + iv->offset + e] = mt->state_vars[v].offset + e;
        }
    }
    for (int i = 0; i < ni; i++) zt[at_w[i]] = u[i], zt[at_w[ni + i]] = u[ni + i];
    in->f(1, t, z, u, th, f, w), mt->f(1, t, zt, th, ft, wt);
    double ef = relerr(f, ft, ns, 1, 1);
    /* ∂f/∂z · v and jac_z: the twin's with v and the columns of z only */
    for (int i = 0; i < ns; i++) a[i] = uni(r, -1, 1);
    in->jvp(1, t, z, u, th, a, f, w), mt->jvp(1, t, zt, th, a, ft, wt);
    in->jac_z(t, z, u, th, J, w), mt->jac_z(t, zt, th, Jt, wt);
    for (int i = 0; i < ns; i++)
        for (int j = 0; j < ns; j++) Jts[i * ns + j] = Jt[i * nt + j];
    for (int k = 0; k < m->n_state_vars; k++) {
        int off = m->state_vars[k].offset, sz = m->state_vars[k].size;
        double e = fmax(ef, fmax(relerr(f + off, ft + off, sz, 1, 1), relerr(J + off * ns, Jts + off * ns, sz * ns, 1, 1)));
        for (int i = 0; i < nt; i++) a[i] = i >= off && i < off + sz ? uni(r, -1, 1) : 0;
        double at = 0, att = 0;
        in->vjp(1, t, z, u, th, a, az, ath, &at, w), mt->vjp(1, t, zt, th, a, azt, atht, &att, wt);
        for (int i = 0; i < ni; i++) att += azt[at_w[i]] * u[ni + i] + azt[at_w[ni + i]] * u[2 * ni + i];
        e = fmax(e, fmax(relerr(az, azt, ns, 1, 1), relerr(ath, atht, np, 1, 1)));
        err[k] = fmax(e, relerr(&at, &att, 1, 1, 1));
    }
    free(z), free(zt), free(u), free(th), free(w), free(wt), free(a), free(f), free(ft), free(az), free(azt);
    free(ath), free(atht), free(J), free(Jt), free(Jts), free(at_w);
}

typedef struct Outcome {
    int pass, fail;      /* expressions */
    int model_fail;      /* 1 when the model failed as a whole */
    char what[64];       /* what failed as a whole */
} Outcome;

static bool run_cc(char *const argv[], const char *log) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return false;
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return false;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void cat_file(FILE *out, const char *path, long max) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    int ch;
    for (long n = 0; (ch = getc(f)) != EOF && n < max; n++) putc(ch, out);
    fclose(f);
}

static const char *cc_name(void) {
    const char *cc = getenv("NODEC_CC");
    if (!cc || !*cc) cc = getenv("CC");
    return cc && *cc ? cc : "cc";
}

/* The emitted C must compile warning-free as pedantic C99 (DESIGN.md §3). */
static bool strict_compile(Program *pg, const EmitOpts *o, bool full, FILE *log) {
    const char *tmp = getenv("TMPDIR");
    char dir[256], c_path[400], h_path[400], o_path[400], l_path[400];
    snprintf(dir, sizeof dir, "%s/nodec-prop-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(log, "cannot create a temporary directory: %s\n", strerror(errno));
        return false;
    }
    const char *name = pg->m->name;
    snprintf(c_path, sizeof c_path, "%s/%s.c", dir, name);
    snprintf(h_path, sizeof h_path, "%s/%s.h", dir, name);
    snprintf(o_path, sizeof o_path, "%s/%s.o", dir, name);
    snprintf(l_path, sizeof l_path, "%s/%s.log", dir, name);
    Buf h = {0}, c = {0};
    emit_header(&h, pg, o);
    emit_source(&c, pg, o);
    FILE *fh = fopen(h_path, "w"), *fc = fopen(c_path, "w");
    bool ok = fh && fc && fwrite(h.s, 1, h.len, fh) == h.len && fwrite(c.s, 1, c.len, fc) == c.len;
    if (fh) ok = fclose(fh) == 0 && ok;
    if (fc) ok = fclose(fc) == 0 && ok;
    buf_free(&h), buf_free(&c);
    if (ok) {
        /* the optimiser's warnings (maybe-uninitialized, array-bounds) need
         * -O2, which costs a second ~1 s compile: a sample of models gets it */
        char *argv[] = {(char *)cc_name(), "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror",
                        full ? "-O2" : "-fsyntax-only", "-c", c_path, "-o", o_path, NULL};
        ok = run_cc(argv, l_path);
        if (!ok) {
            fprintf(log, "the emitted C does not compile with -std=c99 -pedantic -Wall -Wextra -Werror:\n");
            cat_file(log, l_path, 3000);
        }
    } else {
        fprintf(log, "cannot write the emitted C to %s\n", dir);
    }
    unlink(c_path), unlink(h_path), unlink(o_path), unlink(l_path), rmdir(dir);
    return ok;
}

/* NODEC_PROPERTY_STRICT: 0 none; 1 (default) every model with
 * -fsyntax-only and every fifth with -O2; 2 every model with -O2. */
static int strict_level(void) { return (int)env_long("NODEC_PROPERTY_STRICT", 1); }

/* Compiles, loads and checks one model; writes `EXPR k err` for failing
 * expressions and a final `RESULT pass fail model_fail what` to log. */
static void check_one(const ModelSrc *ms, const char *text, int idx, unsigned long long seed, FILE *log) {
    Outcome o = {0};
    Compilation c = {0};
    Buf diag = {0};
    c.arena = arena_new();
    c.src = (Source){.path = "property.nde", .text = text, .len = (int)strlen(text)};
    c.diag.buf = &diag;
    LoadedModel lm = {0}, lt = {0};
    Compilation ct = {0}; /* the twin of a model with inputs */
    char *ttext = NULL;
    if (!nc_compile(&c, STAGE_C)) {
        fprintf(log, "the model does not compile:\n%s\n", diag.s ? diag.s : "");
        snprintf(o.what, sizeof o.what, "rejected");
        goto done;
    }
    EmitOpts eo = {"property.nde", fnv1a64(text, strlen(text)), false};
    double t0 = now();
    int strict = strict_level();
    if (strict && !strict_compile(c.prog, &eo, strict == 2 || idx % 5 == 0, log)) {
        o.model_fail = 1;
        snprintf(o.what, sizeof o.what, "warnings");
    }
    double t1 = now();
    char err[2048];
    if (!nc_load_cc(c.prog, &eo, &lm, err, sizeof err)) {
        fprintf(log, "%s\n", err);
        snprintf(o.what, sizeof o.what, "cc");
        goto done;
    }
    const nodec_model *m = lm.model, *mp = m; /* mp: what part 2 differentiates, m or its twin */
    if (m->n_state_vars != ms->nstates || (ms->ninputs > 0) != (m->inputs != NULL)) {
        fprintf(log, "the model has %d state variables, not %d, or inputs it should not\n", m->n_state_vars,
                ms->nstates);
        snprintf(o.what, sizeof o.what, "descriptor");
        goto done;
    }
    if (ms->ninputs) {
        ttext = twin_text(ms, idx);
        ct.arena = arena_new();
        ct.src = (Source){.path = "twin.nde", .text = ttext, .len = (int)strlen(ttext)};
        ct.diag.buf = &diag;
        EmitOpts to = {"twin.nde", fnv1a64(ttext, strlen(ttext)), false};
        if (!nc_compile(&ct, STAGE_C) || !nc_load_cc(ct.prog, &to, &lt, err, sizeof err)) {
            fprintf(log, "the twin does not compile:\n%s\n%s\n", diag.s ? diag.s : "", ttext);
            snprintf(o.what, sizeof o.what, "twin");
            goto done;
        }
        mp = lt.model;
        if (mp->n_state_vars != ms->nstates + 2 * ms->ninputs) {
            fprintf(log, "the twin has %d state variables\n", mp->n_state_vars);
            snprintf(o.what, sizeof o.what, "twin");
            goto done;
        }
    }
    double t2 = now();
    /* 1. nodec check; a failure counts when it repeats with two more seeds */
    {
        int fails = 0;
        for (int tryno = 0; tryno < 3; tryno++) {
            char *table = NULL;
            size_t tlen = 0;
            FILE *mem = open_memstream(&table, &tlen);
            CheckOpts co = {.seed = seed * 1000 + (unsigned long long)idx * 10 + (unsigned long long)tryno,
                            .points = 2, .tol = CHECK_TOL};
            fails = check_model(m, &co, mem);
            fclose(mem);
            if (fails) fputs(table, log);
            free(table);
            if (!fails) break;
        }
        if (fails) {
            o.model_fail = 1;
            strcat(o.what, *o.what ? ", check_model" : "check_model");
        }
    }
    double t3 = now();
    /* 2. expression by expression (of the twin, for a model with inputs); a
     * failure counts when it repeats at every one of POINTS points; 3. the
     * model with inputs against its twin, at every point */
    {
        Probe p = {.m = mp, .ns = mp->n_state, .np = mp->n_param, .log = log};
        int ns = p.ns, np = p.np, nc = p.nc = ns + np + 1, nk = ms->nstates;
        p.z = calloc(ns, sizeof(double)), p.th = calloc(np + 1, sizeof(double));
        p.th0 = calloc(np + 1, sizeof(double)), p.work = calloc(mp->work_size + 1, sizeof(double));
        p.f = calloc(ns, sizeof(double)), p.J = calloc((size_t)ns * nc, sizeof(double));
        p.Jz = calloc((size_t)ns * ns, sizeof(double)), p.a = calloc(ns, sizeof(double));
        p.v = calloc(ns, sizeof(double)), p.jv = calloc(ns, sizeof(double)), p.az = calloc(ns, sizeof(double));
        p.ath = calloc(np + 1, sizeof(double)), p.grad = calloc(nc, sizeof(double));
        p.fd = calloc((size_t)ns * ns + nc, sizeof(double));
        double *err = calloc(mp->n_state_vars, sizeof(double)), *worst = calloc(nk, sizeof(double));
        int *nfail = calloc(nk, sizeof(int));
        bool *twin_fail = calloc(nk, sizeof(bool));
        m->init_params(p.th0, seed + (unsigned long long)idx);
        Rng r = {seed * 0x2545F4914F6CDD1Dull + (unsigned long long)idx};
        bool bad = false;
        for (int pt = 0; pt < POINTS && !bad; pt++) {
            if (!probe_point(&p, &r, err)) {
                fprintf(log, "f is not finite at 50 random points\n");
                bad = true;
                break;
            }
            bool any = false;
            for (int k = 0; k < nk; k++) {
                if (err[k] > EXPR_TOL) nfail[k]++, worst[k] = fmax(worst[k], err[k]);
                any |= nfail[k] == pt + 1;
            }
            if (!any) break; /* nothing failed at every point so far */
        }
        for (int pt = 0; pt < POINTS && m->inputs && !bad; pt++) {
            input_point(m, mp, &r, p.th0, err);
            for (int k = 0; k < nk; k++)
                if (!(err[k] <= INPUT_TOL)) {
                    if (!twin_fail[k]) fprintf(log, "  z%d: with inputs and its twin differ by %.2g\n", k, err[k]);
                    twin_fail[k] = true, worst[k] = fmax(worst[k], err[k]);
                }
        }
        for (int k = 0; k < nk; k++) {
            if (bad || nfail[k] == POINTS || twin_fail[k]) {
                o.fail++;
                fprintf(log, "EXPR %d %.3g\n", k, bad ? INFINITY : worst[k]);
            } else {
                o.pass++;
            }
        }
        free(p.z), free(p.th), free(p.th0), free(p.work), free(p.f), free(p.J), free(p.Jz), free(p.a);
        free(p.v), free(p.jv), free(p.az), free(p.ath), free(p.grad), free(p.fd), free(err), free(worst), free(nfail);
        free(twin_fail);
    }
    fprintf(log, "time: strict cc %.2f s, cc %.2f s, check_model %.2f s, per expression %.2f s\n", t1 - t0, t2 - t1,
            t3 - t2, now() - t3);
done:
    if (o.pass + o.fail == 0) o.fail = ms->nstates; /* nothing was checked */
    fprintf(log, "RESULT %d %d %d %s\n", o.pass, o.fail, o.model_fail, *o.what ? o.what : "-");
    nc_unload(&lm), nc_unload(&lt);
    buf_free(&diag);
    nc_free(&c);
    if (ct.arena) nc_free(&ct);
    free(ttext);
}

/* ---- the driver --------------------------------------------------------- */


typedef struct Job {
    ModelSrc ms;
    Arena *arena;
    char *text;
    FILE *log;
    pid_t pid;
    int status;
    Outcome o;
} Job;


static void start(Job *j, int idx, unsigned long long seed) {
    j->log = tmpfile();
    if (!j->log) {
        perror("property: tmpfile");
        exit(1);
    }
    fflush(stdout), fflush(stderr);
    j->pid = fork();
    if (j->pid < 0) {
        perror("property: fork");
        exit(1);
    }
    if (j->pid == 0) {
        check_one(&j->ms, j->text, idx, seed, j->log);
        fflush(j->log);
        _exit(0);
    }
}

/* Reads the child's log: failing expressions and the RESULT line. */
static void finish(Job *j, const char *out_dir, unsigned long long seed, int idx, bool verbose) {
    Outcome *o = &j->o;
    rewind(j->log);
    char line[4096];
    bool got = false;
    Buf rest = {0};
    int *failing = calloc(MAX_STATES, sizeof(int)), nfailing = 0;
    while (fgets(line, sizeof line, j->log)) {
        int k;
        if (sscanf(line, "RESULT %d %d %d %63s", &o->pass, &o->fail, &o->model_fail, o->what) == 4) got = true;
        else if (sscanf(line, "EXPR %d", &k) == 1 && nfailing < MAX_STATES) failing[nfailing++] = k, buf_puts(&rest, line);
        else buf_puts(&rest, line);
    }
    fclose(j->log);
    if (!got) { /* an ICE (abort) or a crash */
        o->pass = 0, o->fail = j->ms.nstates, o->model_fail = 0;
        if (WIFSIGNALED(j->status)) snprintf(o->what, sizeof o->what, "signal %d", WTERMSIG(j->status));
        else snprintf(o->what, sizeof o->what, "exit %d", WEXITSTATUS(j->status));
    }
    bool failed = o->fail || o->model_fail || !got;
    printf("model %2d: %2d expressions, %2d failed%s%s\n", idx, j->ms.nstates, o->fail,
           strcmp(o->what, "-") && *o->what ? "; model: " : "", strcmp(o->what, "-") ? o->what : "");
    if (failed || verbose) fputs(rest.s ? rest.s : "", stdout);
    if (failed) {
        char path[4200];
        snprintf(path, sizeof path, "%s/property-s%llu-m%d.nde", out_dir, seed, idx);
        FILE *f = fopen(path, "w");
        if (f) fputs(j->text, f), fclose(f);
        printf("  the model is in %s\n", f ? path : "(cannot write it)");
        for (int i = 0; i < nfailing; i++) {
            snprintf(path, sizeof path, "%s/property-s%llu-m%d-z%d.nde", out_dir, seed, idx, failing[i]);
            char *one = model_text(&j->ms, failing[i]);
            f = fopen(path, "w");
            if (f) fputs(one, f), fclose(f);
            free(one);
            printf("  dz%d/dt = %s\n    alone (other equations 0): %s\n", failing[i], j->ms.eq[failing[i]], path);
        }
    }
    free(failing);
    buf_free(&rest);
}

int main(int argc, char **argv) {
    unsigned long long seed = (unsigned long long)env_long("NODEC_PROPERTY_SEED", 20240601);
    if (argc > 1) seed = strtoull(argv[1], NULL, 10);
    long want = env_long("NODEC_PROPERTY_EXPRS", 1000);
    int jobs = (int)env_long("NODEC_PROPERTY_JOBS", 2);
    bool verbose = env_long("NODEC_PROPERTY_VERBOSE", 0) != 0;
    const char *out_dir = getenv("NODEC_PROPERTY_OUT");
    if (!out_dir || !*out_dir) out_dir = ".";
    if (jobs < 1) jobs = 1;
    printf("nodec property test: seed %llu (rerun: property %llu), at least %ld expressions\n", seed, seed, want);
    double t0 = now();

    /* all models first, so the sources do not depend on scheduling */
    int nm = 0, cap = 0;
    long nexpr = 0;
    Job *job = NULL;
    while (nexpr < want) {
        if (nm == cap) job = realloc(job, sizeof *job * (cap = cap ? 2 * cap : 64));
        Job *j = &job[nm];
        memset(j, 0, sizeof *j);
        j->arena = arena_new();
        gen_model(seed, nm, j->arena, &j->ms);
        j->text = model_text(&j->ms, -1);
        if (verbose) printf("---- model %d\n%s", nm, j->text);
        nexpr += j->ms.nstates;
        nm++;
    }

    int running = 0, next = 0, done = 0;
    while (done < nm) {
        while (running < jobs && next < nm) start(&job[next], next, seed), next++, running++;
        int st;
        pid_t pid = wait(&st);
        if (pid < 0) {
            if (errno == EINTR) continue;
            perror("property: wait");
            return 1;
        }
        for (int i = 0; i < next; i++)
            if (job[i].pid == pid) job[i].status = st, job[i].pid = 0;
        running--, done++;
    }
    int pass = 0, fail = 0, model_fail = 0;
    for (int i = 0; i < nm; i++) {
        finish(&job[i], out_dir, seed, i, verbose);
        pass += job[i].o.pass, fail += job[i].o.fail, model_fail += job[i].o.model_fail;
    }

    printf("\ncoverage (occurrences in %d models):\n", nm);
    int missing = 0;
    for (int f = 0; f < F_COUNT; f++) {
        printf("  %-28s %6ld%s", feature_names[f], coverage[f], f % 3 == 2 ? "\n" : "");
        missing += coverage[f] == 0;
    }
    printf("\n");
    /* a generator change must not silently drop a feature; small runs
     * (NODEC_PROPERTY_EXPRS below 1000, e.g. under ASan) may miss rare ones */
    for (int f = 0; f < F_COUNT; f++)
        if (!coverage[f]) printf("the generator never produced: %s%s\n", feature_names[f], want < 1000 ? " (not an error in a small run)" : "");
    if (want < 1000) missing = 0;
    for (int i = 0; i < nm; i++) free(job[i].text), arena_free(job[i].arena);
    free(job);
    printf("%d models, %.1f s; %d model-level failures, %d never-generated features\n", nm, now() - t0, model_fail,
           missing);
    int failed = fail + model_fail + missing;
    printf("seed %llu\n%d passed, %d failed\n", seed, pass, failed);
    return failed ? 1 : 0;
}
