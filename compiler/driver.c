/* driver.c — the whole pipeline in one function, and loading emitted C.
 *
 *   parse → sema → lower → differentiate → (verify) → emit
 *
 * nc_compile runs the stages on one source text with one arena, stopping
 * at the first stage that reports errors.  nc_load_cc compiles emitted C
 * with the system C compiler into a shared object and loads its
 * descriptor: the backend of `check` (and of the runtime commands when
 * LLVM is not available).
 */
#define _POSIX_C_SOURCE 200809L
#include "compiler.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdint.h>
#include <unistd.h>

#include "nodec_model.h"

extern char **environ;

char *nc_model_name_from_path(const char *path, Arena *a) {
    if (path[0] == '<') return "model"; /* <model>, <input>: not a file */
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strcspn(base, ".");
    char *s = arena_strndup(a, base, n ? n : strlen(base));
    for (char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9'))) *c = '_';
    if (!*s || (*s >= '0' && *s <= '9') || !strncmp(s, "nodec", 5)) s = arena_printf(a, "m_%s", s);
    return s;
}

static void all_roots(Program *pg, int **roots, int *n) {
    Func *fs[] = {&pg->f, &pg->vjp_z, &pg->vjp_p, &pg->vjp_t, &pg->jvp, &pg->loss, &pg->loss_grad};
    int total = 0;
    for (size_t i = 0; i < sizeof fs / sizeof *fs; i++) total += fs[i]->nroots;
    *roots = malloc(sizeof(int) * (total + 1));
    *n = 0;
    for (size_t i = 0; i < sizeof fs / sizeof *fs; i++)
        for (int k = 0; k < fs[i]->nroots; k++) (*roots)[(*n)++] = fs[i]->roots[k];
}

bool nc_compile(Compilation *c, const char *stop_after) {
    if (!c->arena) c->arena = arena_new();
    c->diag.src = &c->src;
    c->parse = (Parse){.arena = c->arena, .diag = &c->diag, .allow_incomplete = c->allow_incomplete};
    if (!parse_source(&c->parse, &c->src) || c->diag.nerrors) return false;
    if (stop_after && !strcmp(stop_after, "ast")) return true;
    c->model = sema_check(&c->parse, nc_model_name_from_path(c->src.path, c->arena));
    if (!c->model) return false;
    if ((stop_after && !strcmp(stop_after, "sema")) || c->model->incomplete) return true;
    Program *pg = c->prog = arena_alloc(c->arena, sizeof *pg);
    pg->m = c->model;
    pg->ir = ir_new(c->model);
    ir_lower(pg);
    deriv_program(pg);
    int *roots, n;
    all_roots(pg, &roots, &n);
    Buf err = {0};
    if (!ir_verify(pg->ir, roots, n, &err)) ice("IR verification failed:\n%s", err.s);
    free(roots), buf_free(&err);
    return true;
}

const char *nc_stmt_key(const Stmt *s, Arena *a) {
    switch (s->kind) {
    case S_MODEL: return "model";
    case S_LOSS: return "loss";
    case S_EQ: return arena_printf(a, "%s/%s", s->name, s->name2);
    default: return s->name;
    }
}

void nc_free(Compilation *c) {
    if (c->prog) {
        Func *fs[] = {&c->prog->f, &c->prog->vjp_z, &c->prog->vjp_p, &c->prog->vjp_t,
                      &c->prog->jvp, &c->prog->loss, &c->prog->loss_grad};
        for (size_t i = 0; i < sizeof fs / sizeof *fs; i++) free(fs[i]->roots);
        ir_free(c->prog->ir);
    }
    arena_free(c->arena);
    memset(c, 0, sizeof *c);
}

/* ---- compiling emitted C with the system compiler ----------------------- */

static bool write_file(const char *path, const char *s, size_t n, char *err, size_t errlen) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(s, 1, n, f) != n || fclose(f) != 0) {
        snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
        return false;
    }
    return true;
}

bool nc_run(char *const argv[], const char *log) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return false;
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return false;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void remove_dir(const char *dir, const char *name) {
    const char *ext[] = {".c", ".h", ".so", ".log"};
    char path[512];
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s%s", dir, name, ext[i]);
        unlink(path);
    }
    rmdir(dir);
}

bool nc_load_cc(Program *pg, const EmitOpts *o, LoadedModel *lm, char *err, size_t errlen) {
    memset(lm, 0, sizeof *lm);
    const char *tmp = getenv("TMPDIR");
    snprintf(lm->dir, sizeof lm->dir, "%s/nodec-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(lm->dir)) {
        snprintf(err, errlen, "cannot create a temporary directory in %s: %s", tmp ? tmp : "/tmp", strerror(errno));
        return false;
    }
    const char *name = pg->m->name;
    char c_path[400], h_path[400], so_path[400], log_path[400];
    snprintf(c_path, sizeof c_path, "%s/%s.c", lm->dir, name);
    snprintf(h_path, sizeof h_path, "%s/%s.h", lm->dir, name);
    snprintf(so_path, sizeof so_path, "%s/%s.so", lm->dir, name);
    snprintf(log_path, sizeof log_path, "%s/%s.log", lm->dir, name);
    Buf h = {0}, c = {0};
    emit_header(&h, pg, o);
    emit_source(&c, pg, o);
    bool ok = write_file(h_path, h.s, h.len, err, errlen) && write_file(c_path, c.s, c.len, err, errlen);
    buf_free(&h), buf_free(&c);
    if (ok) {
        const char *cc = getenv("NODEC_CC");
        if (!cc || !*cc) cc = getenv("CC");
        if (!cc || !*cc) cc = "cc";
        char *argv[] = {(char *)cc, "-std=c99", "-O2", "-fPIC", "-shared", "-o", so_path, c_path, "-lm", NULL};
        if (!nc_run(argv, log_path)) {
            Arena *a = arena_new();
            Source log = {0};
            char e2[256];
            const char *text = source_read(log_path, &log, a, e2, sizeof e2) ? log.text : "";
            snprintf(err, errlen, "the C compiler '%s' failed on the emitted code (set NODEC_CC to choose another):\n%.1500s",
                     cc, text);
            arena_free(a);
            ok = false;
        }
    }
    if (ok) {
        lm->dl = dlopen(so_path, RTLD_NOW | RTLD_LOCAL);
        if (!lm->dl) {
            snprintf(err, errlen, "cannot load the compiled model: %s", dlerror());
            ok = false;
        } else {
            char sym[300];
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
        snprintf(err, errlen, "this nodec was built without LLVM; use --backend cc (or rebuild with llvm-dev installed)");
        return false;
#endif
    }
    snprintf(err, errlen, "unknown backend '%s'; use llvm or cc", backend);
    return false;
}
