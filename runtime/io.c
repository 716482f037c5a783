/* io.c — nodec's files.  DESIGN.md §5; the formats and every message a
 * user can meet are in docs/files.md.
 *
 * CSV: the file is read whole; lines end in \n or \r\n, a UTF-8 BOM is
 * skipped, blank lines may end the file.  Fields split at commas outside
 * brackets and quotes, so a header may say M[0,1] bare or "M[0,1]" quoted.
 * Csv parses the header first, so the data loader can check the columns
 * against the model before it reads any row.
 *
 * NumPy: .npy is a magic string, a version, a Python dict literal
 * ({'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }) padded to
 * 64 bytes, then the raw data (NEP 1).  .npz is a zip of .npy entries; we
 * read its central directory (zip64 too), inflate with zlib (raw deflate)
 * and check CRC-32s; we write stored entries and compute CRC-32 ourselves.
 *
 * Every file is built in memory and then written atomically: temp file in
 * the same directory, fsync, rename (nodec_write_file_atomic).
 */
#define _POSIX_C_SOURCE 200809L

#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#if defined(__GNUC__)
#define PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define PRINTF(a, b)
#endif

PRINTF(3, 4)
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- Growable byte buffer ----------------------------------------------- */

typedef struct Buf {
    char *p;
    size_t len, cap;
    int oom; /* an allocation failed; the contents are incomplete */
} Buf;

static void buf_add(Buf *b, const void *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

PRINTF(2, 3)
static void buf_printf(Buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        buf_add(b, tmp, n);
        return;
    }
    char *big = malloc(n + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, n + 1, fmt, ap);
    va_end(ap);
    buf_add(b, big, n);
    free(big);
}

static void buf_u16(Buf *b, unsigned v)
{
    unsigned char c[2] = {v & 255, (v >> 8) & 255};
    buf_add(b, c, 2);
}

static void buf_u32(Buf *b, uint32_t v)
{
    unsigned char c[4] = {v & 255, (v >> 8) & 255, (v >> 16) & 255, v >> 24};
    buf_add(b, c, 4);
}

static unsigned rd16(const unsigned char *p) { return p[0] | (unsigned)p[1] << 8; }

static uint32_t rd32(const unsigned char *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* ---- Files -------------------------------------------------------------- */

int nodec_read_file(const char *path, char **data, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, errlen, "cannot read '%s': %s", path, strerror(errno));
    Buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_add(&b, chunk, n);
    int e = ferror(f) ? errno : 0;
    fclose(f);
    if (e || b.oom) {
        free(b.p);
        return fail(err, errlen, "cannot read '%s': %s", path, e ? strerror(e) : "out of memory");
    }
    if (!b.p)
        buf_add(&b, "", 0);
    if (b.oom)
        return fail(err, errlen, "cannot read '%s': out of memory", path);
    *data = b.p;
    *len = b.len;
    return 0;
}

static const char *errno_hint(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
        return "; create the directory first or choose another path";
    case EACCES:
    case EPERM:
    case EROFS:
        return "; choose a directory you can write to";
    case ENOSPC:
    case EDQUOT:
        return "; free some disk space";
    case EISDIR:
        return "; the path names a directory, give a file name";
    default:
        return "";
    }
}

/* fsync the directory holding path, so the rename itself is durable. */
static void sync_dir(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == path)
        strcpy(dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        return;
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int nodec_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return fail(err, errlen, "cannot write '%s': the path is too long", path);

    /* The test hook: pretend the disk fails after `limit` bytes. */
    size_t limit = len;
    int simulated = 0;
    const char *hook = getenv("NODEC_TEST_FAIL_WRITE_AFTER");
    if (hook && *hook) {
        unsigned long long n = strtoull(hook, NULL, 10);
        if (n < len) {
            limit = n;
            simulated = 1;
        }
    }

    int e = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0)
        return fail(err, errlen, "cannot write '%s': %s%s", path, strerror(errno), errno_hint(errno));
    struct stat st; /* a replaced file keeps its permissions */
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        fchmod(fd, st.st_mode & 07777);
    const char *p = data;
    size_t done = 0;
    while (done < limit) {
        ssize_t w = write(fd, p + done, limit - done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            e = errno;
            goto bad;
        }
        done += w;
    }
    if (simulated) {
        e = EIO;
        goto bad;
    }
    if (fsync(fd) != 0) {
        e = errno;
        goto bad;
    }
    if (close(fd) != 0) {
        e = errno;
        fd = -1;
        goto bad;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        e = errno;
        goto bad;
    }
    sync_dir(path);
    return 0;

bad:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return fail(err, errlen, "cannot write '%s': %s%s%s", path, strerror(e),
                simulated ? " (simulated by NODEC_TEST_FAIL_WRITE_AFTER)" : "", errno_hint(e));
}

static int save_buf(const char *path, Buf *b, char *err, size_t errlen)
{
    int rc;
    if (b->oom)
        rc = fail(err, errlen, "cannot write '%s': out of memory", path);
    else
        rc = nodec_write_file_atomic(path, b->p ? b->p : "", b->len, err, errlen);
    free(b->p);
    return rc;
}

/* ---- CRC-32 (reflected polynomial 0xEDB88320), four bits at a time ------ */

unsigned long nodec_crc32(unsigned long crc, const void *buf, size_t len)
{
    static const uint32_t tab[16] = {
        0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
        0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
        0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
    };
    const unsigned char *p = buf;
    uint32_t c = ~(uint32_t)crc;
    for (size_t i = 0; i < len; i++) {
        c ^= p[i];
        c = (c >> 4) ^ tab[c & 15];
        c = (c >> 4) ^ tab[c & 15];
    }
    return ~c;
}

/* ---- Numbers ------------------------------------------------------------ */

