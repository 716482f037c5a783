/* test_io.c — tests of runtime/io.c, one CTest test per subcommand or file.
 *
 *   test_io <unit-test> <tmpdir>         a unit test (see `tests` below)
 *   test_io csv csv/x.csv [--update]     golden: x.err (the load's exact
 *                                        message) or x.out (a dump of the data)
 *   test_io npy npy/x.npz [--update]     golden: x.err (nodec_params_load's
 *                                        message) and/or x.out (array dump)
 *   test_io dump file.npz|file.npy       print the arrays (for the Python tests)
 *   test_io write_npz out.npz            write the known arrays of known_arrays()
 *
 * Data files use the model `vec` (state z[2]) unless the file name starts
 * with `mix_` (state x, z[2], M[2,2]); parameter files use `pm` (params
 * W1[2,3], b1[3], alpha).  Run from tests/io so messages name relative paths.
 * Exit 0 pass, 1 fail.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "io_check.h"
#include "nodec_tools.h"


/* ---- Test models ---------------------------------------------------------- */

static const nodec_var vec_states[] = {{"z", 1, {2, 1}, 0, 2}};
static const nodec_model vec = {.abi_version = NODEC_ABI_VERSION, .name = "vec", .n_state = 2,
                                .n_state_vars = 1, .state_vars = vec_states};

static const nodec_var mix_states[] = {
    {"x", 0, {1, 1}, 0, 1},
    {"z", 1, {2, 1}, 1, 2},
    {"M", 2, {2, 2}, 3, 4},
};
static const nodec_model mix = {.abi_version = NODEC_ABI_VERSION, .name = "mix", .n_state = 7,
                                .n_state_vars = 3, .state_vars = mix_states};

static const nodec_var pm_params[] = {
    {"W1", 2, {2, 3}, 0, 6},
    {"b1", 1, {3, 1}, 6, 3},
    {"alpha", 0, {1, 1}, 9, 1},
};
static const nodec_model pm = {.abi_version = NODEC_ABI_VERSION, .name = "pm", .n_state = 2,
                               .n_state_vars = 1, .state_vars = vec_states, .n_param = 10,
                               .n_param_vars = 3, .param_vars = pm_params};

/* θ of pm as the fixtures hold it (tests/io/make_fixtures.py). */
static const double pm_theta[10] = {0.5, -1.25, 2.0, 1e-300, -0.0, 3.141592653589793, 1.0, 2.0, 3.0, 1.5};

/* ---- Helpers ------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
    char *s;
    size_t n;
    if (nodec_read_file(path, &s, &n, NULL, 0))
        return NULL;
    if (len)
        *len = n;
    return s;
}

static int same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

static void dump_arrays(FILE *f, const nodec_array *a, int n)
{
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s (", a[i].name);
        for (int d = 0; d < a[i].ndim; d++)
            fprintf(f, d ? ", %zu" : "%zu", a[i].shape[d]);
        fprintf(f, a[i].ndim == 1 ? ",)" : ")");
        for (size_t k = 0; k < a[i].size; k++)
            fprintf(f, " %.17g", a[i].data[k]);
        fprintf(f, "\n");
    }
}

static void dump_data(FILE *f, const nodec_data *d)
{
    for (int i = 0; i < d->n_traj; i++) {
        const nodec_traj *t = &d->traj[i];
        fprintf(f, "traj %ld: %d rows\n", t->id, t->n);
        for (int r = 0; r < t->n; r++) {
            fprintf(f, "%.17g |", t->t[r]);
            for (int k = 0; k < d->n_state; k++)
                fprintf(f, " %.17g", t->z[r * d->n_state + k]);
            fprintf(f, "\n");
        }
    }
}

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcmp(s + n - k, suf) == 0;
}

/* Compares got with the golden file (x.csv → x.err / x.out); --update
 * writes it instead. */
