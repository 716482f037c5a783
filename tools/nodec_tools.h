/* nodec_tools.h — the tools above the runtime (docs/map.md): nodec's file
 * formats and the commands `solve`, `grad` and `train` for any compiled
 * model.  `nodec` calls them after compiling a model; a trainer made by
 * `nodec build` links them (libnodec_tools) with the emitted C.  Sectioned
 * by the file that defines each part.
 *
 * Every function that can fail returns 0 on success and -1 on failure,
 * with a message in `err` (a buffer of `errlen` bytes the caller owns; NULL
 * or 0 discards it).  Messages name the file (and line or entry) and say
 * what to do.  The file functions neither exit nor print.  On failure,
 * outputs are left as they were (a failed load leaves θ untouched; a failed
 * save leaves the old file in place).  Numbers are parsed in the C locale.
 * docs/files.md says what the formats are and which errors a user can meet.
 */
#ifndef NODEC_TOOLS_H
#define NODEC_TOOLS_H

#include <stddef.h>
#include <stdio.h>

#include "nodec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- file.c: whole files ----------------------------------------------- */

/* The largest file nodec_read_file reads, and the most data an .npz entry
 * may hold: 1 GiB (docs/files.md, "Limits"). */
#define NODEC_FILE_MAX ((size_t)1 << 30)

/* Writes len bytes to path atomically: to a temp file `<path>.tmp.XXXXXX`
 * created exclusively in the same directory (mode 0666 less the umask, or
 * the mode of the file it replaces), fsync, rename over path, fsync the
 * directory.  On any error the temp file is removed and an old file at
 * path stays intact.  A path that is a device or a FIFO is written
 * directly, not replaced.
 * Test hook: with NODEC_TEST_FAIL_WRITE_AFTER=<bytes> in the environment,
 * the write fails (EIO) after that many bytes. */
int nodec_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen);

/* Reads a whole file into a malloc'ed buffer (NUL-terminated, *len bytes
 * without the NUL).  Only a regular file of at most NODEC_FILE_MAX bytes:
 * a device, FIFO or directory is refused without reading (or blocking). */
int nodec_read_file(const char *path, char **data, size_t *len, char *err, size_t errlen);

/* ---- csv.c: CSV data, tables, number lists (DESIGN.md §5) -------------- */

/* One trajectory: n rows of times t[n] and states z[n × n_state], in the
 * model's state order whatever the column order in the file. */
typedef struct nodec_traj {
    long id;   /* the `traj` column's value; 0 when there is no such column */
    int n;     /* rows */
    double *t; /* n times, strictly increasing */
    double *z; /* n × n_state, row-major */
    double *u; /* n × n_input, the inputs' columns (NaN: missing); NULL for a model without inputs */
} nodec_traj;

typedef struct nodec_data {
    int n_state;
    int n_traj; /* trajectories, in the order they appear in the file */
    nodec_traj *traj;
    int n_input; /* doubles of the inputs a row (nodec_model.inputs), 0 without */
} nodec_data;

/* Reads a data file for model m: a header with `t`, one column per state
 * component (named as nodec_state_column_name gives), one per input
 * component (nodec_input_column_name; a model's inputs come from its data)
 * and an optional integer `traj` column; columns in any order.  Rows of
 * one trajectory must be together and their times strictly increasing.
 * nodec_inputs_load reads only t, traj and the inputs' columns of such a
 * file (`solve --inputs`): other columns may be there. */
int nodec_data_load(const char *path, const nodec_model *m, nodec_data *out, char *err, size_t errlen);
int nodec_inputs_load(const char *path, const nodec_model *m, nodec_data *out, char *err, size_t errlen);
void nodec_data_free(nodec_data *d);
/* Gives s (made for B trajectories) the inputs of d's trajectories
 * traj[0 … B−1] (NULL: 0 … B−1) through nodec_set_inputs and returns its
 * code; NODEC_SUCCESS at once for data without inputs.  nodec_n_input:
 * doubles of m's inputs a row (0 without). */