static int is_space(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

enum { NUM_OK, NUM_EMPTY, NUM_BAD, NUM_NONFINITE };

/* Parses s[0..n), blanks around it allowed, as one finite double. */
static int parse_double(const char *s, size_t n, double *v)
{
    while (n && is_space(*s))
        s++, n--;
    while (n && is_space(s[n - 1]))
        n--;
    if (!n)
        return NUM_EMPTY;
    char tmp[128];
    if (n >= sizeof tmp)
        return NUM_BAD;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    char *end;
    *v = strtod(tmp, &end);
    if (end != tmp + n || end == tmp)
        return NUM_BAD;
    return isfinite(*v) ? NUM_OK : NUM_NONFINITE;
}

int nodec_parse_numbers(const char *what, const char *s, double **out, int *n, char *err, size_t errlen)
{
    const char *p = s, *end = s + strlen(s);
    while (p < end && is_space(*p))
        p++;
    while (end > p && is_space(end[-1]))
        end--;
    if (p < end && *p == '[' && end[-1] == ']')
        p++, end--;
    const char *q = p;
    while (q < end && is_space(*q))
        q++;
    if (q == end)
        return fail(err, errlen, "%s: no numbers in '%s'; write them separated by commas, like 2,0", what, s);

    int cnt = 1;
    for (q = p; q < end; q++)
        cnt += *q == ',';
    double *v = malloc(cnt * sizeof *v);
    if (!v)
        return fail(err, errlen, "%s: out of memory", what);
    for (int i = 0; i < cnt; i++) {
        const char *c = memchr(p, ',', end - p);
        if (!c)
            c = end;
        switch (parse_double(p, c - p, &v[i])) {
        case NUM_EMPTY:
            free(v);
            return fail(err, errlen, "%s: number %d of '%s' is missing; remove the extra comma", what, i + 1, s);
        case NUM_BAD:
            free(v);
            return fail(err, errlen,
                        "%s: '%.*s' (number %d of '%s') is not a number; write numbers separated by commas, like 1.5,-2e-3",
                        what, (int)(c - p), p, i + 1, s);
        case NUM_NONFINITE:
            free(v);
            return fail(err, errlen, "%s: '%.*s' (number %d of '%s') is not finite; give finite numbers", what,
                        (int)(c - p), p, i + 1, s);
        }
        p = c + 1;
    }
    *out = v;
    *n = cnt;
    return 0;
}

/* ---- CSV reading ---------------------------------------------------------- */

typedef struct Span {
    const char *s;
    size_t n;
} Span;

typedef struct Csv {
    const char *path;
    char *buf;
    const char *p, *end; /* what is left to read */
    int line;            /* number of the line last read */
    int blank;           /* first blank line seen since the last row, or 0 */
    int ncol;
    char **names;
    Span *f; /* fields of the current line */
    int nf, fcap;
    double *v; /* nrow × ncol */
    size_t nrow, vcap;
    int *rowline; /* line number of each row */
} Csv;

static void csv_free(Csv *c)
{
    for (int i = 0; c->names && i < c->ncol; i++)
        free(c->names[i]);
    free(c->names);
    free(c->buf);
    free(c->f);
    free(c->v);
    free(c->rowline);
    memset(c, 0, sizeof *c);
}

/* The next line without its \n or \r\n; 0 at the end of the file. */
static int csv_line(Csv *c, Span *l)
{
    if (c->p >= c->end)
        return 0;
    const char *nl = memchr(c->p, '\n', c->end - c->p);
    const char *e = nl ? nl : c->end;
    l->s = c->p;
    l->n = e - c->p;
    if (l->n && l->s[l->n - 1] == '\r')
        l->n--;
    c->p = nl ? nl + 1 : c->end;
    c->line++;
    return 1;
}

static int is_blank(Span l)
{
    for (size_t i = 0; i < l.n; i++)
        if (!is_space(l.s[i]))
            return 0;
    return 1;
}

/* Splits a line into c->f.  A field is "quoted" (with "" for a quote) or
 * bare; bare header fields may hold commas inside brackets: M[0,1]. */
static int csv_split(Csv *c, Span l, int brackets, char *err, size_t errlen)
{
    size_t i = 0;
    c->nf = 0;
    for (;;) {
        while (i < l.n && (l.s[i] == ' ' || l.s[i] == '\t'))
            i++;
        Span f;
        if (i < l.n && l.s[i] == '"') {
            f.s = l.s + ++i;
            while (i < l.n && !(l.s[i] == '"' && (i + 1 >= l.n || l.s[i + 1] != '"')))
                i += l.s[i] == '"' ? 2 : 1;
            if (i >= l.n)
                return fail(err, errlen, "%s:%d: a quote is not closed; end the quoted field with \"", c->path,
                            c->line);
            f.n = l.s + i - f.s;
            i++;
            while (i < l.n && (l.s[i] == ' ' || l.s[i] == '\t'))
                i++;
            if (i < l.n && l.s[i] != ',')
                return fail(err, errlen, "%s:%d: text after a closing quote; put a comma after the quoted field",
                            c->path, c->line);
        } else {
            int depth = 0;
            f.s = l.s + i;
            while (i < l.n && !(l.s[i] == ',' && depth <= 0)) {
                if (brackets && l.s[i] == '[')
                    depth++;
                if (brackets && l.s[i] == ']')
                    depth--;
                i++;
            }
            f.n = l.s + i - f.s;
            while (f.n && (f.s[f.n - 1] == ' ' || f.s[f.n - 1] == '\t'))
                f.n--;
        }
        if (c->nf == c->fcap) {
            int cap = c->fcap ? 2 * c->fcap : 16;
            Span *p = realloc(c->f, cap * sizeof *p);
            if (!p)
                return fail(err, errlen, "%s: out of memory", c->path);
            c->f = p;
            c->fcap = cap;
        }
        c->f[c->nf++] = f;
        if (i >= l.n)
            return 0;
        i++; /* the comma */
    }
}

/* Reads the file and its header line.  `example` shows a good header. */
static int csv_header(Csv *c, const char *path, const char *example, char *err, size_t errlen)
{
    size_t len;
    memset(c, 0, sizeof *c);
    c->path = path;
    if (nodec_read_file(path, &c->buf, &len, err, errlen))
        return -1;
    c->p = c->buf;
    c->end = c->buf + len;
    if (len >= 3 && memcmp(c->buf, "\xEF\xBB\xBF", 3) == 0)
        c->p += 3;

    Span l;
    int any = 0;
    for (const char *q = c->p; q < c->end; q++)
        any |= !is_space(*q);
    if (!any)
        return fail(err, errlen, "%s: the file is empty; a data file starts with a header line like '%s'", path,
                    example);
    csv_line(c, &l);
    if (is_blank(l))
        return fail(err, errlen, "%s:%d: the first line is blank; the file must start with its header, like '%s'",
                    path, c->line, example);
    if (csv_split(c, l, 1, err, errlen))
        return -1;
    double v;
    int kind = parse_double(c->f[0].s, c->f[0].n, &v);
    if (kind == NUM_OK || kind == NUM_NONFINITE)
        return fail(err, errlen,
                    "%s:%d: the first line must be a header naming the columns, like '%s'; found the number '%.*s'",
                    path, c->line, example, (int)c->f[0].n, c->f[0].s);
    c->ncol = c->nf;
    c->names = calloc(c->ncol, sizeof *c->names);
    if (!c->names)
        return fail(err, errlen, "%s: out of memory", path);
    for (int j = 0; j < c->ncol; j++) {
        Span f = c->f[j];
        if (!f.n && j == c->ncol - 1 && j > 0)
            return fail(err, errlen, "%s:%d: the header ends with a comma; remove it", path, c->line);
        if (!f.n)
            return fail(err, errlen, "%s:%d: column %d of the header has no name; name every column, like '%s'",
                        path, c->line, j + 1, example);
        /* Names are kept without blanks, so "M[0, 1]" matches M[0,1]. */
        char *s = malloc(f.n + 1);
        if (!s)
            return fail(err, errlen, "%s: out of memory", path);
        size_t k = 0;
        for (size_t i = 0; i < f.n; i++)
            if (f.s[i] != ' ' && f.s[i] != '\t')
                s[k++] = f.s[i];
        s[k] = 0;
        c->names[j] = s;
    }
    for (int j = 0; j < c->ncol; j++)
        for (int i = 0; i < j; i++)
            if (strcmp(c->names[i], c->names[j]) == 0)
                return fail(err, errlen, "%s:%d: columns %d and %d are both named '%s'; name each column once",
                            path, c->line, i + 1, j + 1, c->names[j]);
    return 0;
}

/* Reads every data row into c->v. */
static int csv_rows(Csv *c, char *err, size_t errlen)
{
    Span l;
    while (csv_line(c, &l)) {
        if (is_blank(l)) {
            if (!c->blank)
                c->blank = c->line;
            continue;
        }
        if (c->blank)
            return fail(err, errlen,
                        "%s:%d: blank line between rows; remove it (blank lines may only end the file)", c->path,
                        c->blank);
        if (csv_split(c, l, 0, err, errlen))
            return -1;
        if (c->nf == c->ncol + 1 && c->f[c->ncol].n == 0)
            return fail(err, errlen, "%s:%d: the line ends with a comma; remove it (the header has %d columns)",
                        c->path, c->line, c->ncol);
        if (c->nf != c->ncol)
            return fail(err, errlen,
                        "%s:%d: %d field%s, but the header has %d columns; give one value per column", c->path,
                        c->line, c->nf, c->nf == 1 ? "" : "s", c->ncol);
        if (c->nrow == c->vcap) {
            size_t cap = c->vcap ? 2 * c->vcap : 64;
            double *v = realloc(c->v, cap * c->ncol * sizeof *v);
            int *rl = realloc(c->rowline, cap * sizeof *rl);
            if (v)
                c->v = v;
            if (rl)
                c->rowline = rl;
            if (!v || !rl)
                return fail(err, errlen, "%s: out of memory", c->path);
            c->vcap = cap;
        }
        double *row = c->v + c->nrow * c->ncol;
        for (int j = 0; j < c->ncol; j++) {
            Span f = c->f[j];
            switch (parse_double(f.s, f.n, &row[j])) {
            case NUM_EMPTY:
                return fail(err, errlen, "%s:%d: column '%s' is empty; every row needs a value in every column",
                            c->path, c->line, c->names[j]);
            case NUM_BAD:
                return fail(err, errlen,
                            "%s:%d: column '%s': '%.*s' is not a number; write a decimal number such as 1.5 or -2e-3",
                            c->path, c->line, c->names[j], (int)(f.n > 40 ? 40 : f.n), f.s);
            case NUM_NONFINITE:
                return fail(err, errlen,
                            "%s:%d: column '%s': '%.*s' is not finite; remove the row or give a finite value",
                            c->path, c->line, c->names[j], (int)(f.n > 40 ? 40 : f.n), f.s);
            }
        }
        c->rowline[c->nrow++] = c->line;
    }
    if (!c->nrow)
        return fail(err, errlen, "%s:%d: no data rows after the header; add one row of values per time", c->path,
                    c->line);
    return 0;
}

int nodec_table_load(const char *path, nodec_table *out, char *err, size_t errlen)
{
    Csv c;
    if (csv_header(&c, path, "t", err, errlen) || csv_rows(&c, err, errlen)) {
        csv_free(&c);
        return -1;
    }
    out->ncol = c.ncol;
    out->nrow = (int)c.nrow;
    out->names = c.names;
    out->v = c.v;
    c.names = NULL;
    c.v = NULL;
    csv_free(&c);
    return 0;
}

void nodec_table_free(nodec_table *t)
{
    for (int i = 0; t->names && i < t->ncol; i++)
        free(t->names[i]);
    free(t->names);
    free(t->v);
    memset(t, 0, sizeof *t);
}

int nodec_table_column(const nodec_table *t, const char *name)
{
    for (int j = 0; j < t->ncol; j++)
        if (strcmp(t->names[j], name) == 0)
            return j;
    return -1;
}

/* ---- Data files: CSV checked against a model ------------------------------ */

/* The state variable holding component k. */
static const nodec_var *state_var_of(const nodec_model *m, int k)
{
    for (int i = 0; i < m->n_state_vars; i++)
        if (k >= m->state_vars[i].offset && k < m->state_vars[i].offset + m->state_vars[i].size)
            return &m->state_vars[i];
    return NULL;
}

int nodec_state_column_name(const nodec_model *m, int k, char *buf, size_t size)
{
    const nodec_var *v = state_var_of(m, k);
    if (!v)
        return snprintf(buf, size, "?%d", k);
    int i = k - v->offset;
    if (v->rank == 0)
        return snprintf(buf, size, "%s", v->name);
    if (v->rank == 1)
        return snprintf(buf, size, "%s[%d]", v->name, i);
    return snprintf(buf, size, "%s[%d,%d]", v->name, i / v->dim[1], i % v->dim[1]);
}

/* "t, z[0], z[1], M[0,0] … M[1,1]": the columns a model's data has. */
static void expected_columns(const nodec_model *m, char *out, size_t size)
{
    Buf b = {0};
    buf_add(&b, "t", 1);
    for (int i = 0; i < m->n_state_vars; i++) {
        const nodec_var *v = &m->state_vars[i];
        char first[160], last[160];
        nodec_state_column_name(m, v->offset, first, sizeof first);
        nodec_state_column_name(m, v->offset + v->size - 1, last, sizeof last);
        if (v->size == 1)
            buf_printf(&b, ", %s", first);
        else if (v->size == 2)
            buf_printf(&b, ", %s, %s", first, last);
        else
            buf_printf(&b, ", %s … %s", first, last);
    }
    snprintf(out, size, "%s", b.oom || !b.p ? "t, …" : b.p);
    free(b.p);
}

static int is_alnum(int c) { return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z'); }

/* Letters and digits only, case folded: "z_0" and "Z[0]" are alike. */
static int loosely_equal(const char *a, const char *b)
{
    for (;;) {
        while (*a && !is_alnum(*a))
            a++;
        while (*b && !is_alnum(*b))
            b++;
        if (!*a || !*b)
            return !*a && !*b;
        if ((*a | 32) != (*b | 32))
            return 0;
        a++, b++;
    }
}

/* The state component a column names, or -1 with why in msg. */
static int column_component(const nodec_model *m, const char *name, char *msg, size_t size)
{
    size_t n = strcspn(name, "[");
    const nodec_var *v = NULL;
    for (int i = 0; i < m->n_state_vars; i++)
        if (strlen(m->state_vars[i].name) == n && strncmp(m->state_vars[i].name, name, n) == 0)
            v = &m->state_vars[i];
    msg[0] = 0;
    if (v) {
        int idx[2] = {0, 0}, nidx = 0, used = 0;
        const char *s = name + n;
        if (*s == '[') {
            if (sscanf(s, "[%d,%d]%n", &idx[0], &idx[1], &used) == 2 && !s[used])
                nidx = 2;
            else if (sscanf(s, "[%d]%n", &idx[0], &used) == 1 && !s[used])
                nidx = 1;
            else
                nidx = -1;
        }
        if (nidx == v->rank && idx[0] >= 0 && idx[0] < v->dim[0] && idx[1] >= 0 && idx[1] < v->dim[1])
            return v->offset + (v->rank == 2 ? idx[0] * v->dim[1] + idx[1] : idx[0]);
        if (v->rank == 0)
            snprintf(msg, size, " (%s is a scalar: name its column %s)", v->name, v->name);
        else if (v->rank == 1)
            snprintf(msg, size, " (%s is a vector of %d: name its columns %s[0] … %s[%d])", v->name, v->dim[0],
                     v->name, v->name, v->dim[0] - 1);
        else
            snprintf(msg, size, " (%s is a %d×%d matrix: name its columns %s[0,0] … %s[%d,%d])", v->name,
                     v->dim[0], v->dim[1], v->name, v->name, v->dim[0] - 1, v->dim[1] - 1);
        return -1;
    }
    char cand[160];
    for (int k = 0; k < m->n_state; k++) {
        nodec_state_column_name(m, k, cand, sizeof cand);
        if (loosely_equal(name, cand)) {
            snprintf(msg, size, " (did you mean '%s'?)", cand);
            break;
        }
    }
    if (!msg[0] && loosely_equal(name, "t"))
        snprintf(msg, size, " (did you mean 't'?)");
    return -1;
}

int nodec_data_load(const char *path, const nodec_model *m, nodec_data *out, char *err, size_t errlen)
{
    char expect[512];
    expected_columns(m, expect, sizeof expect);
    char example[512] = "t"; /* "t,z[0],z[1]", the first few columns */
    for (int k = 0; k < m->n_state && k < 4; k++) {
        char name[160];
        nodec_state_column_name(m, k, name, sizeof name);
        size_t n = strlen(example);
        snprintf(example + n, sizeof example - n, strchr(name, ',') ? ",\"%s\"" : ",%s", name);
    }
    if (m->n_state > 4)
        strcat(example, ",…");

    Csv c;
    int rc = -1, tcol = -1, trajcol = -1;
    int *col = malloc((m->n_state + 1) * sizeof *col);
    long *ids = NULL;
    int *firstrow = NULL;
    nodec_data d = {m->n_state, 0, NULL};
    if (!col) {
        fail(err, errlen, "%s: out of memory", path);
        memset(&c, 0, sizeof c);
        goto done;
    }
    if (csv_header(&c, path, example, err, errlen))
        goto done;

    /* Columns: each of t and the state components once, traj optional. */
    for (int k = 0; k < m->n_state; k++)
        col[k] = -1;
    for (int j = 0; j < c.ncol; j++) {
        const char *name = c.names[j];
        char why[256];
        if (strcmp(name, "t") == 0) {
            tcol = j;
        } else if (strcmp(name, "traj") == 0) {
            trajcol = j;
        } else {
            int k = column_component(m, name, why, sizeof why);
            if (k < 0) {
                fail(err, errlen, "%s:1: unknown column '%s'%s; the columns are %s and optionally traj", path, name,
                     why, expect);
                goto done;
            }
            col[k] = j;
        }
    }
    for (int k = -1; k < m->n_state; k++) {
        if ((k < 0 ? tcol : col[k]) >= 0)
            continue;
        char name[160] = "t";
        if (k >= 0)
            nodec_state_column_name(m, k, name, sizeof name);
        fail(err, errlen, "%s:1: missing column '%s'; the columns are %s and optionally traj (in any order)", path,
             name, expect);
        goto done;
    }
    if (csv_rows(&c, err, errlen))
        goto done;

    /* Trajectories: runs of rows with one traj id. */
    ids = malloc(c.nrow * sizeof *ids);
    firstrow = malloc((c.nrow + 1) * sizeof *firstrow);
    if (!ids || !firstrow) {
        fail(err, errlen, "%s: out of memory", path);
        goto done;
    }
    for (size_t r = 0; r < c.nrow; r++) {
        const double *row = c.v + r * c.ncol;
        long id = 0;
        if (trajcol >= 0) {
            double x = row[trajcol];
            if (x != floor(x) || fabs(x) > 1e15) {
                fail(err, errlen, "%s:%d: column 'traj': %.17g is not a whole number; trajectory ids are integers",
                     path, c.rowline[r], x);
                goto done;
            }
            id = (long)x;
        }
        if (r == 0 || id != ids[d.n_traj - 1]) {
            for (int i = 0; i < d.n_traj; i++)
                if (ids[i] == id) {
                    fail(err, errlen,
                         "%s:%d: trajectory %ld starts again after other rows (it began on line %d); keep the rows "
                         "of each trajectory together",
                         path, c.rowline[r], id, c.rowline[firstrow[i]]);
                    goto done;
                }
            ids[d.n_traj] = id;
            firstrow[d.n_traj++] = (int)r;
            continue;
        }
        double tprev = c.v[(r - 1) * c.ncol + tcol], t = row[tcol];
        char trajname[48];
        snprintf(trajname, sizeof trajname, "trajectory %ld", id);
        if (!(t > tprev)) {
            fail(err, errlen,
                 "%s:%d: time %.17g is not after %.17g on line %d; times must increase strictly within %s (sort "
                 "the rows by t%s)",
                 path, c.rowline[r], t, tprev, c.rowline[r - 1], trajcol < 0 ? "a trajectory" : trajname,
                 trajcol < 0 ? ", or add a traj column to separate trajectories" : "");
            goto done;
        }
    }
    firstrow[d.n_traj] = (int)c.nrow;

    d.traj = calloc(d.n_traj, sizeof *d.traj);
    if (!d.traj) {
        fail(err, errlen, "%s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < d.n_traj; i++) {
        nodec_traj *tr = &d.traj[i];
        tr->id = ids[i];
        tr->n = firstrow[i + 1] - firstrow[i];
        tr->t = malloc(tr->n * sizeof *tr->t);
        tr->z = malloc((size_t)tr->n * (m->n_state ? m->n_state : 1) * sizeof *tr->z);
        if (!tr->t || !tr->z) {
            d.n_traj = i + 1;
            fail(err, errlen, "%s: out of memory", path);
            goto done;
        }
        for (int r = 0; r < tr->n; r++) {
            const double *row = c.v + (size_t)(firstrow[i] + r) * c.ncol;
            tr->t[r] = row[tcol];
            for (int k = 0; k < m->n_state; k++)
                tr->z[(size_t)r * m->n_state + k] = row[col[k]];
        }
    }
    *out = d;
    d.traj = NULL;
    rc = 0;

done:
    if (d.traj)
        nodec_data_free(&d);
    free(col);
    free(ids);
    free(firstrow);
    csv_free(&c);
    return rc;
}

void nodec_data_free(nodec_data *d)
{
    for (int i = 0; d->traj && i < d->n_traj; i++) {
        free(d->traj[i].t);
        free(d->traj[i].z);
    }
    free(d->traj);
    memset(d, 0, sizeof *d);
}

/* ---- CSV writing ---------------------------------------------------------- */

static void csv_head(Buf *b, const nodec_model *m, int with_traj)
{
    buf_add(b, with_traj ? "traj,t" : "t", with_traj ? 6 : 1);
    for (int k = 0; k < m->n_state; k++) {
        char name[160];
        nodec_state_column_name(m, k, name, sizeof name);
        if (strchr(name, ','))
            buf_printf(b, ",\"%s\"", name);
        else
            buf_printf(b, ",%s", name);
    }
    buf_add(b, "\n", 1);
}

static void csv_body(Buf *b, const nodec_model *m, int n, const double *t, const double *z, int with_traj,
                     long traj)
{
    for (int r = 0; r < n; r++) {
        if (with_traj)
            buf_printf(b, "%ld,", traj);
        buf_printf(b, "%.17g", t[r]);
        for (int k = 0; k < m->n_state; k++)
            buf_printf(b, ",%.17g", z[(size_t)r * m->n_state + k]);
        buf_add(b, "\n", 1);
    }
}

int nodec_traj_write(FILE *f, const nodec_model *m, int n, const double *t, const double *z)
{
    Buf b = {0};
    csv_head(&b, m, 0);
    csv_body(&b, m, n, t, z, 0, 0);
    int rc = b.oom || fwrite(b.p, 1, b.len, f) != b.len ? -1 : 0;
    free(b.p);
    return rc;
}

int nodec_traj_save(const char *path, const nodec_model *m, int n, const double *t, const double *z, char *err,
                    size_t errlen)
{
    Buf b = {0};
    csv_head(&b, m, 0);
    csv_body(&b, m, n, t, z, 0, 0);
    return save_buf(path, &b, err, errlen);
}

int nodec_data_save(const char *path, const nodec_model *m, const nodec_data *d, char *err, size_t errlen)
{
    Buf b = {0};
    int many = d->n_traj > 1;
    csv_head(&b, m, many);
    for (int i = 0; i < d->n_traj; i++)
        csv_body(&b, m, d->traj[i].n, d->traj[i].t, d->traj[i].z, many, d->traj[i].id);
    return save_buf(path, &b, err, errlen);
}

/* ---- .npy ----------------------------------------------------------------- */

static void shape_str(char *out, size_t size, int ndim, const size_t *shape)
{
    size_t k = snprintf(out, size, "(");
    for (int i = 0; i < ndim && k < size; i++)
        k += snprintf(out + k, size - k, i ? ", %zu" : "%zu", shape[i]);
    if (k < size)
        snprintf(out + k, size - k, ndim == 1 ? ",)" : ")");
}

/* The header dict's little lexer: Python literals, blanks between. */
typedef struct Lex {
    const char *s, *e;
} Lex;

static void lx_ws(Lex *l)
{
    while (l->s < l->e && is_space(*l->s))
        l->s++;
}

static int lx_char(Lex *l, char c)
{
    lx_ws(l);
    if (l->s < l->e && *l->s == c) {
        l->s++;
        return 1;
    }
    return 0;
}

static int lx_str(Lex *l, char *out, size_t size)
{
    lx_ws(l);
    if (l->s >= l->e || (*l->s != '\'' && *l->s != '"'))
        return 0;
    char q = *l->s++;
    size_t n = 0;
    while (l->s < l->e && *l->s != q) {
        if (n + 1 >= size)
            return 0;
        out[n++] = *l->s++;
    }
    if (l->s >= l->e)
        return 0;
    l->s++;
    out[n] = 0;
    return 1;
}

static int lx_word(Lex *l, const char *w)
{
    lx_ws(l);
    size_t n = strlen(w);
    if ((size_t)(l->e - l->s) >= n && memcmp(l->s, w, n) == 0) {
        l->s += n;
        return 1;
    }
    return 0;
}

/* dict: '{' (key ':' value ','?)* '}', keys descr, fortran_order, shape. */
static int npy_header(Lex *l, const char *what, char *descr, int *fortran, int *ndim, size_t *shape, char *err,
                      size_t errlen)
{
    int seen = 0;
    if (!lx_char(l, '{'))
        return fail(err, errlen, "%s: the .npy header is not a dict; the file is damaged", what);
    while (!lx_char(l, '}')) {
        char key[32];
        if (!lx_str(l, key, sizeof key) || !lx_char(l, ':'))
            return fail(err, errlen, "%s: cannot read the .npy header; the file is damaged", what);
        if (strcmp(key, "descr") == 0) {
            lx_ws(l);
            if (l->s < l->e && (*l->s == '[' || *l->s == '('))
                return fail(err, errlen,
                            "%s: a structured dtype is not supported; save a plain float64 array", what);
            if (!lx_str(l, descr, 16))
                return fail(err, errlen, "%s: cannot read the dtype in the .npy header", what);
            seen |= 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (lx_word(l, "True"))
                *fortran = 1;
            else if (lx_word(l, "False"))
                *fortran = 0;
            else
                return fail(err, errlen, "%s: fortran_order must be True or False in the .npy header", what);
            seen |= 2;
        } else if (strcmp(key, "shape") == 0) {
            if (!lx_char(l, '('))
                return fail(err, errlen, "%s: cannot read the shape in the .npy header", what);
            *ndim = 0;
            while (!lx_char(l, ')')) {
                lx_ws(l);
                if (*ndim == NODEC_ARRAY_MAXDIM)
                    return fail(err, errlen, "%s: more than %d dimensions are not supported", what,
                                NODEC_ARRAY_MAXDIM);
                if (l->s >= l->e || *l->s < '0' || *l->s > '9')
                    return fail(err, errlen, "%s: cannot read the shape in the .npy header", what);
                size_t v = 0;
                while (l->s < l->e && *l->s >= '0' && *l->s <= '9') {
                    if (v > (SIZE_MAX - 9) / 10)
                        return fail(err, errlen, "%s: the shape in the .npy header is too large", what);
                    v = v * 10 + (*l->s++ - '0');
                }
                lx_word(l, "L"); /* Python 2 longs */
                shape[(*ndim)++] = v;
                if (!lx_char(l, ',') && !(lx_ws(l), l->s < l->e && *l->s == ')'))
                    return fail(err, errlen, "%s: cannot read the shape in the .npy header", what);
            }
            seen |= 4;
        } else {
            return fail(err, errlen, "%s: unexpected key '%s' in the .npy header", what, key);
        }
        if (!lx_char(l, ',')) {
            if (!lx_char(l, '}'))
                return fail(err, errlen, "%s: cannot read the .npy header; the file is damaged", what);
            break;
        }
    }
    if (seen != 7)
        return fail(err, errlen, "%s: the .npy header lacks '%s'", what,
                    !(seen & 1) ? "descr" : !(seen & 2) ? "fortran_order" : "shape");
    return 0;
}

/* Decodes one .npy image p[0..len) into a (name left alone). */
static int npy_parse(const unsigned char *p, size_t len, const char *what, nodec_array *a, char *err,
                     size_t errlen)
{
    if (len < 10 || memcmp(p, "\x93NUMPY", 6) != 0)
        return fail(err, errlen, "%s: not a .npy file (it does not start with \\x93NUMPY); save it with np.save",
                    what);
    size_t hlen, hstart;
    if (p[6] == 1) {
        hlen = rd16(p + 8);
        hstart = 10;
    } else if ((p[6] == 2 || p[6] == 3) && len >= 12) {
        hlen = rd32(p + 8);
        hstart = 12;
    } else {
        return fail(err, errlen, "%s: .npy format version %d.%d is not supported (1.0, 2.0 and 3.0 are)", what, p[6],
                    p[7]);
    }
    if (hlen > len - hstart)
        return fail(err, errlen, "%s: truncated: the .npy header needs %zu bytes but the file has %zu", what,
                    hstart + hlen, len);

    char descr[16];
    int fortran = 0, ndim = 0;
    size_t shape[NODEC_ARRAY_MAXDIM];
    Lex l = {(const char *)p + hstart, (const char *)p + hstart + hlen};
    if (npy_header(&l, what, descr, &fortran, &ndim, shape, err, errlen))
        return -1;

    int big = descr[0] == '>', isz = 0;
    if ((descr[0] == '<' || descr[0] == '>') && strcmp(descr + 1, "f8") == 0)
        isz = 8;
    if ((descr[0] == '<' || descr[0] == '>') && strcmp(descr + 1, "f4") == 0)
        isz = 4;
    if (!isz)
        return fail(err, errlen, "%s: dtype '%s' is not supported; save float64 arrays (x.astype(np.float64))",
                    what, descr);
    if (fortran && ndim > 1)
        return fail(err, errlen,
                    "%s: the array is in Fortran order; save it in C order (np.ascontiguousarray(x))", what);

    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] && n > SIZE_MAX / 8 / shape[i])
            return fail(err, errlen, "%s: the shape in the .npy header is too large", what);
        n *= shape[i];
    }
    char sh[160];
    shape_str(sh, sizeof sh, ndim, shape);
    size_t have = len - hstart - hlen;
    if (have < n * isz)
        return fail(err, errlen, "%s: truncated: shape %s of %s needs %zu bytes of data but the file has %zu", what,
                    sh, descr, n * isz, have);
    if (have > n * isz)
        return fail(err, errlen, "%s: %zu bytes after the data of shape %s; the file is damaged", what,
                    have - n * isz, sh);

    double *v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return fail(err, errlen, "%s: out of memory", what);
    const unsigned char *d = p + hstart + hlen;
    for (size_t i = 0; i < n; i++, d += isz) {
        unsigned char b[8] = {0};
        for (int j = 0; j < isz; j++)
            b[j] = big ? d[isz - 1 - j] : d[j];
        if (isz == 8) {
            uint64_t u = rd64(b);
            memcpy(&v[i], &u, 8);
        } else {
            uint32_t u = rd32(b);
            float f;
            memcpy(&f, &u, 4);
            v[i] = f;
        }
    }
    a->ndim = ndim;
    memcpy(a->shape, shape, sizeof shape);
    a->size = n;
    a->data = v;
    return 0;
}

