/*
 * child_process.c — running a helper program and reading its output (see
 * child_process.h).
 */
#include "attach/child_process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"

pid_t cs_fork_with_pipe(int fds[2], char *err, size_t errlen)
{
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t child = fork();
    if (child < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
    }
    return child;
}

enum cs_child_outcome cs_run_captured(char *const argv[], int timeout_ms, char *out, size_t size, int *status,
                                      char *err, size_t errlen)
{
    int fds[2];
    pid_t child = cs_fork_with_pipe(fds, err, errlen);
    if (child < 0)
        return CS_CHILD_FAILED;
    if (child == 0) {
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    int64_t until = cs_monotonic_ms() + timeout_ms;
    int timed_out = 0;
    for (;;) {
        int left = (int)(until - cs_monotonic_ms());
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd p = {fds[0], POLLIN, 0};
        int r = poll(&p, 1, left);
        if (r <= 0)
            continue; /* EINTR, or the time is up (checked above) */
        char buf[4096];
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t keep = (size_t)n < size - 1 - len ? (size_t)n : size - 1 - len;
        memcpy(out + len, buf, keep);
        len += keep;
    }
    out[len] = 0;
    close(fds[0]);
    if (timed_out)
        kill(child, SIGKILL);
    while (waitpid(child, status, 0) < 0 && errno == EINTR)
        ;
    return timed_out ? CS_CHILD_TIMED_OUT : CS_CHILD_EXITED;
}
