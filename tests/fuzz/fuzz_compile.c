/* fuzz_compile.c — libFuzzer harness for the compiler (driver.c: nc_compile).
 *
 * Each input is a model file's bytes, compiled as `nodec emit` would:
 * the whole pipeline, then everything a command can print of the result —
 * every stage's dump (nc_dump: `emit --dump=ast|sema|ir|deriv|c`, the last
 * being the emitted header and source) and the math of `nodec derive` —
 * into Bufs in memory.
 * Diagnostics go to a Buf too.  A crash, a sanitizer report, a hang and
 * an internal compiler error (ice() aborts by design) are all findings,
 * and so is a broken promise of nc_compile: it fails exactly when it has
 * reported an error.
 * Seeds: the .nde files of models/ and tests/{errors,emit,parse,sema,ir,deriv};
 * tests/fuzz/nde.dict.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compiler.h"

/* abort(), so libFuzzer keeps the input, with the reason on stderr. */
#define FUZZ_ASSERT(c)                                                                                                 \
    do {                                                                                                               \
        if (!(c)) {                                                                                                    \
            fprintf(stderr, "%s:%d: fuzz: broken promise: %s\n", __FILE__, __LINE__, #c);                              \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

/* Compiles the input up to stop_at, diagnostics into diag. */
static bool compile(Compilation *c, Buf *diag, const uint8_t *data, size_t size, Stage stop_at) {
    memset(c, 0, sizeof *c);
    c->arena = arena_new();
    c->src = (Source){"fuzz.nde", arena_strndup(c->arena, (const char *)data, size), (int)size};
    c->diag.buf = diag;
    bool ok = nc_compile(c, stop_at);
    FUZZ_ASSERT(ok == (c->diag.nerrors == 0));
    FUZZ_ASSERT(ok || (diag->s && diag->len > 0));
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > INT32_MAX) return 0;
    Compilation c;
    Buf diag = {0}, out = {0};
    /* `emit --dump=ast` prints what parsed even when sema will refuse it */
    if (compile(&c, &diag, data, size, STAGE_AST)) nc_dump(&out, &c, STAGE_AST, NULL);
    nc_free(&c);
    buf_free(&diag);
    if (compile(&c, &diag, data, size, STAGE_C)) {
        EmitOpts o = {c.src.path, nc_hash(c.src.text, (size_t)c.src.len)};
        for (int s = STAGE_SEMA; s < STAGE_COUNT; s++) nc_dump(&out, &c, (Stage)s, &o);
        FUZZ_ASSERT(emit_work_size(c.prog) >= 0);
        print_derive(&out, c.prog, false); /* nodec derive */
        print_derive(&out, c.prog, true);
    }
    buf_free(&out);
    buf_free(&diag);
    nc_free(&c);
    return 0;
}
