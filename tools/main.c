/* main.c — the `nodec` command line (DESIGN.md §5).
 *
 * Each command parses its options, runs the pipeline through nc_compile and
 * acts on the result.  Usage errors exit 2, model or I/O errors exit 1;
 * nothing is written unless everything before it succeeded, and files are
 * written to a temporary name and renamed into place.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "cmd.h"

#include <math.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct Cmd {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
    const char *help;
} Cmd;

static const Cmd *find_cmd(const char *name);

static int usage_error(const char *cmd, const char *fmt, const char *arg) {
    fprintf(stderr, "nodec %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nrun `nodec %s --help` for its options\n", cmd);
    return 2;
}

/* `check --points`: each point costs a few evaluations per parameter. */
#define MAX_CHECK_POINTS 10000
#define STR_(x) #x
#define STR(x) STR_(x)

/* Options shared by the commands: one positional model file and flags. */
typedef struct Args {
    const char *model;
    const char *out;
    const char *dump;
    unsigned long long seed;
    int points;
    double tol;
    bool latex;
    bool blas, no_tiles; /* emit --blas, --no-tiles */
    bool z_range;        /* check --z-range LO:HI */
    double z_lo, z_hi;
    bool help;
    const char *backend;
} Args;

static bool take(int argc, char **argv, int *i, const char *flag, const char **val, const char *cmd, int *err) {
    size_t n = strlen(flag);
    if (strncmp(argv[*i], flag, n)) return false;
    if (argv[*i][n] == '=') {
        *val = argv[*i] + n + 1;
        return true;
    }
    if (argv[*i][n]) return false;
    if (*i + 1 >= argc) {
        *err = usage_error(cmd, "%s needs a value", flag);
        return true;
    }
    *val = argv[++*i];
    return true;
}

static int parse_args(const char *cmd, int argc, char **argv, Args *a) {
    *a = (Args){.seed = 1, .points = 3, .tol = 1e-6};
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int err = 0;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            a->help = true;
        else if (!strcmp(argv[i], "--latex"))
            a->latex = true;
        else if (!strcmp(cmd, "emit") && !strcmp(argv[i], "--blas"))
            a->blas = true;
        else if (!strcmp(cmd, "emit") && !strcmp(argv[i], "--no-tiles"))
            a->no_tiles = true;
        else if (take(argc, argv, &i, "-o", &v, cmd, &err)) {
            if (err) return err;
            a->out = v;
        } else if (take(argc, argv, &i, "--dump", &v, cmd, &err)) {
            if (err) return err;
            a->dump = v;
        } else if (take(argc, argv, &i, "--backend", &v, cmd, &err)) {
            if (err) return err;
            a->backend = v;
        } else if (take(argc, argv, &i, "--seed", &v, cmd, &err)) {
            if (err) return err;
            long long x;
            if (!nodec_cli_integer(v, 0, NODEC_SEED_MAX, &x))
                return usage_error(cmd, "--seed takes a whole number from 0 to 2^53-1, not '%s'", v);
            a->seed = (unsigned long long)x;
        } else if (take(argc, argv, &i, "--points", &v, cmd, &err)) {
            if (err) return err;
            long long x;
            if (!nodec_cli_integer(v, 1, MAX_CHECK_POINTS, &x))
                return usage_error(cmd, "--points takes a whole number from 1 to " STR(MAX_CHECK_POINTS) ", not '%s'",
                                   v);
            a->points = (int)x;
        } else if (!strcmp(cmd, "check") && take(argc, argv, &i, "--z-range", &v, cmd, &err)) {
            if (err) return err;
            const char *colon = strchr(v, ':');
            char lo[64];
            if (!colon || (size_t)(colon - v) >= sizeof lo)
                return usage_error(cmd, "--z-range takes LO:HI, like -2:2, not '%s'", v);
            memcpy(lo, v, (size_t)(colon - v)), lo[colon - v] = 0;
            if (!nodec_cli_number(lo, &a->z_lo) || !nodec_cli_number(colon + 1, &a->z_hi) || !isfinite(a->z_lo) ||
                !isfinite(a->z_hi) || !(a->z_lo < a->z_hi))
                return usage_error(cmd, "--z-range takes LO:HI with finite LO < HI, like -2:2, not '%s'", v);
            a->z_range = true;
        } else if (take(argc, argv, &i, "--tol", &v, cmd, &err)) {
            if (err) return err;
            if (!nodec_cli_number(v, &a->tol) || !(a->tol > 0))
                return usage_error(cmd, "--tol must be a positive number, got '%s'", v);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return usage_error(cmd, "unknown option '%s'", argv[i]);
        } else if (!a->model) {
            a->model = argv[i];
        } else {
            return usage_error(cmd, "unexpected argument '%s' (one model file at a time)", argv[i]);
        }
    }
    if (a->help) return -1;
    if (!a->model) return usage_error(cmd, "%s", "missing the model file, e.g. models/spiral.nde");
    return 0;
}