int nodec_data_inputs(nodec_solver *s, const nodec_data *d, const int *traj, int B);
int nodec_n_input(const nodec_model *m);
/* Partial data (DESIGN.md §7): a state component with no column, and an
 * empty or `nan` cell, are NaN in z, missing values.  nodec_data_start
 * gives trajectory k's initial state: its first row, a missing value there
 * replaced by the state's value in the model, and a state that starts from
 * a param (`state x = x0`) taken from θ; -1 with a message when a missing
 * value has no replacement.  nodec_data_observed counts the rows of
 * trajectory k in [from, from + n) that observe anything.
 * nodec_loss_leaves_out_missing: the model's loss is finite when every
 * observation is missing (the default loss is; a custom one may not be). */
int nodec_data_start(const nodec_model *m, const nodec_data *d, int k, const double *theta, double *z0, char *err,
                     size_t errlen);
long nodec_data_observed(const nodec_data *d, int k, int from, int n);
int nodec_data_has_missing(const nodec_data *d);
int nodec_loss_leaves_out_missing(const nodec_model *m);

/* The CSV column name of state component k (0 ≤ k < n_state): `x` for a
 * scalar, `z[3]` for a vector, `M[1,2]` for a matrix (row-major).  Returns
 * the length, as snprintf does. */
int nodec_state_column_name(const nodec_model *m, int k, char *buf, size_t size);
/* The same for component k (0 ≤ k < n_input) of the inputs. */
int nodec_input_column_name(const nodec_model *m, int k, char *buf, size_t size);

/* A CSV of numbers under any header (e.g. `--times file`): ncol named
 * columns, nrow rows, values row-major in v[nrow × ncol]. */
typedef struct nodec_table {
    int ncol, nrow;
    char **names;
    double *v;
} nodec_table;

int nodec_table_load(const char *path, nodec_table *out, char *err, size_t errlen);
void nodec_table_free(nodec_table *t);
/* The index of the column called name, or -1. */
int nodec_table_column(const nodec_table *t, const char *name);

/* Writes one trajectory, header `t,z[0],z[1],…` then rows with %.17g.
 * Matrix column names hold a comma, so they are written quoted.
 * nodec_traj_write returns -1 when the stream fails (errno says why). */
int nodec_traj_write(FILE *f, const nodec_model *m, int n, const double *t, const double *z);
int nodec_traj_save(const char *path, const nodec_model *m, int n, const double *t, const double *z, char *err,
                    size_t errlen);
/* Writes all trajectories of d; with more than one, a leading `traj`
 * column holds their ids, so nodec_data_load reads the file back. */
int nodec_data_save(const char *path, const nodec_model *m, const nodec_data *d, char *err, size_t errlen);

/* Parses a list of numbers like "2,0", "1.5, -2e-3" or "[1, 2]" into a
 * malloc'ed array *out of *n finite doubles.  `what` names the source in
 * messages (e.g. "--z0"). */
int nodec_parse_numbers(const char *what, const char *s, double **out, int *n, char *err, size_t errlen);

/* ---- npy.c: NumPy arrays, .npy and .npz, parameter files --------------- */

#define NODEC_ARRAY_MAXDIM 8
#define NODEC_ARRAY_NAMELEN 128

/* A named float64 array in C order.  Loaded arrays own `data` (free them
 * with nodec_arrays_free); for saving, `data` may point anywhere. */
typedef struct nodec_array {
    char name[NODEC_ARRAY_NAMELEN]; /* without ".npy" */
    int ndim;                       /* 0 for a scalar */
    size_t shape[NODEC_ARRAY_MAXDIM];
    size_t size; /* product of the shape; 1 for a scalar */
    double *data;
} nodec_array;

/* .npy: reads format 1.0, 2.0 and 3.0 with dtype <f8, >f8, <f4 or >f4
 * (converted to double); writes 1.0, <f8.  The loaded name is the file's
 * base name without ".npy". */
int nodec_npy_load(const char *path, nodec_array *a, char *err, size_t errlen);
int nodec_npy_save(const char *path, const nodec_array *a, char *err, size_t errlen);