static int golden(const char *input, const char *ext, const char *got, int update)
{
    char path[1024];
    snprintf(path, sizeof path, "%.*s%s", (int)(strrchr(input, '.') - input), input, ext);
    if (update) {
        FILE *f = fopen(path, "w");
        if (!f || fputs(got, f) < 0 || fclose(f)) {
            perror(path);
            return 1;
        }
        printf("updated %s\n", path);
        return 0;
    }
    char *want = slurp(path, NULL);
    if (!want) {
        fprintf(stderr, "%s: no golden file %s; got:\n%s", input, path, got);
        return 1;
    }
    int ok = strcmp(want, got) == 0;
    if (!ok)
        fprintf(stderr, "%s: output differs from %s\n--- want\n%s--- got\n%s", input, path, want, got);
    free(want);
    return !ok;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int golden_exists(const char *input, const char *ext)
{
    char path[1024];
    snprintf(path, sizeof path, "%.*s%s", (int)(strrchr(input, '.') - input), input, ext);
    return exists(path);
}

/* ---- Golden files ---------------------------------------------------------- */

static int run_csv(const char *path, int update)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    const nodec_model *m = strncmp(base, "mix_", 4) == 0 ? &mix : &vec;
    nodec_data d;
    char err[1024];
    if (nodec_data_load(path, m, &d, err, sizeof err)) {
        strcat(err, "\n");
        if (!update && !golden_exists(path, ".err") && golden_exists(path, ".out")) {
            fprintf(stderr, "%s: should load but fails: %s", path, err);
            return 1;
        }
        return golden(path, ".err", err, update);
    }
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    dump_data(f, &d);
    fclose(f);
    nodec_data_free(&d);
    if (!update && golden_exists(path, ".err")) {
        fprintf(stderr, "%s: should fail but loads:\n%s", path, out);
        free(out);
        return 1;
    }
    int rc = golden(path, ".out", out, update);
    free(out);
    return rc;
}

/* x.err: what nodec_params_load says (or "ok" when it loads pm_theta);
 * x.out: the arrays nodec_npz_load / nodec_npy_load read. */
static int run_npy(const char *path, int update)
{
    int rc = 0;
    double theta[10];
    if (!update && !golden_exists(path, ".err") && !golden_exists(path, ".out")) {
        fprintf(stderr, "%s: no golden file (.err or .out); run with --update and read it\n", path);
        return 1;
    }
    char err[1024];
    if (update || golden_exists(path, ".err")) {
        if (nodec_params_load(path, &pm, theta, err, sizeof err) == 0)
            snprintf(err, sizeof err, "ok%s", memcmp(theta, pm_theta, sizeof theta) ? " but θ differs" : "");
        strcat(err, "\n");
        rc |= golden(path, ".err", err, update);
    }
    if (update || golden_exists(path, ".out")) {
        nodec_array *a = NULL, one;
        int n = 1;
        int bad = has_suffix(path, ".npy") ? nodec_npy_load(path, &one, err, sizeof err)
                                           : nodec_npz_load(path, &a, &n, err, sizeof err);
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        if (bad)
            fprintf(f, "error: %s\n", err);
        else if (a)
            dump_arrays(f, a, n);
        else
            dump_arrays(f, &one, 1);
        fclose(f);
        if (!bad && a)
            nodec_arrays_free(a, n);
        else if (!bad)
            free(one.data);
        rc |= golden(path, ".out", out, update);
        free(out);
    }
    return rc;
}

/* ---- Unit tests ------------------------------------------------------------ */

static void test_crc32(void)
{
    CHECK(nodec_crc32(0, "123456789", 9) == 0xCBF43926ul);
    CHECK(nodec_crc32(0, "", 0) == 0);
    unsigned char buf[1000];
    for (int i = 0; i < 1000; i++)
        buf[i] = (unsigned char)(i * 7 + i / 13);
    CHECK(nodec_crc32(0, buf, sizeof buf) == crc32(0, buf, sizeof buf));
    CHECK(nodec_crc32(nodec_crc32(0, buf, 300), buf + 300, 700) == crc32(0, buf, sizeof buf));
}

