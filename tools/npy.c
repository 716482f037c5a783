/* npy.c — NumPy files: .npy arrays, .npz archives of them, and parameter
 * files in either.  docs/files.md.
 *
 * .npy is a magic string, a version, a Python dict literal
 * ({'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }) padded to
 * 64 bytes, then the raw data (NEP 1).  .npz is a zip of .npy entries; we
 * read its central directory (zip64 too), inflate with zlib (raw deflate)
 * and check CRC-32s; we write stored entries and compute CRC-32 ourselves.
 * Nothing is inflated before it is known to fit: declared sizes are held
 * to NODEC_FILE_MAX, and each entry's .npy header (inflated alone) to its
 * data and, for parameters, to the model's shapes.
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
#include <zlib.h>

static int is_space(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static void buf_u16(Buf *b, unsigned v) {
    unsigned char c[2] = {v & 255, (v >> 8) & 255};
    buf_add(b, c, 2);
}

static void buf_u32(Buf *b, uint32_t v) {
    unsigned char c[4] = {v & 255, (v >> 8) & 255, (v >> 16) & 255, v >> 24};
    buf_add(b, c, 4);
}

static unsigned rd16(const unsigned char *p) { return p[0] | (unsigned)p[1] << 8; }

static uint32_t rd32(const unsigned char *p) {
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* ---- CRC-32 (reflected polynomial 0xEDB88320), four bits at a time ------ */

