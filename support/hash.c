/* hash.c — FNV-1a, 64 bits (Fowler, Noll, Vo): cheap, stable across
 * machines, good enough to notice a changed model or data file. */
#include "support.h"

uint64_t fnv1a64_from(uint64_t h, const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 0x100000001b3ull;
    return h;
}

uint64_t fnv1a64(const void *p, size_t n) { return fnv1a64_from(FNV1A64_BASIS, p, n); }