static void test_numbers(void)
{
    double *v;
    int n;
    char err[512];
    CHECK(nodec_parse_numbers("--z0", "2,0", &v, &n, err, sizeof err) == 0 && n == 2 && v[0] == 2 && v[1] == 0);
    free(v);
    CHECK(nodec_parse_numbers("--z0", " 1.5, -2e-3 ", &v, &n, err, sizeof err) == 0 && n == 2 && v[0] == 1.5 &&
          v[1] == -2e-3);
    free(v);
    CHECK(nodec_parse_numbers("--z0", "[1, 2, 3]", &v, &n, err, sizeof err) == 0 && n == 3 && v[2] == 3);
    free(v);
    CHECK(nodec_parse_numbers("--z0", "-7", &v, &n, err, sizeof err) == 0 && n == 1 && v[0] == -7);
    free(v);

    CHECK(nodec_parse_numbers("--z0", "", &v, &n, err, sizeof err) == -1);
    CHECK_MSG(err, "--z0: no numbers in ''; write them separated by commas, like 2,0");
    CHECK(nodec_parse_numbers("--z0", "2,x", &v, &n, err, sizeof err) == -1);
    CHECK_MSG(err, "--z0: 'x' (number 2 of '2,x') is not a number");
    CHECK(nodec_parse_numbers("--z0", "1,,2", &v, &n, err, sizeof err) == -1);
    CHECK_MSG(err, "--z0: number 2 of '1,,2' is missing; remove the extra comma");
    CHECK(nodec_parse_numbers("--z0", "1,2,", &v, &n, err, sizeof err) == -1);
    CHECK_MSG(err, "number 3 of '1,2,' is missing");
    CHECK(nodec_parse_numbers("--z0", "1,nan", &v, &n, err, sizeof err) == -1);
    CHECK_MSG(err, "'nan' (number 2 of '1,nan') is not finite");
    CHECK(nodec_parse_numbers("--z0", "1 2", &v, &n, err, sizeof err) == -1);
    CHECK_MSG(err, "'1 2' (number 1 of '1 2') is not a number; write numbers separated by commas");
    CHECK(nodec_parse_numbers("--z0", "1e999", &v, &n, err, sizeof err) == -1);
    CHECK_MSG(err, "is not finite");
}

/* Arrays with awkward values: -0, denormals, extremes, a scalar, an empty
 * array, a 3-d one. */
static double vals_a[6] = {0.5, -1.25, 2.0, 1e-300, -0.0, 3.141592653589793};
static double vals_b[1] = {3.25};
static double vals_d[5] = {4.9406564584124654e-324, 1.7976931348623157e308, -2.2250738585072014e-308, 1.0 / 3, 1e22};
static double vals_e[24];
static nodec_array known[5];

static void known_arrays(void)
{
    for (int i = 0; i < 24; i++)
        vals_e[i] = i * 0.25 - 3;
    nodec_array a[5] = {
        {"a", 2, {2, 3}, 6, vals_a},
        {"b", 0, {0}, 1, vals_b},
        {"c", 1, {0}, 0, vals_b},
        {"d", 1, {5}, 5, vals_d},
        {"opt/m", 3, {2, 3, 4}, 24, vals_e},
    };
    memcpy(known, a, sizeof a);
}

static int arrays_equal(const nodec_array *a, const nodec_array *b)
{
    if (strcmp(a->name, b->name) || a->ndim != b->ndim || a->size != b->size)
        return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d])
            return 0;
    for (size_t k = 0; k < a->size; k++)
        if (!same_bits(a->data[k], b->data[k]))
            return 0;
    return 1;
}

static void test_npy_roundtrip(void)
{
    char err[512];
    for (int i = 0; i < 5; i++) {
        char name[64];
        snprintf(name, sizeof name, "arr%d.npy", i);
        nodec_array b;
        CHECK(nodec_npy_save(tmp(name), &known[i], err, sizeof err) == 0);
        CHECK(nodec_npy_load(tmp(name), &b, err, sizeof err) == 0);
        memcpy(b.name, known[i].name, sizeof b.name); /* the file name is arr<i> */
        CHECK(arrays_equal(&known[i], &b));
        size_t len;
        char *s = slurp(tmp(name), &len);
        CHECK(s && (len - known[i].size * 8) % 64 == 0); /* data aligned to 64 (NEP 1) */
        free(s);
        free(b.data);
    }
    nodec_array b;
    CHECK(nodec_npy_load(tmp("arr0.npy"), &b, err, sizeof err) == 0 && strcmp(b.name, "arr0") == 0);
    free(b.data);
}

