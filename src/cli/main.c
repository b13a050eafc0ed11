/*
 * main.c — the callscope command: dispatches to its subcommands.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/reader_commands.h"
#include "tui/tui.h"
#include "util/error.h"

static void usage(FILE *out)
{
    fputs("usage: callscope COMMAND [OPTIONS] ...\n\n"
          "Record:\n"
          "  run [OPTIONS] SCRIPT [ARGS...]   run a Python program and record every call\n"
          "  run [OPTIONS] -m MODULE [ARGS...]\n"
          "  index FILE                       build the calls of a recording made with --defer-rows\n"
          "Read a record (default ./callscope.db):\n"
          "  view [FILE]                      browse the calls in the terminal (tree, search, filter, follow)\n"
          "  show [FILE]                      the call tree, with arguments, results and timings\n"
          "  stats [FILE]                     where the time went, per function\n"
          "  export [FILE] --format FORMAT    Perfetto, Chrome, Firefox Profiler, speedscope, folded, SVG, JSON lines\n"
          "  sql FILE [SQL...]                run SQL on it, read only (no SQL: the sqlite3 shell)\n"
          "  (view, show, stats and export take --filter EXPR, e.g. \"module == 'app%' and duration > 5\")\n"
          "Live, in a running process:\n"
          "  attach PID [--via ptrace|gdb]    start the agent in a running Python process\n"
          "  trace PID PATTERN                the call tree of each call of a function, timed\n"
          "  watch PID PATTERN                its arguments, return value or exception\n"
          "  stack PID PATTERN                the stack that leads to it\n"
          "  monitor PID PATTERN              its calls, failures and times, every few seconds\n"
          "  reset PID [PATTERN | --all]      stop observing\n"
          "  detach PID                       remove everything and end the agent\n"
          "  thread PID                       its threads: state, CPU time, and the stack each is in\n"
          "  sc PID PATTERN                   the loaded classes matching a wildcard pattern, with file and line\n"
          "  sm PID PATTERN                   the loaded functions and methods matching it: the names trace takes\n"
          "  inspect PID EXPR                 the value of a global or attribute path (myapp.config.settings)\n"
          "  logger PID [NAME --level LEVEL]  its loggers, levels and handlers; set a level (reset restores)\n"
          "  memory PID [--tracemalloc S]     RSS, gc generations, the types with the most objects, growing sites\n"
          "  top PID [-i S] [-n ROUNDS] [--calls]  the functions it spends its CPU time in now, refreshed\n"
          "  tui [PID]                        all of the above in one screen, for a process you choose\n"
          "  (PID may be left out when one process of yours has an agent; output to a pipe is JSON lines)\n\n"
          "`callscope COMMAND --help` describes a command's options.\n",
          out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CS_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return CS_EXIT_OK;
    }
    if (!strcmp(cmd, "run"))
        return cs_cmd_run(argc - 2, argv + 2);
    if (!strcmp(cmd, "collect"))
        return cs_cmd_collect(argc - 2, argv + 2);
    if (!strcmp(cmd, "attach"))
        return cs_cmd_attach(argc - 2, argv + 2);
    if (!strcmp(cmd, "index"))
        return cs_cmd_index(argc - 2, argv + 2);
    if (!strcmp(cmd, "show"))
        return cs_cmd_show(argc - 2, argv + 2);
    if (!strcmp(cmd, "view"))
        return cs_cmd_view(argc - 2, argv + 2);
    if (!strcmp(cmd, "stats"))
        return cs_cmd_stats(argc - 2, argv + 2);
    if (!strcmp(cmd, "sql"))
        return cs_cmd_sql(argc - 2, argv + 2);
    if (!strcmp(cmd, "trace"))
        return cs_cmd_trace(argc - 2, argv + 2);
    if (!strcmp(cmd, "watch"))
        return cs_cmd_watch(argc - 2, argv + 2);
    if (!strcmp(cmd, "stack"))
        return cs_cmd_stack(argc - 2, argv + 2);
    if (!strcmp(cmd, "monitor"))
        return cs_cmd_monitor(argc - 2, argv + 2);
    if (!strcmp(cmd, "reset"))
        return cs_cmd_reset(argc - 2, argv + 2);
    if (!strcmp(cmd, "detach"))
        return cs_cmd_detach(argc - 2, argv + 2);
    if (!strcmp(cmd, "tui"))
        return cs_cmd_tui(argc - 2, argv + 2);
    /* the questions to a live agent (cli/query.c) */
    static const char *const questions[] = {"thread", "sc", "sm", "inspect", "logger", "memory", "top"};
    for (size_t i = 0; i < sizeof questions / sizeof *questions; i++)
        if (!strcmp(cmd, questions[i]))
            return cs_cmd_query(cmd, argc - 2, argv + 2);
    if (!strcmp(cmd, "export"))
        return cs_cmd_export(argc - 2, argv + 2);
    cs_error("unknown command '%s' (see callscope --help)", cmd);
    return CS_EXIT_USAGE;
}
