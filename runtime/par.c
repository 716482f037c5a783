/* par.c — the batch split across threads.  DESIGN.md §7; STYLE.md §18;
 * docs/runtime.md "Threads".
 *
 * A call of the model on B states is cut into par_chunks(s, B) chunks of
 * rows.  The cut depends on B and the model only (at least PAR_ROWS rows a
 * chunk and PAR_ROW_WORK of work, see min_rows; at most PAR_MAX_CHUNKS
 * chunks; the partial sums within PAR_PARTIAL_BYTES), never on the thread
 * count.  Each chunk has its own
 * work buffer and, for the VJP, its own aθ and at; chunk 0 writes into the
 * caller's outputs, and the other chunks' partials are added to them in
 * chunk order after all chunks ran.  So any number of threads gives the
 * bits one thread gives.  f, az and ∂f/∂z are per row: a chunk writes its
 * rows of the output directly.  A batch too small for two chunks is one
 * chunk, and the model is called exactly as without threads.
 *
 * The threads live for one call of nodec_solve or nodec_loss_grad
 * (par_begin … par_end): at most threads − 1 workers besides the caller,
 * and none while the handle is idle, so a process holding several handles
 * (the trainer keeps one per batch size) never has more threads than one
 * call asked for.  Starting and joining them costs tens of microseconds a
 * call, small next to a batch large enough to split.  Which thread runs
 * which chunk is first come, first served; the results do not depend on it.
 *
 * Calls the model, interp.c (each chunk fills its own rows of the
 * inputs' u) and mem.c only; nothing above it.
 */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

enum { PAR_MAX_CHUNKS = 16, PAR_ROW_WORK = 1 << 18 };
#define PAR_PARTIAL_BYTES ((size_t)64 << 20)

struct par_pool {
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    pthread_t th[PAR_MAX_CHUNKS];
    int nth;  /* workers started (the caller is one more) */
    int quit; /* par_end: the workers return */
    long gen; /* jobs posted so far */
    /* the job: chunks next … nchunks − 1 are still to be taken */
    void (*fn)(void *arg, int chunk);
    void *arg;
    int nchunks, next, left;
};

int par_threads(const nodec_solver *s) {
    long n = s->threads;
    if (n <= 0) n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > NODEC_MAX_THREADS ? NODEC_MAX_THREADS : (int)n;
}

/* Doubles of a chunk's own buffers beyond chunk 0: work, aθ, at. */
static size_t per_chunk(const nodec_solver *s) { return (size_t)s->m->work_size + (size_t)s->m->n_param + 1; }

/* Rows a chunk has at least: PAR_ROWS, and enough that a chunk's work is
 * worth a thread's wake-up (tens of µs): rows × (n_param + 4 n_state + 16),
 * a proxy of a row's floating-point work, at least PAR_ROW_WORK. */
static long min_rows(const nodec_solver *s) {
    long cost = (long)s->m->n_param + 4L * s->m->n_state + 16, rows = (PAR_ROW_WORK + cost - 1) / cost;
    if (s->chunk_rows > 0) return s->chunk_rows;
    return rows > PAR_ROWS ? rows : PAR_ROWS;
}

int par_chunks(const nodec_solver *s, int B) {
    long nc;
    size_t cap;
    if (s->m->abi_version != NODEC_ABI_VERSION || s->m->n_param < 0 || s->m->work_size < 0) return 1;
    nc = B / min_rows(s);
    cap = PAR_PARTIAL_BYTES / (per_chunk(s) * sizeof(double));
    if (nc > PAR_MAX_CHUNKS) nc = PAR_MAX_CHUNKS;
    if ((size_t)nc > cap + 1) nc = (long)cap + 1;
    return nc < 2 ? 1 : (int)nc;
}

/* First row of chunk k of nc over B rows: k·B/nc rounded down to a
 * multiple of 8 (whole vector tiles), B for k = nc. */
static int chunk_row(int B, int nc, int k) { return k >= nc ? B : (int)((long)k * B / nc / 8 * 8); }

/* ---- the pool ---- */

/* Takes chunks until none is left; called and returns with pl->mu held. */
static void take_chunks(par_pool *pl) {
    while (pl->next < pl->nchunks) {
        int k = pl->next++;
        void (*fn)(void *, int) = pl->fn;
        void *arg = pl->arg;
        pthread_mutex_unlock(&pl->mu);
        fn(arg, k);
        pthread_mutex_lock(&pl->mu);
        if (--pl->left == 0) pthread_cond_signal(&pl->done);
    }
}

static void *worker(void *p) {
    par_pool *pl = p;
    long seen = 0;
    pthread_mutex_lock(&pl->mu);
    for (;;) {
        while (!pl->quit && pl->gen == seen) pthread_cond_wait(&pl->go, &pl->mu);
        if (pl->quit) break;
        seen = pl->gen;
        take_chunks(pl);
    }
    pthread_mutex_unlock(&pl->mu);
    return NULL;
}

/* Runs fn(arg, k) for k = 0 … nc − 1 on the pool, the caller included;
 * returns when all are done. */
