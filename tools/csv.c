/* csv.c — CSV: number lists, tables, data files checked against a model,
 * trajectories written back.  DESIGN.md §5; docs/files.md.
 *
 * The file is read whole; lines end in \n or \r\n, a UTF-8 BOM is
 * skipped, blank lines may end the file.  A header that shows the file to
 * be tab-separated, or to end its lines in \r alone, is refused as such
 * rather than read as one long column name.  Fields split at commas outside
 * brackets and quotes, so a header may say M[0,1] bare or "M[0,1]" quoted.
 * Csv parses the header first, so the data loader can check the columns
 * against the model before it reads any row.
 */
#define _POSIX_C_SOURCE 200809L

#include "tools.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- Numbers ------------------------------------------------------------ */

static int is_space(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

enum { NUM_OK, NUM_EMPTY, NUM_BAD, NUM_NONFINITE };

/* Parses s[0..n), blanks around it allowed, as one finite double. */
static int parse_double(const char *s, size_t n, double *v) {
    while (n && is_space(*s)) s++, n--;
    while (n && is_space(s[n - 1])) n--;
    if (!n) return NUM_EMPTY;
    char tmp[128];
    if (n >= sizeof tmp) return NUM_BAD;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    char *end;
    *v = strtod(tmp, &end);
    if (end != tmp + n || end == tmp) return NUM_BAD;
    return isfinite(*v) ? NUM_OK : NUM_NONFINITE;
}

int nodec_parse_numbers(const char *what, const char *s, double **out, int *n, char *err, size_t errlen) {
    const char *p = s, *end = s + strlen(s);
    while (p < end && is_space(*p)) p++;
    while (end > p && is_space(end[-1])) end--;
    if (p < end && *p == '[' && end[-1] == ']') p++, end--;
    const char *q = p;
    while (q < end && is_space(*q)) q++;
    if (q == end)
        return io_fail(err, errlen, "%s: no numbers in '%s'; write them separated by commas, like 2,0", what, s);

    int cnt = 1;
    for (q = p; q < end; q++) cnt += *q == ',';
    double *v = malloc(cnt * sizeof *v);
    if (!v) return io_fail(err, errlen, "%s: out of memory", what);
    for (int i = 0; i < cnt; i++) {
        const char *c = memchr(p, ',', end - p);
        if (!c) c = end;
        switch (parse_double(p, c - p, &v[i])) {
        case NUM_EMPTY:
            free(v);
            return io_fail(err, errlen, "%s: number %d of '%s' is missing; remove the extra comma", what, i + 1, s);
        case NUM_BAD:
            free(v);
            return io_fail(
                err, errlen,
                "%s: '%.*s' (number %d of '%s') is not a number; write numbers separated by commas, like 1.5,-2e-3",
                what, (int)(c - p), p, i + 1, s);
        case NUM_NONFINITE:
            free(v);
            return io_fail(err, errlen, "%s: '%.*s' (number %d of '%s') is not finite; give finite numbers", what,
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
    bool *nan_ok; /* per column: an empty cell or nan is a missing value (NaN); NULL: none */
} Csv;

static void csv_free(Csv *c) {
    free(c->nan_ok);
    for (int i = 0; c->names && i < c->ncol; i++) free(c->names[i]);
    free(c->names);
    free(c->buf);
    free(c->f);
    free(c->v);
    free(c->rowline);
    memset(c, 0, sizeof *c);
}

/* The next line without its \n or \r\n; 0 at the end of the file. */
static int csv_line(Csv *c, Span *l) {
    if (c->p >= c->end) return 0;
    const char *nl = memchr(c->p, '\n', c->end - c->p);
    const char *e = nl ? nl : c->end;
    l->s = c->p;
    l->n = e - c->p;
    if (l->n && l->s[l->n - 1] == '\r') l->n--;
    c->p = nl ? nl + 1 : c->end;
    c->line++;
    return 1;
}

static int is_blank(Span l) {
    for (size_t i = 0; i < l.n; i++)
        if (!is_space(l.s[i])) return 0;
    return 1;
}

/* Splits a line into c->f.  A field is "quoted" (with "" for a quote) or
 * bare; bare header fields may hold commas inside brackets: M[0,1]. */
static int csv_split(Csv *c, Span l, int brackets, char *err, size_t errlen) {
    size_t i = 0;
    c->nf = 0;
    for (;;) {
        while (i < l.n && (l.s[i] == ' ' || l.s[i] == '\t')) i++;
        Span f;
        if (i < l.n && l.s[i] == '"') {
            f.s = l.s + ++i;
            while (i < l.n && !(l.s[i] == '"' && (i + 1 >= l.n || l.s[i + 1] != '"'))) i += l.s[i] == '"' ? 2 : 1;
            if (i >= l.n)
                return io_fail(err, errlen, "%s:%d: a quote is not closed; end the quoted field with \"", c->path,
                               c->line);
            f.n = l.s + i - f.s;
            i++;
            while (i < l.n && (l.s[i] == ' ' || l.s[i] == '\t')) i++;
            if (i < l.n && l.s[i] != ',')
                return io_fail(err, errlen, "%s:%d: text after a closing quote; put a comma after the quoted field",
                               c->path, c->line);
        } else {
            int depth = 0;
            f.s = l.s + i;
            while (i < l.n && !(l.s[i] == ',' && depth <= 0)) {
                if (brackets && l.s[i] == '[') depth++;
                if (brackets && l.s[i] == ']') depth--;
                i++;
            }
            f.n = l.s + i - f.s;
            while (f.n && (f.s[f.n - 1] == ' ' || f.s[f.n - 1] == '\t')) f.n--;
        }
        if (c->nf == c->fcap) {
            int cap = c->fcap ? 2 * c->fcap : 16;
            Span *p = realloc(c->f, cap * sizeof *p);
            if (!p) return io_fail(err, errlen, "%s: out of memory", c->path);
            c->f = p;
            c->fcap = cap;
        }
        c->f[c->nf++] = f;
        if (i >= l.n) return 0;
        i++; /* the comma */
    }
}

/* Column names sorted, so that equal ones are neighbours: n log n, where
 * comparing every pair took 36 s for a header of 100,000 columns. */
typedef struct Named {
    const char *name;
    int j;
} Named;

static int named_cmp(const void *a, const void *b) {
    const Named *x = a, *y = b;
    int d = strcmp(x->name, y->name);
    return d ? d : (x->j > y->j) - (x->j < y->j);
}

/* Fails when two columns share a name, naming the first column j that
 * repeats an earlier one and the first column i it repeats. */
static int csv_unique(Csv *c, char *err, size_t errlen) {
    if (c->ncol < 2) return 0;
    Named *v = malloc(c->ncol * sizeof *v);
    if (!v) return io_fail(err, errlen, "%s: out of memory", c->path);
    for (int j = 0; j < c->ncol; j++) v[j] = (Named){c->names[j], j};
    qsort(v, c->ncol, sizeof *v, named_cmp);
    int i = -1, j = c->ncol;
    for (int k = 1, g = 0; k < c->ncol; k++) {
        if (strcmp(v[k].name, v[g].name) != 0)
            g = k; /* a new name: v[g] is its first column */
        else if (v[k].j < j)
            i = v[g].j, j = v[k].j;
    }
    free(v);
    if (i < 0) return 0;
    return io_fail(err, errlen, "%s:%d: columns %d and %d are both named '%s'; name each column once", c->path, c->line,
                   i + 1, j + 1, c->names[j]);
}

/* Reads the file and its header line.  `example` shows a good header. */
static int csv_header(Csv *c, const char *path, const char *example, char *err, size_t errlen) {
    size_t len;
    memset(c, 0, sizeof *c);
    c->path = path;
    if (nodec_read_file(path, &c->buf, &len, err, errlen)) return -1;
    c->p = c->buf;
    c->end = c->buf + len;
    if (len >= 3 && memcmp(c->buf, "\xEF\xBB\xBF", 3) == 0) c->p += 3;

    Span l;
    int any = 0;
    for (const char *q = c->p; q < c->end; q++) any |= !is_space(*q);
    if (!any)
        return io_fail(err, errlen, "%s: the file is empty; a data file starts with a header line like '%s'", path,
                       example);
    csv_line(c, &l);
    if (is_blank(l))
        return io_fail(err, errlen, "%s:%d: the first line is blank; the file must start with its header, like '%s'",
                       path, c->line, example);
    /* Two ways a file can look like one line of mangled names. */
    if (memchr(l.s, '\r', l.n) && !memchr(l.s, '\n', c->end - l.s))
        return io_fail(err, errlen,
                       "%s:%d: the lines end in a carriage return alone (\\r, as classic Mac OS wrote them); "
                       "save the file with \\n or \\r\\n line ends",
                       path, c->line);
    Span h = l;
    while (h.n && is_space(*h.s)) h.s++, h.n--;
    while (h.n && is_space(h.s[h.n - 1])) h.n--;
    if (memchr(h.s, '\t', h.n) && !memchr(h.s, ',', h.n))
        return io_fail(err, errlen,
                       "%s:%d: the header is separated by tabs; nodec reads comma-separated values: "
                       "replace the tabs with commas",
                       path, c->line);
    if (csv_split(c, l, 1, err, errlen)) return -1;
    double v;
    int kind = parse_double(c->f[0].s, c->f[0].n, &v);
    if (kind == NUM_OK || kind == NUM_NONFINITE)
        return io_fail(err, errlen,
                       "%s:%d: the first line must be a header naming the columns, like '%s'; found the number '%.*s'",
                       path, c->line, example, (int)c->f[0].n, c->f[0].s);
    c->ncol = c->nf;
    c->names = calloc(c->ncol, sizeof *c->names);
    if (!c->names) return io_fail(err, errlen, "%s: out of memory", path);
    for (int j = 0; j < c->ncol; j++) {
        Span f = c->f[j];
        if (!f.n && j == c->ncol - 1 && j > 0)
            return io_fail(err, errlen, "%s:%d: the header ends with a comma; remove it", path, c->line);
        if (!f.n)
            return io_fail(err, errlen, "%s:%d: column %d of the header has no name; name every column, like '%s'",
                           path, c->line, j + 1, example);
        /* Names are kept without blanks, so "M[0, 1]" matches M[0,1]. */
        char *s = malloc(f.n + 1);
        if (!s) return io_fail(err, errlen, "%s: out of memory", path);
        size_t k = 0;
        for (size_t i = 0; i < f.n; i++)
            if (f.s[i] != ' ' && f.s[i] != '\t') s[k++] = f.s[i];
        s[k] = 0;
        c->names[j] = s;
    }
    return csv_unique(c, err, errlen);
}

/* Reads every data row into c->v. */
static int csv_rows(Csv *c, char *err, size_t errlen) {
    Span l;
    while (csv_line(c, &l)) {
        if (is_blank(l)) {
            if (!c->blank) c->blank = c->line;
            continue;
        }
        if (c->blank)
            return io_fail(err, errlen, "%s:%d: blank line between rows; remove it (blank lines may only end the file)",
                           c->path, c->blank);
        if (csv_split(c, l, 0, err, errlen)) return -1;
        if (c->nf == c->ncol + 1 && c->f[c->ncol].n == 0)
            return io_fail(err, errlen, "%s:%d: the line ends with a comma; remove it (the header has %d columns)",
                           c->path, c->line, c->ncol);
        if (c->nf != c->ncol)
            return io_fail(err, errlen, "%s:%d: %d field%s, but the header has %d columns; give one value per column",
                           c->path, c->line, c->nf, c->nf == 1 ? "" : "s", c->ncol);
        if (c->nrow == c->vcap) {
            size_t cap = c->vcap ? 2 * c->vcap : 64;
            double *v = realloc(c->v, cap * c->ncol * sizeof *v);
            int *rl = realloc(c->rowline, cap * sizeof *rl);
            if (v) c->v = v;
            if (rl) c->rowline = rl;
            if (!v || !rl) return io_fail(err, errlen, "%s: out of memory", c->path);
            c->vcap = cap;
        }
        double *row = c->v + c->nrow * c->ncol;
        for (int j = 0; j < c->ncol; j++) {
            Span f = c->f[j];
            int kind = parse_double(f.s, f.n, &row[j]);
            if (c->nan_ok && c->nan_ok[j] && (kind == NUM_EMPTY || (kind == NUM_NONFINITE && isnan(row[j])))) {
                row[j] = NAN; /* a missing value */
                continue;
            }
            switch (kind) {
            case NUM_EMPTY:
                return io_fail(err, errlen, "%s:%d: column '%s' is empty; every row needs a value in every column",
                               c->path, c->line, c->names[j]);
            case NUM_BAD:
                return io_fail(
                    err, errlen,
                    "%s:%d: column '%s': '%.*s' is not a number; write a decimal number such as 1.5 or -2e-3", c->path,
                    c->line, c->names[j], (int)(f.n > 40 ? 40 : f.n), f.s);
            case NUM_NONFINITE:
                return io_fail(err, errlen,
                               "%s:%d: column '%s': '%.*s' is not finite; remove the row or give a finite value",
                               c->path, c->line, c->names[j], (int)(f.n > 40 ? 40 : f.n), f.s);
            }
        }
        c->rowline[c->nrow++] = c->line;
    }
    if (!c->nrow)
        return io_fail(err, errlen, "%s:%d: no data rows after the header; add one row of values per time", c->path,
                       c->line);
    return 0;
}

int nodec_table_load(const char *path, nodec_table *out, char *err, size_t errlen) {
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

void nodec_table_free(nodec_table *t) {
    for (int i = 0; t->names && i < t->ncol; i++) free(t->names[i]);
    free(t->names);
    free(t->v);
    memset(t, 0, sizeof *t);
}

int nodec_table_column(const nodec_table *t, const char *name) {
    for (int j = 0; j < t->ncol; j++)
        if (strcmp(t->names[j], name) == 0) return j;
    return -1;
}

/* ---- Data files: CSV checked against a model ------------------------------ */

/* The variable of vars holding component k. */
static const nodec_var *var_of(const nodec_var *vars, int nvars, int k) {
    for (int i = 0; i < nvars; i++)
        if (k >= vars[i].offset && k < vars[i].offset + vars[i].size) return &vars[i];
    return NULL;
}

static int column_name(const nodec_var *vars, int nvars, int k, char *buf, size_t size) {
    const nodec_var *v = var_of(vars, nvars, k);
    if (!v) return snprintf(buf, size, "?%d", k);
    int i = k - v->offset;
    if (v->rank == 0) return snprintf(buf, size, "%s", v->name);
    if (v->rank == 1) return snprintf(buf, size, "%s[%d]", v->name, i);
    return snprintf(buf, size, "%s[%d,%d]", v->name, i / v->dim[1], i % v->dim[1]);
}

int nodec_state_column_name(const nodec_model *m, int k, char *buf, size_t size) {
    return column_name(m->state_vars, m->n_state_vars, k, buf, size);
}

int nodec_input_column_name(const nodec_model *m, int k, char *buf, size_t size) {
    return m->inputs ? column_name(m->inputs->input_vars, m->inputs->n_input_vars, k, buf, size)
                     : snprintf(buf, size, "?%d", k);
}

/* Columns of the data: the states' components, then the inputs'. */
static int n_columns(const nodec_model *m) { return m->n_state + nodec_n_input(m); }

static int any_column_name(const nodec_model *m, int k, char *buf, size_t size) {
    return k < m->n_state ? nodec_state_column_name(m, k, buf, size)
                          : nodec_input_column_name(m, k - m->n_state, buf, size);
}

/* The variable of data column k (n_columns' numbering). */
static const nodec_var *column_var(const nodec_model *m, int k) {
    return k < m->n_state ? var_of(m->state_vars, m->n_state_vars, k)
                          : var_of(m->inputs->input_vars, m->inputs->n_input_vars, k - m->n_state);
}

/* "t, z[0], z[1], M[0,0] … M[1,1]": the columns a model's data has. */
static void expected_columns(const nodec_model *m, char *out, size_t size) {
    Buf b = {0};
    buf_add(&b, "t", 1);
    int nin = m->inputs ? m->inputs->n_input_vars : 0;
    for (int i = 0; i < m->n_state_vars + nin; i++) {
        const nodec_var *v = i < m->n_state_vars ? &m->state_vars[i] : &m->inputs->input_vars[i - m->n_state_vars];
        int base = i < m->n_state_vars ? 0 : m->n_state;
        char first[160], last[160];
        any_column_name(m, base + v->offset, first, sizeof first);
        any_column_name(m, base + v->offset + v->size - 1, last, sizeof last);
        if (v->size == 1)
            buf_printf(&b, ", %s", first);
        else if (v->size == 2)
            buf_printf(&b, ", %s, %s", first, last);
        else
            buf_printf(&b, ", %s … %s", first, last);
    }
    snprintf(out, size, "%s", b.oom || !b.s ? "t, …" : b.s);
    free(b.s);
}

static int is_alnum(int c) { return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z'); }

/* Letters and digits only, case folded: "z_0" and "Z[0]" are alike. */
static int loosely_equal(const char *a, const char *b) {
    for (;;) {
        while (*a && !is_alnum(*a)) a++;
        while (*b && !is_alnum(*b)) b++;
        if (!*a || !*b) return !*a && !*b;
        if ((*a | 32) != (*b | 32)) return 0;
        a++, b++;
    }
}

/* The data column (a state component k, or an input's, n_state + k) a
 * column names, or -1 with why in msg. */
static int column_component(const nodec_model *m, const char *name, char *msg, size_t size) {
    size_t n = strcspn(name, "[");
    const nodec_var *v = NULL;
    int base = 0, nin = m->inputs ? m->inputs->n_input_vars : 0;
    for (int i = 0; i < m->n_state_vars + nin; i++) {
        const nodec_var *c = i < m->n_state_vars ? &m->state_vars[i] : &m->inputs->input_vars[i - m->n_state_vars];
        if (strlen(c->name) == n && strncmp(c->name, name, n) == 0) v = c, base = i < m->n_state_vars ? 0 : m->n_state;
    }
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
            return base + v->offset + (v->rank == 2 ? idx[0] * v->dim[1] + idx[1] : idx[0]);
        if (v->rank == 0)
            snprintf(msg, size, " (%s is a scalar: name its column %s)", v->name, v->name);
        else if (v->rank == 1)
            snprintf(msg, size, " (%s is a vector of %d: name its columns %s[0] … %s[%d])", v->name, v->dim[0], v->name,
                     v->name, v->dim[0] - 1);
        else
            snprintf(msg, size, " (%s is a %d×%d matrix: name its columns %s[0,0] … %s[%d,%d])", v->name, v->dim[0],
                     v->dim[1], v->name, v->name, v->dim[0] - 1, v->dim[1] - 1);
        return -1;
    }
    char cand[160];
    for (int k = 0; k < n_columns(m); k++) {
        any_column_name(m, k, cand, sizeof cand);
        if (loosely_equal(name, cand)) {
            snprintf(msg, size, " (did you mean '%s'?)", cand);
            break;
        }
    }
    if (!msg[0] && loosely_equal(name, "t")) snprintf(msg, size, " (did you mean 't'?)");
    return -1;
}

int nodec_data_start(const nodec_model *m, const nodec_data *d, int k, const double *theta, double *z0, char *err,
                     size_t errlen) {
    int ns = m->n_state;
    memcpy(z0, d->traj[k].z, sizeof(double) * (size_t)ns);
    for (int i = 0; i < ns; i++) {
        if (!isnan(z0[i]) || (m->z0_from && m->z0_from[i] >= 0) || (m->noise && m->noise[i])) continue;
        if (!m->z0) {
            char name[160];
            const char *var = "x";
            nodec_state_column_name(m, i, name, sizeof name);
            for (int v = 0; v < m->n_state_vars; v++)
                if (i >= m->state_vars[v].offset && i < m->state_vars[v].offset + m->state_vars[v].size)
                    var = m->state_vars[v].name;
            return io_fail(err, errlen,
                           "trajectory %ld has no value for %s at its first time (t = %.17g); give the state a value "
                           "in the model (`state %s = …`), start it from a param (`state %s = %s0`), or observe it "
                           "there",
                           d->traj[k].id, name, d->traj[k].t[0], var, var, var);
        }
        z0[i] = m->z0[i];
    }
    nodec_z0_from_theta(m, theta, z0, 1);
    for (int i = 0; m->noise && i < ns; i++)
        if (m->noise[i]) z0[i] = 0; /* drawn by the caller (nodec_draw_noise) */
    return 0;
}

long nodec_data_observed(const nodec_data *d, int k, int from, int n) {
    long rows = 0;
    for (int r = from; r < from + n; r++) {
        const double *z = d->traj[k].z + (size_t)r * d->n_state;
        int any = 0;
        for (int i = 0; i < d->n_state; i++) any |= !isnan(z[i]);
        rows += any;
    }
    return rows;
}

int nodec_data_has_missing(const nodec_data *d) {
    for (int k = 0; k < d->n_traj; k++)
        for (size_t i = 0; i < (size_t)d->traj[k].n * d->n_state; i++)
            if (isnan(d->traj[k].z[i])) return 1;
    return 0;
}

int nodec_loss_leaves_out_missing(const nodec_model *m) {
    int ns = m->n_state;
    double *v = calloc((size_t)(2 * ns + m->work_size + 1), sizeof *v);
    if (!v) return 0;
    for (int i = 0; i < ns; i++) v[ns + i] = NAN;
    double L = m->loss(1, v, v + ns, v + 2 * ns);
    free(v);
    return isfinite(L);
}

int nodec_n_input(const nodec_model *m) { return m->inputs ? m->inputs->n_input : 0; }

/* A data file (inputs_only = 0), or the inputs of one (solve --inputs):
 * then the states' columns may be there or not and are not read. */
static int data_load(const char *path, const nodec_model *m, int inputs_only, nodec_data *out, char *err,
                     size_t errlen) {
    char expect[512];
    expected_columns(m, expect, sizeof expect);
    char example[512] = "t"; /* "t,z[0],z[1]", the first few columns */
    int ns = m->n_state, nin = nodec_n_input(m), ncols = n_columns(m);
    for (int k = inputs_only ? ns : 0, shown = 0; k < ncols && shown < 4; k++, shown++) {
        char name[160];
        any_column_name(m, k, name, sizeof name);
        size_t n = strlen(example);
        snprintf(example + n, sizeof example - n, strchr(name, ',') ? ",\"%s\"" : ",%s", name);
    }
    if ((inputs_only ? nin : ncols) > 4) strcat(example, ",…");

    Csv c;
    int rc = -1, tcol = -1, trajcol = -1;
    int *col = malloc((ncols + 1) * sizeof *col);
    long *ids = NULL;
    int *firstrow = NULL;
    nodec_data d = {m->n_state, 0, NULL, nin};
    if (!col) {
        io_fail(err, errlen, "%s: out of memory", path);
        memset(&c, 0, sizeof c);
        goto done;
    }
    if (csv_header(&c, path, example, err, errlen)) goto done;

    /* Columns: each of t, the state components and the inputs' once, traj
     * optional. */
    for (int k = 0; k < ncols; k++) col[k] = -1;
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
                io_fail(err, errlen, "%s:1: unknown column '%s'%s; the columns are %s and optionally traj", path, name,
                        why, expect);
                goto done;
            }
            if (!(inputs_only && k < ns)) col[k] = j;
        }
    }
    /* A state component with no column is unobserved (DESIGN.md §7), but t
     * and at least one component must be there; every input's component
     * is read from the data. */
    int observed = inputs_only;
    for (int k = 0; k < ns; k++) observed += col[k] >= 0;
    for (int k = -1; k < ncols; k++) {
        if ((k < 0 ? tcol : col[k]) >= 0 || (k >= 0 && k < ns && observed)) continue;
        char name[160] = "t";
        if (k >= 0) any_column_name(m, k, name, sizeof name);
        if (k >= ns) {
            const nodec_var *v = column_var(m, k);
            char first[160], last[160];
            any_column_name(m, ns + v->offset, first, sizeof first);
            any_column_name(m, ns + v->offset + v->size - 1, last, sizeof last);
            io_fail(err, errlen,
                    "%s:1: missing column '%s': input %s is read from the data, each trajectory's own signal; add "
                    "%s %s%s%s%s",
                    path, name, v->name, v->size > 1 ? "its columns" : "the column", first, v->size > 1 ? " … " : "",
                    v->size > 1 ? last : "", inputs_only ? "" : " (the rows' times are the signal's)");
        } else
            io_fail(err, errlen, "%s:1: missing column '%s'; the columns are %s and optionally traj (in any order)",
                    path, name, expect);
        goto done;
    }
    /* the states' cells may be empty or nan: missing values */
    c.nan_ok = calloc((size_t)c.ncol + 1, sizeof *c.nan_ok);
    if (!c.nan_ok) {
        io_fail(err, errlen, "%s: out of memory", path);
        goto done;
    }
    for (int k = 0; k < ncols; k++)
        if (col[k] >= 0) c.nan_ok[col[k]] = true;
    if (csv_rows(&c, err, errlen)) goto done;

    /* Trajectories: runs of rows with one traj id. */
    ids = malloc(c.nrow * sizeof *ids);
    firstrow = malloc((c.nrow + 1) * sizeof *firstrow);
    if (!ids || !firstrow) {
        io_fail(err, errlen, "%s: out of memory", path);
        goto done;
    }
    for (size_t r = 0; r < c.nrow; r++) {
        const double *row = c.v + r * c.ncol;
        long id = 0;
        if (trajcol >= 0) {
            double x = row[trajcol];
            if (x != floor(x) || fabs(x) > 1e15) {
                io_fail(err, errlen, "%s:%d: column 'traj': %.17g is not a whole number; trajectory ids are integers",
                        path, c.rowline[r], x);
                goto done;
            }
            id = (long)x;
        }
        if (r == 0 || id != ids[d.n_traj - 1]) {
            for (int i = 0; i < d.n_traj; i++)
                if (ids[i] == id) {
                    io_fail(err, errlen,
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
            io_fail(err, errlen,
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
        io_fail(err, errlen, "%s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < d.n_traj; i++) {
        nodec_traj *tr = &d.traj[i];
        tr->id = ids[i];
        tr->n = firstrow[i + 1] - firstrow[i];
        tr->t = malloc(tr->n * sizeof *tr->t);
        tr->z = malloc((size_t)tr->n * (ns ? ns : 1) * sizeof *tr->z);
        tr->u = nin ? malloc((size_t)tr->n * nin * sizeof *tr->u) : NULL;
        if (!tr->t || !tr->z || (nin && !tr->u)) {
            d.n_traj = i + 1;
            io_fail(err, errlen, "%s: out of memory", path);
            goto done;
        }
        for (int r = 0; r < tr->n; r++) {
            const double *row = c.v + (size_t)(firstrow[i] + r) * c.ncol;
            tr->t[r] = row[tcol];
            for (int k = 0; k < ns; k++) tr->z[(size_t)r * ns + k] = col[k] >= 0 ? row[col[k]] : NAN;
            for (int k = 0; k < nin; k++) tr->u[(size_t)r * nin + k] = row[col[ns + k]];
        }
    }
    *out = d;
    d.traj = NULL;
    rc = 0;

done:
    if (d.traj) nodec_data_free(&d);
    free(col);
    free(ids);
    free(firstrow);
    csv_free(&c);
    return rc;
}

int nodec_data_load(const char *path, const nodec_model *m, nodec_data *out, char *err, size_t errlen) {
    return data_load(path, m, 0, out, err, errlen);
}

int nodec_inputs_load(const char *path, const nodec_model *m, nodec_data *out, char *err, size_t errlen) {
    if (!m->inputs) return io_fail(err, errlen, "model %s has no inputs (`input u = linear`)", m->name);
    return data_load(path, m, 1, out, err, errlen);
}

int nodec_data_inputs(nodec_solver *s, const nodec_data *d, const int *traj, int B) {
    if (!d->n_input) return NODEC_SUCCESS; /* a model without inputs */
    int *n = malloc(sizeof(int) * (size_t)B);
    const double **t = malloc(sizeof(double *) * (size_t)B), **u = malloc(sizeof(double *) * (size_t)B);
    int rc = n && t && u ? NODEC_SUCCESS : NODEC_MEM_FAIL;
    for (int b = 0; !rc && b < B; b++) {
        const nodec_traj *tr = &d->traj[traj ? traj[b] : b];
        n[b] = tr->n, t[b] = tr->t, u[b] = tr->u;
    }
    if (!rc) rc = nodec_set_inputs(s, n, t, u);
    free(n), free(t), free(u);
    return rc;
}

void nodec_data_free(nodec_data *d) {
    for (int i = 0; d->traj && i < d->n_traj; i++) {
        free(d->traj[i].t);
        free(d->traj[i].z);
        free(d->traj[i].u);
    }
    free(d->traj);
    memset(d, 0, sizeof *d);
}

/* ---- CSV writing ---------------------------------------------------------- */

static void csv_head(Buf *b, const nodec_model *m, int with_traj) {
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

static void csv_body(Buf *b, const nodec_model *m, int n, const double *t, const double *z, int with_traj, long traj) {
    for (int r = 0; r < n; r++) {
        if (with_traj) buf_printf(b, "%ld,", traj);
        buf_printf(b, "%.17g", t[r]);
        for (int k = 0; k < m->n_state; k++) buf_printf(b, ",%.17g", z[(size_t)r * m->n_state + k]);
        buf_add(b, "\n", 1);
    }
}

int nodec_traj_write(FILE *f, const nodec_model *m, int n, const double *t, const double *z) {
    Buf b = {0};
    csv_head(&b, m, 0);
    csv_body(&b, m, n, t, z, 0, 0);
    int rc = b.oom || fwrite(b.s, 1, b.len, f) != b.len ? -1 : 0;
    free(b.s);
    return rc;
}

int nodec_traj_save(const char *path, const nodec_model *m, int n, const double *t, const double *z, char *err,
                    size_t errlen) {
    Buf b = {0};
    csv_head(&b, m, 0);
    csv_body(&b, m, n, t, z, 0, 0);
    return io_save(path, &b, err, errlen);
}

int nodec_data_save(const char *path, const nodec_model *m, const nodec_data *d, char *err, size_t errlen) {
    Buf b = {0};
    int many = d->n_traj > 1;
    csv_head(&b, m, many);
    for (int i = 0; i < d->n_traj; i++) csv_body(&b, m, d->traj[i].n, d->traj[i].t, d->traj[i].z, many, d->traj[i].id);
    return io_save(path, &b, err, errlen);
}
