/* test_files.c — how tools/file.c, csv.c and npy.c treat hostile files
 * (issue 9): planted symlinks, devices and FIFOs, files too large to read,
 * archives that inflate to more than they say, headers that were slow.
 *
 *   test_files <test> <tmpdir>
 *
 * Without AddressSanitizer the process may use at most 256 MiB, so a file
 * or entry that would be read or inflated whole fails the test instead of
 * only wasting memory.  Exit 0 pass, 1 fail.
 */
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "io_check.h"
#include "nodec_tools.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif


static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* The contents of a regular file, or "" (static buffer). */
static const char *get(const char *path)
{
    static char buf[256];
    buf[0] = 0;
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        fclose(f);
    }
    return buf;
}

static mode_t kind(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 ? st.st_mode & S_IFMT : 0;
}

/* Temp files left in the test's directory (names with ".tmp." or
 * ".nodec-tmp."), not counting `except`. */
static int leftovers(const char *except)
{
    int n = 0;
    DIR *d = opendir(tmpdir);
    for (struct dirent *e; d && (e = readdir(d));)
        if ((strstr(e->d_name, ".tmp.") || strstr(e->d_name, ".nodec-tmp.")) &&
            !(except && strcmp(e->d_name, except) == 0)) {
            fprintf(stderr, "left behind: %s\n", e->d_name);
            n++;
        }
    if (d)
        closedir(d);
    return n;
}

/* ---- Writing ---------------------------------------------------------------- */

/* A symlink planted where the temp file used to go (<path>.tmp.<pid>)
 * must not redirect the write. */
static void test_write_symlink(void)
{
    char err[512], link[2100];
    put(tmp("victim"), "precious");
    snprintf(link, sizeof link, "%s.tmp.%ld", tmp("out.csv"), (long)getpid());
    CHECK(symlink(tmp("victim"), link) == 0);
    CHECK(nodec_write_file_atomic(tmp("out.csv"), "new\n", 4, err, sizeof err) == 0);
    CHECK(strcmp(get(tmp("victim")), "precious") == 0);
    CHECK(kind(tmp("out.csv")) == S_IFREG);
    CHECK(strcmp(get(tmp("out.csv")), "new\n") == 0);
    CHECK(kind(link) == S_IFLNK);
    CHECK(leftovers(strrchr(link, '/') + 1) == 0);
}

/* A FIFO is written through, not replaced by a regular file. */
static void test_write_fifo(void)
{
    char err[512];
    const char *fifo = tmp("fifo");
    CHECK(mkfifo(fifo, 0600) == 0);
    pid_t pid = fork();
    if (pid == 0) { /* the reader */
        char buf[64] = "";
        int fd = open(fifo, O_RDONLY), n = 0;
        for (ssize_t r; fd >= 0 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0;)
            n += (int)r;
        _exit(strcmp(buf, "t,x\n0,1\n") == 0 ? 0 : 1);
    }
    CHECK(nodec_write_file_atomic(fifo, "t,x\n0,1\n", 8, err, sizeof err) == 0);
    CHECK(kind(fifo) == S_IFIFO);
    if (kind(fifo) != S_IFIFO) /* replaced: the reader may wait for ever */
        kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(leftovers(NULL) == 0);
}

/* Devices are written in place; /dev/full says why it fails.  Our own
 * device nodes when we may make them: a regression then replaces those,
 * not the system's. */
static void test_write_device(void)
{
    char err[512];
    const char *full = tmp("full"), *null = tmp("null");
    int fd = -1; /* the nodes may be made, and yet not open (a nodev mount) */
    if (mknod(full, S_IFCHR | 0666, makedev(1, 7)) != 0 || mknod(null, S_IFCHR | 0666, makedev(1, 3)) != 0 ||
        (fd = open(null, O_WRONLY)) < 0) {
        unlink(full), unlink(null);
        if (geteuid() == 0) {
            printf("cannot make device nodes as root here: skipped\n");
            return;
        }
        full = "/dev/full", null = "/dev/null"; /* a user cannot replace these */
    }
    if (fd >= 0)
        close(fd);
    CHECK(nodec_write_file_atomic(full, "abc", 3, err, sizeof err) == -1);
    CHECK_MSG(err, "full': No space left on device");
    CHECK(kind(full) == S_IFCHR);
    CHECK(nodec_write_file_atomic(null, "abc", 3, err, sizeof err) == 0);
    CHECK(kind(null) == S_IFCHR);
    /* the test hook works on them too */
    setenv("NODEC_TEST_FAIL_WRITE_AFTER", "1", 1);
    CHECK(nodec_write_file_atomic(null, "abc", 3, err, sizeof err) == -1);
    unsetenv("NODEC_TEST_FAIL_WRITE_AFTER");
    CHECK_MSG(err, "null': Input/output error (simulated by NODEC_TEST_FAIL_WRITE_AFTER)");
    CHECK(kind(null) == S_IFCHR);
    CHECK(leftovers(NULL) == 0);
}

