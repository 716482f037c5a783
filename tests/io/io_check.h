/* io_check.h — what the tests of tests/io share: CHECK macros that count
 * failures, and paths in the test's own temporary directory. */
#ifndef IO_CHECK_H
#define IO_CHECK_H

#include <stdio.h>
#include <string.h>

static int failures;

#define CHECK(c)                                                                                                  \
    do {                                                                                                          \
        if (!(c)) {                                                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);                                 \
            failures++;                                                                                           \
        }                                                                                                         \
    } while (0)

#define CHECK_MSG(got, want)                                                                                      \
    do {                                                                                                          \
        if (strstr((got), (want)) == NULL) {                                                                      \
            fprintf(stderr, "%s:%d: message\n  %s\nlacks\n  %s\n", __FILE__, __LINE__, (got), (want));            \
            failures++;                                                                                           \
        }                                                                                                         \
    } while (0)

static char tmpdir[1024];

/* tmpdir/name, in one of four rotating buffers. */
static const char *tmp(const char *name)
{
    static char buf[4][2048];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", tmpdir, name);
    return buf[i];
}

#endif
