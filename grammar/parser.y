/* parser.y — the grammar of .nde model files (DESIGN.md §2).
 *
 * Only syntax: every action calls one builder from ast.c.  A pure parser
 * with locations (byte spans); syntax errors are reported with the
 * unexpected token and what was expected, and recovery skips to the end of
 * the statement so one run reports several errors.
 */
%define api.pure full
%define parse.error custom
%define api.location.type {Span}
%locations
%expect 0
%param {void *scanner}
%parse-param {Parse *p}

%code requires {
#include "compiler.h"
typedef struct DeclList { Stmt *first, *last; } DeclList;
typedef struct NameList { const char **v; Span *sp; int n; } NameList;
}

%code {
#include <string.h>
int yylex(YYSTYPE *lval, YYLTYPE *lloc, void *scanner);
static void yyerror(YYLTYPE *loc, void *scanner, Parse *p, const char *msg);
static Stmt *decl(Parse *p, const char *name, Span nsp, Stmt *dims, Ast *init, Span sp);
static void decls_add(Parse *p, StmtKind k, DeclList l);
static void namelist_push(Parse *p, NameList *l, const char *s, Span sp);

#define YYLLOC_DEFAULT(Cur, Rhs, N)                                 \
    do {                                                            \
        if (N) { (Cur).beg = YYRHSLOC(Rhs, 1).beg;                  \
                 (Cur).end = YYRHSLOC(Rhs, N).end; }                \
        else   { (Cur).beg = (Cur).end = YYRHSLOC(Rhs, 0).end; }    \
    } while (0)
}

%union {
    struct { double v; bool is_int; } num;
    char *str;
    Ast *ast;
    Stmt *stmt;
    AstList list;
    DeclList decls;
    NameList names;
    Index index;
    struct { Index v[2]; int n; } indices;
}

%token <num> NUM "number"
%token <str> IDENT "name"
%token NEWLINE "end of line"
%token MODEL "'model'" STATE "'state'" PARAM "'param'" CONST "'const'" NOISE "'noise'"
%token INPUT "'input'"
%token LET "'let'" LOSS "'loss'"

%type <ast> expr postfix primary init_opt
%type <list> args arglist elems
%type <stmt> decl dims_opt
%type <decls> decls
%type <names> names namelist
%type <index> index
%type <indices> indices

%left '+' '-'
%left '*' '/' '@'
%precedence NEG
%right '^'

%%

program:
    %empty
  | program line
  ;

line:
    end
  | stmt end
  | error end               { yyerrok; }
  ;

end: NEWLINE | ';' ;

stmt:
    MODEL IDENT             { Stmt *s = stmt_new(p, S_MODEL, @$); s->name = $2; s->name_span = @2; stmt_add(p, s); }
  | STATE decls             { decls_add(p, S_STATE, $2); }
  | PARAM decls             { decls_add(p, S_PARAM, $2); }
  | CONST decls             { decls_add(p, S_CONST, $2); }
  | NOISE decls             { decls_add(p, S_NOISE, $2); }
  | INPUT decls             { decls_add(p, S_INPUT, $2); }
  | LET IDENT '=' expr      { Stmt *s = stmt_new(p, S_LET, @$); s->name = $2; s->name_span = @2; s->expr = $4; stmt_add(p, s); }
  | IDENT '/' IDENT '=' expr
                            { Stmt *s = stmt_new(p, S_EQ, @$); s->name = $1; s->name_span = @1;
                              s->name2 = $3; s->name2_span = @3; s->expr = $5; stmt_add(p, s); }
  | LOSS '(' names ')' '=' expr
                            { Stmt *s = stmt_new(p, S_LOSS, @$); s->name = "loss"; s->name_span = @1;
                              s->lossargs = $3.v; s->lossarg_spans = $3.sp; s->nlossargs = $3.n;
                              s->expr = $6; stmt_add(p, s); }
  ;

decls:
    decl                    { $$.first = $$.last = $1; }
  | decls ',' decl          { $$ = $1; $$.last->next = $3; $$.last = $3; }
  ;

/* name, name[n], name[m, n], each optionally `= initializer` */
decl: IDENT dims_opt init_opt
                            { $$ = decl(p, $1, @1, $2, $3, @$); }
  ;

dims_opt:
    %empty                  { $$ = NULL; }
  | '[' expr ']'            { $$ = stmt_new(p, S_STATE, @$); $$->dims[0] = $2; $$->ndims = 1; }
  | '[' expr ',' expr ']'   { $$ = stmt_new(p, S_STATE, @$); $$->dims[0] = $2; $$->dims[1] = $4; $$->ndims = 2; }
  ;