/* A new file gets 0666 less the umask; a replaced one keeps its mode. */
static void test_write_mode(void)
{
    char err[512];
    struct stat st;
    mode_t old = umask(027);
    CHECK(nodec_write_file_atomic(tmp("new.csv"), "x", 1, err, sizeof err) == 0);
    CHECK(stat(tmp("new.csv"), &st) == 0 && (st.st_mode & 0777) == 0640);
    umask(0);
    chmod(tmp("new.csv"), 0604);
    CHECK(nodec_write_file_atomic(tmp("new.csv"), "y", 1, err, sizeof err) == 0);
    CHECK(stat(tmp("new.csv"), &st) == 0 && (st.st_mode & 0777) == 0604);
    umask(old);
    CHECK(leftovers(NULL) == 0);
}

/* A file name near the system's limit still gets a temp file. */
static void test_write_long_name(void)
{
    char err[512], name[256];
    memset(name, 'n', 250);
    strcpy(name + 250, ".csv");
    CHECK(nodec_write_file_atomic(tmp(name), "z\n", 2, err, sizeof err) == 0);
    CHECK(strcmp(get(tmp(name)), "z\n") == 0);
    CHECK(leftovers(NULL) == 0);
}

/* ---- Reading ---------------------------------------------------------------- */

/* Devices, FIFOs and directories are refused without reading (a FIFO
 * without a writer must not block). */
static void test_read_special(void)
{
    char err[512], *s;
    size_t n;
    CHECK(mkfifo(tmp("fifo.csv"), 0600) == 0);
    CHECK(nodec_read_file(tmp("fifo.csv"), &s, &n, err, sizeof err) == -1);
    CHECK_MSG(err, "fifo.csv': it is a FIFO (named pipe); nodec reads data and parameters from regular files");
    CHECK(nodec_read_file("/dev/zero", &s, &n, err, sizeof err) == -1);
    CHECK_MSG(err, "cannot read '/dev/zero': it is a character device; nodec reads data and parameters from regular");
    mkdir(tmp("dir.csv"), 0755);
    CHECK(nodec_read_file(tmp("dir.csv"), &s, &n, err, sizeof err) == -1);
    CHECK_MSG(err, "dir.csv': it is a directory;");

    /* the same through the loaders (--data, --params) */
    static const nodec_var z[] = {{"z", 1, {2, 1}, 0, 2}};
    static const nodec_model vec = {.abi_version = NODEC_ABI_VERSION, .name = "vec", .n_state = 2,
                                    .n_state_vars = 1, .state_vars = z};
    nodec_data d;
    CHECK(nodec_data_load("/dev/zero", &vec, &d, err, sizeof err) == -1);
    CHECK_MSG(err, "cannot read '/dev/zero': it is a character device");
    double theta[1];
    CHECK(nodec_params_load(tmp("fifo.csv"), &vec, theta, err, sizeof err) == -1);
    CHECK_MSG(err, "it is a FIFO (named pipe)");
}

/* A file larger than NODEC_FILE_MAX is refused before it is read (sparse:
 * it takes no disk). */