static void npy_encode(Buf *b, const nodec_array *a)
{
    char sh[NODEC_ARRAY_MAXDIM * 24 + 8], dict[NODEC_ARRAY_MAXDIM * 24 + 80];
    shape_str(sh, sizeof sh, a->ndim, a->shape);
    int n = snprintf(dict, sizeof dict, "{'descr': '<f8', 'fortran_order': False, 'shape': %s, }", sh);
    int pad = (64 - (10 + n + 1) % 64) % 64; /* NEP 1: data aligned to 64 */
    buf_add(b, "\x93NUMPY\x01\x00", 8);
    buf_u16(b, n + pad + 1);
    buf_add(b, dict, n);
    for (int i = 0; i < pad; i++)
        buf_add(b, " ", 1);
    buf_add(b, "\n", 1);
    for (size_t i = 0; i < a->size; i++) {
        uint64_t u;
        memcpy(&u, &a->data[i], 8);
        buf_u32(b, (uint32_t)u);
        buf_u32(b, (uint32_t)(u >> 32));
    }
}

static int array_check(const char *path, const nodec_array *a, char *err, size_t errlen)
{
    size_t n = 1;
    if (a->ndim < 0 || a->ndim > NODEC_ARRAY_MAXDIM)
        return fail(err, errlen, "cannot write '%s': array '%s' has %d dimensions (at most %d)", path, a->name,
                    a->ndim, NODEC_ARRAY_MAXDIM);
    for (int i = 0; i < a->ndim; i++)
        n *= a->shape[i];
    if (n != a->size)
        return fail(err, errlen, "cannot write '%s': array '%s' has size %zu but its shape holds %zu", path,
                    a->name, a->size, n);
    return 0;
}