static void test_npz_roundtrip(void)
{
    char err[512];
    nodec_array *b;
    int n;
    CHECK(nodec_npz_save(tmp("a.npz"), known, 5, err, sizeof err) == 0);
    CHECK(nodec_npz_load(tmp("a.npz"), &b, &n, err, sizeof err) == 0 && n == 5);
    for (int i = 0; i < 5 && i < n; i++)
        CHECK(arrays_equal(&known[i], &b[i]));
    CHECK(nodec_arrays_find(b, n, "opt/m") == &b[4] && nodec_arrays_find(b, n, "zz") == NULL);
    nodec_arrays_free(b, n);

    /* Saving is deterministic: the same arrays give the same bytes. */
    CHECK(nodec_npz_save(tmp("b.npz"), known, 5, err, sizeof err) == 0);
    size_t la = 0, lb = 0;
    char *sa = slurp(tmp("a.npz"), &la), *sb = slurp(tmp("b.npz"), &lb);
    CHECK(sa && sb && la == lb && memcmp(sa, sb, la) == 0);
    free(sa);
    free(sb);

    CHECK(nodec_npz_save(tmp("none.npz"), known, 0, err, sizeof err) == 0);
    CHECK(nodec_npz_load(tmp("none.npz"), &b, &n, err, sizeof err) == 0 && n == 0);
    nodec_arrays_free(b, n);

    nodec_array dup[2] = {known[0], known[0]};
    CHECK(nodec_npz_save(tmp("dup.npz"), dup, 2, err, sizeof err) == -1);
    CHECK_MSG(err, "two arrays are named 'a'");
    CHECK(!exists(tmp("dup.npz")));
    nodec_array badsize = known[0];
    badsize.size = 5;
    CHECK(nodec_npz_save(tmp("bad.npz"), &badsize, 1, err, sizeof err) == -1);
    CHECK_MSG(err, "array 'a' has size 5 but its shape holds 6");
}

static void test_params_roundtrip(void)
{
    char err[512];
    double theta[10], back[10];
    for (int i = 0; i < 10; i++)
        theta[i] = sin(i + 1.0) * 1e3;
    const char *files[] = {"p.npz", "p.npy"};
    for (int f = 0; f < 2; f++) {
        memset(back, 0, sizeof back);
        CHECK(nodec_params_save(tmp(files[f]), &pm, theta, err, sizeof err) == 0);
        CHECK(nodec_params_load(tmp(files[f]), &pm, back, err, sizeof err) == 0);
        CHECK(memcmp(theta, back, sizeof theta) == 0);
    }
    /* The .npz holds each parameter in its shape. */
    nodec_array *a;
    int n;
    CHECK(nodec_npz_load(tmp("p.npz"), &a, &n, err, sizeof err) == 0 && n == 3);
    if (n == 3) {
        CHECK(strcmp(a[0].name, "W1") == 0 && a[0].ndim == 2 && a[0].shape[0] == 2 && a[0].shape[1] == 3);
        CHECK(strcmp(a[1].name, "b1") == 0 && a[1].ndim == 1 && a[1].shape[0] == 3);
        CHECK(strcmp(a[2].name, "alpha") == 0 && a[2].ndim == 0 && a[2].size == 1 && a[2].data[0] == theta[9]);
    }
    nodec_arrays_free(a, n);

    /* The model vec has no parameters: θ is empty, and a file with some is wrong. */
    CHECK(nodec_params_load(tmp("p.npz"), &vec, back, err, sizeof err) == -1);
    CHECK_MSG(err, "'W1' is not a parameter of model vec");
    /* A failed load leaves θ alone. */
    memcpy(back, theta, sizeof back);
    CHECK(nodec_params_load("npy/wrong_shape.npz", &pm, back, err, sizeof err) == -1);
    CHECK(memcmp(theta, back, sizeof theta) == 0);
    CHECK(nodec_params_load(tmp("nonexistent.npz"), &pm, back, err, sizeof err) == -1);
    CHECK_MSG(err, "nonexistent.npz': No such file or directory");
}

/* The fixtures as np.savez and np.savez_compressed write them. */
static void test_fixture_params(void)
{
    char err[512];
    const char *files[] = {"npy/stored.npz", "npy/deflated.npz", "npy/theta.npy"};
    for (int f = 0; f < 3; f++) {
        double theta[10] = {0};
        int rc = nodec_params_load(files[f], &pm, theta, err, sizeof err);
        if (rc)
            fprintf(stderr, "%s\n", err);
        CHECK(rc == 0);
        for (int i = 0; i < 10; i++)
            CHECK(same_bits(theta[i], pm_theta[i]));
    }
}