static void run(nodec_solver *s, int nc, void (*fn)(void *, int), void *arg) {
    par_pool *pl = s->pool;
    if (!pl || nc < 2) {
        for (int k = 0; k < nc; k++) fn(arg, k);
        return;
    }
    pthread_mutex_lock(&pl->mu);
    pl->fn = fn;
    pl->arg = arg;
    pl->nchunks = nc;
    pl->next = 0;
    pl->left = nc;
    pl->gen++;
    pthread_cond_broadcast(&pl->go);
    take_chunks(pl);
    while (pl->left > 0) pthread_cond_wait(&pl->done, &pl->mu);
    pthread_mutex_unlock(&pl->mu);
}

int par_begin(nodec_solver *s) {
    int nc = par_chunks(s, s->B), nt = par_threads(s);
    par_pool *pl;
    if (nc < 2) return NODEC_SUCCESS;
    if (s->par_bytes < (size_t)(nc - 1) * per_chunk(s) * sizeof(double)) { /* none yet, or a rule changed */
        size_t bytes = (size_t)(nc - 1) * per_chunk(s) * sizeof(double);
        if (s->par_buf) mem_free(&s->mem, s->par_buf, s->par_bytes);
        s->par_buf = NULL;
        s->par_bytes = 0;
        if (!(s->par_buf = mem_alloc(&s->mem, bytes))) return NODEC_MEM_FAIL;
        s->par_bytes = bytes;
    }
    if (nt > nc) nt = nc;
    if (nt < 2 || s->pool) return NODEC_SUCCESS;
    if (!(pl = mem_alloc(&s->mem, sizeof *pl))) return NODEC_MEM_FAIL;
    if (pthread_mutex_init(&pl->mu, NULL)) goto no_mutex;
    if (pthread_cond_init(&pl->go, NULL)) goto no_go;
    if (pthread_cond_init(&pl->done, NULL)) goto no_done;
    /* A thread that cannot be started is one fewer: the bits are the same. */
    while (pl->nth < nt - 1 && pthread_create(&pl->th[pl->nth], NULL, worker, pl) == 0) pl->nth++;
    if (pl->nth == 0) {
        pthread_cond_destroy(&pl->done);
        goto no_done;
    }
    s->pool = pl;
    return NODEC_SUCCESS;
no_done:
    pthread_cond_destroy(&pl->go);
no_go:
    pthread_mutex_destroy(&pl->mu);
no_mutex:
    mem_free(&s->mem, pl, sizeof *pl);
    return NODEC_SUCCESS; /* no pool: the chunks run on the caller */
}

void par_end(nodec_solver *s) {
    par_pool *pl = s->pool;
    if (!pl) return;
    pthread_mutex_lock(&pl->mu);
    pl->quit = 1;
    pthread_cond_broadcast(&pl->go);
    pthread_mutex_unlock(&pl->mu);
    for (int i = 0; i < pl->nth; i++) pthread_join(pl->th[i], NULL);
    pthread_cond_destroy(&pl->done);
    pthread_cond_destroy(&pl->go);
    pthread_mutex_destroy(&pl->mu);
    mem_free(&s->mem, pl, sizeof *pl);
    s->pool = NULL;
}

void par_release(nodec_solver *s) {
    par_end(s);
    if (s->par_buf) mem_free(&s->mem, s->par_buf, s->par_bytes);
    s->par_buf = NULL;
    s->par_bytes = 0;
}

/* ---- the model's functions over chunks ---- */

typedef struct call {
    nodec_solver *s;
    int B, nc;
    double t;
    const double *z, *theta, *a;
    double *dzdt, *az, *atheta, *at, *J;
} call;

/* The chunks' buffers are there for nc chunks (par_begin made them). */
static int ready(const nodec_solver *s, int nc) {
    return nc >= 2 && s->par_buf && s->par_bytes >= (size_t)(nc - 1) * per_chunk(s) * sizeof(double);
}

/* Chunk k's work buffer, and its aθ (P values) and at (then one more). */
static double *chunk_work(const call *c, int k) {
    return k == 0 || !c->s->m->work_size ? c->s->work : c->s->par_buf + (size_t)(k - 1) * per_chunk(c->s);
}

static double *chunk_part(const call *c, int k) {
    return c->s->par_buf + (size_t)(k - 1) * per_chunk(c->s) + c->s->m->work_size;
}

/* The u rows of chunk rows b0 … b1−1 (models with inputs), or NULL. */
static const double *chunk_u(const call *c, int b0, int b1) {
    const inp_set *in = c->s->in;
    if (!c->s->m->inputs) return NULL;
    inp_eval(c->s, b0, b1, c->t);
    return in->u + (long)b0 * 3 * in->n;
}

static void f_chunk(void *arg, int k) {
    const call *c = arg;
    const nodec_model *m = c->s->m;
    long n = m->n_state;
    int b0 = chunk_row(c->B, c->nc, k), b1 = chunk_row(c->B, c->nc, k + 1);
    const double *u = chunk_u(c, b0, b1);
    if (u)
        m->inputs->f(b1 - b0, c->t, c->z + b0 * n, u, c->theta, c->dzdt + b0 * n, chunk_work(c, k));
    else
        m->f(b1 - b0, c->t, c->z + b0 * n, c->theta, c->dzdt + b0 * n, chunk_work(c, k));
}

