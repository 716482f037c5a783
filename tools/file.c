/* file.c — reading and writing whole files: a read into memory, and an
 * atomic write (temp file in the same directory, fsync, rename) through
 * which every file nodec writes goes.  The messages every tool file shares
 * (io_fail) are made here.  docs/files.md.
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

int io_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- Files -------------------------------------------------------------- */

int nodec_read_file(const char *path, char **data, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return io_fail(err, errlen, "cannot read '%s': %s", path, strerror(errno));
    Buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_add(&b, chunk, n);
    int e = ferror(f) ? errno : 0;
    fclose(f);
    if (e || b.oom) {
        free(b.s);
        return io_fail(err, errlen, "cannot read '%s': %s", path, e ? strerror(e) : "out of memory");
    }
    if (!b.s)
        buf_add(&b, "", 0);
    if (b.oom)
        return io_fail(err, errlen, "cannot read '%s': out of memory", path);
    *data = b.s;
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
        return io_fail(err, errlen, "cannot write '%s': the path is too long", path);

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
        return io_fail(err, errlen, "cannot write '%s': %s%s", path, strerror(errno), errno_hint(errno));
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
    return io_fail(err, errlen, "cannot write '%s': %s%s%s", path, strerror(e),
                simulated ? " (simulated by NODEC_TEST_FAIL_WRITE_AFTER)" : "", errno_hint(e));
}

int io_save(const char *path, Buf *b, char *err, size_t errlen)
{
    int rc;
    if (b->oom)
        rc = io_fail(err, errlen, "cannot write '%s': out of memory", path);
    else
        rc = nodec_write_file_atomic(path, b->s ? b->s : "", b->len, err, errlen);
    buf_free(b);
    return rc;
}