static const double ts[4] = {0, 0.5, 1.25, 10};
static const double zs_mix[4 * 7] = {
    1, 2, 3, 4, 5, 6, 7, -1e-300, 0.1, 1.0 / 3, 1e22, -0.0, 2.5, 8, 9, 10, 11, 12, 13, 14, 15, 3.14, 2.71, 1.41,
    1.73, 0.57, 4.66, 1e-5,
};

static void test_csv_roundtrip(void)
{
    char err[512];
    nodec_data d;
    CHECK(nodec_traj_save(tmp("traj.csv"), &mix, 4, ts, zs_mix, err, sizeof err) == 0);
    char *s = slurp(tmp("traj.csv"), NULL);
    const char *head = "t,x,z[0],z[1],\"M[0,0]\",\"M[0,1]\",\"M[1,0]\",\"M[1,1]\"\n0,1,2,3,4,5,6,7\n";
    CHECK(s && strncmp(s, head, strlen(head)) == 0);
    free(s);
    CHECK(nodec_data_load(tmp("traj.csv"), &mix, &d, err, sizeof err) == 0);
    CHECK(d.n_traj == 1 && d.traj[0].n == 4 && d.traj[0].id == 0);
    for (int i = 0; i < 4 * 7 && d.n_traj; i++)
        CHECK(same_bits(d.traj[0].z[i], zs_mix[i]));
    for (int i = 0; i < 4 && d.n_traj; i++)
        CHECK(same_bits(d.traj[0].t[i], ts[i]));

    /* Several trajectories: a traj column, ids kept. */
    nodec_traj tr[2] = {{7, 4, (double *)ts, (double *)zs_mix, NULL},
                        {-3, 2, (double *)ts + 2, (double *)zs_mix + 14, NULL}};
    nodec_data two = {7, 2, tr, 0};
    nodec_data_free(&d);
    CHECK(nodec_data_save(tmp("two.csv"), &mix, &two, err, sizeof err) == 0);
    CHECK(nodec_data_load(tmp("two.csv"), &mix, &d, err, sizeof err) == 0 || (puts(err), 0));
    CHECK(d.n_traj == 2 && d.traj[0].id == 7 && d.traj[1].id == -3 && d.traj[1].n == 2);
    if (d.n_traj == 2)
        CHECK(memcmp(d.traj[1].z, zs_mix + 14, 14 * sizeof(double)) == 0 && d.traj[1].t[1] == 10);
    nodec_data_free(&d);

    /* To a FILE, as `nodec solve` prints it. */
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    CHECK(nodec_traj_write(f, &vec, 2, ts, zs_mix) == 0);
    fclose(f);
    CHECK(strcmp(out, "t,z[0],z[1]\n0,1,2\n0.5,3,4\n") == 0);
    free(out);

    char name[64];
    CHECK(nodec_state_column_name(&mix, 5, name, sizeof name) == 6 && strcmp(name, "M[1,0]") == 0);
    CHECK(nodec_state_column_name(&mix, 0, name, sizeof name) == 1 && strcmp(name, "x") == 0);
}

static void test_table(void)
{
    char err[512];
    nodec_table t;
    FILE *f = fopen(tmp("times.csv"), "w");
    fputs("\xEF\xBB\xBFt, w\r\n0,1\r\n0.5, 2\r\n\r\n", f);
    fclose(f);
    CHECK(nodec_table_load(tmp("times.csv"), &t, err, sizeof err) == 0);
    CHECK(t.ncol == 2 && t.nrow == 2 && nodec_table_column(&t, "w") == 1 && nodec_table_column(&t, "x") == -1);
    CHECK(t.v[0] == 0 && t.v[1] == 1 && t.v[2] == 0.5 && t.v[3] == 2);
    nodec_table_free(&t);

    f = fopen(tmp("bad.csv"), "w");
    fputs("t\n1\nx\n", f);
    fclose(f);
    CHECK(nodec_table_load(tmp("bad.csv"), &t, err, sizeof err) == -1);
    CHECK_MSG(err, "bad.csv:3: column 't': 'x' is not a number");
}