/* .npz: a zip of <name>.npy entries, as np.savez writes.  Reads stored and
 * deflated (np.savez_compressed) entries and checks their CRC-32; writes
 * stored entries.  *a is a malloc'ed array of *n arrays. */
int nodec_npz_load(const char *path, nodec_array **a, int *n, char *err, size_t errlen);
int nodec_npz_save(const char *path, const nodec_array *a, int n, char *err, size_t errlen);
void nodec_arrays_free(nodec_array *a, int n);
/* The array called name, or NULL. */
const nodec_array *nodec_arrays_find(const nodec_array *a, int n, const char *name);

/* θ of model m.  A path ending in ".npy" gets flat θ, shape (n_param,);
 * anything else an .npz with one entry per parameter in its declared shape
 * (scalar (), vector (n,), matrix (m, n)).  Loading tells the two apart by
 * their content, checks every name and shape against the model, and
 * writes θ only when all of it is right. */
int nodec_params_save(const char *path, const nodec_model *m, const double *theta, char *err, size_t errlen);
/* The same with more arrays beside θ's (train --learn-z0's z0); .npz only. */
int nodec_params_save_with(const char *path, const nodec_model *m, const double *theta, const nodec_array *extra,
                           int nextra, char *err, size_t errlen);
int nodec_params_load(const char *path, const nodec_model *m, double *theta, char *err, size_t errlen);

/* CRC-32 (zip, PNG, zlib's crc32): crc = nodec_crc32(0, buf, len) and
 * continued by passing the previous value. */
unsigned long nodec_crc32(unsigned long crc, const void *buf, size_t len);

/* ---- cli.c: the commands solve and grad (DESIGN.md §5) ------------------
 * Each takes the arguments after the model file, prints to stdout, reports
 * errors to stderr and returns the process exit code (0 success, 1 failure,
 * 2 usage error). */

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
    int threads; /* --threads N; 0: all cores (the default) */
} nodec_solver_opts;

void nodec_solver_opts_default(nodec_solver_opts *o);
/* Consumes argv[*i] (and its value) if it is a solver option: returns 1,
 * 0 when it is not one, -1 on a bad value (message printed). */
int nodec_solver_opts_parse(nodec_solver_opts *o, const char *cmd, int argc, char **argv, int *i);
int nodec_solver_opts_apply(const nodec_solver_opts *o, nodec_solver *s);

/* Option parsing shared by the commands: the value of `--flag V` or
 * `--flag=V` (NULL when argv[*i] is not that flag; *missing set when the
 * value is absent), a finite number, and a whole number in [lo, hi]
 * written in decimal (an optional sign, then digits only: no spaces, no
 * exponent, no fraction).  The number parsers return 1 and set *out when
 * all of s is such a number, else 0 with *out untouched; the caller names
 * the option and the range in its message (exit code 2). */
const char *nodec_cli_value(const char *flag, int argc, char **argv, int *i, int *missing);
int nodec_cli_number(const char *s, double *out);
int nodec_cli_integer(const char *s, long long lo, long long hi, long long *out);

/* The largest --seed (2^53 - 1): a training state's float64 holds any
 * seed exactly, and solve, grad and train accept the same seeds. */
#define NODEC_SEED_MAX 9007199254740991LL

/* θ from --params (a .npz or .npy), else the model's initializers. */
int nodec_cli_load_params(const nodec_model *m, const char *path, unsigned long long seed, double *theta);

/* ---- train.c: the command train ------------------------------------------ */

/* `nodec train MODEL.nde …` with the arguments after the model file, and
 * the main() of a built trainer.  Prints a JSON summary to stdout and
 * progress to stderr; returns the exit code: 0 success, 1 failure, 2 usage
 * error, 130 interrupted (SIGINT; 143 for SIGTERM) after saving. */
int nodec_cli_train(const nodec_model *m, int argc, char **argv);
extern const char nodec_cli_train_help[];
/* The same as the main() of a built trainer: argv[0] is the program, and
 * its base name stands for `nodec train MODEL.nde` in the usage text. */
int nodec_cli_train_main(const nodec_model *m, int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif /* NODEC_TOOLS_H */
