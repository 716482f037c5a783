/* util.c — arenas, source files and diagnostics (strings: support/buf.c).
 *
 * One arena per compilation holds every AST node, symbol and string; it is
 * freed as a whole (QBE's alloc/freeall).  Diagnostics print
 * `file:line:col: error: message`, the source line and a caret under the
 * span, computing line and column from the byte offset only when needed.
 */
#include "compiler.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- arenas ---------------------------------------------------------- */

typedef struct Block {
    struct Block *next;
    size_t used, cap;
    max_align_t data[];
} Block;
struct Arena {
    Block *head;
};

Arena *arena_new(void) {
    Arena *a = calloc(1, sizeof *a);
    if (!a) ice("out of memory");
    return a;
}

void arena_free(Arena *a) {
    if (!a) return;
    for (Block *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(a);
}

void *arena_alloc(Arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    Block *b = a->head;
    if (!b || b->used + n > b->cap) {
        size_t cap = n > 65536 ? n : 65536;
        b = malloc(sizeof *b + cap);
        if (!b) ice("out of memory");
        b->next = a->head, b->used = 0, b->cap = cap;
        a->head = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *arena_strndup(Arena *a, const char *s, size_t n) {
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    return p;
}

char *arena_printf(Arena *a, const char *fmt, ...) {
    Buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    if (b.oom) ice("out of memory");
    char *s = arena_strndup(a, b.s, b.len);
    buf_free(&b);
    return s;
}

/* ---- source files ---------------------------------------------------- */

bool source_read(const char *path, Source *src, Arena *a, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
        return false;
    }
    Buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        buf_add(&b, chunk, n);
        if (b.oom) ice("out of memory");
        if (b.len > (size_t)64 << 20) {
            snprintf(err, errlen, "'%s' is larger than 64 MiB; is it really a model file?", path);
            fclose(f), buf_free(&b);
            return false;
        }
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
        buf_free(&b);
        return false;
    }
    src->path = arena_strndup(a, path, strlen(path));
    src->text = arena_strndup(a, b.s ? b.s : "", b.len);
    src->len = (int)b.len;
    buf_free(&b);
    return true;
}

/* ---- diagnostics ----------------------------------------------------- */

const char *const msg_text[] = {
#define X(id, text) text,
    MESSAGES(X)
#undef X
};

static void dputs(Diag *d, const char *s) {
    if (d->out)
        fputs(s, d->out);
    else if (d->buf)
        buf_puts(d->buf, s);
}

/* Columns count UTF-8 code points, so the caret lines up on screen. */
static int utf8_cols(const char *s, int n) {
    int c = 0;
    for (int i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) c++;
    return c;
}

/* The source line holding `pos`, made printable: control bytes and bytes
 * that are not UTF-8 show as '?', so the caret stays aligned. */
static void show_line(Diag *d, Span sp, Buf *out, int *lineno, int *col) {
    const Source *src = d->src;
    int pos = sp.beg < 0 ? 0 : sp.beg > src->len ? src->len : sp.beg;
    int ls = pos, le = pos, line = 1;
    while (ls > 0 && src->text[ls - 1] != '\n') ls--;
    if (ls == 0 && src->len >= 3 && !memcmp(src->text, "\xEF\xBB\xBF", 3) && pos >= 3)
        ls = 3; /* a byte order mark opening the file is neither shown nor counted */
    while (le < src->len && src->text[le] != '\n') le++;
    if (le > ls && src->text[le - 1] == '\r') le--; /* CRLF: the CR is not shown or counted */
    if (pos > le) pos = le;
    for (int i = 0; i < ls; i++) line += src->text[i] == '\n';
    *lineno = line;
    *col = utf8_cols(src->text + ls, pos - ls) + 1;
    if (!out) return;
    /* Very long lines are shown as a window around the caret. */
    int from = ls, to = le;
    if (pos - from > 60) from = pos - 40;
    if (to - pos > 80) to = pos + 60;
    while (from > ls && ((unsigned char)src->text[from] & 0xC0) == 0x80) from++;
    Buf text = {0}, caret = {0};
    if (from > ls) buf_puts(&text, "..."), buf_puts(&caret, "   ");
    for (int i = from; i < to; i++) {
        unsigned char c = (unsigned char)src->text[i];
        bool under = i >= pos && (i < sp.end || i == pos);
        if (c == '\t') {
            buf_putc(&text, '\t'), buf_putc(&caret, under ? (i == pos ? '^' : '~') : '\t');
            continue;
        }
        if (c < 0x20 || c == 0x7f) c = '?';
        if (c >= 0x80) {
            /* copy a whole valid UTF-8 sequence, or show '?' */
            int n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
            bool ok = n > 0 && i + n <= to;
            for (int k = 1; ok && k < n; k++) ok = ((unsigned char)src->text[i + k] & 0xC0) == 0x80;
            if (ok) {
                for (int k = 0; k < n; k++) buf_putc(&text, src->text[i + k]);
                buf_putc(&caret, under ? (i == pos ? '^' : '~') : ' ');
                i += n - 1;
                continue;
            }
            c = '?';
        }
        buf_putc(&text, (char)c);
        buf_putc(&caret, under ? (i == pos ? '^' : '~') : ' ');
    }
    if (pos >= to) buf_putc(&caret, '^');
    if (to < le) buf_puts(&text, "...");
    /* trailing blanks of the caret line are noise */
    while (caret.len && (caret.s[caret.len - 1] == ' ' || caret.s[caret.len - 1] == '\t')) caret.s[--caret.len] = 0;
    buf_printf(out, "%5d | %s\n      | %s\n", line, text.s ? text.s : "", caret.s ? caret.s : "");
    buf_free(&text), buf_free(&caret);
}

static void report(Diag *d, const char *kind, Span sp, const char *hint, const char *fmt, va_list ap) {
    Buf b = {0};
    int line, col;
    show_line(d, sp, NULL, &line, &col);
    buf_printf(&b, "%s:%d:%d: %s: ", d->src->path, line, col, kind);
    buf_vprintf(&b, fmt, ap);
    buf_putc(&b, '\n');
    show_line(d, sp, &b, &line, &col);
    if (hint) buf_printf(&b, "      = hint: %s\n", hint);
    dputs(d, b.s);
    buf_free(&b);
}

void error_at(Diag *d, Span sp, const char *hint, const char *fmt, ...) {
    if (d->fatal) return;
    d->nerrors++;
    va_list ap;
    va_start(ap, fmt);
    report(d, "error", sp, hint, fmt, ap);
    va_end(ap);
    if (d->nerrors >= MAX_ERRORS) {
        Buf b = {0};
        buf_printf(&b, "stopping after %d errors\n", MAX_ERRORS);
        dputs(d, b.s);
        buf_free(&b);
        d->fatal = true;
    }
}

void note_at(Diag *d, Span sp, const char *fmt, ...) {
    if (d->fatal) return;
    va_list ap;
    va_start(ap, fmt);
    report(d, "note", sp, NULL, fmt, ap);
    va_end(ap);
}

void error_plain(Diag *d, const char *fmt, ...) {
    if (d->fatal) return;
    d->nerrors++;
    Buf b = {0};
    buf_printf(&b, "%s: error: ", d->src ? d->src->path : "nodec");
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    buf_putc(&b, '\n');
    dputs(d, b.s);
    buf_free(&b);
}

_Noreturn void ice(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("nodec: internal compiler error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\nThis is a bug in nodec, not in your model; please report it with the model file.\n", stderr);
    va_end(ap);
    abort();
}

/* ---- shapes ---------------------------------------------------------- */

Shape shape0(void) { return (Shape){0, {1, 1}}; }
Shape shape1(int n) { return (Shape){1, {n, 1}}; }
Shape shape2(int m, int n) { return (Shape){2, {m, n}}; }
bool shape_eq(Shape a, Shape b) { return a.rank == b.rank && a.d[0] == b.d[0] && a.d[1] == b.d[1]; }
int shape_size(Shape s) { return s.d[0] * s.d[1]; }

const char *shape_str(Shape s, Arena *a) {
    switch (s.rank) {
    case 0: return "scalar";
    case 1: return arena_printf(a, "[%d]", s.d[0]);
    default: return arena_printf(a, "[%d, %d]", s.d[0], s.d[1]);
    }
}

int edit_distance(const char *a, const char *b) {
    int n = (int)strlen(a), m = (int)strlen(b);
    if (n > 40 || m > 40) return 99;
    int d[41][41];
    for (int i = 0; i <= n; i++) d[i][0] = i;
    for (int j = 0; j <= m; j++) d[0][j] = j;
    for (int i = 1; i <= n; i++)
        for (int j = 1; j <= m; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
            d[i][j] = c;
        }
    return d[n][m];
}
