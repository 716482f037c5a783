/* mpi.c — the trainer's few uses of MPI (docs/training.md, "Many processes
 * (MPI)"), with a one-process fallback when nodec is built without MPI
 * (NODEC_MPI off) or started without mpirun.  MPI is initialized only when
 * the process was started by an MPI launcher (its environment says so), so
 * that a plain `nodec train` never touches MPI; it is finalized at exit. */
#include <stdlib.h>
#include <string.h>

#include "tools.h"

#ifdef NODEC_HAVE_MPI
#include <mpi.h>

static int initialized, rank, size = 1;

static void finish(void) {
    int done = 0;
    MPI_Finalized(&done);
    if (!done) MPI_Finalize();
}

void tools_mpi_init(void) {
    if (initialized) return;
    initialized = 1;
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMI_SIZE") && !getenv("PMIX_RANK")) return;
    int already = 0;
    MPI_Initialized(&already);
    if (!already) {
        if (MPI_Init(NULL, NULL) != MPI_SUCCESS) return;
        atexit(finish);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
}
int tools_mpi_rank(void) { return rank; }
int tools_mpi_size(void) { return size; }

int tools_mpi_any(int flag) {
    if (size == 1) return flag;
    int out = 0;
    MPI_Allreduce(&flag, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return out;
}

int tools_mpi_first_failed(int failed) {
    if (size == 1) return failed ? 0 : -1;
    int mine = failed ? rank : size, first = size;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return first == size ? -1 : first;
}

void tools_mpi_recv(double *x, size_t n, int from) {
    MPI_Recv(x, (int)n, MPI_DOUBLE, from, 13, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
}
void tools_mpi_send(const double *x, size_t n, int to) { MPI_Send(x, (int)n, MPI_DOUBLE, to, 13, MPI_COMM_WORLD); }
void tools_mpi_bcast(void *x, size_t bytes, int root) {
    if (size > 1) MPI_Bcast(x, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD);
}
void tools_mpi_sum_longs(long *x, int n) {
    if (size > 1) MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
}

#else

void tools_mpi_init(void) {}
int tools_mpi_rank(void) { return 0; }
int tools_mpi_size(void) { return 1; }
int tools_mpi_any(int flag) { return flag; }
int tools_mpi_first_failed(int failed) { return failed ? 0 : -1; }
void tools_mpi_recv(double *x, size_t n, int from) { (void)x, (void)n, (void)from; }
void tools_mpi_send(const double *x, size_t n, int to) { (void)x, (void)n, (void)to; }
void tools_mpi_bcast(void *x, size_t bytes, int root) { (void)x, (void)bytes, (void)root; }
void tools_mpi_sum_longs(long *x, int n) { (void)x, (void)n; }

#endif
