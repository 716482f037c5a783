/* load.c — making a compiled model callable: the system C compiler (the
 * cc backend, and the one runner `nodec build` uses too) and the LLVM JIT
 * plugin (libnodec_jit, emit_llvm.c), opened on first use.
 */
#define _POSIX_C_SOURCE 200809L
#include "cmd.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---- compiling emitted C with the system compiler ----------------------- */

/* Spawns argv (no shell) with standard output and error in the file log;
 * 0 when it exits 0, else errno (spawn failed) or -1 (it failed). */
static int run(char *const argv[], const char *log) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return rc;
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return errno;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

bool nc_cc(char *const args[], const char *log, char *err, size_t errlen) {
    const char *cc = getenv("NODEC_CC");
    if (!cc || !*cc) cc = getenv("CC");
    if (!cc || !*cc) cc = "cc";
    char *argv[64] = {(char *)cc};
    int n = 1;
    while (args[n - 1] && n < 63) argv[n] = args[n - 1], n++;
    argv[n] = NULL;
    int rc = run(argv, log);
    if (rc == 0) return true;
    if (rc > 0) {
        snprintf(err, errlen, "cannot run the C compiler '%s': %s (set NODEC_CC to choose another)", cc, strerror(rc));
        return false;
    }
    char *text = NULL;
    size_t len = 0;
    nodec_read_file(log, &text, &len, NULL, 0);
    snprintf(err, errlen, "the C compiler '%s' failed (set NODEC_CC to choose another):\n%.1500s", cc,
             text ? text : "");
    free(text);
    return false;
}

static void remove_dir(const char *dir, const char *name) {
    const char *ext[] = {".c", ".h", ".so", ".log"};
    char path[4096];
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s%s", dir, name, ext[i]);
        unlink(path);
    }
    rmdir(dir);
}

void nc_cc_flags(CcFlags *f, char **args, int *nargs, char **libs, int *nlibs) {
    args[(*nargs)++] = "-std=c99", args[(*nargs)++] = "-O2";
    if (!getenv("NODEC_NO_LIBMVEC"))
        for (const char *const *v = vmath_cflags(); *v; v++) args[(*nargs)++] = (char *)*v;
#ifdef NODEC_CBLAS_LIB
    snprintf(f->rpath, sizeof f->rpath, "-Wl,-rpath,%s", NODEC_CBLAS_LIB);
    *strrchr(f->rpath, '/') = 0;
    args[(*nargs)++] = "-DND_CBLAS", args[(*nargs)++] = "-I" NODEC_CBLAS_INC;
    libs[(*nlibs)++] = NODEC_CBLAS_LIB, libs[(*nlibs)++] = f->rpath;
#else
    (void)f, (void)libs, (void)nlibs;
#endif
}

/* OpenBLAS starts a thread per core when it is loaded, unless told
 * otherwise; nodec's runtime splits batches over threads of its own
 * (--threads), so OpenBLAS must compute in the calling thread. */
static void blas_one_thread(void) {
#ifdef NODEC_CBLAS_LIB
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
#endif
}

bool nc_load_cc(Program *pg, const EmitOpts *o, LoadedModel *lm, char *err, size_t errlen) {
    memset(lm, 0, sizeof *lm);
    /* The files are named after the model (its C includes "<name>.h"), so
     * the name must fit in a file name: said before anything is made. */
    size_t namelen = strlen(pg->m->name);
    if (namelen + strlen(".log") > NAME_MAX) {
        snprintf(err, errlen,
                 "the model's name is %zu characters long, too long for the file names of the cc backend (%s); "
                 "shorten it to at most %d characters, or use --backend llvm",
                 namelen, strerror(ENAMETOOLONG), NAME_MAX - 4);
        return false;
    }
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    bool fits = snprintf(lm->dir, sizeof lm->dir, "%s/nodec-XXXXXX", tmp) < (int)sizeof lm->dir;
    if (!fits || !mkdtemp(lm->dir)) {
        snprintf(err, errlen, "cannot create a temporary directory in %s: %s%s", tmp,
                 strerror(fits ? errno : ENAMETOOLONG), fits ? "" : "; set TMPDIR to a shorter path");
        lm->dir[0] = 0;
        return false;
    }
    const char *name = pg->m->name;
    char c_path[4096], h_path[4096], so_path[4096], log_path[4096];
    snprintf(c_path, sizeof c_path, "%s/%s.c", lm->dir, name);
    snprintf(h_path, sizeof h_path, "%s/%s.h", lm->dir, name);
    snprintf(so_path, sizeof so_path, "%s/%s.so", lm->dir, name);
    snprintf(log_path, sizeof log_path, "%s/%s.log", lm->dir, name);
    Buf h = {0}, c = {0};
    emit_header(&h, pg, o);
    emit_source(&c, pg, o);
    bool ok = !h.oom && !c.oom;
    if (!ok) snprintf(err, errlen, "out of memory while emitting the model");
    ok = ok && !nodec_write_file_atomic(h_path, h.s, h.len, err, errlen) &&
         !nodec_write_file_atomic(c_path, c.s, c.len, err, errlen);
    buf_free(&h), buf_free(&c);
    if (ok) {
        /* Vector math (compiler/vmath.c, docs/vmath.md) unless NODEC_NO_LIBMVEC asks
         * for the scalar libm the JIT then uses too; the tile products through
         * the BLAS the JIT uses, when nodec was built with one. */
        char *args[32], *libs[2];
        int n = 0, nl = 0;
        CcFlags cf;
        nc_cc_flags(&cf, args, &n, libs, &nl);
        args[n++] = "-fPIC", args[n++] = "-shared", args[n++] = "-o", args[n++] = so_path, args[n++] = c_path;
        for (int k = 0; k < nl; k++) args[n++] = libs[k];
        args[n++] = "-lm", args[n] = NULL;
        ok = nc_cc(args, log_path, err, errlen);
    }
    if (ok) {
        blas_one_thread();
        lm->dl = dlopen(so_path, RTLD_NOW | RTLD_LOCAL);
        if (!lm->dl) {
            snprintf(err, errlen, "cannot load the compiled model: %s", dlerror());
            ok = false;
        } else {
            char sym[4096];
            snprintf(sym, sizeof sym, "%s_model", name);
            lm->model = dlsym(lm->dl, sym);
            if (!lm->model) {
                snprintf(err, errlen, "the compiled model has no symbol '%s'", sym);
                ok = false;
            }
        }
    }
    remove_dir(lm->dir, name);
    if (!ok && lm->dl) dlclose(lm->dl), lm->dl = NULL;
    return ok;
}