unsigned long nodec_crc32(unsigned long crc, const void *buf, size_t len) {
    static const uint32_t tab[16] = {
        0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4, 0x4db26158, 0x5005713c,
        0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c, 0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
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

/* ---- .npy ----------------------------------------------------------------- */

static void shape_str(char *out, size_t size, int ndim, const size_t *shape) {
    size_t k = snprintf(out, size, "(");
    for (int i = 0; i < ndim && k < size; i++) k += snprintf(out + k, size - k, i ? ", %zu" : "%zu", shape[i]);
    if (k < size) snprintf(out + k, size - k, ndim == 1 ? ",)" : ")");
}

/* The header dict's little lexer: Python literals, blanks between. */
typedef struct Lex {
    const char *s, *e;
} Lex;

static void lx_ws(Lex *l) {
    while (l->s < l->e && is_space(*l->s)) l->s++;
}

static int lx_char(Lex *l, char c) {
    lx_ws(l);
    if (l->s < l->e && *l->s == c) {
        l->s++;
        return 1;
    }
    return 0;
}

static int lx_str(Lex *l, char *out, size_t size) {
    lx_ws(l);
    if (l->s >= l->e || (*l->s != '\'' && *l->s != '"')) return 0;
    char q = *l->s++;
    size_t n = 0;
    while (l->s < l->e && *l->s != q) {
        if (n + 1 >= size) return 0;
        out[n++] = *l->s++;
    }
    if (l->s >= l->e) return 0;
    l->s++;
    out[n] = 0;
    return 1;
}

static int lx_word(Lex *l, const char *w) {
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
                      size_t errlen) {
    int seen = 0;
    if (!lx_char(l, '{')) return io_fail(err, errlen, "%s: the .npy header is not a dict; the file is damaged", what);
    while (!lx_char(l, '}')) {
        char key[32];
        if (!lx_str(l, key, sizeof key) || !lx_char(l, ':'))
            return io_fail(err, errlen, "%s: cannot read the .npy header; the file is damaged", what);
        if (strcmp(key, "descr") == 0) {
            lx_ws(l);
            if (l->s < l->e && (*l->s == '[' || *l->s == '('))
                return io_fail(err, errlen, "%s: a structured dtype is not supported; save a plain float64 array",
                               what);
            if (!lx_str(l, descr, 16))
                return io_fail(err, errlen, "%s: cannot read the dtype in the .npy header", what);
            seen |= 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (lx_word(l, "True"))
                *fortran = 1;
            else if (lx_word(l, "False"))
                *fortran = 0;
            else
                return io_fail(err, errlen, "%s: fortran_order must be True or False in the .npy header", what);
            seen |= 2;
        } else if (strcmp(key, "shape") == 0) {
            if (!lx_char(l, '(')) return io_fail(err, errlen, "%s: cannot read the shape in the .npy header", what);
            *ndim = 0;
            while (!lx_char(l, ')')) {
                lx_ws(l);
                if (*ndim == NODEC_ARRAY_MAXDIM)
                    return io_fail(err, errlen, "%s: more than %d dimensions are not supported", what,
                                   NODEC_ARRAY_MAXDIM);
                if (l->s >= l->e || *l->s < '0' || *l->s > '9')
                    return io_fail(err, errlen, "%s: cannot read the shape in the .npy header", what);
                size_t v = 0;
                while (l->s < l->e && *l->s >= '0' && *l->s <= '9') {
                    if (v > (SIZE_MAX - 9) / 10)
                        return io_fail(err, errlen, "%s: the shape in the .npy header is too large", what);
                    v = v * 10 + (*l->s++ - '0');
                }
                lx_word(l, "L"); /* Python 2 longs */
                shape[(*ndim)++] = v;
                if (!lx_char(l, ',') && !(lx_ws(l), l->s < l->e && *l->s == ')'))
                    return io_fail(err, errlen, "%s: cannot read the shape in the .npy header", what);
            }
            seen |= 4;
        } else {
            return io_fail(err, errlen, "%s: unexpected key '%s' in the .npy header", what, key);
        }
        if (!lx_char(l, ',')) {
            if (!lx_char(l, '}'))
                return io_fail(err, errlen, "%s: cannot read the .npy header; the file is damaged", what);
            break;
        }
    }
    if (seen != 7)
        return io_fail(err, errlen, "%s: the .npy header lacks '%s'", what,
                       !(seen & 1)   ? "descr"
                       : !(seen & 2) ? "fortran_order"
                                     : "shape");
    return 0;
}

/* What a .npy header says about the data after it. */
typedef struct NpyHead {
    size_t start; /* where the data begins */
    char descr[16];
    int isz, big; /* bytes per item (4 or 8), big-endian */
    int ndim;
    size_t shape[NODEC_ARRAY_MAXDIM];
    size_t n; /* items */
} NpyHead;

/* Reads the header of a .npy image of `total` bytes, of which the first
 * `avail` are at p, and checks that the data fills the rest exactly.  0, or
 * -1 with a message, or 1 when the header runs past avail (h->start says
 * how far: read that much and call again). */
static int npy_head(const unsigned char *p, size_t avail, size_t total, const char *what, NpyHead *h, char *err,
                    size_t errlen) {
    if (total < 10 || avail < 10 || memcmp(p, "\x93NUMPY", 6) != 0)
        return io_fail(err, errlen, "%s: not a .npy file (it does not start with \\x93NUMPY); save it with np.save",
                       what);
    size_t hlen, hstart;
    if (p[6] == 1) {
        hlen = rd16(p + 8);
        hstart = 10;
    } else if ((p[6] == 2 || p[6] == 3) && total >= 12 && avail >= 12) {
        hlen = rd32(p + 8);
        hstart = 12;
    } else {
        return io_fail(err, errlen, "%s: .npy format version %d.%d is not supported (1.0, 2.0 and 3.0 are)", what, p[6],
                       p[7]);
    }
    if (hlen > total - hstart)
        return io_fail(err, errlen, "%s: truncated: the .npy header needs %zu bytes but the file has %zu", what,
                       hstart + hlen, total);
    h->start = hstart + hlen;
    if (h->start > avail) return 1;

    int fortran = 0;
    h->ndim = 0;
    Lex l = {(const char *)p + hstart, (const char *)p + hstart + hlen};
    if (npy_header(&l, what, h->descr, &fortran, &h->ndim, h->shape, err, errlen)) return -1;

    h->big = h->descr[0] == '>';
    h->isz = 0;
    if ((h->descr[0] == '<' || h->descr[0] == '>') && strcmp(h->descr + 1, "f8") == 0) h->isz = 8;
    if ((h->descr[0] == '<' || h->descr[0] == '>') && strcmp(h->descr + 1, "f4") == 0) h->isz = 4;
    if (!h->isz)
        return io_fail(err, errlen, "%s: dtype '%s' is not supported; save float64 arrays (x.astype(np.float64))", what,
                       h->descr);
    if (fortran && h->ndim > 1)
        return io_fail(err, errlen, "%s: the array is in Fortran order; save it in C order (np.ascontiguousarray(x))",
                       what);

    size_t n = 1;
    for (int i = 0; i < h->ndim; i++) {
        if (h->shape[i] && n > SIZE_MAX / 8 / h->shape[i])
            return io_fail(err, errlen, "%s: the shape in the .npy header is too large", what);
        n *= h->shape[i];
    }
    h->n = n;
    char sh[160];
    shape_str(sh, sizeof sh, h->ndim, h->shape);
    size_t have = total - h->start;
    if (have < n * h->isz)
        return io_fail(err, errlen, "%s: truncated: shape %s of %s needs %zu bytes of data but the file has %zu", what,
                       sh, h->descr, n * h->isz, have);
    if (have > n * h->isz)
        return io_fail(err, errlen, "%s: %zu bytes after the data of shape %s; the file is damaged", what,
                       have - n * h->isz, sh);
    return 0;
}

/* Converts the data d (h->n items) to doubles in a (name left alone). */
static int npy_decode(const NpyHead *h, const unsigned char *d, const char *what, nodec_array *a, char *err,
                      size_t errlen) {
    size_t n = h->n;
    int isz = h->isz;
    double *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return io_fail(err, errlen, "%s: out of memory", what);
    for (size_t i = 0; i < n; i++, d += isz) {
        unsigned char b[8] = {0};
        for (int j = 0; j < isz; j++) b[j] = h->big ? d[isz - 1 - j] : d[j];
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
    a->ndim = h->ndim;
    memcpy(a->shape, h->shape, sizeof h->shape);
    a->size = n;
    a->data = v;
    return 0;
}

/* Decodes one .npy image p[0..len) into a (name left alone). */
static int npy_parse(const unsigned char *p, size_t len, const char *what, nodec_array *a, char *err, size_t errlen) {
    NpyHead h;
    if (npy_head(p, len, len, what, &h, err, errlen)) return -1;
    return npy_decode(&h, p + h.start, what, a, err, errlen);
}

static void npy_encode(Buf *b, const nodec_array *a) {
    char sh[NODEC_ARRAY_MAXDIM * 24 + 8], dict[NODEC_ARRAY_MAXDIM * 24 + 80];
    shape_str(sh, sizeof sh, a->ndim, a->shape);
    int n = snprintf(dict, sizeof dict, "{'descr': '<f8', 'fortran_order': False, 'shape': %s, }", sh);
    int pad = (64 - (10 + n + 1) % 64) % 64; /* NEP 1: data aligned to 64 */
    buf_add(b, "\x93NUMPY\x01\x00", 8);
    buf_u16(b, n + pad + 1);
    buf_add(b, dict, n);
    for (int i = 0; i < pad; i++) buf_add(b, " ", 1);
    buf_add(b, "\n", 1);
    for (size_t i = 0; i < a->size; i++) {
        uint64_t u;
        memcpy(&u, &a->data[i], 8);
        buf_u32(b, (uint32_t)u);
        buf_u32(b, (uint32_t)(u >> 32));
    }
}

static int array_check(const char *path, const nodec_array *a, char *err, size_t errlen) {
    size_t n = 1;
    if (a->ndim < 0 || a->ndim > NODEC_ARRAY_MAXDIM)
        return io_fail(err, errlen, "cannot write '%s': array '%s' has %d dimensions (at most %d)", path, a->name,
                       a->ndim, NODEC_ARRAY_MAXDIM);
    for (int i = 0; i < a->ndim; i++) n *= a->shape[i];
    if (n != a->size)
        return io_fail(err, errlen, "cannot write '%s': array '%s' has size %zu but its shape holds %zu", path, a->name,
                       a->size, n);
    return 0;
}

/* "dir/x.npy" → "x" */
static void base_name(const char *path, char *out, size_t size) {
    const char *s = strrchr(path, '/');
    s = s ? s + 1 : path;
    size_t n = strlen(s);
    if (n >= 4 && strcmp(s + n - 4, ".npy") == 0) n -= 4;
    snprintf(out, size, "%.*s", (int)n, s);
}

int nodec_npy_load(const char *path, nodec_array *a, char *err, size_t errlen) {
    char *buf;
    size_t len;
    if (nodec_read_file(path, &buf, &len, err, errlen)) return -1;
    nodec_array t = {0};
    int rc = npy_parse((unsigned char *)buf, len, path, &t, err, errlen);
    free(buf);
    if (rc) return -1;
    base_name(path, t.name, sizeof t.name);
    *a = t;
    return 0;
}

int nodec_npy_save(const char *path, const nodec_array *a, char *err, size_t errlen) {
    if (array_check(path, a, err, errlen)) return -1;
    Buf b = {0};
    npy_encode(&b, a);
    return io_save(path, &b, err, errlen);
}

/* ---- .npz: zip archives of .npy entries ----------------------------------- */

/* Fixed DOS time and date (1980-01-01 00:00) keep saved files reproducible. */
#define ZIP_DATE 0x21

/* Inflates raw deflate data into out[0..outlen): all of it, or with
 * `prefix` only its first outlen bytes. */
static int zip_inflate(const unsigned char *in, size_t inlen, unsigned char *out, size_t outlen, int prefix) {
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
        if (s.avail_in == 0) s.avail_in = (uInt)(inleft < chunk ? inleft : chunk);
        if (s.avail_out == 0) s.avail_out = (uInt)(outleft < chunk ? outleft : chunk);
        rc = inflate(&s, Z_NO_FLUSH); /* Z_BUF_ERROR: input ended or output full */
    }
    int ok = (rc == Z_STREAM_END || prefix) && (size_t)(s.next_out - out) == outlen;
    inflateEnd(&s);
    return ok ? 0 : -1;
}

/* Finds the central directory: offset, size and number of entries. */
static int zip_directory(const unsigned char *p, size_t len, const char *path, uint64_t *cdoff, uint64_t *cdsize,
                         uint64_t *count, char *err, size_t errlen) {
    if (len < 22)
        return io_fail(err, errlen, "%s: not an .npz file (too short for a zip archive); save it with np.savez", path);
    size_t lo = len > 22 + 65535 ? len - 22 - 65535 : 0, e = len - 22 + 1;
    do {
        if (e-- == lo)
            return io_fail(err, errlen,
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
            return io_fail(err, errlen, "%s: the zip64 directory record is damaged", path);
        *count = rd64(p + z + 32);
        *cdsize = rd64(p + z + 40);
        *cdoff = rd64(p + z + 48);
    }
    if (*cdoff > len || *cdsize > len - *cdoff)
        return io_fail(err, errlen, "%s: the zip directory points past the end of the file; the file is truncated",
                       path);
    return 0;
}

/* Checks names and shapes against model m: every parameter there in its
 * shape, nothing else.  Only names and shapes are read, not data. */
static int params_match(const char *path, const nodec_model *m, const nodec_array *a, int n, char *err, size_t errlen);

/* A .npy entry of an .npz, found through the zip directory. */
typedef struct Zent {
    char what[NODEC_ARRAY_NAMELEN + 600]; /* "path: name.npy", for messages */
    const unsigned char *raw;             /* its data in the file */
    uint64_t csize, usize;                /* compressed, uncompressed */
    uint32_t crc;
    unsigned method; /* 0 stored, 8 deflated */
    NpyHead h;
} Zent;

/* The .npy header of an entry; a deflated one inflates only that far. */
static int zent_head(Zent *z, char *err, size_t errlen) {
    if (z->method == 0) return npy_head(z->raw, z->usize, z->usize, z->what, &z->h, err, errlen);
    size_t want = z->usize < 65552 ? z->usize : 65552; /* a version 1.0 header at most */
    for (;;) {
        unsigned char *mem = malloc(want ? want : 1);
        if (!mem) return io_fail(err, errlen, "%s: out of memory", z->what);
        int rc = zip_inflate(z->raw, z->csize, mem, want, 1)
                     ? io_fail(err, errlen, "%s: the compressed data is damaged; save the file again", z->what)
                     : npy_head(mem, want, z->usize, z->what, &z->h, err, errlen);
        free(mem);
        if (rc <= 0) return rc;
        want = z->h.start; /* a longer header (2.0, 3.0), within usize */
    }
}

/* Reads an .npz in three passes, so that nothing is inflated before it is
 * known to fit: the directory and every entry's .npy header (sizes against
 * NODEC_FILE_MAX, shapes against the data), then, for parameters of model
 * m (NULL: any arrays), names and shapes against the model, then the
 * data. */
static int npz_parse(const unsigned char *p, size_t len, const char *path, const nodec_model *m, nodec_array **out,
                     int *nout, char *err, size_t errlen) {
    uint64_t cdoff = 0, cdsize = 0, count = 0;
    if (zip_directory(p, len, path, &cdoff, &cdsize, &count, err, errlen)) return -1;
    if (count > cdsize / 46) return io_fail(err, errlen, "%s: the zip directory is damaged", path);
    nodec_array *a = calloc(count ? count : 1, sizeof *a);
    Zent *zs = calloc(count ? count : 1, sizeof *zs);
    if (!a || !zs) {
        free(a);
        free(zs);
        return io_fail(err, errlen, "%s: out of memory", path);
    }
    int n = 0, nd = 0; /* entries read; of them, with data */
    uint64_t total = 0;
    const unsigned char *c = p + cdoff, *cend = p + cdoff + cdsize;
    for (uint64_t i = 0; i < count; i++, n++) {
        Zent *z = &zs[n];
        if (cend - c < 46 || rd32(c) != 0x02014b50) {
            io_fail(err, errlen, "%s: the zip directory is damaged", path);
            goto bad;
        }
        unsigned flags = rd16(c + 8);
        z->method = rd16(c + 10);
        z->crc = rd32(c + 16);
        uint64_t csize = rd32(c + 20), usize = rd32(c + 24), off = rd32(c + 42);
        size_t nlen = rd16(c + 28), xlen = rd16(c + 30), clen = rd16(c + 32);
        if ((size_t)(cend - c) < 46 + nlen + xlen + clen) {
            io_fail(err, errlen, "%s: the zip directory is damaged", path);
            goto bad;
        }
        const char *name = (const char *)c + 46;
        snprintf(z->what, sizeof z->what, "%s: %.*s", path, (int)nlen, name);
        /* zip64 extra field: the sizes and offset that did not fit. */
        for (const unsigned char *x = c + 46 + nlen, *xe = x + xlen; xe - x >= 4; x += 4 + rd16(x + 2)) {
            const unsigned char *v = x + 4, *ve = v + rd16(x + 2);
            if (rd16(x) != 1 || ve > xe) continue;
            if (usize == 0xffffffff && ve - v >= 8) usize = rd64(v), v += 8;
            if (csize == 0xffffffff && ve - v >= 8) csize = rd64(v), v += 8;
            if (off == 0xffffffff && ve - v >= 8) off = rd64(v), v += 8;
        }
        c += 46 + nlen + xlen + clen;

        if (nlen < 5 || memcmp(name + nlen - 4, ".npy", 4) != 0 || nlen - 4 >= NODEC_ARRAY_NAMELEN) {
            io_fail(err, errlen, "%s: entry '%.*s' is not a .npy array; an .npz holds only <name>.npy entries", path,
                    (int)nlen, name);
            goto bad;
        }
        snprintf(a[n].name, sizeof a[n].name, "%.*s", (int)(nlen - 4), name);
        for (int j = 0; j < n; j++)
            if (strcmp(a[j].name, a[n].name) == 0) {
                io_fail(err, errlen, "%s: two entries are named '%s.npy'; the file is damaged", path, a[n].name);
                goto bad;
            }
        if (flags & 1) {
            io_fail(err, errlen, "%s: the entry is encrypted; save it without a password", z->what);
            goto bad;
        }
        if (z->method != 0 && z->method != 8) {
            io_fail(err, errlen,
                    "%s: compression method %u is not supported; save with np.savez or np.savez_compressed", z->what,
                    z->method);
            goto bad;
        }
        if (off > len || len - off < 30 || rd32(p + off) != 0x04034b50) {
            io_fail(err, errlen, "%s: the entry's local header is missing; the file is damaged or truncated", z->what);
            goto bad;
        }
        uint64_t data = off + 30 + rd16(p + off + 26) + rd16(p + off + 28);
        if (data > len || csize > len - data) {
            io_fail(err, errlen, "%s: truncated: the entry needs %llu bytes but the file ends after %llu", z->what,
                    (unsigned long long)csize, (unsigned long long)(len > data ? len - data : 0));
            goto bad;
        }
        /* Declared sizes first: a small file may claim to inflate to terabytes. */
        if (usize > NODEC_FILE_MAX || (total += usize) > NODEC_FILE_MAX) {
            io_fail(err, errlen, "%s: the arrays hold %llu bytes, more than the %s nodec reads", z->what,
                    (unsigned long long)(usize > NODEC_FILE_MAX ? usize : total), NODEC_FILE_MAX_TEXT);
            goto bad;
        }
        if (z->method == 8 && usize > csize * 1040 + 1024) { /* deflate expands at most ~1032:1 */
            io_fail(err, errlen, "%s: the entry's size %llu is impossible; the file is damaged", z->what,
                    (unsigned long long)usize);
            goto bad;
        }
        if (z->method == 0 && usize != csize) {
            io_fail(err, errlen, "%s: stored entry sizes disagree; the file is damaged", z->what);
            goto bad;
        }
        z->raw = p + data;
        z->csize = csize;
        z->usize = usize;
        if (z->method == 0 && nodec_crc32(0, z->raw, usize) != z->crc) {
            io_fail(err, errlen, "%s: CRC-32 mismatch; the file is damaged, save it again", z->what);
            goto bad;
        }
        if (zent_head(z, err, errlen)) goto bad;
        a[n].ndim = z->h.ndim;
        memcpy(a[n].shape, z->h.shape, sizeof z->h.shape);
        a[n].size = z->h.n;
    }
    if (m && params_match(path, m, a, n, err, errlen)) goto bad;
    for (; nd < n; nd++) {
        Zent *z = &zs[nd];
        const unsigned char *raw = z->raw;
        unsigned char *mem = NULL;
        if (z->method == 8) {
            if (!(mem = malloc(z->usize ? z->usize : 1))) {
                io_fail(err, errlen, "%s: out of memory", z->what);
                goto bad;
            }
            if (zip_inflate(z->raw, z->csize, mem, z->usize, 0)) {
                free(mem);
                io_fail(err, errlen, "%s: the compressed data is damaged; save the file again", z->what);
                goto bad;
            }
            if (nodec_crc32(0, mem, z->usize) != z->crc) {
                free(mem);
                io_fail(err, errlen, "%s: CRC-32 mismatch; the file is damaged, save it again", z->what);
                goto bad;
            }
            raw = mem;
        }
        int rc = npy_decode(&z->h, raw + z->h.start, z->what, &a[nd], err, errlen);
        free(mem);
        if (rc) goto bad;
    }
    free(zs);
    *out = a;
    *nout = n;
    return 0;

bad:
    free(zs);
    nodec_arrays_free(a, nd); /* only the first nd hold data */
    return -1;
}

int nodec_npz_load(const char *path, nodec_array **a, int *n, char *err, size_t errlen) {
    char *buf;
    size_t len;
    if (nodec_read_file(path, &buf, &len, err, errlen)) return -1;
    int rc = npz_parse((unsigned char *)buf, len, path, NULL, a, n, err, errlen);
    free(buf);
    return rc;
}

/* A zip of stored entries: local header + data for each, the central
 * directory, the end record.  Sizes must fit in 32 bits (no zip64). */
static int npz_encode(Buf *b, const char *path, const nodec_array *a, int n, char *err, size_t errlen) {
    uint32_t *crc = calloc(n ? n : 1, sizeof *crc);
    size_t *off = calloc(n ? n : 1, sizeof *off), *size = calloc(n ? n : 1, sizeof *size);
    int rc = -1;
    if (!crc || !off || !size) {
        io_fail(err, errlen, "cannot write '%s': out of memory", path);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (array_check(path, &a[i], err, errlen)) goto done;
        if (!a[i].name[0] || memchr(a[i].name, 0, sizeof a[i].name) == NULL) {
            io_fail(err, errlen, "cannot write '%s': array %d has no name", path, i + 1);
            goto done;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(a[i].name, a[j].name) == 0) {
                io_fail(err, errlen, "cannot write '%s': two arrays are named '%s'", path, a[i].name);
                goto done;
            }
        Buf e = {0};
        npy_encode(&e, &a[i]);
        size_t nl = strlen(a[i].name) + 4;
        if (e.oom || e.len > 0xffffffffu || b->len > 0xffffffffu) {
            free(e.s);
            io_fail(err, errlen, "cannot write '%s': %s", path,
                    e.oom ? "out of memory" : "the archive would pass 4 GiB; save to .npy files instead");
            goto done;
        }
        crc[i] = nodec_crc32(0, e.s, e.len);
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
        buf_add(b, e.s, e.len);
        free(e.s);
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
        buf_u16(b, 0);              /* extra */
        buf_u16(b, 0);              /* comment */
        buf_u16(b, 0);              /* disk */
        buf_u16(b, 0);              /* internal attributes */
        buf_u32(b, 0100644u << 16); /* external: a regular file, rw-r--r-- */
        buf_u32(b, (uint32_t)off[i]);
        buf_add(b, a[i].name, nl - 4);
        buf_add(b, ".npy", 4);
    }
    if (n > 0xffff || b->len > 0xffffffffu) {
        io_fail(err, errlen, "cannot write '%s': too many or too large arrays for a zip archive", path);
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

int nodec_npz_save(const char *path, const nodec_array *a, int n, char *err, size_t errlen) {
    Buf b = {0};
    if (npz_encode(&b, path, a, n, err, errlen)) {
        free(b.s);
        return -1;
    }
    return io_save(path, &b, err, errlen);
}

void nodec_arrays_free(nodec_array *a, int n) {
    for (int i = 0; a && i < n; i++) free(a[i].data);
    free(a);
}

const nodec_array *nodec_arrays_find(const nodec_array *a, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(a[i].name, name) == 0) return &a[i];
    return NULL;
}

/* ---- Parameters ------------------------------------------------------------ */

static void param_array(const nodec_var *v, nodec_array *a) {
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", v->name);
    a->ndim = v->rank;
    a->shape[0] = v->dim[0];
    a->shape[1] = v->dim[1];
    a->size = v->size;
}

static int has_suffix(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcmp(s + n - k, suf) == 0;
}

int nodec_params_save(const char *path, const nodec_model *m, const double *theta, char *err, size_t errlen) {
    return nodec_params_save_with(path, m, theta, NULL, 0, err, errlen);
}

int nodec_params_save_with(const char *path, const nodec_model *m, const double *theta, const nodec_array *extra,
                           int nextra, char *err, size_t errlen) {
    if (has_suffix(path, ".npy")) {
        if (nextra)
            return io_fail(err, errlen, "cannot write '%s': the learned starts (z0) need a .npz file beside θ", path);
        nodec_array a = {0};
        snprintf(a.name, sizeof a.name, "theta");
        a.ndim = 1;
        a.shape[0] = a.size = m->n_param;
        a.data = (double *)theta;
        return nodec_npy_save(path, &a, err, errlen);
    }
    nodec_array *a = calloc((size_t)m->n_param_vars + (size_t)nextra + 1, sizeof *a);
    if (!a) return io_fail(err, errlen, "cannot write '%s': out of memory", path);
    for (int i = 0; i < m->n_param_vars; i++) {
        param_array(&m->param_vars[i], &a[i]);
        a[i].data = (double *)theta + m->param_vars[i].offset;
    }
    for (int i = 0; i < nextra; i++) a[m->n_param_vars + i] = extra[i];
    int rc = nodec_npz_save(path, a, m->n_param_vars + nextra, err, errlen);
    free(a);
    return rc;
}

static int params_match(const char *path, const nodec_model *m, const nodec_array *a, int n, char *err, size_t errlen) {
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
        if (!f)
            return io_fail(err, errlen,
                           "%s: parameter '%s' is missing (the file has %s); check that the file belongs to model %s",
                           path, v->name, n ? have : "no arrays", m->name);
        shape_str(fs, sizeof fs, f->ndim, f->shape);
        shape_str(ms, sizeof ms, want.ndim, want.shape);
        if (strcmp(fs, ms) != 0)
            return io_fail(err, errlen,
                           "%s: parameter '%s' has shape %s in the file but %s in the model; check that the file "
                           "belongs to model %s",
                           path, v->name, fs, ms, m->name);
    }
    for (int i = 0; i < n; i++) {
        int known = 0;
        for (int j = 0; j < m->n_param_vars; j++) known |= strcmp(a[i].name, m->param_vars[j].name) == 0;
        known |= strcmp(a[i].name, "z0") == 0; /* the starts `train --learn-z0` learned, beside θ */
        if (!known)
            return io_fail(err, errlen,
                           "%s: '%s' is not a parameter of model %s; remove it or use the model it was saved for", path,
                           a[i].name, m->name);
    }
    return 0;
}

int nodec_params_load(const char *path, const nodec_model *m, double *theta, char *err, size_t errlen) {
    char *buf;
    size_t len;
    if (nodec_read_file(path, &buf, &len, err, errlen)) return -1;
    const unsigned char *p = (unsigned char *)buf;
    int rc = -1;
    if (len >= 6 && memcmp(p, "\x93NUMPY", 6) == 0) { /* flat θ: its shape is checked before its data is read */
        NpyHead h;
        nodec_array a = {0};
        if (npy_head(p, len, len, path, &h, err, errlen) == 0) {
            char sh[160];
            shape_str(sh, sizeof sh, h.ndim, h.shape);
            if (h.ndim != 1 || h.n != (size_t)m->n_param)
                io_fail(err, errlen,
                        "%s: has shape %s but model %s has %d parameters; a flat .npy holds θ with shape (%d,) — "
                        "check that the file belongs to this model",
                        path, sh, m->name, m->n_param, m->n_param);
            else if (npy_decode(&h, p + h.start, path, &a, err, errlen) == 0) {
                memcpy(theta, a.data, m->n_param * sizeof *theta);
                free(a.data);
                rc = 0;
            }
        }
        free(buf);
        return rc;
    }
    if (len < 4 || memcmp(p, "PK", 2) != 0) {
        free(buf);
        return io_fail(err, errlen,
                       "%s: not a .npy or .npz file; save parameters with nodec train, np.save or np.savez", path);
    }
    nodec_array *a;
    int n;
    rc = npz_parse(p, len, path, m, &a, &n, err, errlen); /* checked against m before inflating */
    free(buf);
    if (rc) return -1;
    for (int i = 0; i < m->n_param_vars; i++) {
        const nodec_var *v = &m->param_vars[i];
        memcpy(theta + v->offset, nodec_arrays_find(a, n, v->name)->data, v->size * sizeof *theta);
    }
    nodec_arrays_free(a, n);
    return 0;
}
