/* mem.c — the runtime's one allocator: malloc/free that count bytes.
 *
 * Each handle owns a counter of the bytes it holds now and at most, so a
 * test can check that the adjoint's peak does not grow with the number of
 * steps (DESIGN.md §4).  Callers pass the size back to mem_free, as Lua's
 * lmem.c does, so no header is stored with the block.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void count(mem_counter *mc, size_t add, size_t sub) {
    mc->cur = mc->cur + add - sub;
    if (mc->cur > mc->peak) mc->peak = mc->cur;
}

void *mem_alloc(mem_counter *mc, size_t bytes) {
    void *p = calloc(1, bytes ? bytes : 1);
    if (p) count(mc, bytes, 0);
    return p;
}

/* Resizes p; on failure p is left as it was and NULL is returned. */
void *mem_grow(mem_counter *mc, void *p, size_t old_bytes, size_t new_bytes) {
    void *q = realloc(p, new_bytes ? new_bytes : 1);
    if (!q) return NULL;
    if (new_bytes > old_bytes) memset((char *)q + old_bytes, 0, new_bytes - old_bytes);
    count(mc, new_bytes, old_bytes);
    return q;
}

void mem_free(mem_counter *mc, void *p, size_t bytes) {
    if (!p) return;
    free(p);
    count(mc, 0, bytes);
}