/* Reads and compiles args->model; prints diagnostics to stderr. */
static bool compile_file(Compilation *c, const char *path, Stage stop) {
    memset(c, 0, sizeof *c);
    c->arena = arena_new();
    char err[512];
    if (!source_read(path, &c->src, c->arena, err, sizeof err)) {
        fprintf(stderr, "nodec: error: %s\n", err);
        return false;
    }
    c->diag.out = stderr;
    if (nc_compile(c, stop)) return true;
    if (c->diag.nerrors > 1 && !c->diag.fatal) fprintf(stderr, "%d errors\n", c->diag.nerrors);
    return false;
}

static EmitOpts emit_opts(Compilation *c) {
    return (EmitOpts){c->src.path, nc_hash(c->src.text, (size_t)c->src.len), false};
}

/* Writes a whole file or nothing (io.c: temp file, fsync, rename). */
static bool write_atomic(const char *path, const char *s, size_t n) {
    char err[1024];
    if (nodec_write_file_atomic(path, s, n, err, sizeof err) == 0) return true;
    fprintf(stderr, "nodec: error: %s\n", err);
    return false;
}

static int cmd_emit(int argc, char **argv) {
    Args a;
    int rc = parse_args("emit", argc, argv, &a);
    if (rc) return rc < 0 ? (puts(find_cmd("emit")->help), 0) : rc;
    int stage = STAGE_C;
    if (a.dump) {
        stage = nc_stage_from_name(a.dump);
        if (stage < 0) return usage_error("emit", "--dump takes ast, sema, ir, deriv, plan or c, not '%s'", a.dump);
    } else if (!a.out) {
        return usage_error("emit", "%s", "missing -o DIR (where to write <model>.h and <model>.c)");
    }
    Compilation c;
    if (!compile_file(&c, a.model, stage)) return nc_free(&c), 1;
    if (c.prog) c.prog->ir->no_tiles = a.no_tiles;
    Buf b = {0};
    if (a.dump) {
        EmitOpts o = emit_opts(&c);
        nc_dump(&b, &c, stage, &o);
        fputs(b.s ? b.s : "", stdout);
        buf_free(&b), nc_free(&c);
        return 0;
    }
    struct stat st;
    if (stat(a.out, &st) != 0) {
        if (mkdir(a.out, 0777) != 0) {
            fprintf(stderr, "nodec: error: cannot create the output directory '%s': %s\n", a.out, strerror(errno));
            return nc_free(&c), 1;
        }
    } else if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "nodec: error: '%s' is not a directory; -o names the directory for %s.h and %s.c\n", a.out,
                c.model->name, c.model->name);
        return nc_free(&c), 1;
    }
    EmitOpts o = emit_opts(&c);
    o.blas = a.blas;
    Buf h = {0};
    emit_header(&h, c.prog, &o);
    emit_source(&b, c.prog, &o);
    char hp[4096], cp[4096];
    snprintf(hp, sizeof hp, "%s/%s.h", a.out, c.model->name);
    snprintf(cp, sizeof cp, "%s/%s.c", a.out, c.model->name);
    /* The pair or nothing: if the .c cannot be written, the .h goes back to
     * what it was (or away, if there was none). */
    char *old = NULL;
    size_t oldlen = 0;
    bool had = nodec_read_file(hp, &old, &oldlen, NULL, 0) == 0;
    bool ok = !h.oom && !b.oom && write_atomic(hp, h.s, h.len);
    if (ok && !write_atomic(cp, b.s, b.len)) {
        ok = false;
        if (had)
            write_atomic(hp, old, oldlen);
        else
            unlink(hp);
    }
    if (h.oom || b.oom) fprintf(stderr, "nodec: error: out of memory while emitting %s\n", c.model->name);
    free(old);
    buf_free(&h), buf_free(&b), nc_free(&c);
    return ok ? 0 : 1;
}