init_opt:
    %empty                  { $$ = NULL; }
  | '=' expr                { $$ = $2; }
  ;

names:
    %empty                  { $$.v = NULL; $$.sp = NULL; $$.n = 0; }
  | namelist
  ;

namelist:
    IDENT                   { $$.v = NULL; $$.sp = NULL; $$.n = 0; namelist_push(p, &$$, $1, @1); }
  | namelist ',' IDENT      { $$ = $1; namelist_push(p, &$$, $3, @3); }
  ;

expr:
    expr '+' expr           { $$ = ast_binary(p, '+', $1, $3, @$); }
  | expr '-' expr           { $$ = ast_binary(p, '-', $1, $3, @$); }
  | expr '*' expr           { $$ = ast_binary(p, '*', $1, $3, @$); }
  | expr '/' expr           { $$ = ast_binary(p, '/', $1, $3, @$); }
  | expr '@' expr           { $$ = ast_binary(p, '@', $1, $3, @$); }
  | expr '^' expr           { $$ = ast_binary(p, '^', $1, $3, @$); }
  | '-' expr %prec NEG      { $$ = ast_unary(p, '-', $2, @$); }
  | '+' expr %prec NEG      { $$ = $2; }
  | postfix
  ;

postfix:
    primary
  | postfix '\''            { $$ = ast_transpose(p, $1, @$); }
  | postfix '[' indices ']' { $$ = ast_index(p, $1, $3.v, $3.n, @$); }
  ;

indices:
    index                   { $$.v[0] = $1; $$.n = 1; }
  | index ',' index         { $$.v[0] = $1; $$.v[1] = $3; $$.n = 2; }
  ;

/* i, lo:hi, lo:, :hi, : */
index:
    expr                    { $$ = (Index){false, $1, NULL, @$}; }
  | ':'                     { $$ = (Index){true, NULL, NULL, @$}; }
  | expr ':'                { $$ = (Index){true, $1, NULL, @$}; }
  | ':' expr                { $$ = (Index){true, NULL, $2, @$}; }
  | expr ':' expr           { $$ = (Index){true, $1, $3, @$}; }
  ;

primary:
    NUM                     { $$ = ast_num(p, $1.v, $1.is_int, @$); }
  | IDENT                   { $$ = ast_name(p, $1, @$); }
  | IDENT '(' args ')'      { $$ = ast_call(p, $1, @1, $3.v, $3.n, @$); }
  | '(' expr ')'            { $$ = $2; }
  | '[' elems ']'           { $$ = ast_array(p, $2.v, $2.n, @$); }
  ;

args:
    %empty                  { $$ = (AstList){0}; }
  | arglist
  ;

arglist:
    expr                    { $$ = (AstList){0}; astlist_push(p, &$$, $1); }
  | arglist ',' expr        { $$ = $1; astlist_push(p, &$$, $3); }
  ;

elems:
    expr                    { $$ = (AstList){0}; astlist_push(p, &$$, $1); }
  | elems ',' expr          { $$ = $1; astlist_push(p, &$$, $3); }
  ;

%%

static Stmt *decl(Parse *p, const char *name, Span nsp, Stmt *dims, Ast *init, Span sp) {
    Stmt *s = stmt_new(p, S_STATE, sp);
    s->name = name, s->name_span = nsp, s->expr = init;
    if (dims) {
        s->has_dims = true, s->ndims = dims->ndims, s->dims_span = dims->span;
        s->dims[0] = dims->dims[0], s->dims[1] = dims->dims[1];
    }
    return s;
}

static void decls_add(Parse *p, StmtKind k, DeclList l) {
    for (Stmt *s = l.first, *next; s; s = next) {
        next = s->next;
        s->next = NULL, s->kind = k;
        stmt_add(p, s);
    }
}

static void namelist_push(Parse *p, NameList *l, const char *s, Span sp) {
    const char **v = arena_alloc(p->arena, sizeof *v * (l->n + 1));
    Span *vs = arena_alloc(p->arena, sizeof *vs * (l->n + 1));
    for (int i = 0; i < l->n; i++) v[i] = l->v[i], vs[i] = l->sp[i];
    v[l->n] = s, vs[l->n] = sp;
    l->v = v, l->sp = vs, l->n++;
}

