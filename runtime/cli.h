/* cli.h — the runtime's commands, for any compiled model: `solve` and
 * `grad` (DESIGN.md §5).  `nodec solve model.nde …` compiles the model and
 * calls these; a trainer made by `nodec build` links them with the emitted
 * C.  Each takes the arguments after the model file, prints to stdout,
 * reports errors to stderr and returns the process exit code (0 success,
 * 1 failure, 2 usage error).
 */
#ifndef NODEC_CLI_H
#define NODEC_CLI_H

#include "nodec.h"

#ifdef __cplusplus
extern "C" {
#endif

int nodec_cli_solve(const nodec_model *m, int argc, char **argv);
int nodec_cli_grad(const nodec_model *m, int argc, char **argv);
extern const char nodec_cli_solve_help[];
extern const char nodec_cli_grad_help[];

/* Solver options shared by solve, grad and train:
 *   --method M  --rtol R  --atol A  --mode adjoint|checkpoint|direct
 *   --max-steps N  --step H  --no-seminorm */
typedef struct nodec_solver_opts {
    int method, mode, seminorm;
    double rtol, atol, step;
    long max_steps;
} nodec_solver_opts;

void nodec_solver_opts_default(nodec_solver_opts *o);
/* Consumes argv[*i] (and its value) if it is a solver option: returns 1,
 * 0 when it is not one, -1 on a bad value (message printed). */
int nodec_solver_opts_parse(nodec_solver_opts *o, const char *cmd, int argc, char **argv, int *i);
int nodec_solver_opts_apply(const nodec_solver_opts *o, nodec_solver *s);

/* Option parsing shared by the commands: the value of `--flag V` or
 * `--flag=V` (NULL when argv[*i] is not that flag; *missing set when the
 * value is absent), and a finite number. */
const char *nodec_cli_value(const char *flag, int argc, char **argv, int *i, int *missing);
int nodec_cli_number(const char *s, double *out);

/* θ from --params (a .npz or .npy), else the model's initializers. */
int nodec_cli_load_params(const nodec_model *m, const char *path, unsigned long long seed, double *theta);

#ifdef __cplusplus
}
#endif

#endif