/* "dir/x.npy" → "x" */
static void base_name(const char *path, char *out, size_t size)
{
    const char *s = strrchr(path, '/');
    s = s ? s + 1 : path;
    size_t n = strlen(s);
    if (n >= 4 && strcmp(s + n - 4, ".npy") == 0)
        n -= 4;
    snprintf(out, size, "%.*s", (int)n, s);
}

int nodec_npy_load(const char *path, nodec_array *a, char *err, size_t errlen)
{
    char *buf;
    size_t len;
    if (nodec_read_file(path, &buf, &len, err, errlen))
        return -1;
    nodec_array t = {0};
    int rc = npy_parse((unsigned char *)buf, len, path, &t, err, errlen);
    free(buf);
    if (rc)
        return -1;
    base_name(path, t.name, sizeof t.name);
    *a = t;
    return 0;
}

int nodec_npy_save(const char *path, const nodec_array *a, char *err, size_t errlen)
{
    if (array_check(path, a, err, errlen))
        return -1;
    Buf b = {0};
    npy_encode(&b, a);
    return save_buf(path, &b, err, errlen);
}

/* ---- .npz: zip archives of .npy entries ----------------------------------- */

/* Fixed DOS time and date (1980-01-01 00:00) keep saved files reproducible. */
#define ZIP_DATE 0x21

