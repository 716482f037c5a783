/* cmd.h — the nodec command's internal header: the commands (main.c), how
 * a compiled model is made callable (load.c), the REPL (repl.c) and the
 * derivative check (check.c).  Sectioned by the file that defines each
 * part.  These sit on top of everything: the compiler (compiler.h), the
 * tool library (tools.h) and the runtime (nodec.h).
 */
#ifndef NODEC_CMD_H
#define NODEC_CMD_H

#include "compiler.h"
#include "tools.h"

/* ---- load.c ---------------------------------------------------------- */

/* Runs the system C compiler (NODEC_CC, else CC, else cc) with args (after
 * the compiler's name, NULL-terminated), its output going to the file log.
 * False on failure, with a message in err that names the compiler and
 * quotes its log (or says why it could not start). */
bool nc_cc(char *const args[], const char *log, char *err, size_t errlen);
/* How the cc backend compiles emitted C (and `nodec build` its trainer):
 * after "-std=c99 -O2", the vector math of compiler/vmath.c unless
 * NODEC_NO_LIBMVEC is set, and -DND_CBLAS with the BLAS nodec was built
 * with.  nc_cc_flags appends the flags for the compile line to args (at
 * most 12) and those for after the sources (the library, at most 2) to
 * libs; returns how many it added to each through *nargs, *nlibs. */
typedef struct CcFlags {
    char rpath[4096];
} CcFlags;
void nc_cc_flags(CcFlags *f, char **args, int *nargs, char **libs, int *nlibs);
/* Compiles emitted C with nc_cc into a shared object and loads its
 * descriptor (the cc backend).  False and a message in err on failure. */
bool nc_load_cc(Program *pg, const EmitOpts *o, LoadedModel *lm, char *err, size_t errlen);
/* The directory of the running nodec executable, or false. */
bool nc_exe_dir(char *dir, size_t n);
void nc_unload(LoadedModel *lm);
/* The backend by name ("llvm" or "cc"; NULL: the default, llvm when built
 * with it).  False with a message for an unknown or unavailable one. */
bool nc_load(Program *pg, const EmitOpts *o, const char *backend, LoadedModel *lm, char *err, size_t errlen);
const char *nc_default_backend(void);

/* ---- repl.c ---------------------------------------------------------- */

int repl_main(int argc, char **argv);

/* ---- check.c --------------------------------------------------------- */

typedef struct CheckOpts {
    unsigned long long seed;
    int points;
    double tol;
    bool verbose;
    bool z_range;      /* --z-range LO:HI: every state component uniform in [z_lo, z_hi] */
    double z_lo, z_hi; /* instead of the ranges check chooses */
} CheckOpts;
/* Finite-difference check of every emitted derivative; prints a table to
 * out, returns the number of failing rows. */
int check_model(const struct nodec_model *m, const CheckOpts *o, FILE *out);

#endif
