/* fuzz_files.h — the readers' fuzzers hand each input to nodec as a file.
 *
 * nodec's readers take paths, so every input is written to a file in one
 * directory per process, made on the first call: under /dev/shm when it
 * exists (memory, so a write and a read cost microseconds), else $TMPDIR
 * or /tmp.  It is removed at a normal exit; a crash leaves it behind, with
 * the input that crashed in it.  Header-only: each fuzzer is one program.
 * Its includer defines _POSIX_C_SOURCE first, for mkdtemp.
 */
#ifndef NODEC_FUZZ_FILES_H
#define NODEC_FUZZ_FILES_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_dir[512];
static const char *const fuzz_names[] = {"in.csv", "in.npy", "in.npz", "out.csv", "out.npy", "out.npz"};

static void fuzz_dir_remove(void) {
    char p[600];
    for (size_t i = 0; i < sizeof fuzz_names / sizeof *fuzz_names; i++) {
        snprintf(p, sizeof p, "%s/%s", fuzz_dir, fuzz_names[i]);
        unlink(p);
    }
    rmdir(fuzz_dir);
}

/* The path of `name` (one of fuzz_names) in this process's directory. */
static const char *fuzz_path(const char *name) {
    static char p[4][600];
    static int k;
    if (!fuzz_dir[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/nodec-fuzz-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(fuzz_dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(fuzz_dir_remove);
    }
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", fuzz_dir, name);
    return p[k];
}

/* Writes the input to `name` and returns its path.  A failure here is the
 * harness's, not nodec's: it stops the run. */
static const char *fuzz_file(const char *name, const void *data, size_t size) {
    const char *path = fuzz_path(name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) || close(fd) != 0) {
        perror(path);
        abort();
    }
    return path;
}

/* A broken promise of nodec's API (not a crash, but as bad): report it and
 * abort, so libFuzzer keeps the input. */
#define FUZZ_ASSERT(c)                                                                                                 \
    do {                                                                                                               \
        if (!(c)) {                                                                                                    \
            fprintf(stderr, "%s:%d: fuzz: broken promise: %s\n", __FILE__, __LINE__, #c);                              \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

#endif /* NODEC_FUZZ_FILES_H */