static int cmd_check(int argc, char **argv) {
    Args a;
    int rc = parse_args("check", argc, argv, &a);
    if (rc) return rc < 0 ? (puts(find_cmd("check")->help), 0) : rc;
    Compilation c;
    if (!compile_file(&c, a.model, STAGE_C)) return nc_free(&c), 1;
    EmitOpts o = emit_opts(&c);
    LoadedModel lm;
    char err[2048];
    if (!nc_load(c.prog, &o, a.backend, &lm, err, sizeof err)) {
        fprintf(stderr, "nodec check: error: %s\n", err);
        return nc_free(&c), 1;
    }
    CheckOpts co = {
        .seed = a.seed, .points = a.points, .tol = a.tol, .z_range = a.z_range, .z_lo = a.z_lo, .z_hi = a.z_hi};
    int fails = check_model(lm.model, &co, stdout);
    nc_unload(&lm), nc_free(&c);
    return fails ? 1 : 0;
}

static int cmd_derive(int argc, char **argv) {
    Args a;
    int rc = parse_args("derive", argc, argv, &a);
    if (rc) return rc < 0 ? (puts(find_cmd("derive")->help), 0) : rc;
    Compilation c;
    if (!compile_file(&c, a.model, STAGE_C)) return nc_free(&c), 1;
    Buf b = {0};
    print_derive(&b, c.prog, a.latex);
    fputs(b.s ? b.s : "", stdout);
    buf_free(&b), nc_free(&c);
    return 0;
}

/* Compiles the model named by argv[1] and loads it, for the runtime's
 * commands; `--backend` picks how. */
static int with_model(const char *cmd, int argc, char **argv, int (*fn)(const nodec_model *, int, char **),
                      const char *help) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        if (argc < 2) return usage_error(cmd, "%s", "missing the model file, e.g. models/spiral.nde");
        fputs(help, stdout);
        return 0;
    }
    if (argv[1][0] == '-') return usage_error(cmd, "the model file comes first, before '%s'", argv[1]);
    /* --backend is ours; the rest goes to the runtime's command */
    const char *backend = NULL;
    int n = 2;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 >= argc)
            return usage_error(cmd, "%s", "--backend needs a value: llvm or cc");
        if (!strcmp(argv[i], "--backend"))
            backend = argv[++i];
        else if (!strncmp(argv[i], "--backend=", 10))
            backend = argv[i] + 10;
        else
            argv[n++] = argv[i];
    }
    argc = n;
    Compilation c;
    if (!compile_file(&c, argv[1], STAGE_C)) return nc_free(&c), 1;
    EmitOpts o = emit_opts(&c);
    LoadedModel lm;
    char err[2048];
    if (!nc_load(c.prog, &o, backend, &lm, err, sizeof err)) {
        fprintf(stderr, "nodec %s: error: %s\n", cmd, err);
        return nc_free(&c), 1;
    }
    int rc = fn(lm.model, argc - 2, argv + 2);
    nc_unload(&lm), nc_free(&c);
    return rc;
}

static int cmd_solve(int argc, char **argv) {
    return with_model("solve", argc, argv, nodec_cli_solve, nodec_cli_solve_help);
}

static int cmd_grad(int argc, char **argv) {
    return with_model("grad", argc, argv, nodec_cli_grad, nodec_cli_grad_help);
}

static int cmd_train(int argc, char **argv) {
    return with_model("train", argc, argv, nodec_cli_train, nodec_cli_train_help);
}

/* Where the runtime's headers and archive are: NODEC_RUNTIME_DIR (a
 * prefix), else — for the nodec of a build tree — that build tree, else the
 * install prefix around the executable: NODEC_INSTALL_INCLUDE and
 * NODEC_INSTALL_LIB are relative to its directory (compiler/CMakeLists.txt,
 * from GNUInstallDirs), so an installed nodec uses its own runtime even
 * while the tree it was built in still exists.  docs/embedding.md. */
