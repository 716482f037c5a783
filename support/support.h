/* support.h — the few helpers every part of nodec shares, below all of
 * them (docs/map.md): a growable byte string, the splitmix64 generator and
 * the FNV-1a hash.  Sectioned by the file that defines each part.  No part
 * of it prints, exits or depends on anything but libc.
 */
#ifndef NODEC_SUPPORT_H
#define NODEC_SUPPORT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define NODEC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define NODEC_PRINTF(f, a)
#endif

/* ---- buf.c ----------------------------------------------------------- */

/* A growable byte string, NUL-terminated after len bytes.  When an
 * allocation fails, oom is set and later appends do nothing: whoever
 * writes the contents out checks oom first.  buf_free releases it. */
typedef struct Buf {
    char *s;
    size_t len, cap;
    bool oom;
} Buf;
void buf_add(Buf *b, const void *p, size_t n);
void buf_puts(Buf *b, const char *s);
void buf_putc(Buf *b, char c);
void buf_printf(Buf *b, const char *fmt, ...) NODEC_PRINTF(2, 3);
void buf_vprintf(Buf *b, const char *fmt, va_list ap);
void buf_free(Buf *b);
char *buf_take(Buf *b); /* the string, malloc'd (NULL after oom); b is emptied */

/* ---- rng.c ----------------------------------------------------------- */

/* splitmix64 (Steele, Lea & Flood 2014): the whole state is one word, so a
 * stream is reproducible from its seed alone.  The emitted init_params
 * (emit_c.c, emit_llvm.c) generate the same sequence in the model's code. */
uint64_t rng_next(uint64_t *s);
double rng_uniform(uint64_t *s);             /* in [0, 1), 53 bits */
uint64_t rng_below(uint64_t *s, uint64_t n); /* in [0, n), no modulo bias */

/* ---- hash.c ---------------------------------------------------------- */

/* FNV-1a, 64 bits: model sources (the descriptor's source_hash), init
 * salts and data files (the training state's data_hash).  fnv1a64_from
 * continues from h (the offset basis, or a previous result). */
#define FNV1A64_BASIS 0xcbf29ce484222325ull
uint64_t fnv1a64_from(uint64_t h, const void *p, size_t n);
uint64_t fnv1a64(const void *p, size_t n);

#endif
