/* fuzz_npy.c — libFuzzer harness for the NumPy readers (tools/npy.c).
 *
 * Each input is written once as in.npy and once as in.npz (fuzz_files.h)
 * and read by nodec_npy_load, nodec_npz_load and nodec_params_load
 * against `pm`, a model with a matrix, a vector and a scalar parameter —
 * the test model of tests/io.  Beyond "no crash, no sanitizer report",
 * it holds the readers to the promises of nodec_tools.h:
 *   - a failed load leaves θ as it was;
 *   - an array that loads saves, and loads back with the same shape and
 *     the same bits (.npy and .npz alike).
 * Seeds: the .npy and .npz files of tests/io/npy and tests/repl;
 * tests/fuzz/npy.dict.
 */
#define _POSIX_C_SOURCE 200809L /* fuzz_files.h: mkdtemp */
#include <stdint.h>
#include <string.h>

#include "fuzz_files.h"
#include "nodec_tools.h"

static const nodec_var pm_params[] = {
    {"W1", 2, {2, 3}, 0, 6},
    {"b1", 1, {3, 1}, 6, 3},
    {"alpha", 0, {1, 1}, 9, 1},
};
static const nodec_model pm = {.abi_version = NODEC_ABI_VERSION,
                               .name = "pm",
                               .n_state = 1,
                               .n_param = 10,
                               .n_param_vars = 3,
                               .param_vars = pm_params};

static int same_array(const nodec_array *a, const nodec_array *b) {
    if (a->ndim != b->ndim || a->size != b->size) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return 0;
    return a->size == 0 || memcmp(a->data, b->data, a->size * sizeof *a->data) == 0;
}

static void check_npy(const char *path) {
    char err[1024];
    nodec_array a, b;
    if (nodec_npy_load(path, &a, err, sizeof err)) return;
    FUZZ_ASSERT(a.ndim >= 0 && a.ndim <= NODEC_ARRAY_MAXDIM);
    const char *out = fuzz_path("out.npy");
    FUZZ_ASSERT(nodec_npy_save(out, &a, err, sizeof err) == 0);
    FUZZ_ASSERT(nodec_npy_load(out, &b, err, sizeof err) == 0);
    FUZZ_ASSERT(same_array(&a, &b));
    free(a.data); /* nodec_arrays_free is for the malloc'ed arrays of an .npz */
    free(b.data);
}

static void check_npz(const char *path) {
    char err[1024];
    nodec_array *a, *b;
    int n, m;
    if (nodec_npz_load(path, &a, &n, err, sizeof err)) return;
    /* nodec_npz_save refuses nameless and twice-named arrays, which a zip
     * may hold; the round trip is promised only without them. */
    int savable = 1;
    for (int i = 0; i < n; i++) {
        savable &= a[i].name[0] != 0;
        for (int j = 0; j < i; j++) savable &= strcmp(a[i].name, a[j].name) != 0;
    }
    if (savable) {
        const char *out = fuzz_path("out.npz");
        FUZZ_ASSERT(nodec_npz_save(out, a, n, err, sizeof err) == 0);
        FUZZ_ASSERT(nodec_npz_load(out, &b, &m, err, sizeof err) == 0);
        FUZZ_ASSERT(m == n);
        for (int i = 0; i < n; i++) {
            FUZZ_ASSERT(strcmp(a[i].name, b[i].name) == 0);
            FUZZ_ASSERT(same_array(&a[i], &b[i]));
        }
        nodec_arrays_free(b, m);
    }
    nodec_arrays_free(a, n);
}

static void check_params(const char *path) {
    /* exactly n_param doubles on the heap, so ASan sees a write past θ */
    double *theta = malloc(pm.n_param * sizeof *theta), before[10];
    for (int i = 0; i < pm.n_param; i++) theta[i] = before[i] = -1234.5 - i;
    char err[1024];
    if (nodec_params_load(path, &pm, theta, err, sizeof err)) {
        FUZZ_ASSERT(memcmp(theta, before, sizeof before) == 0);
        FUZZ_ASSERT(err[0] != 0);
    }
    free(theta);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *npy = fuzz_file("in.npy", data, size);
    check_npy(npy);
    check_params(npy); /* tells .npy from .npz by content, not name */
    check_npz(fuzz_file("in.npz", data, size));
    return 0;
}