static const char *tokname(yysymbol_kind_t k) {
    switch (k) {
    case YYSYMBOL_YYEOF: return "end of file";
    case YYSYMBOL_YYerror: return "error";
    default: break;
    }
    const char *s = yysymbol_name(k);
    return s;
}

/* "unexpected X; expected Y", with the usual cases said in words. */
static int yyreport_syntax_error(const yypcontext_t *ctx, void *scanner, Parse *p) {
    (void)scanner;
    if (p->diag->fatal) return 0;
    yysymbol_kind_t exp[8];
    int n = yypcontext_expected_tokens(ctx, exp, 8);
    yysymbol_kind_t tok = yypcontext_token(ctx);
    Span sp = *yypcontext_location(ctx);
    if (sp.beg >= p->diag->src->len) p->diag->at_eof = true;
    bool want_expr = false;
    for (int i = 0; i < n; i++)
        if (exp[i] == YYSYMBOL_NUM) want_expr = true;
    Buf b = {0};
    const char *hint = NULL;
    const char *text = p->diag->src->text + sp.beg;
    int len = sp.end - sp.beg;
    if (tok == YYSYMBOL_NEWLINE && sp.beg >= p->diag->src->len)
        buf_puts(&b, "unexpected end of file");
    else if ((tok == YYSYMBOL_IDENT || tok == YYSYMBOL_NUM) && len < 40)
        buf_printf(&b, "unexpected %s '%.*s'", tokname(tok), len, text);
    else
        buf_printf(&b, "unexpected %s", tokname(tok));
    if (want_expr)
        buf_puts(&b, "; expected an expression");
    else if (n > 0 && n <= 4) {
        buf_puts(&b, "; expected ");
        for (int i = 0; i < n; i++)
            buf_printf(&b, "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ", tokname(exp[i]));
    }
    if (tok == YYSYMBOL_NEWLINE && sp.beg < p->diag->src->len)
        hint = "a statement ends at the end of its line; to continue it, put the expression in brackets";
    /* an operator first on its line: the statement above ended early */
    bool line_start = true;
    for (int i = sp.beg - 1; i >= 0 && p->diag->src->text[i] != '\n'; i--)
        if (p->diag->src->text[i] != ' ' && p->diag->src->text[i] != '\t') line_start = false;
    if (line_start && len == 1 && strchr("+-*/^@", text[0]))
        hint = "a statement ends at the end of its line; to continue it, put the expression in brackets";
    if ((tok == YYSYMBOL_IDENT || tok == YYSYMBOL_NUM) && !hint && !want_expr)
        for (int i = 0; i < n; i++)
            if (exp[i] == YYSYMBOL_NEWLINE) hint = "to multiply, write `*` between the two";
    error_at(p->diag, sp, hint, MSG(M_SYNTAX), b.s);
    if (p->nest > 0) {
        note_at(p->diag, p->open[p->nest - 1], MSG(M_NOTE_UNCLOSED_BRACKET));
        p->nest = 0; /* let recovery find the end of the statement */
    }
    buf_free(&b);
    return 0;
}

static void yyerror(YYLTYPE *loc, void *scanner, Parse *p, const char *msg) {
    (void)scanner;
    if (!strcmp(msg, "memory exhausted")) {
        error_at(p->diag, *loc, "split it into parts with `let`",
                 MSG(M_PARSER_TOO_DEEP), YYMAXDEPTH);
        p->diag->fatal = true;
        return;
    }
    error_at(p->diag, *loc, NULL, MSG(M_SYNTAX), msg);
}

typedef struct yy_buffer_state *YY_BUFFER_STATE;
int yylex_init_extra(Parse *extra, void **scanner);
int yylex_destroy(void *scanner);
YY_BUFFER_STATE yy_scan_bytes(const char *bytes, int len, void *scanner);

bool parse_source(Parse *p, const Source *src) {
    void *scanner;
    if (yylex_init_extra(p, &scanner)) ice("cannot create the scanner");
    /* A UTF-8 byte order mark, which some editors write first, is not part
     * of the model: scanning starts after it, offsets still count it. */
    int bom = src->len >= 3 && !memcmp(src->text, "\xEF\xBB\xBF", 3) ? 3 : 0;
    p->pos = bom, p->nest = 0, p->eof_sent = false;
    yy_scan_bytes(src->text + bom, src->len - bom, scanner);
    int errs = p->diag->nerrors;
    int rc = yyparse(scanner, p);
    yylex_destroy(scanner);
    return rc == 0 && p->diag->nerrors == errs;
}
