/* file.c — reading and writing whole files: a read into memory, and an
 * atomic write (temp file in the same directory, fsync, rename) through
 * which every file nodec writes goes.  The messages every tool file shares
 * (io_fail) are made here.  docs/files.md.
 *
 * Reads take regular files only, of at most NODEC_FILE_MAX bytes: a device
 * such as /dev/zero would never end, and a FIFO could block for ever.
 * Writes create their temp file exclusively under a name nobody can plant
 * in advance; a target that is a device or a FIFO (`-o /dev/null`) is
 * written directly, since replacing it would swap it for a regular file.
 */
#define _POSIX_C_SOURCE 200809L

#include "tools.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int io_fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- Reading -------------------------------------------------------------- */

static const char *file_kind(mode_t m) {
    return S_ISDIR(m)    ? "a directory"
           : S_ISFIFO(m) ? "a FIFO (named pipe)"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISSOCK(m) ? "a socket"
                         : "not a regular file";
}

int nodec_read_file(const char *path, char **data, size_t *len, char *err, size_t errlen) {
    /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused
     * below); it is cleared before reading. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return io_fail(err, errlen, "cannot read '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return io_fail(err, errlen, "cannot read '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return io_fail(err, errlen, "cannot read '%s': it is %s; nodec reads data and parameters from regular files",
                       path, file_kind(st.st_mode));
    }
    if ((uintmax_t)st.st_size > NODEC_FILE_MAX) goto too_big;
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);

    /* st_size is a hint: /proc files say 0, and a file may grow meanwhile. */
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return io_fail(err, errlen, "cannot read '%s': out of memory", path);
    }
    for (;;) {
        if (n == cap) {
            if (cap > NODEC_FILE_MAX) {
                free(buf);
                goto too_big;
            }
            size_t c2 = cap < 65536 ? 65536 : 2 * cap;
            char *b2 = realloc(buf, c2 + 1);
            if (!b2) {
                free(buf);
                close(fd);
                return io_fail(err, errlen, "cannot read '%s': out of memory", path);
            }
            buf = b2, cap = c2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return io_fail(err, errlen, "cannot read '%s': %s", path, strerror(e));
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    if (n > NODEC_FILE_MAX) {
        free(buf);
        fd = -1;
        goto too_big;
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;

too_big:
    if (fd >= 0) close(fd);
    return io_fail(err, errlen, "cannot read '%s': the file is larger than %s, the most nodec reads", path,
                   NODEC_FILE_MAX_TEXT);
}

/* ---- Writing -------------------------------------------------------------- */

static const char *errno_hint(int e) {
    switch (e) {
    case ENOENT:
    case ENOTDIR: return "; create the directory first or choose another path";
    case EACCES:
    case EPERM:
    case EROFS: return "; choose a directory you can write to";
    case ENOSPC:
    case EDQUOT: return "; free some disk space";
    case EISDIR: return "; the path names a directory, give a file name";
    default: return "";
    }
}

/* fsync the directory holding path, so the rename itself is durable. */
static void sync_dir(const char *path) {
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
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Creates a temp file beside path, as mkstemp does: a random name opened
 * with O_EXCL, which fails on any name that exists, a planted symlink
 * included.  Unlike mkstemp's 0600, the mode is 0666 less the umask, as for
 * any new file.  tmp gets the name (room for strlen(path) + 32). */
static int open_temp(const char *path, char *tmp) {
    static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash + 1 - path) : 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t s = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^ (uint64_t)getpid() << 40 ^ (uintptr_t)tmp;
    for (int tries = 0; tries < 100; tries++) {
        uint64_t r = rng_next(&s);
        char x[7];
        for (int i = 0; i < 6; i++, r >>= 6) x[i] = letters[(r & 63) % 62];
        x[6] = 0;
        /* `<path>.tmp.XXXXXX`, or a short name when that one is too long */
        if (strlen(path + dirlen) + 11 <= NAME_MAX)
            sprintf(tmp, "%s.tmp.%s", path, x);
        else
            sprintf(tmp, "%.*s.nodec-tmp.%s", (int)dirlen, path, x);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    return -1; /* errno is EEXIST */
}

/* Writes n bytes (fewer with the test hook: see nodec_write_file_atomic);
 * 0 or an errno. */
static int write_all(int fd, const char *p, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, p + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return errno;
        done += (size_t)w;
    }
    return 0;
}

int nodec_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen) {
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
    const char *sim = simulated ? " (simulated by NODEC_TEST_FAIL_WRITE_AFTER)" : "";

    struct stat st;
    int exists = stat(path, &st) == 0;
    if (exists && S_ISDIR(st.st_mode))
        return io_fail(err, errlen, "cannot write '%s': %s%s", path, strerror(EISDIR), errno_hint(EISDIR));
    if (exists && !S_ISREG(st.st_mode)) {
        /* A device or a FIFO: written in place, as a shell's `>` would (a
         * FIFO waits for its reader).  There is nothing to keep whole. */
        int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) return io_fail(err, errlen, "cannot write '%s': %s", path, strerror(errno));
        int e = write_all(fd, data, limit);
        if (!e && simulated) e = EIO;
        if (close(fd) != 0 && !e) e = errno;
        if (e) return io_fail(err, errlen, "cannot write '%s': %s%s", path, strerror(e), sim);
        return 0;
    }

    char *tmp = malloc(strlen(path) + 32);
    if (!tmp) return io_fail(err, errlen, "cannot write '%s': out of memory", path);
    int fd = open_temp(path, tmp), e = 0;
    if (fd < 0) {
        e = errno;
        free(tmp);
        return io_fail(err, errlen, "cannot write '%s': %s%s", path, strerror(e), errno_hint(e));
    }
    if (exists) /* a replaced file keeps its permissions */
        fchmod(fd, st.st_mode & 07777);
    e = write_all(fd, data, limit);
    if (!e && simulated) e = EIO;
    if (!e && fsync(fd) != 0) e = errno;
    if (close(fd) != 0 && !e) e = errno;
    if (!e && rename(tmp, path) != 0) e = errno;
    if (e) {
        unlink(tmp);
        free(tmp);
        return io_fail(err, errlen, "cannot write '%s': %s%s%s", path, strerror(e), sim, errno_hint(e));
    }
    free(tmp);
    sync_dir(path);
    return 0;
}

int io_save(const char *path, Buf *b, char *err, size_t errlen) {
    int rc;
    if (b->oom)
        rc = io_fail(err, errlen, "cannot write '%s': out of memory", path);
    else
        rc = nodec_write_file_atomic(path, b->s ? b->s : "", b->len, err, errlen);
    buf_free(b);
    return rc;
}
