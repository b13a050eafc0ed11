/*
 * child_process.h — running a helper program (gdb, the target's Python) to
 * completion and reading what it printed.
 */
#ifndef CALLSCOPE_ATTACH_CHILD_PROCESS_H
#define CALLSCOPE_ATTACH_CHILD_PROCESS_H

#include <stddef.h>

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

#endif