#ifndef NODEC_INSTALL_INCLUDE
#define NODEC_INSTALL_INCLUDE "../include/nodec"
#define NODEC_INSTALL_LIBDIR "../lib"
#endif
/* A flag the build tree's runtime needs at link time (its sanitizers), or "". */
static const char *build_extra = "";

/* Where a trainer finds the headers (nodec.h and nodec_tools.h: one folder
 * in an install, two in the build tree) and the folder holding libnodec.a,
 * libnodec_tools.a and libnodec_support.a. */
typedef struct Paths {
    char inc[2][4096], libdir[4096];
} Paths;

static bool runtime_paths(Paths *p) {
    const char *env = getenv("NODEC_RUNTIME_DIR");
    char exe[2048], lib[4200];
    nc_exe_dir(exe, sizeof exe);
    if (env && *env) {
        snprintf(p->inc[0], sizeof p->inc[0], "%s/include/nodec", env);
        snprintf(p->libdir, sizeof p->libdir, "%s/lib", env);
    } else {
#if defined(NODEC_BUILD_INCLUDE) && defined(NODEC_BUILD_TOOLS_INCLUDE) && defined(NODEC_BUILD_LIBDIR) &&               \
    defined(NODEC_BUILD_BINDIR)
        char bindir[4096];
        if (!*exe || (realpath(NODEC_BUILD_BINDIR, bindir) && !strcmp(bindir, exe))) {
            snprintf(p->inc[0], sizeof p->inc[0], "%s", NODEC_BUILD_INCLUDE);
            snprintf(p->inc[1], sizeof p->inc[1], "%s", NODEC_BUILD_TOOLS_INCLUDE);
            snprintf(p->libdir, sizeof p->libdir, "%s", NODEC_BUILD_LIBDIR);
            snprintf(lib, sizeof lib, "%s/libnodec.a", p->libdir);
#ifdef NODEC_BUILD_SANITIZE
            build_extra = NODEC_BUILD_SANITIZE;
#endif
            if (access(lib, R_OK) == 0) return true;
            build_extra = "";
        }
#endif
        if (!*exe) return false;
        snprintf(p->inc[0], sizeof p->inc[0], "%s/" NODEC_INSTALL_INCLUDE, exe);
        snprintf(p->libdir, sizeof p->libdir, "%s/" NODEC_INSTALL_LIBDIR, exe);
    }
    snprintf(p->inc[1], sizeof p->inc[1], "%s", p->inc[0]);
    snprintf(lib, sizeof lib, "%s/libnodec.a", p->libdir);
    return access(lib, R_OK) == 0;
}

/* nodec build MODEL -o TRAINER: the emitted C, a main() calling the
 * runtime's trainer, compiled and linked with libnodec. */
