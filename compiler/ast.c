/* ast.c — builders for the syntax tree, called one per grammar action, and
 * the `--dump=ast` printer.
 *
 * Builders track each node's depth so a pathological expression (an
 * 800 kB line of `x+x+…`) is refused here, before any recursive pass can
 * run out of stack.
 */
#include "compiler.h"

#include <string.h>

static Ast *node(Parse *p, AstKind k, Span sp, int depth) {
    Ast *a = arena_alloc(p->arena, sizeof *a);
    a->kind = k, a->span = sp, a->depth = depth;
    if (depth == MAX_DEPTH + 1)
        error_at(p->diag, sp, "split it into parts with `let`, or use sum(…) for long sums", MSG(M_EXPRESSION_TOO_DEEP),
                 MAX_DEPTH);
    return a;
}

static int depth(Ast *a) { return a ? a->depth : 0; }
static int max(int a, int b) { return a > b ? a : b; }

Ast *ast_num(Parse *p, double v, bool is_int, Span sp) {
    Ast *a = node(p, A_NUM, sp, 1);
    a->num = v, a->is_int = is_int;
    return a;
}

Ast *ast_name(Parse *p, const char *name, Span sp) {
    Ast *a = node(p, A_NAME, sp, 1);
    a->name = name;
    return a;
}

Ast *ast_unary(Parse *p, int op, Ast *x, Span sp) {
    Ast *a = node(p, A_UNARY, sp, depth(x) + 1);
    a->op = op, a->a = x;
    return a;
}

Ast *ast_binary(Parse *p, int op, Ast *x, Ast *y, Span sp) {
    Ast *a = node(p, A_BINARY, sp, max(depth(x), depth(y)) + 1);
    a->op = op, a->a = x, a->b = y;
    return a;
}

Ast *ast_call(Parse *p, const char *name, Span name_sp, Ast **args, int n, Span sp) {
    int d = 0;
    for (int i = 0; i < n; i++) d = max(d, depth(args[i]));
    Ast *a = node(p, A_CALL, sp, d + 1);
    a->name = name, a->name_span = name_sp, a->args = args, a->nargs = n;
    return a;
}

Ast *ast_index(Parse *p, Ast *x, Index *idx, int n, Span sp) {
    Ast *a = node(p, A_INDEX, sp, depth(x) + 1);
    a->a = x, a->nidx = n;
    for (int i = 0; i < n; i++) a->idx[i] = idx[i];
    return a;
}

Ast *ast_transpose(Parse *p, Ast *x, Span sp) {
    Ast *a = node(p, A_TRANSPOSE, sp, depth(x) + 1);
    a->a = x;
    return a;
}

Ast *ast_array(Parse *p, Ast **elems, int n, Span sp) {
    int d = 0;
    for (int i = 0; i < n; i++) d = max(d, depth(elems[i]));
    Ast *a = node(p, A_ARRAY, sp, d + 1);
    a->args = elems, a->nargs = n;
    return a;
}

void astlist_push(Parse *p, AstList *l, Ast *a) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 4;
        Ast **v = arena_alloc(p->arena, sizeof *v * cap);
        if (l->n) memcpy(v, l->v, sizeof *v * l->n);
        l->v = v, l->cap = cap;
    }
    l->v[l->n++] = a;
}

Stmt *stmt_new(Parse *p, StmtKind k, Span sp) {
    Stmt *s = arena_alloc(p->arena, sizeof *s);
    s->kind = k, s->span = sp;
    return s;
}

void stmt_add(Parse *p, Stmt *s) {
    if (p->last)
        p->last->next = s;
    else
        p->first = s;
    p->last = s;
}

/* ---- --dump=ast ------------------------------------------------------ */

static void dump_num(Buf *b, double v) {
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%.17g", v);
    buf_puts(b, tmp);
}

static void dump_expr(Buf *b, const Ast *a);

static void dump_index(Buf *b, const Index *ix) {
    if (!ix->range) {
        dump_expr(b, ix->lo);
        return;
    }
    buf_puts(b, "(range ");
    if (ix->lo)
        dump_expr(b, ix->lo);
    else
        buf_puts(b, "_");
    buf_putc(b, ' ');
    if (ix->hi)
        dump_expr(b, ix->hi);
    else
        buf_puts(b, "_");
    buf_putc(b, ')');
}

static void dump_expr(Buf *b, const Ast *a) {
    switch (a->kind) {
    case A_NUM: dump_num(b, a->num); return;
    case A_NAME: buf_puts(b, a->name); return;
    case A_UNARY: buf_printf(b, "(neg "), dump_expr(b, a->a); break;
    case A_BINARY: buf_printf(b, "(%c ", a->op), dump_expr(b, a->a), buf_putc(b, ' '), dump_expr(b, a->b); break;
    case A_TRANSPOSE: buf_puts(b, "(transpose "), dump_expr(b, a->a); break;
    case A_CALL:
        buf_printf(b, "(call %s", a->name);
        for (int i = 0; i < a->nargs; i++) buf_putc(b, ' '), dump_expr(b, a->args[i]);
        break;
    case A_INDEX:
        buf_puts(b, "(index "), dump_expr(b, a->a);
        for (int i = 0; i < a->nidx; i++) buf_putc(b, ' '), dump_index(b, &a->idx[i]);
        break;
    case A_ARRAY:
        buf_puts(b, "(array");
        for (int i = 0; i < a->nargs; i++) buf_putc(b, ' '), dump_expr(b, a->args[i]);
        break;
    }
    buf_putc(b, ')');
}

static const char *const kind_name[] = {
    [S_MODEL] = "model", [S_STATE] = "state", [S_PARAM] = "param", [S_CONST] = "const", [S_LET] = "let",
    [S_EQ] = "equation", [S_LOSS] = "loss",   [S_NOISE] = "noise", [S_INPUT] = "input",
};

/* One line per statement: its line number, kind and an S-expression. */
void ast_dump(Buf *b, const Stmt *s, const Source *src) {
    for (; s; s = s->next) {
        int line = 1;
        for (int i = 0; i < s->span.beg && i < src->len; i++) line += src->text[i] == '\n';
        buf_printf(b, "%d: (%s %s", line, kind_name[s->kind], s->name ? s->name : "");
        if (s->kind == S_EQ) buf_printf(b, "/%s", s->name2);
        if (s->has_dims) {
            buf_puts(b, " [");
            for (int i = 0; i < s->ndims; i++) {
                if (i) buf_puts(b, " ");
                dump_expr(b, s->dims[i]);
            }
            buf_puts(b, "]");
        }
        if (s->kind == S_LOSS) {
            buf_puts(b, " (");
            for (int i = 0; i < s->nlossargs; i++) buf_printf(b, "%s%s", i ? " " : "", s->lossargs[i]);
            buf_puts(b, ")");
        }
        if (s->expr) buf_putc(b, ' '), dump_expr(b, s->expr);
        buf_puts(b, ")\n");
    }
}
