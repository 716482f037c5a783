/* buf.c — the growable byte string of support.h, used for emitted code,
 * diagnostics, file contents and plot scripts alike.
 */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for extra more bytes and the NUL; false (and oom) when there is none. */
static bool grow(Buf *b, size_t extra) {
    if (b->oom) return false;
    if (extra < SIZE_MAX / 2 - b->len && b->len + extra + 1 <= b->cap) return true;
    if (extra >= SIZE_MAX / 4 - b->len) return b->oom = true, false;
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) return b->oom = true, false;
    b->s = s, b->cap = cap;
    return true;
}

void buf_add(Buf *b, const void *p, size_t n) {
    if (!grow(b, n)) return;
    if (n) memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = 0;
}

void buf_puts(Buf *b, const char *s) { buf_add(b, s, strlen(s)); }

void buf_putc(Buf *b, char c) { buf_add(b, &c, 1); }

void buf_vprintf(Buf *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || !grow(b, (size_t)n)) return;
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void buf_printf(Buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void buf_free(Buf *b) {
    free(b->s);
    *b = (Buf){0};
}

char *buf_take(Buf *b) {
    char *s = b->oom ? (free(b->s), NULL) : b->s ? b->s : calloc(1, 1);
    *b = (Buf){0};
    return s;
}