static int cmd_build(int argc, char **argv) {
    Args a;
    int rc = parse_args("build", argc, argv, &a);
    if (rc) return rc < 0 ? (puts(find_cmd("build")->help), 0) : rc;
    if (!a.out) return usage_error("build", "%s", "missing -o TRAINER (the executable to write)");
    Paths rp;
    if (!runtime_paths(&rp)) {
        fprintf(stderr, "nodec build: error: cannot find the runtime library (libnodec.a); set NODEC_RUNTIME_DIR "
                        "to the prefix nodec was installed to\n");
        return 1;
    }
    Compilation c;
    if (!compile_file(&c, a.model, STAGE_C)) return nc_free(&c), 1;
    char dir[256];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/nodec-build-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "nodec build: error: cannot make a temporary directory: %s\n", strerror(errno));
        return nc_free(&c), 1;
    }
    const char *m = c.model->name;
    char hp[4096], cp[4096], mp[4096], lp[4096], out_tmp[4200];
    snprintf(hp, sizeof hp, "%s/%s.h", dir, m), snprintf(cp, sizeof cp, "%s/%s.c", dir, m);
    /* model names never start with "nodec", so the trainer's main cannot clash with the model's file */
    snprintf(mp, sizeof mp, "%s/nodec_main.c", dir), snprintf(lp, sizeof lp, "%s/cc.log", dir);
    snprintf(out_tmp, sizeof out_tmp, "%s.tmp.%ld", a.out, (long)getpid());
    EmitOpts o = emit_opts(&c);
    Buf h = {0}, src = {0}, mainc = {0};
    emit_header(&h, c.prog, &o), emit_source(&src, c.prog, &o);
    buf_printf(&mainc,
               "/* A trainer for %s, made by `nodec build`: nodec train's options, this model built in. */\n"
               "#include \"nodec_tools.h\"\n#include \"%s.h\"\n\n"
               "int main(int argc, char **argv) { return nodec_cli_train_main(&%s_model, argc, argv); }\n",
               m, m, m);
    bool ok = write_atomic(hp, h.s, h.len) && write_atomic(cp, src.s, src.len) && write_atomic(mp, mainc.s, mainc.len);
    buf_free(&h), buf_free(&src), buf_free(&mainc);
    int status = 1;
    if (ok) {
        char inc0[4200], inc1[4200], dirflag[300], cerr[2300], lib[3][4200];
        snprintf(inc0, sizeof inc0, "-I%s", rp.inc[0]), snprintf(inc1, sizeof inc1, "-I%s", rp.inc[1]);
        snprintf(dirflag, sizeof dirflag, "-I%s", dir);
        const char *libs[3] = {"nodec_tools", "nodec_support", "nodec"};
#ifdef NODEC_BUILD_MPI_LIB
        char *mpi_lib = NODEC_BUILD_MPI_LIB;
#else
        char *mpi_lib = NULL;
#endif
        for (int k = 0; k < 3; k++) snprintf(lib[k], sizeof lib[k], "%s/lib%s.a", rp.libdir, libs[k]);
        /* compiled as the cc backend compiles a model (tools/load.c: vector
         * math for this machine, OpenBLAS when nodec has it), so the trainer
         * computes what `nodec train --backend cc` computes, bit for bit */
        char *args[40], *blas[2];
        int n = 0, nb = 0;
        CcFlags cf;
        nc_cc_flags(&cf, args, &n, blas, &nb);
        args[n++] = inc0, args[n++] = inc1, args[n++] = dirflag, args[n++] = "-o", args[n++] = out_tmp;
        args[n++] = mp, args[n++] = cp, args[n++] = lib[0], args[n++] = lib[1], args[n++] = lib[2];
        for (int k = 0; k < nb; k++) args[n++] = blas[k];
        args[n++] = "-lz", args[n++] = "-lm";
        /* a tools library built with MPI needs MPI's library (NODEC_BUILD_MPI_LIB) */
        if (mpi_lib) args[n++] = mpi_lib;
        if (*build_extra) args[n++] = (char *)build_extra;
        args[n] = NULL;
        if (!nc_cc(args, lp, cerr, sizeof cerr)) {
            fprintf(stderr, "nodec build: error: %s", cerr);
            unlink(out_tmp);
        } else if (rename(out_tmp, a.out) != 0) {
            fprintf(stderr, "nodec build: error: cannot write '%s': %s\n", a.out, strerror(errno));
            unlink(out_tmp);
        } else {
            printf("nodec build: wrote %s (run `%s --help` for its options)\n", a.out, a.out);
            status = 0;
        }
    }
    unlink(hp), unlink(cp), unlink(mp), unlink(lp), rmdir(dir);
    nc_free(&c);
    return status;
}

static int cmd_repl(int argc, char **argv) { return repl_main(argc, argv); }