static void test_read_cap(void)
{
    char err[512], *s = NULL;
    size_t n;
    int fd = open(tmp("huge.csv"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && ftruncate(fd, (off_t)NODEC_FILE_MAX + 1) == 0);
    close(fd);
    CHECK(nodec_read_file(tmp("huge.csv"), &s, &n, err, sizeof err) == -1);
    CHECK_MSG(err, "huge.csv': the file is larger than 1 GiB, the most nodec reads");
    unlink(tmp("huge.csv"));
    /* a small one is read */
    put(tmp("small.csv"), "t\n0\n");
    CHECK(nodec_read_file(tmp("small.csv"), &s, &n, err, sizeof err) == 0 && n == 4);
    free(s);
}

/* ---- .npz archives that inflate to more than they hold -------------------------- */

static void le16(unsigned char *p, unsigned v) { p[0] = v & 255, p[1] = (v >> 8) & 255; }
static void le32(unsigned char *p, unsigned long v) { le16(p, v & 0xffff), le16(p + 2, (v >> 16) & 0xffff); }

/* An .npz of one entry `name` whose data (compressed, or stored) is
 * data[0..clen), declaring usize bytes uncompressed with CRC crc. */
static void write_zip(const char *path, const char *name, int method, const unsigned char *data, size_t clen,
                      unsigned long usize, unsigned long crc)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    size_t nl = strlen(name);
    unsigned char h[46] = {0};
    le32(h, 0x04034b50), le16(h + 4, 20), le16(h + 8, method);
    le32(h + 14, crc), le32(h + 18, clen), le32(h + 22, usize), le16(h + 26, nl);
    fwrite(h, 1, 30, f), fwrite(name, 1, nl, f), fwrite(data, 1, clen, f);
    memset(h, 0, sizeof h);
    le32(h, 0x02014b50), le16(h + 4, 20), le16(h + 6, 20), le16(h + 10, method);
    le32(h + 16, crc), le32(h + 20, clen), le32(h + 24, usize), le16(h + 28, nl);
    fwrite(h, 1, 46, f), fwrite(name, 1, nl, f);
    unsigned char e[22] = {0};
    le32(e, 0x06054b50), le16(e + 8, 1), le16(e + 10, 1), le32(e + 12, 46 + nl), le32(e + 16, 30 + nl + clen);
    fwrite(e, 1, 22, f);
    fclose(f);
}

/* A .npy header for shape `shape` (a Python tuple) of <f8, padded to 64. */
static size_t npy_header(unsigned char *out, const char *shape)
{
    char dict[200];
    int n = snprintf(dict, sizeof dict, "{'descr': '<f8', 'fortran_order': False, 'shape': %s, }", shape);
    int pad = (64 - (10 + n + 1) % 64) % 64;
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    le16(out + 8, n + pad + 1);
    memcpy(out + 10, dict, n);
    memset(out + 10 + n, ' ', pad);
    out[10 + n + pad] = '\n';
    return 10 + n + pad + 1;
}

/* W1.npy of shape (40000000,): 320 MB of zeros in 300 KB.  Loading it as
 * the parameters of pm (W1 is 2×3) must fail on the shape before
 * inflating it: with 256 MiB of memory, inflating cannot even start. */
