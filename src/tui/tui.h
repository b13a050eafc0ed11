/*
 * tui.h — `callscope tui [PID]`: the live commands in one terminal screen.
 * Pick a Python process, start and stop trace, watch, stack and monitor
 * observations, see what they report arrive and fold it, look at the
 * threads; detach. The same agent, socket and requests as the commands.
 *
 *   tui.c              the screen, the keys, the main loop
 *   tui_session.c      observations and questions over the agent's socket
 *   tui_reports.c      what the reports show, folded
 *   tui_processes.c    the Python processes to choose from
 */
#ifndef CALLSCOPE_TUI_H
#define CALLSCOPE_TUI_H

#include <stddef.h>

struct tui_process {
    int pid;
    char cmdline[512];
};

/* The user's Python processes (all of them for root), by pid; how many. */
int tui_list_processes(struct tui_process *out, int max);

/* One report of an observation, as the command prints it: a call tree, a
 * watch's call, a stack, a monitor line. */
struct tui_entry {
    char **lines;
    int nlines;
    int folded;          /* shown as its first line only */
    signed char *depth;  /* per line: its depth in a call tree, or -1 */
    unsigned char *fold; /* per line: a call folded to its own line */
};

struct tui_observation {
    int fd;             /* the connection that keeps it installed; -1 once ended */
    int command;        /* CS_LIVE_* */
    char pattern[512];
    char status[600];   /* what the agent last said of it */
    struct tui_entry *entries;
    int nentries, cap;
    long long received; /* reports since it started (clearing keeps counting) */
};

/* What the reports pane shows (tui_reports.c): a row is one line of one
 * report, with how many lines a fold hides under it. */
struct tui_row {
    int entry, line, hidden;
};
/* Reads the call tree's shape from a report's lines. 0, or -1 (memory). */
int tui_entry_index(struct tui_entry *e);
/* The rows shown, in order (malloc'd); how many. */
int tui_visible_rows(const struct tui_observation *o, struct tui_row **rows);
/* Enter on a report's line: the report's first line folds the report, a
 * call's line what it called. 1 when something changed. */
int tui_toggle_fold(struct tui_entry *e, int line);

/* Connects to pid's agent (attaching it first if need be) and starts an
 * observation. 0, or -1 (the reason went to stderr). */
int tui_observation_start(struct tui_observation *o, int pid, int command, const char *pattern);
/* Takes one frame from the agent once o->fd is readable. 0, or -1 when the
 * observation has ended (o->status says why; o->fd is closed). */
int tui_observation_read(struct tui_observation *o);
/* Forgets the reports received so far. */
void tui_observation_clear(struct tui_observation *o);
/* Ends it (the agent removes what it installed) and frees it. */
void tui_observation_free(struct tui_observation *o);

/* Asks pid's agent a question (`thread`, `sm`...) and returns its text
 * answer (malloc'd), or NULL with the reason in err. */
char *tui_ask(int pid, const char *question, int argc, const char *const *argv, char *err, size_t errlen);
/* Removes everything from pid and ends its agent. 0, or -1 with err. */
int tui_detach(int pid, char *err, size_t errlen);

int cs_cmd_tui(int argc, char **argv);

#endif