static int zip_inflate(const unsigned char *in, size_t inlen, unsigned char *out, size_t outlen)
{
    const size_t chunk = 1u << 30; /* avail_in/out are 32 bits wide */
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, -15) != Z_OK) /* raw deflate: no zlib header */
        return -1;
    s.next_in = (unsigned char *)in;
    s.next_out = out;
    int rc = Z_OK;
    while (rc == Z_OK) {
        size_t inleft = inlen - (size_t)(s.next_in - in), outleft = outlen - (size_t)(s.next_out - out);
        if (s.avail_in == 0)
            s.avail_in = (uInt)(inleft < chunk ? inleft : chunk);
        if (s.avail_out == 0)
            s.avail_out = (uInt)(outleft < chunk ? outleft : chunk);
        rc = inflate(&s, Z_NO_FLUSH); /* Z_BUF_ERROR: input ended or output full */
    }
    int ok = rc == Z_STREAM_END && (size_t)(s.next_out - out) == outlen;
    inflateEnd(&s);
    return ok ? 0 : -1;
}

/* Finds the central directory: offset, size and number of entries. */
static int zip_directory(const unsigned char *p, size_t len, const char *path, uint64_t *cdoff, uint64_t *cdsize,
                         uint64_t *count, char *err, size_t errlen)
{
    if (len < 22)
        return fail(err, errlen, "%s: not an .npz file (too short for a zip archive); save it with np.savez", path);
    size_t lo = len > 22 + 65535 ? len - 22 - 65535 : 0, e = len - 22 + 1;
    do {
        if (e-- == lo)
            return fail(err, errlen,
                        memcmp(p, "PK\3\4", 4) == 0
                            ? "%s: the zip directory at the end of the file is missing; the file is truncated, "
                              "save it again"
                            : "%s: not an .npz file (no zip directory found); save it with np.savez",
                        path);
    } while (rd32(p + e) != 0x06054b50);
    *count = rd16(p + e + 10);
    *cdsize = rd32(p + e + 12);
    *cdoff = rd32(p + e + 16);
    if ((*count == 0xffff || *cdsize == 0xffffffff || *cdoff == 0xffffffff) && e >= 20 &&
        rd32(p + e - 20) == 0x07064b50) { /* zip64 locator → zip64 end record */
        uint64_t z = rd64(p + e - 20 + 8);
        if (len < 56 || z > len - 56 || rd32(p + z) != 0x06064b50)
            return fail(err, errlen, "%s: the zip64 directory record is damaged", path);
        *count = rd64(p + z + 32);
        *cdsize = rd64(p + z + 40);
        *cdoff = rd64(p + z + 48);
    }
    if (*cdoff > len || *cdsize > len - *cdoff)
        return fail(err, errlen, "%s: the zip directory points past the end of the file; the file is truncated",
                    path);
    return 0;
}