/* A save interrupted halfway leaves the previous file whole. */
static void test_interrupted_save(void)
{
    char err[512];
    double theta[10], back[10];
    for (int i = 0; i < 10; i++)
        theta[i] = i + 0.5;
    const char *files[] = {"keep.npz", "keep.npy", "keep.csv"};
    for (int f = 0; f < 3; f++) {
        const char *p = tmp(files[f]);
        if (f < 2)
            CHECK(nodec_params_save(p, &pm, theta, err, sizeof err) == 0);
        else
            CHECK(nodec_traj_save(p, &mix, 4, ts, zs_mix, err, sizeof err) == 0);
        size_t len0 = 0;
        char *before = slurp(p, &len0);

        double other[10];
        for (int i = 0; i < 10; i++)
            other[i] = -i;
        setenv("NODEC_TEST_FAIL_WRITE_AFTER", "20", 1);
        int rc = f < 2 ? nodec_params_save(p, &pm, other, err, sizeof err)
                       : nodec_traj_save(p, &vec, 2, ts, zs_mix, err, sizeof err);
        unsetenv("NODEC_TEST_FAIL_WRITE_AFTER");
        CHECK(rc == -1);
        CHECK_MSG(err, "Input/output error (simulated by NODEC_TEST_FAIL_WRITE_AFTER)");
        CHECK_MSG(err, files[f]);

        size_t len1;
        char *after = slurp(p, &len1);
        CHECK(before && after && len0 == len1 && memcmp(before, after, len0) == 0);
        free(before);
        free(after);
        char tmpname[2100];
        snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", p, (long)getpid());
        CHECK(!exists(tmpname));
        if (f < 2) {
            CHECK(nodec_params_load(p, &pm, back, err, sizeof err) == 0);
            CHECK(memcmp(theta, back, sizeof theta) == 0);
        }
    }
    /* A replaced file keeps its permissions. */
    chmod(tmp("keep.npz"), 0600);
    CHECK(nodec_params_save(tmp("keep.npz"), &pm, theta, err, sizeof err) == 0);
    struct stat st;
    CHECK(stat(tmp("keep.npz"), &st) == 0 && (st.st_mode & 0777) == 0600);
    /* A hook past the end does not fire. */
    setenv("NODEC_TEST_FAIL_WRITE_AFTER", "100000", 1);
    CHECK(nodec_params_save(tmp("keep.npz"), &pm, theta, err, sizeof err) == 0);
    unsetenv("NODEC_TEST_FAIL_WRITE_AFTER");
}

static void test_unwritable(void)
{
    char err[512];
    double theta[10] = {0};
    CHECK(nodec_params_save(tmp("no/such/dir/p.npz"), &pm, theta, err, sizeof err) == -1);
    CHECK_MSG(err, "cannot write '");
    CHECK_MSG(err, "no/such/dir/p.npz': No such file or directory; create the directory first");

    FILE *f = fopen(tmp("plain"), "w");
    fclose(f);
    CHECK(nodec_params_save(tmp("plain/p.npz"), &pm, theta, err, sizeof err) == -1);
    CHECK_MSG(err, "plain/p.npz': Not a directory");

    mkdir(tmp("isdir.npz"), 0755);
    CHECK(nodec_params_save(tmp("isdir.npz"), &pm, theta, err, sizeof err) == -1);
    CHECK_MSG(err, "isdir.npz': Is a directory; the path names a directory");
    char tmpname[2100];
    snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", tmp("isdir.npz"), (long)getpid());
    CHECK(!exists(tmpname)); /* rename failed: the temp file is gone */

    /* Root writes anywhere, so a read-only directory only tells as a user. */
    if (geteuid() != 0) {
        mkdir(tmp("ro"), 0555);
        chmod(tmp("ro"), 0555);
        CHECK(nodec_params_save(tmp("ro/p.npz"), &pm, theta, err, sizeof err) == -1);
        CHECK_MSG(err, "ro/p.npz': Permission denied; choose a directory you can write to");
    }
}

/* Damaged copies of good files (flipped, overwritten and cut bytes) must
 * give errors, never crashes; run under ASan/UBSan this is a small fuzzer
 * (IO_MUTATIONS=<n> tries n damaged copies of each file instead of 400). */
