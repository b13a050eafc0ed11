/*
 * child_process.h — running a helper program (gdb, the target's Python) to
 * completion and reading what it printed; forking a child that reports back
 * through a pipe.
 */
#ifndef CALLSCOPE_ATTACH_CHILD_PROCESS_H
#define CALLSCOPE_ATTACH_CHILD_PROCESS_H

#include <stddef.h>
#include <sys/types.h>

enum cs_child_outcome {
    CS_CHILD_EXITED = 0,    /* *status holds its wait status */
    CS_CHILD_TIMED_OUT = 1, /* killed after timeout_ms */
    CS_CHILD_FAILED = -1,   /* no pipe or no fork: err says why */
};

/* Runs argv[0] (a path, also its name) with argv, standard input from /dev/null, standard
 * output and error together into out (NUL-terminated, cut at size - 1).
 * The child ignores SIGINT, SIGTERM and SIGHUP: a helper that changes a
 * target process finishes once started, whatever ^C says. An exec that
 * fails exits 127 with nothing printed. */
enum cs_child_outcome cs_run_captured(char *const argv[], int timeout_ms, char *out, size_t size, int *status,
                                      char *err, size_t errlen);

/* Forks with a pipe from the child to the parent (fds[1] to fds[0], both
 * close-on-exec), standard I/O flushed first so that neither side writes
 * the other's buffered output. Returns the child's pid (0 in the child),
 * or -1 with err saying why and no pipe left open. */
pid_t cs_fork_with_pipe(int fds[2], char *err, size_t errlen);

#endif
