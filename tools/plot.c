/* plot.c — gnuplot, for `nodec train --plot` and the REPL's :plot: strings
 * quoted for its scripts, and the program run without a shell.
 *
 * Every string that reaches a script (file names, model and column names)
 * goes through plot_str: gnuplot reads '…' literally except that '' stands
 * for one quote, so a name can close no string and run no command.  A
 * control character (a newline would end the command) is refused.
 */
#define _POSIX_C_SOURCE 200809L

#include "tools.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

bool plot_str(Buf *b, const char *s) {
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 32 || *p == 127) return false;
    buf_putc(b, '\'');
    for (const char *p = s; *p; p++) {
        if (*p == '\'') buf_putc(b, '\'');
        buf_putc(b, *p);
    }
    buf_putc(b, '\'');
    return true;
}

int plot_run(const char *script, const char *dir, const char *log, char *err, size_t errlen) {
    const char *prog = getenv("NODEC_GNUPLOT");
    if (!prog || !*prog) prog = "gnuplot";
    int fds[2];
    if (pipe(fds)) return snprintf(err, errlen, "cannot run gnuplot: %s", strerror(errno)), -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]), close(fds[1]);
        return snprintf(err, errlen, "cannot run gnuplot: %s", strerror(errno)), -1;
    }
    if (pid == 0) {
        dup2(fds[0], 0);
        close(fds[0]), close(fds[1]);
        if (log) {
            int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);
            if (fd >= 0) dup2(fd, 1), dup2(fd, 2), close(fd);
        } else {
            dup2(1, 2);
        }
        if (dir && chdir(dir)) _exit(126);
        execlp(prog, prog, (char *)NULL);
        _exit(127);
    }
    close(fds[0]);
    void (*old)(int) = signal(SIGPIPE, SIG_IGN); /* a gnuplot that dies early */
    size_t len = strlen(script), done = 0;
    while (done < len) {
        ssize_t w = write(fds[1], script + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        done += (size_t)w;
    }
    close(fds[1]);
    signal(SIGPIPE, old);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return snprintf(err, errlen, "cannot run gnuplot: %s", strerror(errno)), -1;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
        return snprintf(err, errlen, "'%s' was not found; install gnuplot (Debian: apt-get install gnuplot-nox)", prog),
               -1;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        char *text = NULL;
        size_t n = 0;
        if (log) nodec_read_file(log, &text, &n, NULL, 0);
        snprintf(err, errlen, "gnuplot failed%s%s%s%.600s", log ? " (see " : "", log ? log : "", log ? "): " : "",
                 text ? text : "");
        free(text);
        return -1;
    }
    return 0;
}