static void test_mutations(void)
{
    const char *files[] = {"npy/stored.npz", "npy/deflated.npz", "npy/theta.npy", "npy/be.npy",
                           "npy/zip64_eocd.npz", "csv/mix_matrix.csv", "csv/traj.csv", "csv/quoted.csv"};
    unsigned long long x = 88172645463325252ull;
    int loaded = 0, refused = 0, iters = getenv("IO_MUTATIONS") ? atoi(getenv("IO_MUTATIONS")) : 400;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        size_t len;
        char *orig = slurp(files[f], &len);
        CHECK(orig != NULL);
        if (!orig)
            continue;
        char *buf = malloc(len + 1);
        const char *p = tmp(strrchr(files[f], '/') + 1);
        int csv = has_suffix(files[f], ".csv");
        for (int it = 0; it < iters; it++) {
            memcpy(buf, orig, len);
            size_t n = len;
            for (int k = 0; k < 1 + it % 3; k++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                size_t at = (size_t)(x >> 8) % len;
                switch (x % 4) {
                case 0: buf[at] ^= (char)(1 << (x >> 40) % 8); break;
                case 1: buf[at] = csv ? ",\n\"[]x"[(x >> 40) % 6] : (char)0xff; break;
                case 2: buf[at] = 0; break;
                case 3: n = at; break;
                }
            }
            FILE *o = fopen(p, "wb");
            fwrite(buf, 1, n, o);
            fclose(o);
            char err[1024];
            int rc;
            if (csv) {
                nodec_data d;
                nodec_table t;
                rc = nodec_data_load(p, strstr(p, "mix_") ? &mix : &vec, &d, err, sizeof err);
                if (!rc)
                    nodec_data_free(&d);
                if (!nodec_table_load(p, &t, err, sizeof err))
                    nodec_table_free(&t);
            } else {
                double theta[10];
                nodec_array *a, one;
                int na;
                rc = nodec_params_load(p, &pm, theta, err, sizeof err);
                if (has_suffix(p, ".npy") ? !nodec_npy_load(p, &one, err, sizeof err) && (free(one.data), 1)
                                          : !nodec_npz_load(p, &a, &na, err, sizeof err))
                    if (!has_suffix(p, ".npy"))
                        nodec_arrays_free(a, na);
            }
            if (rc) {
                CHECK(strlen(err) > 0);
                refused++;
            } else {
                loaded++;
            }
        }
        free(buf);
        free(orig);
    }
    CHECK(refused > iters * 2);
    printf("mutations: %d loaded, %d refused\n", loaded, refused);
}

static const struct {
    const char *name;
    void (*fn)(void);
} tests[] = {
    {"crc32", test_crc32},
    {"numbers", test_numbers},
    {"npy_roundtrip", test_npy_roundtrip},
    {"npz_roundtrip", test_npz_roundtrip},
    {"params_roundtrip", test_params_roundtrip},
    {"fixture_params", test_fixture_params},
    {"csv_roundtrip", test_csv_roundtrip},
    {"table", test_table},
    {"interrupted_save", test_interrupted_save},
    {"unwritable", test_unwritable},
    {"mutations", test_mutations},
};

int main(int argc, char **argv)
{
    known_arrays();
    if (argc < 3) {
        fprintf(stderr, "usage: test_io TEST TMPDIR | csv|npy FILE [--update] | dump FILE | write_npz FILE\n");
        return 2;
    }
    int update = argc > 3 && strcmp(argv[3], "--update") == 0;
    if (strcmp(argv[1], "csv") == 0)
        return run_csv(argv[2], update);
    if (strcmp(argv[1], "npy") == 0)
        return run_npy(argv[2], update);
    if (strcmp(argv[1], "write_npz") == 0) {
        char err[512];
        if (nodec_npz_save(argv[2], known, 5, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        return 0;
    }
    if (strcmp(argv[1], "dump") == 0) {
        char err[512];
        nodec_array *a = NULL, one;
        int n = 1;
        if (has_suffix(argv[2], ".npy") ? nodec_npy_load(argv[2], &one, err, sizeof err)
                                        : nodec_npz_load(argv[2], &a, &n, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        dump_arrays(stdout, a ? a : &one, n);
        if (a)
            nodec_arrays_free(a, n);
        else
            free(one.data);
        return 0;
    }
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (strcmp(argv[1], tests[i].name) != 0)
            continue;
        snprintf(tmpdir, sizeof tmpdir, "%s/%s", argv[2], tests[i].name);
        mkdir(argv[2], 0755);
        mkdir(tmpdir, 0755);
        tests[i].fn();
        if (failures)
            fprintf(stderr, "%s: %d failures\n", tests[i].name, failures);
        return failures != 0;
    }
    fprintf(stderr, "test_io: no test '%s'\n", argv[1]);
    return 2;
}