static int npz_parse(const unsigned char *p, size_t len, const char *path, nodec_array **out, int *nout,
                     char *err, size_t errlen)
{
    uint64_t cdoff = 0, cdsize = 0, count = 0;
    if (zip_directory(p, len, path, &cdoff, &cdsize, &count, err, errlen))
        return -1;
    if (count > cdsize / 46)
        return fail(err, errlen, "%s: the zip directory is damaged", path);
    nodec_array *a = calloc(count ? count : 1, sizeof *a);
    if (!a)
        return fail(err, errlen, "%s: out of memory", path);
    int n = 0;
    const unsigned char *c = p + cdoff, *cend = p + cdoff + cdsize;
    for (uint64_t i = 0; i < count; i++) {
        char what[NODEC_ARRAY_NAMELEN + 600];
        if (cend - c < 46 || rd32(c) != 0x02014b50) {
            fail(err, errlen, "%s: the zip directory is damaged", path);
            goto bad;
        }
        unsigned flags = rd16(c + 8), method = rd16(c + 10);
        uint32_t crc = rd32(c + 16);
        uint64_t csize = rd32(c + 20), usize = rd32(c + 24), off = rd32(c + 42);
        size_t nlen = rd16(c + 28), xlen = rd16(c + 30), clen = rd16(c + 32);
        if ((size_t)(cend - c) < 46 + nlen + xlen + clen) {
            fail(err, errlen, "%s: the zip directory is damaged", path);
            goto bad;
        }
        const char *name = (const char *)c + 46;
        snprintf(what, sizeof what, "%s: %.*s", path, (int)nlen, name);
        /* zip64 extra field: the sizes and offset that did not fit. */
        for (const unsigned char *x = c + 46 + nlen, *xe = x + xlen; xe - x >= 4; x += 4 + rd16(x + 2)) {
            const unsigned char *v = x + 4, *ve = v + rd16(x + 2);
            if (rd16(x) != 1 || ve > xe)
                continue;
            if (usize == 0xffffffff && ve - v >= 8)
                usize = rd64(v), v += 8;
            if (csize == 0xffffffff && ve - v >= 8)
                csize = rd64(v), v += 8;
            if (off == 0xffffffff && ve - v >= 8)
                off = rd64(v), v += 8;
        }
        c += 46 + nlen + xlen + clen;

        if (nlen < 5 || memcmp(name + nlen - 4, ".npy", 4) != 0 || nlen - 4 >= NODEC_ARRAY_NAMELEN) {
            fail(err, errlen, "%s: entry '%.*s' is not a .npy array; an .npz holds only <name>.npy entries", path,
                 (int)nlen, name);
            goto bad;
        }
        snprintf(a[n].name, sizeof a[n].name, "%.*s", (int)(nlen - 4), name);
        for (int j = 0; j < n; j++)
            if (strcmp(a[j].name, a[n].name) == 0) {
                fail(err, errlen, "%s: two entries are named '%s.npy'; the file is damaged", path, a[n].name);
                goto bad;
            }
        if (flags & 1) {
            fail(err, errlen, "%s: the entry is encrypted; save it without a password", what);
            goto bad;
        }
        if (method != 0 && method != 8) {
            fail(err, errlen,
                 "%s: compression method %u is not supported; save with np.savez or np.savez_compressed", what,
                 method);
            goto bad;
        }
        if (off > len || len - off < 30 || rd32(p + off) != 0x04034b50) {
            fail(err, errlen, "%s: the entry's local header is missing; the file is damaged or truncated", what);
            goto bad;
        }
        uint64_t data = off + 30 + rd16(p + off + 26) + rd16(p + off + 28);
        if (data > len || csize > len - data) {
            fail(err, errlen, "%s: truncated: the entry needs %llu bytes but the file ends after %llu", what,
                 (unsigned long long)csize, (unsigned long long)(len > data ? len - data : 0));
            goto bad;
        }
        unsigned char *raw = (unsigned char *)p + data, *mem = NULL;
        if (method == 8) {
            /* Deflate expands at most ~1032:1; anything more is damage. */
            if (usize > csize * 1040 + 1024 || !(mem = malloc(usize ? usize : 1))) {
                fail(err, errlen, "%s: the entry's size %llu is impossible; the file is damaged", what,
                     (unsigned long long)usize);
                goto bad;
            }
            if (zip_inflate(raw, csize, mem, usize)) {
                free(mem);
                fail(err, errlen, "%s: the compressed data is damaged; save the file again", what);
                goto bad;
            }
            raw = mem;
        } else if (usize != csize) {
            fail(err, errlen, "%s: stored entry sizes disagree; the file is damaged", what);
            goto bad;
        }
        if (nodec_crc32(0, raw, usize) != crc) {
            free(mem);
            fail(err, errlen, "%s: CRC-32 mismatch; the file is damaged, save it again", what);
            goto bad;
        }
        int rc = npy_parse(raw, usize, what, &a[n], err, errlen);
        free(mem);
        if (rc)
            goto bad;
        n++;
    }
    *out = a;
    *nout = n;
    return 0;

bad:
    nodec_arrays_free(a, n);
    return -1;
}