static const Cmd cmds[] = {
    {"emit", cmd_emit, "emit MODEL -o DIR [--blas] [--no-tiles] [--dump=ast|sema|ir|deriv|plan|c]",
     "usage: nodec emit MODEL.nde -o DIR [--blas] [--no-tiles]\n"
     "       nodec emit MODEL.nde --dump=ast|sema|ir|deriv|plan|c\n\n"
     "Writes DIR/<model>.h and DIR/<model>.c: plain C99 for f, its VJP and JVP, the\n"
     "Jacobian, the loss and its gradient, the parameter initializer and a\n"
     "nodec_model descriptor (DESIGN.md §3).  DIR is created if missing.\n"
     "Products of large matrices with a batch of vectors are computed a tile of\n"
     "samples at a time by nodec's own loops; --blas makes them cblas_dgemm calls\n"
     "(link a CBLAS such as -lopenblas; the same as compiling with -DND_CBLAS);\n"
     "--no-tiles computes every sample on its own (less work memory).\n"
     "Compile with -DND_VECTOR_MATH -fno-math-errno -ftree-vectorize (gcc, glibc)\n"
     "for vectorised tanh, exp and log (docs/vmath.md).\n"
     "--dump prints one stage's output instead: the syntax tree, the symbols with\n"
     "their shapes and offsets, the IR of f and the loss, the IR of the\n"
     "derivatives, the storage plan of each generated function, or the C."},
    {"check", cmd_check, "check MODEL [--seed N] [--points N] [--tol X]",
     "usage: nodec check MODEL.nde [--seed N] [--points N] [--tol X] [--z-range LO:HI] [--backend llvm|cc]\n\n"
     "Compiles the model (with LLVM's JIT, or the emitted C with the system C\n"
     "compiler: NODEC_CC or CC to choose), then compares every emitted derivative with central finite differences at\n"
     "seeded random points (default: 3 points, seed 1, tolerance 1e-6 relative).\n"
     "States are drawn over ranges that suit the model (tools/check.c); --z-range\n"
     "draws every state component uniformly in [LO, HI] instead.\n"
     "Prints a table of maximum relative errors; exits 1 when one is too large."},
    {"derive", cmd_derive, "derive MODEL [--latex]",
     "usage: nodec derive MODEL.nde [--latex]\n\n"
     "Prints the simplified partial derivatives of each equation with respect to\n"
     "the states, the parameters and t; for vector equations, the vector-Jacobian\n"
     "product a'(df/dV) that nodec emits.  --latex prints LaTeX."},
    {"solve", cmd_solve, "solve MODEL [--params P] [--z0 LIST] [--t0 A --t1 B --n N | --times F] [-o OUT]",
     nodec_cli_solve_help},
    {"train", cmd_train, "train MODEL --data D.csv [--iters N] [--save P.npz] [--plot DIR] …", nodec_cli_train_help},
    {"build", cmd_build, "build MODEL -o TRAINER",
     "usage: nodec build MODEL.nde -o TRAINER\n\n"
     "Writes a standalone trainer: the model's emitted C and nodec's runtime in one\n"
     "executable that takes the options of `nodec train` (without the model file).\n"
     "Needs a C compiler (NODEC_CC or CC, default cc) and libnodec.a: from the build\n"
     "tree nodec came from, an install prefix beside it, or NODEC_RUNTIME_DIR."},
    {"repl", cmd_repl, "repl [MODEL]",
     "usage: nodec repl [MODEL.nde]\n\nAn interactive session; :help inside lists the commands."},
    {"grad", cmd_grad, "grad MODEL --data D.csv [--params P] [--mode adjoint|checkpoint|direct]", nodec_cli_grad_help},
};

static const Cmd *find_cmd(const char *name) {
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        if (!strcmp(cmds[i].name, name)) return &cmds[i];
    return NULL;
}

static void usage(FILE *f) {
    fputs("nodec — a compiler and runtime for neural ODEs\n\nusage:\n", f);
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) fprintf(f, "  nodec %s\n", cmds[i].usage);
    fputs("  nodec --version\n\n`nodec COMMAND --help` explains a command.  check, solve, grad, train and repl "
          "take\n--backend llvm|cc: LLVM's JIT (the default when built with it) or the system C compiler.\n",
          f);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--messages")) { /* the catalogue, for tests and translators */
        static const char *const ids[] = {
#define X(id, text) #id,
            MESSAGES(X)
#undef X
        };
        for (int i = 0; i < M_COUNT; i++) printf("%s\t%s\n", ids[i], msg_text[i]);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("nodec %s (backend: %s)\n", NODEC_VERSION, nc_default_backend());
        return 0;
    }
    const Cmd *c = find_cmd(argv[1]);
    if (!c) {
        fprintf(stderr, "nodec: unknown command '%s'\n\n", argv[1]);
        usage(stderr);
        return 2;
    }
    return c->run(argc - 1, argv + 1);
}
