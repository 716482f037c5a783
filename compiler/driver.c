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
