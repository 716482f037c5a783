/* tests/vmath/test_prelude.c — compiler/vmath.c end to end, as the cc
 * backend will use it: a C file made of `#include <math.h>`, the prelude,
 * the sigmoid and softplus helpers and row loops shaped like emit_c.c's
 * (`for (int i = 0; i < n; i++) y[i] = tanh(x[i]);`) is compiled by the
 * system C compiler with `-std=c99 -O2 -fPIC -shared` and vmath_cflags(),
 * loaded, and checked:
 *
 *   1. accuracy: every row within its bound in ulps of the long double
 *      reference (ulp.h), special inputs equal to scalar libm's;
 *        tanh, exp, log, log1p   4 ulp (libmvec's bound, test_vmath.c)
 *        sigmoid                 5 ulp (exp's 4, one add and one division)
 *        softplus                6 ulp (exp's 4 through log1p, log1p's 4 at
 *                                  most where it is near its argument)
 *   2. the loops call the vector variants: where the prelude declared
 *      vector tanh (it defines ND_VECTOR_TANH: gcc, glibc ≥ 2.35, x86-64),
 *      the shared object must reference a `_ZGV*_tanh` (nm -D);
 *   3. without -DND_VECTOR_MATH the same file is plain C99: it compiles
 *      with -Wall -Wextra -Werror, calls no vector symbol, and its
 *      branch-free sigmoid and softplus give the old branching forms'
 *      values bit for bit (so emit_c.c can switch to them unconditionally);
 *   4. with g++ at hand, the file also compiles as C++17 with the macro on.
 *
 * usage: test_prelude CC OUTDIR [--bound ULP] [--cxx CXX]
 * Exit 77 (skip) when CC cannot compile or load a shared object at all. */
#define _GNU_SOURCE
#include "ulp.h"

#include <dlfcn.h>
#include <sys/stat.h>

const char *vmath_prelude(void);
const char *vmath_sigmoid_src(void);
const char *vmath_softplus_src(void);
const char *const *vmath_cflags(void);

typedef void Row(int n, const double *x, double *y);

static const char rows[] = "#define ROW(name, expr) \\\n"
                           "    void name(int n, const double *restrict x, double *restrict y) \\\n"
                           "    { for (int i = 0; i < n; i++) y[i] = expr; }\n"
                           "ROW(row_tanh, tanh(x[i]))\nROW(row_exp, exp(x[i]))\nROW(row_log, log(x[i]))\n"
                           "ROW(row_log1p, log1p(x[i]))\nROW(row_sigmoid, nd_sigmoid(x[i]))\n"
                           "ROW(row_softplus, nd_softplus(x[i]))\n"
                           "extern const int rows_vector_tanh;\n#ifdef ND_VECTOR_TANH\nconst int rows_vector_tanh = "
                           "1;\n#else\nconst int rows_vector_tanh = 0;\n#endif\n";

static int write_source(const char *path, int cxx) {
    FILE *f = fopen(path, "w");
    if (!f) return 0;
    fprintf(f, "#include <math.h>\n%s%s%s", vmath_prelude(), vmath_sigmoid_src(), vmath_softplus_src());
    if (cxx) fputs("#define restrict __restrict\n", f);
    fputs(rows, f);
    return fclose(f) == 0;
}

/* Runs `cc args... -o so src -lm`; returns the exit status (−1: no shell). */
static int compile(const char *cc, const char *std, int vector, const char *so, const char *src, const char *log) {
    char cmd[8192];
    int k = snprintf(cmd, sizeof cmd, "'%s' %s -O2 -fPIC -shared -Wall -Wextra -Werror", cc, std);
    if (vector)
        for (const char *const *f = vmath_cflags(); *f; f++) k += snprintf(cmd + k, sizeof cmd - k, " %s", *f);
    snprintf(cmd + k, sizeof cmd - k, " -o '%s' '%s' -lm >'%s' 2>&1", so, src, log);
    int rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr, "failed: %s\n", cmd);
        FILE *l = fopen(log, "r");
        char line[512];
        while (l && fgets(line, sizeof line, l)) fputs(line, stderr);
        if (l) fclose(l);
    }
    return rc;
}

/* How many undefined _ZGV…_tanh symbols the object references (−1: no nm). */
static int vector_tanh_refs(const char *so) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "nm -D --undefined-only '%s' 2>/dev/null || echo NO-NM", so);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[512];
    int n = 0, nonm = 0;
    while (fgets(line, sizeof line, p)) {
        if (strstr(line, "NO-NM")) nonm = 1;
        if (strstr(line, "_ZGV") && strstr(line, "_tanh")) n++, printf("  references %s", strstr(line, "_ZGV"));
    }
    pclose(p);
    return nonm ? -1 : n;
}

static const char *const row_sym[VM_NFUNC] = {"row_tanh",  "row_exp",     "row_log",
                                              "row_log1p", "row_sigmoid", "row_softplus"};
