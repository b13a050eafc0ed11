/*
 * index.c — `callscope index FILE`: builds the calls of a recording made
 * with --defer-rows from its event log (collector/build_rows.c), or waits
 * for the build that `callscope run` started when the program ended.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "collector/collector.h"
#include "query/common.h"
#include "util/error.h"

int cs_cmd_index(int argc, char **argv)
{
    if (argc == 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        printf("usage: callscope index FILE\n\n"
               "Builds the calls of a recording made with `callscope run --defer-rows` from the\n"
               "events it kept, or waits for the build `callscope run` started in the background;\n"
               "the file then reads as any other recording.\n");
        return CS_EXIT_OK;
    }
    if (argc != 1 || argv[0][0] == '-') {
        cs_error("usage: callscope index FILE");
        return CS_EXIT_USAGE;
    }
    const char *path = argv[0];
    signal(SIGXFSZ, SIG_IGN); /* a file size limit is an error like a full disk */
    char err[600];
    int built;
    if (cs_collector_build_rows(path, &built, err, sizeof err) != 0) {
        cs_error("%s", err);
        return CS_EXIT_FAILURE;
    }
    sqlite3 *db = cs_open_store(path);
    if (!db)
        return CS_EXIT_FAILURE;
    cs_note("%s%lld calls %s %s", built ? "" : "nothing to build: ",
            (long long)cs_query_int(db, "SELECT value FROM meta WHERE key = 'calls'", 0),
            built ? "built in" : "already in", path);
    cs_close_store(db);
    return CS_EXIT_OK;
}
