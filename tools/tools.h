/* tools.h — the tool library's internal header (libnodec_tools: file.c,
 * csv.c, npy.c, plot.c, cli.c, mpi.c, train.c), sectioned by the file that defines
 * each part.  The public part is nodec_tools.h; the nodec command's own
 * files (main.c, load.c, repl.c, check.c) have cmd.h.
 */
#ifndef NODEC_TOOLS_INTERNAL_H
#define NODEC_TOOLS_INTERNAL_H

#include <stdbool.h>

#include "nodec_tools.h"
#include "support.h"

/* ---- file.c ---- */

#define NODEC_FILE_MAX_TEXT "1 GiB" /* NODEC_FILE_MAX, for messages */

/* Formats a message into err (when there is room) and returns -1. */
int io_fail(char *err, size_t errlen, const char *fmt, ...) NODEC_PRINTF(3, 4);
/* Writes b's contents to path atomically and frees b; -1 with a message
 * (also when b ran out of memory). */
int io_save(const char *path, Buf *b, char *err, size_t errlen);

/* ---- mpi.c ---- */

/* MPI when built with it (NODEC_HAVE_MPI) and started by mpirun; one
 * process (rank 0 of 1) otherwise.  Every call but init is collective
 * across the ranks (send and recv: between two). */
void tools_mpi_init(void);
int tools_mpi_rank(void);
int tools_mpi_size(void);
int tools_mpi_any(int flag);            /* any rank's flag (the largest) */
int tools_mpi_first_failed(int failed); /* the lowest rank that failed, or -1 */
void tools_mpi_recv(double *x, size_t n, int from);
void tools_mpi_send(const double *x, size_t n, int to);
void tools_mpi_bcast(void *x, size_t bytes, int root);
void tools_mpi_sum_longs(long *x, int n); /* in place, over the ranks */

/* ---- plot.c ---- */

/* Appends s as a gnuplot string literal; false (nothing appended) when s
 * holds a control character. */
bool plot_str(Buf *b, const char *s);
/* Runs gnuplot on script (on its standard input, no shell) in directory
 * dir (NULL: here), its output going to the file log (NULL: to ours).
 * 0 when it drew; -1 with a message in err. */
int plot_run(const char *script, const char *dir, const char *log, char *err, size_t errlen);

#endif