int nodec_npz_load(const char *path, nodec_array **a, int *n, char *err, size_t errlen)
{
    char *buf;
    size_t len;
    if (nodec_read_file(path, &buf, &len, err, errlen))
        return -1;
    int rc = npz_parse((unsigned char *)buf, len, path, a, n, err, errlen);
    free(buf);
    return rc;
}

/* A zip of stored entries: local header + data for each, the central
 * directory, the end record.  Sizes must fit in 32 bits (no zip64). */
static int npz_encode(Buf *b, const char *path, const nodec_array *a, int n, char *err, size_t errlen)
{
    uint32_t *crc = calloc(n ? n : 1, sizeof *crc);
    size_t *off = calloc(n ? n : 1, sizeof *off), *size = calloc(n ? n : 1, sizeof *size);
    int rc = -1;
    if (!crc || !off || !size) {
        fail(err, errlen, "cannot write '%s': out of memory", path);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (array_check(path, &a[i], err, errlen))
            goto done;
        if (!a[i].name[0] || memchr(a[i].name, 0, sizeof a[i].name) == NULL) {
            fail(err, errlen, "cannot write '%s': array %d has no name", path, i + 1);
            goto done;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(a[i].name, a[j].name) == 0) {
                fail(err, errlen, "cannot write '%s': two arrays are named '%s'", path, a[i].name);
                goto done;
            }
        Buf e = {0};
        npy_encode(&e, &a[i]);
        size_t nl = strlen(a[i].name) + 4;
        if (e.oom || e.len > 0xffffffffu || b->len > 0xffffffffu) {
            free(e.p);
            fail(err, errlen, "cannot write '%s': %s", path,
                 e.oom ? "out of memory" : "the archive would pass 4 GiB; save to .npy files instead");
            goto done;
        }
        crc[i] = nodec_crc32(0, e.p, e.len);
        off[i] = b->len;
        size[i] = e.len;
        buf_u32(b, 0x04034b50);
        buf_u16(b, 20); /* version needed: 2.0 */
        buf_u16(b, 0);  /* flags */
        buf_u16(b, 0);  /* stored */
        buf_u16(b, 0);
        buf_u16(b, ZIP_DATE);
        buf_u32(b, crc[i]);
        buf_u32(b, (uint32_t)e.len);
        buf_u32(b, (uint32_t)e.len);
        buf_u16(b, (unsigned)nl);
        buf_u16(b, 0);
        buf_add(b, a[i].name, nl - 4);
        buf_add(b, ".npy", 4);
        buf_add(b, e.p, e.len);
        free(e.p);
    }
    size_t cd = b->len;
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(a[i].name) + 4;
        buf_u32(b, 0x02014b50);
        buf_u16(b, 0x0314); /* made by: Unix, zip 2.0 */
        buf_u16(b, 20);
        buf_u16(b, 0);
        buf_u16(b, 0);
        buf_u16(b, 0);
        buf_u16(b, ZIP_DATE);
        buf_u32(b, crc[i]);
        buf_u32(b, (uint32_t)size[i]);
        buf_u32(b, (uint32_t)size[i]);
        buf_u16(b, (unsigned)nl);
        buf_u16(b, 0); /* extra */
        buf_u16(b, 0); /* comment */
        buf_u16(b, 0); /* disk */
        buf_u16(b, 0); /* internal attributes */
        buf_u32(b, 0100644u << 16); /* external: a regular file, rw-r--r-- */
        buf_u32(b, (uint32_t)off[i]);
        buf_add(b, a[i].name, nl - 4);
        buf_add(b, ".npy", 4);
    }
    if (n > 0xffff || b->len > 0xffffffffu) {
        fail(err, errlen, "cannot write '%s': too many or too large arrays for a zip archive", path);
        goto done;
    }
    buf_u32(b, 0x06054b50);
    buf_u16(b, 0);
    buf_u16(b, 0);
    buf_u16(b, n);
    buf_u16(b, n);
    buf_u32(b, (uint32_t)(b->len - cd - 12));
    buf_u32(b, (uint32_t)cd);
    buf_u16(b, 0);
    rc = 0;
