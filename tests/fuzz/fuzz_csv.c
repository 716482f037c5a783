/* fuzz_csv.c — libFuzzer harness for the CSV readers (tools/csv.c).
 *
 * Each input is written as in.csv (fuzz_files.h) and read by
 * nodec_data_load against two models — `vec` (state z[2], as data/spiral.csv)
 * and `mix` (a scalar, a vector and a matrix state: the column names
 * `x`, `z[1]`, `M[1,2]`) — and by nodec_table_load; the same bytes, as a
 * string, go to nodec_parse_numbers (`--z0 2,0`).  Beyond "no crash, no
 * sanitizer report", it holds the readers to nodec_tools.h:
 *   - a failed load leaves its output as it was and says why;
 *   - data that loads saves (nodec_data_save) and loads back the same:
 *     trajectories, rows, times and states to the bit;
 *   - a table has ncol names and nrow × ncol values; numbers are finite.
 * Seeds: the .csv files of data/, tests/io/csv, tests/train/bad and tests/cli;
 * tests/fuzz/csv.dict.
 */
#define _POSIX_C_SOURCE 200809L /* fuzz_files.h: mkdtemp */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_files.h"
#include "nodec_tools.h"

static const nodec_var vec_states[] = {{"z", 1, {2, 1}, 0, 2}};
static const nodec_model vec = {
    .abi_version = NODEC_ABI_VERSION, .name = "vec", .n_state = 2, .n_state_vars = 1, .state_vars = vec_states};

static const nodec_var mix_states[] = {
    {"x", 0, {1, 1}, 0, 1},
    {"z", 1, {2, 1}, 1, 2},
    {"M", 2, {2, 2}, 3, 4},
};
static const nodec_model mix = {
    .abi_version = NODEC_ABI_VERSION, .name = "mix", .n_state = 7, .n_state_vars = 3, .state_vars = mix_states};

static int same_data(const nodec_data *a, const nodec_data *b) {
    if (a->n_state != b->n_state || a->n_traj != b->n_traj) return 0;
    for (int i = 0; i < a->n_traj; i++) {
        const nodec_traj *x = &a->traj[i], *y = &b->traj[i];
        if (x->n != y->n || (a->n_traj > 1 && x->id != y->id)) return 0;
        if (memcmp(x->t, y->t, x->n * sizeof *x->t) || memcmp(x->z, y->z, (size_t)x->n * a->n_state * sizeof *x->z))
            return 0;
    }
    return 1;
}

static void check_data(const char *path, const nodec_model *m) {
    char err[2048] = "";
    nodec_data d, e, untouched;
    memset(&d, 0xa5, sizeof d);
    untouched = d;
    if (nodec_data_load(path, m, &d, err, sizeof err)) {
        FUZZ_ASSERT(memcmp(&d, &untouched, sizeof d) == 0);
        FUZZ_ASSERT(err[0] != 0);
        return;
    }
    FUZZ_ASSERT(d.n_state == m->n_state && d.n_traj >= 1);
    for (int i = 0; i < d.n_traj; i++) {
        const nodec_traj *tr = &d.traj[i];
        FUZZ_ASSERT(tr->n >= 1);
        for (int r = 0; r < tr->n; r++) {
            FUZZ_ASSERT(isfinite(tr->t[r]) && (r == 0 || tr->t[r] > tr->t[r - 1]));
            /* a state's value is a number, or NaN where it is missing */
            for (int k = 0; k < m->n_state; k++) FUZZ_ASSERT(!isinf(tr->z[(size_t)r * m->n_state + k]));
        }
    }
    const char *out = fuzz_path("out.csv");
    FUZZ_ASSERT(nodec_data_save(out, m, &d, err, sizeof err) == 0);
    FUZZ_ASSERT(nodec_data_load(out, m, &e, err, sizeof err) == 0);
    FUZZ_ASSERT(same_data(&d, &e));
    nodec_data_free(&d);
    nodec_data_free(&e);
}

static void check_table(const char *path) {
    char err[2048] = "";
    nodec_table t, untouched;
    memset(&t, 0xa5, sizeof t);
    untouched = t;
    if (nodec_table_load(path, &t, err, sizeof err)) {
        FUZZ_ASSERT(memcmp(&t, &untouched, sizeof t) == 0);
        FUZZ_ASSERT(err[0] != 0);
        return;
    }
    FUZZ_ASSERT(t.ncol >= 1 && t.nrow >= 0);
    for (int j = 0; j < t.ncol; j++) FUZZ_ASSERT(nodec_table_column(&t, t.names[j]) >= 0);
    for (size_t i = 0; i < (size_t)t.nrow * t.ncol; i++) FUZZ_ASSERT(isfinite(t.v[i]));
    nodec_table_free(&t);
}

static void check_numbers(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1), err[1024] = "";
    memcpy(s, data, size);
    s[size] = 0;
    double *v = (double *)&err; /* anything that is not NULL */
    int n = -7;
    if (nodec_parse_numbers("--z0", s, &v, &n, err, sizeof err) == 0) {
        FUZZ_ASSERT(n >= 0);
        for (int i = 0; i < n; i++) FUZZ_ASSERT(isfinite(v[i]));
        free(v);
    } else {
        FUZZ_ASSERT(v == (double *)&err && n == -7 && err[0] != 0);
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file("in.csv", data, size);
    check_data(path, &vec);
    check_data(path, &mix);
    check_table(path);
    check_numbers(data, size);
    return 0;
}