static const double bound[VM_NFUNC] = {4, 4, 4, 4, 5, 6};

int main(int argc, char **argv) {
    if (argc < 3) return fprintf(stderr, "usage: test_prelude CC OUTDIR [--bound ULP] [--cxx CXX]\n"), 2;
    const char *cc = argv[1], *dir = argv[2], *cxx = NULL;
    double force = -1;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--bound"))
            force = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--cxx"))
            cxx = argv[i + 1];
    }
    mkdir(dir, 0777);
    char src[4096], so_v[4096], so_p[4096], log[4096];
    snprintf(src, sizeof src, "%s/rows.c", dir);
    snprintf(so_v, sizeof so_v, "%s/rows_vector.so", dir);
    snprintf(so_p, sizeof so_p, "%s/rows_plain.so", dir);
    snprintf(log, sizeof log, "%s/cc.log", dir);
    if (!write_source(src, 0)) return fprintf(stderr, "cannot write %s\n", src), 1;
    int fails = 0;

    /* 3 first: the plain build must work for anything else to mean much. */
    int rc = compile(cc, "-std=c99", 0, so_p, src, log);
    if (rc == -1 || rc == 127 << 8) return printf("SKIP: cannot run the C compiler '%s'\n", cc), 77;
    if (rc) return printf("FAIL: the prelude does not compile as plain C99\n"), 1;
    if (compile(cc, "-std=c99", 1, so_v, src, log)) return printf("FAIL: does not compile with vmath_cflags()\n"), 1;
    void *plain = dlopen(so_p, RTLD_NOW | RTLD_LOCAL), *vec = dlopen(so_v, RTLD_NOW | RTLD_LOCAL);
    if (!plain || !vec) return printf("FAIL: cannot load the rows: %s\n", dlerror()), 1;
    int refs = vector_tanh_refs(so_p);
    if (refs > 0) printf("FAIL: the plain build calls vector tanh\n"), fails++;

    long dense = 200000, cap = 3 * dense + 64;
    double *x = malloc(sizeof(double) * cap), *y = malloc(sizeof(double) * cap);
    if (!x || !y) return fprintf(stderr, "out of memory\n"), 1;
    for (int f = 0; f < VM_NFUNC; f++) {
        long n = vm_inputs(f, x, cap, dense);
        Row *rv = (Row *)dlsym(vec, row_sym[f]), *rp = (Row *)dlsym(plain, row_sym[f]);
        if (!rv || !rp) return printf("FAIL: no %s in the rows\n", row_sym[f]), 1;
        rv((int)n, x, y);
        fails += vm_report("prelude + vmath_cflags", f, x, y, n, force >= 0 ? force : bound[f]);
        if (f >= VM_SIGMOID) { /* the branch-free helpers vs the branching ones, scalar libm */
            rp((int)n, x, y);
            long differ = 0;
            for (long i = 0; i < n; i++) {
                double s = vm_scalar(f, x[i]);
                if (memcmp(&s, &y[i], sizeof s) && !(isnan(s) && isnan(y[i]))) differ++;
            }
            printf("%-26s %-9s %9ld points  %ld differ from the branching form%s\n", "plain C99 (no macro)", vm_name[f],
                   n, differ, differ ? "  FAIL" : " (bit for bit)");
            fails += differ != 0;
        }
    }
    free(x), free(y);

    /* 2: the loops call libmvec where the prelude declares it. */
    refs = vector_tanh_refs(so_v);
    const int *declared = (const int *)dlsym(vec, "rows_vector_tanh");
    if (declared && *declared) {
        if (refs == 0)
            printf("FAIL: the prelude declared vector tanh but the loop calls no _ZGV*_tanh\n"), fails++;
        else if (refs < 0)
            printf("note: no nm: the vector symbol check is skipped\n");
    } else {
        printf("note: the prelude declares no vector tanh for this compiler or libc (clang, glibc < 2.35, not x86-64): "
               "scalar tanh, %d vector references\n",
               refs);
    }

    /* 4: C++17, as tests/ compiles the emitted C (models/<name>/c++17). */
    if (cxx) {
        char srcxx[4096], soxx[4096];
        snprintf(srcxx, sizeof srcxx, "%s/rows.cc", dir);
        snprintf(soxx, sizeof soxx, "%s/rows_cxx.so", dir);
        if (!write_source(srcxx, 1) || compile(cxx, "-std=c++17", 1, soxx, srcxx, log))
            printf("FAIL: the prelude does not compile as C++17\n"), fails++;
        else
            printf("C++17 with -DND_VECTOR_MATH: compiles warning-free\n");
    }
    dlclose(plain), dlclose(vec);
    printf("%s\n", fails ? "FAIL" : "all checks passed");
    return fails ? 1 : 0;
}