done:
    free(crc);
    free(off);
    free(size);
    return rc;
}

int nodec_npz_save(const char *path, const nodec_array *a, int n, char *err, size_t errlen)
{
    Buf b = {0};
    if (npz_encode(&b, path, a, n, err, errlen)) {
        free(b.p);
        return -1;
    }
    return save_buf(path, &b, err, errlen);
}

void nodec_arrays_free(nodec_array *a, int n)
{
    for (int i = 0; a && i < n; i++)
        free(a[i].data);
    free(a);
}

const nodec_array *nodec_arrays_find(const nodec_array *a, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(a[i].name, name) == 0)
            return &a[i];
    return NULL;
}

/* ---- Parameters ------------------------------------------------------------ */

static void param_array(const nodec_var *v, nodec_array *a)
{
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", v->name);
    a->ndim = v->rank;
    a->shape[0] = v->dim[0];
    a->shape[1] = v->dim[1];
    a->size = v->size;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcmp(s + n - k, suf) == 0;
}

int nodec_params_save(const char *path, const nodec_model *m, const double *theta, char *err, size_t errlen)
{
    if (has_suffix(path, ".npy")) {
        nodec_array a = {0};
        snprintf(a.name, sizeof a.name, "theta");
        a.ndim = 1;
        a.shape[0] = a.size = m->n_param;
        a.data = (double *)theta;
        return nodec_npy_save(path, &a, err, errlen);
    }
    nodec_array *a = calloc(m->n_param_vars ? m->n_param_vars : 1, sizeof *a);
    if (!a)
        return fail(err, errlen, "cannot write '%s': out of memory", path);
    for (int i = 0; i < m->n_param_vars; i++) {
        param_array(&m->param_vars[i], &a[i]);
        a[i].data = (double *)theta + m->param_vars[i].offset;
    }
    int rc = nodec_npz_save(path, a, m->n_param_vars, err, errlen);
    free(a);
    return rc;
}

int nodec_params_load(const char *path, const nodec_model *m, double *theta, char *err, size_t errlen)
{
    char *buf;
    size_t len;
    if (nodec_read_file(path, &buf, &len, err, errlen))
        return -1;
    const unsigned char *p = (unsigned char *)buf;
    int rc = -1;
    if (len >= 6 && memcmp(p, "\x93NUMPY", 6) == 0) { /* flat θ */
        nodec_array a = {0};
        if (npy_parse(p, len, path, &a, err, errlen) == 0) {
            char sh[160];
            shape_str(sh, sizeof sh, a.ndim, a.shape);
            if (a.ndim != 1 || a.size != (size_t)m->n_param)
                fail(err, errlen,
                     "%s: has shape %s but model %s has %d parameters; a flat .npy holds θ with shape (%d,) — "
                     "check that the file belongs to this model",
                     path, sh, m->name, m->n_param, m->n_param);
            else {
                memcpy(theta, a.data, m->n_param * sizeof *theta);
                rc = 0;
            }
            free(a.data);
        }
        free(buf);
        return rc;
    }
    if (len < 4 || memcmp(p, "PK", 2) != 0) {
        free(buf);
        return fail(err, errlen, "%s: not a .npy or .npz file; save parameters with nodec train, np.save or np.savez",
                    path);
    }
    nodec_array *a;
    int n;
    if (npz_parse(p, len, path, &a, &n, err, errlen)) {
        free(buf);
        return -1;
    }
    free(buf);

    char have[512] = "";
    for (int i = 0; i < n; i++) {
        size_t k = strlen(have);
        snprintf(have + k, sizeof have - k, "%s%s", i ? ", " : "", a[i].name);
    }
    for (int i = 0; i < m->n_param_vars; i++) {
        const nodec_var *v = &m->param_vars[i];
        const nodec_array *f = nodec_arrays_find(a, n, v->name);
        nodec_array want;
        param_array(v, &want);
        char fs[160], ms[160];
        if (!f) {
            fail(err, errlen,
                 "%s: parameter '%s' is missing (the file has %s); check that the file belongs to model %s", path,
                 v->name, n ? have : "no arrays", m->name);
            goto done;
        }
        shape_str(fs, sizeof fs, f->ndim, f->shape);
        shape_str(ms, sizeof ms, want.ndim, want.shape);
        if (strcmp(fs, ms) != 0) {
            fail(err, errlen,
                 "%s: parameter '%s' has shape %s in the file but %s in the model; check that the file belongs "
                 "to model %s",
                 path, v->name, fs, ms, m->name);
            goto done;
        }
    }
    for (int i = 0; i < n; i++) {
        int known = 0;
        for (int j = 0; j < m->n_param_vars; j++)
            known |= strcmp(a[i].name, m->param_vars[j].name) == 0;
        if (!known) {
            fail(err, errlen, "%s: '%s' is not a parameter of model %s; remove it or use the model it was saved for",
                 path, a[i].name, m->name);
            goto done;
        }
    }
    for (int i = 0; i < m->n_param_vars; i++) {
        const nodec_var *v = &m->param_vars[i];
        memcpy(theta + v->offset, nodec_arrays_find(a, n, v->name)->data, v->size * sizeof *theta);
    }
    rc = 0;
done:
    nodec_arrays_free(a, n);
    return rc;
}