/* vjp, or f_vjp when dzdt is set. */
static void vjp_chunk(void *arg, int k) {
    const call *c = arg;
    const nodec_model *m = c->s->m;
    const nodec_inputs *mi = m->inputs;
    long n = m->n_state;
    int b0 = chunk_row(c->B, c->nc, k), b1 = chunk_row(c->B, c->nc, k + 1);
    double *ath = c->atheta, *at = c->at, *az = c->az ? c->az + b0 * n : NULL, *work = chunk_work(c, k);
    const double *z = c->z + b0 * n, *a = c->a + b0 * n, *u = chunk_u(c, b0, b1);
    if (k > 0) {
        double *part = chunk_part(c, k);
        if (ath) ath = part;
        if (at) at = part + m->n_param;
    }
    if (c->dzdt && u)
        mi->f_vjp(b1 - b0, c->t, z, u, c->theta, a, c->dzdt + b0 * n, az, ath, at, work);
    else if (c->dzdt)
        m->f_vjp(b1 - b0, c->t, z, c->theta, a, c->dzdt + b0 * n, az, ath, at, work);
    else if (u)
        mi->vjp(b1 - b0, c->t, z, u, c->theta, a, az, ath, at, work);
    else
        m->vjp(b1 - b0, c->t, z, c->theta, a, az, ath, at, work);
}

/* out = ∂f/∂z · v, per row (c->a holds v, c->dzdt receives out). */
static void jvp_chunk(void *arg, int k) {
    const call *c = arg;
    const nodec_model *m = c->s->m;
    long n = m->n_state;
    int b0 = chunk_row(c->B, c->nc, k), b1 = chunk_row(c->B, c->nc, k + 1);
    const double *z = c->z + b0 * n, *v = c->a + b0 * n, *u = chunk_u(c, b0, b1);
    if (u)
        m->inputs->jvp(b1 - b0, c->t, z, u, c->theta, v, c->dzdt + b0 * n, chunk_work(c, k));
    else
        m->jvp(b1 - b0, c->t, z, c->theta, v, c->dzdt + b0 * n, chunk_work(c, k));
}

static void jac_chunk(void *arg, int k) {
    const call *c = arg;
    const nodec_model *m = c->s->m;
    long n = m->n_state, b0 = chunk_row(c->B, c->nc, k), b1 = chunk_row(c->B, c->nc, k + 1);
    double *work = chunk_work(c, k);
    const double *u = chunk_u(c, (int)b0, (int)b1);
    for (long b = b0; b < b1; b++)
        if (u)
            m->inputs->jac_z(c->t, c->z + b * n, u + (b - b0) * 3 * c->s->in->n, c->theta, c->J + b * n * n, work);
        else
            m->jac_z(c->t, c->z + b * n, c->theta, c->J + b * n * n, work);
}

/* A batch too small to split, or no buffers: one chunk, on the caller. */
void par_f(nodec_solver *s, int B, double t, const double *z, const double *theta, double *dzdt) {
    call c = {s, B, par_chunks(s, B), t, z, theta, NULL, dzdt, NULL, NULL, NULL, NULL};
    if (!ready(s, c.nc)) c.nc = 1;
    run(s, c.nc, f_chunk, &c);
}

void par_vjp(nodec_solver *s, int B, double t, const double *z, const double *theta, const double *a, double *dzdt,
             double *az, double *atheta, double *at) {
    const nodec_model *m = s->m;
    call c = {s, B, par_chunks(s, B), t, z, theta, a, dzdt, az, atheta, at, NULL};
    int P = m->n_param;
    if (dzdt && (m->inputs ? !m->inputs->f_vjp : !m->f_vjp)) { /* f, then the VJP */
        par_f(s, B, t, z, theta, dzdt);
        c.dzdt = NULL;
    }
    if (!ready(s, c.nc)) c.nc = 1;
    run(s, c.nc, vjp_chunk, &c);
    /* The fixed order: ((p0 + p1) + p2) + … for every component. */
    for (int k = 1; k < c.nc; k++) {
        const double *part = chunk_part(&c, k);
        for (int q = 0; atheta && q < P; q++) atheta[q] += part[q];
        if (at) *at += part[P];
    }
}

void par_jvp(nodec_solver *s, int B, double t, const double *z, const double *theta, const double *v, double *out) {
    call c = {s, B, par_chunks(s, B), t, z, theta, v, out, NULL, NULL, NULL, NULL};
    if (!ready(s, c.nc)) c.nc = 1;
    run(s, c.nc, jvp_chunk, &c);
}

void par_jac_z(nodec_solver *s, const double *theta, int B, double t, const double *z, double *J) {
    call c = {s, B, par_chunks(s, B), t, z, theta, NULL, NULL, NULL, NULL, NULL, J};
    if (!ready(s, c.nc)) c.nc = 1;
    run(s, c.nc, jac_chunk, &c);
}
