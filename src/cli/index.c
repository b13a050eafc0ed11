/*
 * index.c — `callscope index FILE`: builds the calls of a recording made
 * with --defer-rows from its event log (collector/build_rows.c), into a
 * file beside it that then takes its place.
 */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "collector/collector.h"
#include "query/common.h"
#include "util/error.h"

/* Removes path's -wal and -shm files (suffix appended). */
static void remove_side_files(const char *path)
{
    char side[PATH_MAX + 8];
    static const char *const suffixes[] = {"-wal", "-shm"};
    for (size_t i = 0; i < 2; i++)
        if (snprintf(side, sizeof side, "%s%s", path, suffixes[i]) < (int)sizeof side)
            unlink(side);
}

int cs_cmd_index(int argc, char **argv)
{
    if (argc == 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        printf("usage: callscope index FILE\n\n"
               "Builds the calls of a recording made with `callscope run --defer-rows` from the\n"
               "events it kept; the file then reads as any other recording.\n");
        return CS_EXIT_OK;
    }
    if (argc != 1 || argv[0][0] == '-') {
        cs_error("usage: callscope index FILE");
        return CS_EXIT_USAGE;
    }
    const char *path = argv[0];
    char building[PATH_MAX];
    if (snprintf(building, sizeof building, "%s.building", path) >= (int)sizeof building) {
        cs_error("%s: the path is too long", path);
        return CS_EXIT_USAGE;
    }
    signal(SIGXFSZ, SIG_IGN); /* a file size limit is an error like a full disk */
    char err[600];
    if (cs_collector_build_rows(path, building, err, sizeof err) != 0) {
        cs_error("%s", err);
        unlink(building);
        remove_side_files(building);
        return CS_EXIT_FAILURE;
    }
    /* The log's write-ahead files must not outlive it: beside the new file
     * they would be read as its own. Everything in them was read above. */
    remove_side_files(path);
    remove_side_files(building);
    if (rename(building, path) != 0) {
        cs_error("cannot replace %s: %m", path);
        unlink(building);
        return CS_EXIT_FAILURE;
    }
    sqlite3 *db = cs_open_store(path);
    if (!db)
        return CS_EXIT_FAILURE;
    cs_note("%lld calls built in %s", (long long)cs_query_int(db, "SELECT value FROM meta WHERE key = 'calls'", 0),
            path);
    cs_close_store(db);
    return CS_EXIT_OK;
}