bool nc_exe_dir(char *dir, size_t n) {
    ssize_t k = readlink("/proc/self/exe", dir, n - 1);
    dir[k > 0 ? k : 0] = 0;
    char *slash = strrchr(dir, '/');
    if (!slash) return dir[0] = 0, false;
    *slash = 0;
    return true;
}

/* ---- the JIT plugin ---------------------------------------------------- */

#ifdef NODEC_HAVE_LLVM
typedef bool (*jit_load_fn)(Program *, const EmitOpts *, LoadedModel *, char *, size_t);
static jit_load_fn jit_load;
static void (*jit_unload)(LoadedModel *);

/* Opens libnodec_jit (emit_llvm.c) once: NODEC_JIT names it, else it is in
 * the install around the executable, else in the build tree. */
static bool jit_open(char *err, size_t errlen) {
    if (jit_load) return true;
    char exe[2048], beside[4096] = "";
    if (nc_exe_dir(exe, sizeof exe)) snprintf(beside, sizeof beside, "%s/%s", exe, NODEC_JIT_INSTALL);
    const char *env = getenv("NODEC_JIT"), *tries[] = {env, beside, NODEC_JIT_BUILD};
    const char *why = "not found";
    for (int i = 0; i < 3; i++) {
        if (!tries[i] || !*tries[i] || access(tries[i], R_OK) != 0) continue;
        blas_one_thread();
        void *h = dlopen(tries[i], RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            why = dlerror();
            continue;
        }
        jit_load = (jit_load_fn)(uintptr_t)dlsym(h, "nc_load_llvm");
        jit_unload = (void (*)(LoadedModel *))(uintptr_t)dlsym(h, "nc_unload_llvm");
        if (jit_load && jit_unload) return true;
        why = "it lacks nc_load_llvm";
        jit_load = NULL, jit_unload = NULL;
    }
    snprintf(err, errlen, "cannot load nodec's LLVM JIT (libnodec_jit): %s; use --backend cc, or set NODEC_JIT", why);
    return false;
}
#endif

void nc_unload(LoadedModel *lm) {
#ifdef NODEC_HAVE_LLVM
    if (lm->jit && jit_unload) jit_unload(lm);
#endif
    if (lm->dl) dlclose(lm->dl);
    memset(lm, 0, sizeof *lm);
}

const char *nc_default_backend(void) {
#ifdef NODEC_HAVE_LLVM
    char err[512];
    if (jit_open(err, sizeof err)) return "llvm";
#endif
    return "cc";
}

bool nc_load(Program *pg, const EmitOpts *o, const char *backend, LoadedModel *lm, char *err, size_t errlen) {
    if (!backend) backend = nc_default_backend();
    if (!strcmp(backend, "cc")) return nc_load_cc(pg, o, lm, err, errlen);
    if (!strcmp(backend, "llvm")) {
#ifdef NODEC_HAVE_LLVM
        return jit_open(err, errlen) && jit_load(pg, o, lm, err, errlen);
#else
        snprintf(err, errlen,
                 "this nodec was built without LLVM; use --backend cc (or rebuild with llvm-dev installed)");
        return false;
#endif
    }
    snprintf(err, errlen, "unknown backend '%s'; use llvm or cc", backend);
    return false;
}