static void test_npz_bomb(void)
{
    static const nodec_var pv[] = {{"W1", 2, {2, 3}, 0, 6}, {"b1", 1, {3, 1}, 6, 3}, {"alpha", 0, {1, 1}, 9, 1}};
    static const nodec_model pm = {.abi_version = NODEC_ABI_VERSION, .name = "pm", .n_param = 10,
                                   .n_param_vars = 3, .param_vars = pv};
    unsigned char head[256];
    size_t hn = npy_header(head, "(40000000,)");
    unsigned long usize = hn + 320000000ul, crc = crc32(0, head, hn);
    static unsigned char zeros[1 << 16], out[1 << 16];
    size_t cap = 1 << 20, clen = 0;
    unsigned char *c = malloc(cap);
    z_stream s = {0};
    CHECK(deflateInit2(&s, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    for (unsigned long left = usize, part = 0; left || part == 0; part++) {
        size_t n = part == 0 ? hn : left < sizeof zeros ? left : sizeof zeros;
        s.next_in = part == 0 ? head : zeros;
        s.avail_in = (uInt)n;
        left -= n;
        if (part)
            crc = crc32(crc, zeros, (uInt)n);
        int flush = left ? Z_NO_FLUSH : Z_FINISH;
        do {
            s.next_out = out;
            s.avail_out = sizeof out;
            deflate(&s, flush);
            size_t got = sizeof out - s.avail_out;
            if (clen + got > cap)
                c = realloc(c, cap *= 2);
            memcpy(c + clen, out, got);
            clen += got;
        } while (s.avail_out == 0);
    }
    deflateEnd(&s);
    write_zip(tmp("bomb.npz"), "W1.npy", 8, c, clen, usize, crc);
    free(c);

    char err[512];
    double theta[10];
    CHECK(nodec_params_load(tmp("bomb.npz"), &pm, theta, err, sizeof err) == -1);
    CHECK_MSG(err, "bomb.npz: parameter 'W1' has shape (40000000,) in the file but (2, 3) in the model");
}

/* An entry that declares 2 GiB is refused on its declared size, before
 * anything is allocated or inflated. */
static void test_npz_declared(void)
{
    size_t clen = (2100u << 10) + 1; /* enough for deflate to claim 2 GiB */
    unsigned char *c = calloc(clen, 1);
    CHECK(c != NULL);
    write_zip(tmp("declared.npz"), "x.npy", 8, c, clen, 0x80000000ul, 0);
    free(c);
    char err[512];
    nodec_array *a;
    int n;
    CHECK(nodec_npz_load(tmp("declared.npz"), &a, &n, err, sizeof err) == -1);
    CHECK_MSG(err, "declared.npz: x.npy: the arrays hold 2147483648 bytes, more than the 1 GiB nodec reads");

    /* a stored entry whose header claims more data than it has */
    unsigned char e[256];
    size_t hn = npy_header(e, "(1000000000000,)");
    memset(e + hn, 0, 16);
    write_zip(tmp("claims.npz"), "y.npy", 0, e, hn + 16, hn + 16, crc32(0, e, hn + 16));
    CHECK(nodec_npz_load(tmp("claims.npz"), &a, &n, err, sizeof err) == -1);
    CHECK_MSG(err, "claims.npz: y.npy: truncated: shape (1000000000000,) of <f8 needs 8000000000000 bytes");
}

/* ---- CSV ---------------------------------------------------------------------- */

/* A header of 200,000 columns with one repeated at the end: the duplicate
 * check took 36 s for half as many when it compared every pair (CTest's
 * TIMEOUT guards it). */
static void test_csv_wide(void)
{
    FILE *f = fopen(tmp("wide.csv"), "w");
    CHECK(f != NULL);
    if (!f)
        return;
    for (int j = 0; j < 200000; j++)
        fprintf(f, "c%d,", j);
    fprintf(f, "c7\n");
    for (int j = 0; j < 200000; j++)
        fprintf(f, "0,");
    fprintf(f, "0\n");
    fclose(f);
    char err[512];
    nodec_table t;
    CHECK(nodec_table_load(tmp("wide.csv"), &t, err, sizeof err) == -1);
    CHECK_MSG(err, "wide.csv:1: columns 8 and 200001 are both named 'c7'; name each column once");

    /* the first repeated column is named, with the first it repeats */
    put(tmp("dups.csv"), "a,b,c,b,a,c\n1,2,3,4,5,6\n");
    CHECK(nodec_table_load(tmp("dups.csv"), &t, err, sizeof err) == -1);
    CHECK_MSG(err, "dups.csv:1: columns 2 and 4 are both named 'b'");
    put(tmp("unique.csv"), "b,a,c\n1,2,3\n");
    CHECK(nodec_table_load(tmp("unique.csv"), &t, err, sizeof err) == 0);
    nodec_table_free(&t);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static const struct {
    const char *name;
    void (*fn)(void);
} tests[] = {
    {"write_symlink", test_write_symlink},
    {"write_fifo", test_write_fifo},
    {"write_device", test_write_device},
    {"write_mode", test_write_mode},
    {"write_long_name", test_write_long_name},
    {"read_special", test_read_special},
    {"read_cap", test_read_cap},
    {"npz_bomb", test_npz_bomb},
    {"npz_declared", test_npz_declared},
    {"csv_wide", test_csv_wide},
};

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_files TEST TMPDIR\n");
        return 2;
    }
#ifndef UNDER_ASAN
    struct rlimit rl = {256u << 20, 256u << 20};
    setrlimit(RLIMIT_AS, &rl);
#endif
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (strcmp(argv[1], tests[i].name) != 0)
            continue;
        snprintf(tmpdir, sizeof tmpdir, "%s/%s", argv[2], tests[i].name);
        nftw(tmpdir, remove_one, 16, FTW_DEPTH | FTW_PHYS); /* a fresh directory each run */
        mkdir(argv[2], 0755);
        mkdir(tmpdir, 0755);
        tests[i].fn();
        if (failures)
            fprintf(stderr, "%s: %d failures\n", tests[i].name, failures);
        return failures != 0;
    }
    fprintf(stderr, "test_files: no test '%s'\n", argv[1]);
    return 2;
}
